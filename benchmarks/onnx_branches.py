"""The networks' convolution stages on CPU: torch against ONNX Runtime. Prints a table.

    .venv/bin/pip install -c constraints.txt -e ".[onnx]"   # benchmark only, not a dependency
    .venv/bin/python benchmarks/onnx_branches.py [--seconds 20] [--threads 2] [--repeats 20]

What analysis runs per clip before the fusion heads (core/models/sequence.py): the visual branch's
two 3-D convolutions and poolings over the whole flow sequence, and the audio branch's 2-D ones
over the MFCC sequence, of the shipped C3 and WLOS, for a clip of --seconds at 25 fps. Each stage
is exported with torch.onnx (eval mode) and timed in ONNX Runtime against torch on the same input;
the largest difference of the outputs is printed too. Timings are the median of --repeats runs
after two warm-ups.
"""
from __future__ import annotations

import argparse
import copy
import platform
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wlos_app.core.models import sequence, weights  # noqa: E402


class Stage(nn.Module):
    """One of sequence.py's clip-level stages as a module the exporter can trace."""

    def __init__(self, branch, fn):
        super().__init__()
        self.branch, self.fn = branch, fn

    def forward(self, x):
        return self.fn(self.branch, x)


def median_ms(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def _pool2d(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    y = F.max_pool2d(x.reshape(1, -1, *x.shape[-2:]), (kh, kw))  # ONNX's MaxPool wants N, C, H, W
    return y.reshape(*x.shape[:-2], *y.shape[-2:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    import onnxruntime as ort
    torch.set_num_threads(args.threads)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1

    frames, rows = int(args.seconds * 25), int(args.seconds * 100)
    rng = np.random.default_rng(0)
    inputs = {"visual": torch.from_numpy(rng.random((1, frames, 32, 32), np.float32)),
              "audio": torch.from_numpy(rng.standard_normal((1, rows, 12)).astype(np.float32))}
    print(f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}, onnxruntime {ort.__version__}; "
          f"a {args.seconds:.0f} s clip ({frames} flow frames, {rows} MFCC rows)\n")
    print("| network | stage | torch ms | ONNX Runtime ms | ORT / torch | largest difference |")
    print("|---|---|---|---|---|---|")
    # A copy is exported: torch.onnx's legacy exporter folds batch norm into the convolution
    # weights in place, and the module it was given then computes something else.
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        for kind in ("c3", "wlos"):
            net = weights.load(kind).eval().float()
            for stage, module in (("visual", Stage(net.visual, sequence.visual_sequence)),
                                  ("audio", Stage(net.audio, sequence.audio_sequence))):
                x = inputs[stage]
                path = str(Path(tmp) / f"{kind}_{stage}.onnx")
                # ONNX Runtime gets its own MaxPool, not the strided maxima that are faster in torch.
                with mock.patch.object(sequence, "max_pool", _pool2d):
                    torch.onnx.export(copy.deepcopy(module), (x,), path, input_names=["x"], output_names=["y"],
                                      dynamic_axes={"x": {1: "time"}}, dynamo=False)
                sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
                want = module(x).numpy()
                got = sess.run(None, {"x": x.numpy()})[0]
                with torch.inference_mode():  # as analysis runs them
                    t_torch = median_ms(lambda: module(x), args.repeats)
                t_ort = median_ms(lambda: sess.run(None, {"x": x.numpy()}), args.repeats)
                print(f"| {kind} | {stage} | {t_torch:.1f} | {t_ort:.1f} | {t_ort / t_torch:.2f} | "
                      f"{float(np.abs(got - want).max()):.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
