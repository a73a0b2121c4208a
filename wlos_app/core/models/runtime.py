"""The networks' clip-level convolution stages in ONNX Runtime, for analysis on CPU.

The visual branch's 3-D convolutions and poolings over a clip's flow sequence are most of the
networks' time, and ONNX Runtime runs them 2.5-3x faster than torch on CPU with the same outputs
to 1e-5 (docs/performance.md, benchmarks/onnx_branches.py). The two stages of sequence.py
(`visual_sequence`, `audio_sequence`) are exported from the loaded weights, so a network the
trainer just made is accelerated like the shipped ones.

Exporting imports torch.onnx (about 1.4 s here), so an export is kept in the user's cache, named
by a hash of the weights file and the library versions, and the next process only opens it. Where
anything of this fails (no ONNX Runtime, a cache that cannot be written, an exporter error) the
network runs in torch as before: the answer is the same, only slower. WLOS_ONNX=0 turns it off.
"""
from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import sequence


def enabled() -> bool:
    return os.environ.get("WLOS_ONNX", "1") != "0"


def cache_dir() -> Path:
    base = os.environ.get("WLOS_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wlos-sync" / "onnx"


class _Stage(nn.Module):
    """One of sequence.py's clip-level stages as a module the exporter can trace."""

    def __init__(self, branch: nn.Module, fn):
        super().__init__()
        self.branch, self.fn = branch, fn

    def forward(self, x):
        return self.fn(self.branch, x)


class Session:
    """A stage in ONNX Runtime, called like the torch function it replaces: (1, T, ...) -> tensor."""

    def __init__(self, model: bytes):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        # As many threads as torch has been given: a batch worker's share of the cores.
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.inter_op_num_threads = 1
        # No memory arena: it would keep the largest chunk's buffers for the life of the process.
        opts.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.session.run(None, {"x": np.ascontiguousarray(x.numpy(), np.float32)})[0]
        return torch.from_numpy(y)


def _export(branch: nn.Module, fn, example: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    # A copy: the exporter folds batch norm into the convolution weights in place, and the
    # module it was given would then compute something else.
    stage = _Stage(copy.deepcopy(branch), fn).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(stage, (example,), buf, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "clips", 1: "time"}}, dynamo=False)
    return buf.getvalue()


def _stage_model(key: str, branch: nn.Module, fn, example: torch.Tensor) -> bytes:
    path = cache_dir() / f"{key}.onnx"
    if path.exists():
        return path.read_bytes()
    model = _export(branch, fn, example)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.partial")
    tmp.write_bytes(model)
    os.replace(tmp, path)  # two processes exporting at once write the same bytes
    return model


def accelerate(net: nn.Module, weights_file: str | os.PathLike) -> bool:
    """Run a loaded CPU network's clip-level stages in ONNX Runtime from now on, while it is in
    eval mode (sequence.FAST). True when it got them."""
    if not enabled() or next(net.parameters()).device.type != "cpu":
        return False
    try:
        import onnxruntime
        h = hashlib.sha1(Path(weights_file).read_bytes())
        h.update(f"{torch.__version__} {onnxruntime.__version__} {net.kind}".encode())
        key = h.hexdigest()[:20]
        visual = Session(_stage_model(f"{key}-visual", net.visual, sequence.visual_sequence,
                                      torch.zeros(1, 30, 32, 32)))
        audio = Session(_stage_model(f"{key}-audio", net.audio, sequence.audio_sequence, torch.zeros(1, 100, 12)))
    except Exception as exc:  # any failure leaves the network in torch, which gives the same answer
        logging.getLogger(__name__).info("ONNX Runtime not used for %s (%s: %s); running in torch",
                                         net.kind, exc.__class__.__name__, exc)
        return False
    sequence.FAST[net.visual], sequence.FAST[net.audio] = visual, audio
    return True
