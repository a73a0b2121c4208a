"""How right the answer is on short clips (0.6 s and up), cut from longer recordings.

    .venv/bin/python benchmarks/short_clips.py --s1 S1 --split-file SPLIT [--people SETTLED] [--model DIR]

Each clip (GRID s1 validation clips; with --people, settled copies of real people, see
docs/data.md) is cut to n frames at several places, its sound moved across the whole search such
a clip allows (estimators.reach_of: +-2 frames at 0.6 s, +-6 at 0.88 s) before the cut, as a clip
cut from a broadcast would hold it. Prints, per estimator and length: the share within one
frame, and the share called reliable. The cut is made on cached features (trainer.evaluate.cut),
so only the estimators run; tests/test_short_clips.py does the same through whole files.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import dataset  # noqa: E402
from trainer.evaluate import cut, estimate_clip, shift_audio  # noqa: E402
from wlos_app.core import calibration  # noqa: E402
from wlos_app.core.analysis import NETWORKS_OF  # noqa: E402
from wlos_app.core.estimators import reach_of  # noqa: E402
from wlos_app.core.models import load  # noqa: E402

LENGTHS = (15, 18, 22, 29)  # 0.6, 0.72, 0.88 and 1.16 s


def cuts(f, n: int, every: int = 50) -> list[int]:
    """Cut starts every `every` frames, away from the ends by the search's length."""
    return list(range(10, max(11, f.n_frames - n - 10), every))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--s1", required=True)
    ap.add_argument("--split-file", required=True)
    ap.add_argument("--people", help="settled clips of real people, one folder a person")
    ap.add_argument("--model")
    ap.add_argument("--max-clips", type=int, default=40)
    a = ap.parse_args()
    np.seterr(all="ignore")
    _, val = dataset.split_clips(dataset.build(a.s1), a.split_file)
    sets = {"s1 val": val.clips[:a.max_clips]}
    if a.people:
        sets["people"] = dataset.build(a.people).clips
    nets = {k: load(k, a.model) for k in ("c3", "wlos")}
    cals = calibration.load(a.model)
    methods = ("fusion", "c3", "wlos", "qmi")
    print(f"model: {a.model or 'shipped'}; machine: {platform.machine()}; cells: within one frame / called reliable "
          f"(answers)")
    print()
    print("| set | length | searched | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for name, clips in sets.items():
        for n in LENGTHS:
            r = reach_of(n)
            got = {m: [] for m in methods}
            for c in clips:
                f = c.feats
                for start in cuts(f, n):
                    for s in sorted({-r, -(r // 2), 0, r // 2, r}):
                        g = cut(shift_audio(f, s), start, n)
                        for m in methods:
                            est = estimate_clip(g, m, {k: nets[k] for k in NETWORKS_OF[m]}, calibrations=cals)
                            if est is not None:
                                ok = np.isfinite(est.offset_grid) and abs(est.offset_grid - s) <= 1.0
                                got[m].append((ok, est.confidence >= calibration.RELIABLE))
            cells = []
            for m in methods:
                x = np.array(got[m], bool).reshape(-1, 2)
                cells.append(f"{x[:, 0].mean():.3f} / {x[:, 1].mean():.3f} ({len(x)})" if len(x) else "—")
            print(f"| {name} | {n / 25:.2f} s | +-{40 * r} ms | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
