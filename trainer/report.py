"""`wlos-app eval` and the Table 1 benchmark: every method on cached features of in-sync clips."""
from __future__ import annotations

import math
from typing import Callable

from wlos_app.core.models import load

from . import dataset
from .evaluate import CLIP_SHIFTS, block_ms, clip_accuracy, qmi_block_mae
from .train import evaluate

NAMES = {"qmi": "QMI", "c3": "C3 (sliding window)", "wlos": "WLOS"}


def evaluate_clips(clips: dataset.ClipSet, nets: dict, protocol: str = "clip", methods=("qmi", "c3", "wlos"),
                   clip_level: bool = True, seed: int = 0) -> dict:
    """nets: name -> loaded network (names "c3", "wlos", or any "wlos*" variant). Rows in `methods`
    order; a WLOS variant is a method "wlos" with its own network."""
    rows = {}
    for name in methods:
        if name == "qmi":
            rows[name] = qmi_block_mae(clips, protocol, seed)
        else:
            rows[name] = evaluate(nets[name], clips, protocol, seed)
    engine = {name: (name.split("-")[0] if name != "qmi" else "qmi",
                     {} if name == "qmi" else {name.split("-")[0]: nets[name]}) for name in methods}
    for name, ms in block_ms(clips, engine).items():
        rows[name]["ms_per_block"] = ms
    if clip_level:
        for name, acc in clip_accuracy(clips, engine, CLIP_SHIFTS, seed).items():
            rows[name]["clip"] = acc
    return rows


def evaluate_folder(folder: str, model_dir: str | None = None, split_file: str | None = None,
                    protocol: str = "clip", methods=("qmi", "c3", "wlos"), cache_dir: str | None = None,
                    workers: int | None = None, device: str | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> dict:
    clips = dataset.build(folder, cache_dir=cache_dir, workers=workers, progress=progress)
    if not clips.clips:
        raise ValueError(f"{folder}: no usable clip")
    if split_file and protocol == "clip":
        _, clips = dataset.split_clips(clips, split_file)
    nets = {m: load(m, model_dir, device) for m in methods if m != "qmi"}
    rows = evaluate_clips(clips, nets, protocol, methods, clip_level=(protocol == "clip"))
    return {"folder": folder, "model": model_dir or "shipped", "protocol": protocol, "clips": len(clips.clips),
            "skipped": [p for p, _ in clips.skipped], "methods": rows}


def _f(x, nd=3):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def format_table(res: dict) -> str:
    lines = [f"{res['clips']} clips, protocol {res['protocol']}, model {res['model']}", "",
             "| method | MAE per block (frames) | pairs within 1 | clip exact | clip within 1 | ms per block |",
             "|---|---|---|---|---|---|"]
    for name, r in res["methods"].items():
        clip = r.get("clip", {})
        lines.append(f"| {NAMES.get(name, name)} | {_f(r['mae'])} | {_f(r.get('within1'))} | "
                     f"{_f(clip.get('exact'))} | {_f(clip.get('within1'))} | {_f(r.get('ms_per_block'), 2)} |")
    if any("clip" in r for r in res["methods"].values()):
        lines.append("")
        lines.append(f"clip accuracy: each clip's audio moved by {', '.join(f'{s:+d}' for s in CLIP_SHIFTS)} "
                     f"frames; exact = rounded offset right, within 1 = off by at most one frame")
    if res.get("skipped"):
        lines.append(f"skipped {len(res['skipped'])} clips without a usable face or speech")
    return "\n".join(lines)
