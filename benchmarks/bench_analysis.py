"""Seconds per analysis stage on the GRID sample clips, and the x real time of the whole analysis.

    .venv/bin/python benchmarks/bench_analysis.py [CLIP_DIR] [--threads N]

Prints two markdown tables: the stages of a QMI analysis (which needs no weights) with each face
tracker, and the cost of the network estimators per block. Each configuration first analyses one
clip unmeasured (numba compilation, model files). WLOS and C3 run with untrained weights when none
are installed: their cost does not depend on the values of the weights.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wlos_app.core import analysis, models

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "grid_s1_sample"
STAGES = ["decode_audio", "decode_video", "detect", "track", "landmarks", "crop", "features", "qmi"]


def run(clips, cfg):
    analysis.analyze(str(clips[0]), cfg)  # warm-up
    rows, walls, durs, blocks = [], [], [], []
    for clip in clips:
        t0 = time.perf_counter()
        res = analysis.analyze(str(clip), cfg)
        walls.append(time.perf_counter() - t0)
        durs.append(res.duration_s)
        blocks.append(res.n_used)
        t = dict(res.timings)
        t.update(res.face.timings)
        rows.append(t)
    return rows, float(np.mean(walls)), float(np.mean(durs)), float(np.mean(blocks))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip_dir", nargs="?", default=str(DEFAULT_DIR))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    clips = sorted(Path(args.clip_dir).glob("*.mpg"))
    if not clips:
        print(f"no .mpg clips in {args.clip_dir}", file=sys.stderr)
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, networks on {models.default_device()}; "
          f"{len(clips)} clips from {args.clip_dir}\n")

    print("QMI analysis, seconds per clip (mean):\n")
    print("| tracker | landmark_every | " + " | ".join(STAGES) + " | whole analysis | x real time |")
    print("|---" * (len(STAGES) + 4) + "|")
    for tracker, every in (("landmarks", analysis.FaceConfig.landmark_every), ("landmarks", 1), ("kcf", 1)):
        cfg = analysis.AnalysisConfig(method="qmi", face=analysis.FaceConfig(tracker=tracker, landmark_every=every))
        rows, wall, dur, _ = run(clips, cfg)
        mean = [np.mean([r.get(s, 0.0) for r in rows]) for s in STAGES]
        print(f"| {tracker} | {every} | " + " | ".join(f"{v:.4f}" for v in mean) + f" | {wall:.3f} | {dur / wall:.1f}x |")

    model_dir = None
    if not models.weights_path("wlos").exists():
        model_dir = tempfile.mkdtemp()
        models.save(models.WLOS(), os.path.join(model_dir, "wlos.pt"))
        models.save(models.C3(), os.path.join(model_dir, "c3.pt"))
    cfg = analysis.AnalysisConfig(method="wlos", curves=("qmi", "c3"), model_dir=model_dir)
    rows, wall, dur, nblocks = run(clips, cfg)
    print(f"\nEstimators, ms per block ({nblocks:.0f} blocks per clip; C3 and QMI score all 19 shifts):\n")
    print("| WLOS | C3 (sliding) | QMI (sliding) | C3 / WLOS | whole analysis with all three | x real time |")
    print("|---|---|---|---|---|---|")
    ms = {m: 1000 * np.mean([r[m] for r in rows]) / nblocks for m in ("wlos", "c3", "qmi")}
    print(f"| {ms['wlos']:.2f} | {ms['c3']:.2f} | {ms['qmi']:.2f} | {ms['c3'] / ms['wlos']:.1f} | "
          f"{wall:.3f} s | {dur / wall:.1f}x |")

    print("\nWhole analysis by method, seconds per clip (mean), against WLOS (the default before fusion):\n")
    print("| method | estimator ms per block | whole analysis | x real time | / WLOS analysis |")
    print("|---|---|---|---|---|")
    walls = {}
    for method in ("wlos", "fusion", "c3", "qmi"):
        rows, wall, dur, nblocks = run(clips, analysis.AnalysisConfig(method=method, model_dir=model_dir))
        walls[method] = wall
        est = 1000 * np.mean([r[method] for r in rows]) / nblocks
        print(f"| {method} | {est:.2f} | {wall:.3f} s | {dur / wall:.1f}x | {wall / walls['wlos']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
