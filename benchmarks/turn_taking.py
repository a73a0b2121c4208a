"""Two real people in view together who take turns (issue 19: faces in view together, the heard face
changing mid-clip). Prints one table and a summary.

    .venv/bin/python benchmarks/turn_taking.py [--people ../data/speakers_settled] [--model DIR | --folds RUN]
        [--seconds 5] [--still] [--voice-over] [--json OUT]

Each pair (as in benchmarks/people_cuts.py: a person and the person five places on; --folds: every
ordered pair of the people a fold held out, read by that fold's model) sits side by side, the first
on the left, for 2 x --seconds. Each person's picture is their clip's first --seconds, twice over:
the first person is heard the first time, the second person the second time (each with their own
sound, in sync). So the face that is not heard moves its lips all the same, as a replay would;
--still freezes it on its first frame instead (a listener who does not move at all, the easy case).
--people: the settled copies (trainer.speakers settle), so the truth is 0 on both sides.

Counted: the answer within a frame of 0, called reliable, against each turn analysed alone; and
each speech span's face against the one heard at its middle. --voice-over replaces the sound by that
of a person who is neither face: every answer called reliable is then wrong.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import mediagen  # noqa: E402
from people_cuts import alone, voiced_over  # noqa: E402
from two_people import pair_args, pair_jobs, side  # noqa: E402
from wlos_app.core.analysis import analyze  # noqa: E402
from wlos_app.core.calibration import RELIABLE  # noqa: E402
from wlos_app.core.features import BLOCK  # noqa: E402


def turns(A: tuple, B: tuple, still: bool) -> tuple:
    """A beside B (A on the left): A heard in the first half, B in the second; the face not heard
    shows its turn's picture again (or, `still`, its first frame)."""
    (fa, sa, rate), (fb, sb, _) = A, B
    n = len(fa)
    quiet = (lambda f: [(t, f[0][1]) for t, _ in f]) if still else (lambda f: f)
    left = fa + [(t + n / 25, im) for t, im in quiet(fa)]
    right = quiet(fb) + [(t + n / 25, im) for t, im in fb]
    frames = [(t, np.ascontiguousarray(np.hstack([a, b]))) for (t, a), (_, b) in zip(left, right)]
    k = int(round(n / 25 * rate))  # a clip shorter than the turn: its sound padded, so B's starts with B's picture
    return frames, np.concatenate([np.pad(x[:, :k], ((0, 0), (0, k - x[:, :k].shape[1]))) for x in (sa, sb)], 1), rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    pair_args(ap, ROOT.parent / "data" / "speakers_settled", 5.0)
    ap.add_argument("--still", action="store_true", help="the face not heard frozen on its first frame")
    ap.add_argument("--voice-over", action="store_true", help="a third person's sound over both turns")
    args = ap.parse_args()
    if (found := pair_jobs(args)) is None:
        return 2
    clips, jobs = found
    tmp = Path(tempfile.mkdtemp(prefix="wlos-turns-"))
    print("| left, heard first | right, heard then | answer (frames) | confidence | left's turn alone "
          "| right's turn alone | spans' faces (L/R, right / all) |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for i, (a, b, model) in enumerate(jobs):
        cfg, A, B, ra, rb = alone(a, b, model, args.seconds, tmp, i)
        frames, sound, rate = turns(A, B, args.still)
        if args.voice_over:
            sound = voiced_over(sound, clips, a, b, bool(args.folds), 2 * args.seconds)
        res = analyze(str(mediagen.write_clip(tmp / f"turns{i}.mp4", frames, sound, rate)), cfg)
        spans = []
        for sp in res.speaker.spans if res.speaker else []:
            mid = (res.starts[sp.first] + res.starts[sp.last] + BLOCK) / 2 / 25
            spans.append({"face": side(res, sp.face), "want": "left" if mid < args.seconds else "right",
                          "scores": {side(res, t): s for t, s in sp.scores.items()}})
        rows.append({"left": a.stem, "right": b.stem, "model": model, "offset": res.offset_grid,
                     "confidence": res.confidence, "left_alone": [ra.offset_grid, ra.confidence],
                     "right_alone": [rb.offset_grid, rb.confidence], "spans": spans,
                     "faces": len(res.faces.tracks) if res.faces else 1})
        said = "".join("-" if s["face"] == "none" else s["face"][0].upper() for s in spans)
        print(f"| {a.stem} | {b.stem} | {res.offset_grid:+.2f} | {res.confidence:.2f} | {ra.offset_grid:+.2f}, "
              f"{ra.confidence:.2f} | {rb.offset_grid:+.2f}, {rb.confidence:.2f} | {said or '-'} "
              f"({sum(s['face'] == s['want'] for s in spans)}/{len(spans)}) |", flush=True)
    n = len(rows)
    near = [abs(r["offset"]) <= 1.0 for r in rows]
    rel = [r["confidence"] >= RELIABLE for r in rows]
    both = [min(r["left_alone"][1], r["right_alone"][1]) >= RELIABLE for r in rows]
    sp = [s for r in rows for s in r["spans"]]
    if args.voice_over:
        print(f"\n{n} turn-taking clips under another person's voice: called reliable (each one wrong): {sum(rel)}")
    else:
        print(f"\n{n} turn-taking clips: within a frame of 0: {sum(near)}; called reliable: {sum(rel)}, of them within "
              f"a frame: {sum(x and y for x, y in zip(rel, near))}; both turns alone called reliable: {sum(both)}; "
              f"speech spans given the face heard: {sum(s['face'] == s['want'] for s in sp)} of {len(sp)}, "
              f"the other face: {sum(s['face'] not in (s['want'], 'none') for s in sp)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
