"""How clearly a face's lips match the sound: speaker.score over whole clips, with their own sound
and with another clip's. Prints both sorted, for choosing and checking speaker.CLEAR.

    .venv/bin/python benchmarks/face_scores.py [--sample ../shared/data/grid_s1_sample] [--model DIR]

Each clip's features come from the training cache (trainer.dataset.build); "another clip's
sound" is the next clip's (trainer.calibrate.mismatched). The score is the one the analysis puts
on a span of speech (core.speaker), here over all of a clip's usable blocks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainer import dataset  # noqa: E402
from trainer.calibrate import mismatched  # noqa: E402
from trainer.evaluate import estimate_clip  # noqa: E402
from wlos_app.core import speaker  # noqa: E402
from wlos_app.core.fusion import block_times  # noqa: E402
from wlos_app.core.models import load  # noqa: E402


def face_score(feats, nets) -> float:
    est = estimate_clip(feats, "fusion", nets)
    if est is None:
        return float("nan")
    # as core.speaker scores a face: its usable blocks, among the rows of every block
    starts = feats.block_starts()
    ok = np.flatnonzero([feats.block_status(int(t)) == "ok" for t in starts])
    return speaker.score(est, ok, block_times(starts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", default=str(ROOT.parent / "shared" / "data" / "grid_s1_sample"))
    ap.add_argument("--model", help="model folder (default: the shipped one)")
    a = ap.parse_args()
    nets = {k: load(k, a.model) for k in ("c3", "wlos")}
    clips = [c for c in dataset.build(a.sample).clips if c.version == 0]
    if len(clips) < 2:
        raise SystemExit(f"{a.sample}: needs two clips or more")
    own = [face_score(c.feats, nets) for c in clips]
    other = [face_score(mismatched(c.feats, clips[(i + 1) % len(clips)].feats), nets) for i, c in enumerate(clips)]
    print(f"| sound | clips | scores, sorted | at or above CLEAR ({speaker.CLEAR:g}) |")
    print("|---|---|---|---|")
    for name, v in (("its own", own), ("another clip's", other)):
        v = np.sort(np.asarray(v, float))
        print(f"| {name} | {len(v)} | {', '.join(f'{x:.2f}' for x in v)} | {int((v >= speaker.CLEAR).sum())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
