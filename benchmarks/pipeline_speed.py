"""Per-clip speed of the whole analysis against the aims of issue 12. Prints one table.

    .venv/bin/python benchmarks/pipeline_speed.py [--sample ../shared/data/grid_s1_sample] \\
        [--hd CLIP.mp4] [--methods fusion,qmi] [--repeats 2]

- GRID: each sample clip (3 s, 360x288 MPEG-1) analysed in this process after a warm-up clip
  (models loaded, caches warm), seconds per clip and x real time (aim: >= 20x);
- HD: a 720p H.264 clip analysed in this process, against decoding its video with plain PyAV
  (`for f in container.decode(video=0)`, PyAV's default threading), the better of --repeats runs
  each (aim: <= 1.5x the decode). Without --hd, a 60 s one is written first (the sample clips
  scaled to 1280x720, x264's medium preset), which takes a few minutes on two cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from wlos_app.core import analysis  # noqa: E402

DEFAULT_SAMPLE = ROOT.parent / "shared" / "data" / "grid_s1_sample"


def plain_decode_s(path: str) -> float:
    t0 = time.perf_counter()
    with av.open(path) as c:
        for _ in c.decode(video=0):
            pass
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", default=str(DEFAULT_SAMPLE))
    ap.add_argument("--hd", help="a 720p clip (default: write a 60 s one)")
    ap.add_argument("--methods", default="fusion,qmi")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    clips = sorted(Path(a.sample).glob("*.mpg"))
    methods = a.methods.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        hd = a.hd
        if not hd:
            import long_clip
            hd = os.path.join(tmp, "hd.mp4")
            long_clip.write_long(Path(hd), clips, 1.0, (1280, 720), "medium")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
              f"{torch.get_num_threads()} threads; code at {ROOT}\n")
        print("| clip | method | seconds per clip | x real time | plain decode | / plain decode |")
        print("|---|---|---|---|---|---|")
        for method in methods:
            cfg = analysis.AnalysisConfig(method=method)
            analysis.analyze(str(clips[0]), cfg)  # warm-up
            walls, dur = [], 0.0
            for clip in clips:
                t0 = time.perf_counter()
                res = analysis.analyze(str(clip), cfg)
                walls.append(time.perf_counter() - t0)
                dur += res.duration_s
            per = sum(walls) / len(walls)
            print(f"| {len(clips)} GRID clips, 360x288 | {method} | {per:.3f} | {dur / sum(walls):.1f}x | | |",
                  flush=True)
        info = analysis.media.probe(hd)
        decode = min(plain_decode_s(hd) for _ in range(a.repeats))
        for method in methods:
            cfg = analysis.AnalysisConfig(method=method)
            wall = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                res = analysis.analyze(hd, cfg)
                wall.append(time.perf_counter() - t0)
            w = min(wall)
            print(f"| {info.duration_s:.0f} s H.264 {info.video.width}x{info.video.height} | {method} | {w:.2f} | "
                  f"{res.duration_s / w:.1f}x | {decode:.2f} s | {w / decode:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
