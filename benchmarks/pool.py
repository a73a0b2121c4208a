"""max_pool2d against the strided maxima of models.sequence.max_pool, on the shapes the analysis
pools (the visual branch over a 3 s and a 20 s clip, the audio branch over 3 s). Prints one table.

    .venv/bin/python benchmarks/pool.py [--repeats 30]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wlos_app.core.models.sequence import max_pool  # noqa: E402

SHAPES = {  # (C, K, T, H, W) or (C, K, H, W), pool
    "visual, 1st pool, 3 s": ((1, 64, 73, 30, 30), (2, 2)),
    "visual, 2nd pool, 3 s": ((1, 32, 68, 13, 13), (2, 2)),
    "visual, 1st pool, 20 s (a 100-frame chunk)": ((1, 64, 98, 30, 30), (2, 2)),
    "audio, 1st pool, 3 s": ((1, 128, 299, 11), (2, 2)),
    "audio, 2nd pool, 3 s": ((1, 64, 148, 4), (1, 2)),
}


def ms(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats * 1e3)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=30)
    a = ap.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; best of 3 means of {a.repeats} calls\n")
    print("| tensor | max_pool2d ms | strided maxima ms | ratio | equal |")
    print("|---|---|---|---|---|")
    for name, (shape, k) in SHAPES.items():
        x = torch.randn(*shape)
        with torch.inference_mode():
            ref = lambda: F.max_pool2d(x.flatten(0, -3), k)  # noqa: E731
            new = lambda: max_pool(x, *k)  # noqa: E731
            same = torch.equal(ref().reshape(new().shape), new())
            t_ref, t_new = ms(ref, a.repeats), ms(new, a.repeats)
        print(f"| {name} {tuple(shape)} | {t_ref:.2f} | {t_new:.2f} | {t_ref / t_new:.1f}x | {same} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
