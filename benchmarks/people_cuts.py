"""A cut from one real person to another, each in sync (issue 19's cut between two speakers, on
people rather than GRID). Prints one table and a summary.

    .venv/bin/python benchmarks/people_cuts.py [--people ../data/speakers_settled] [--model DIR | --folds RUN]
        [--seconds 6] [--voice-over] [--json OUT]

--people: the speakers set's settled copies (trainer.speakers settle), so that each source is in sync
and the truth is 0 on both sides of the cut. Each person's first clip, its first --seconds, scaled
to 360 px high on a 640x360 picture, the sound at 16 kHz mono, then the person five places on
(--folds: every ordered pair of the people a fold held out, read by that fold's model, as in
benchmarks/two_people.py). Counted: the answer within a frame of 0, called reliable, against each
side analysed alone; and which faces the answer was heard from.

--voice-over: the cut's sound is replaced by that of the next person who is neither side (three
places on without --folds): no face in view made it, so every answer called reliable is wrong.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import mediagen  # noqa: E402
from two_people import another, pair_args, pair_jobs  # noqa: E402
from wlos_app.core.analysis import AnalysisConfig, analyze  # noqa: E402
from wlos_app.core.calibration import RELIABLE  # noqa: E402

W, H, RATE = 640, 360, 16000


def shot(path: Path, seconds: float) -> tuple:
    """A clip's first `seconds` on the W x H picture (scaled to its height, centred) and its sound
    at RATE, mono: people's clips differ in size and rate, and mediagen.cut wants one of each."""
    frames, audio, rate = mediagen.load_clip(path)
    audio = soxr.resample(np.ascontiguousarray(audio[:1].T, np.float32), rate, RATE).T
    out = []
    for t, img in frames:
        if t >= seconds:
            break
        im = cv2.resize(img, (int(round(img.shape[1] * H / img.shape[0])), H))
        canvas = np.full((H, W, 3), 90, np.uint8)
        x = (W - im.shape[1]) // 2
        if x >= 0:
            canvas[:, x:x + im.shape[1]] = im
        else:
            canvas[:] = im[:, -x:-x + W]
        out.append((t, canvas))
    return mediagen.framed(out, W, H, seconds), audio[:, :int(seconds * RATE)], RATE


def alone(a: Path, b: Path, model: str | None, seconds: float, tmp: Path, i: int) -> tuple:
    """The analysis settings, both people's shots, and each shot analysed alone (what the pair's
    answer is held against)."""
    cfg = AnalysisConfig(keep_audio=False, model_dir=model)
    A, B = shot(a, seconds), shot(b, seconds)
    ra = analyze(str(mediagen.write_clip(tmp / f"a{i}.mp4", *A)), cfg)
    rb = analyze(str(mediagen.write_clip(tmp / f"b{i}.mp4", *B)), cfg)
    return cfg, A, B, ra, rb


def voiced_over(sound: np.ndarray, clips: list[Path], a: Path, b: Path, folds: bool, seconds: float) -> np.ndarray:
    """`sound` replaced by the sound of a person who is neither a nor b (the next one, or three
    places on without folds), cut or padded to its length."""
    voice = shot(another(clips, clips.index(a) + (1 if folds else 3), a, b), seconds)[1]
    return np.pad(voice, ((0, 0), (0, max(0, sound.shape[1] - voice.shape[1]))))[:, :sound.shape[1]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    pair_args(ap, ROOT.parent / "data" / "speakers_settled", 6.0)
    ap.add_argument("--voice-over", action="store_true", help="a third person's sound over the cut")
    args = ap.parse_args()
    if (found := pair_jobs(args)) is None:
        return 2
    clips, jobs = found
    tmp = Path(tempfile.mkdtemp(prefix="wlos-people-cuts-"))
    print("| first | then | answer (frames) | confidence | first alone | then alone | heard per span |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for i, (a, b, model) in enumerate(jobs):
        cfg, A, B, ra, rb = alone(a, b, model, args.seconds, tmp, i)
        frames, sound, rate = mediagen.cut(A, B)
        if args.voice_over:
            sound = voiced_over(sound, clips, a, b, bool(args.folds), 2 * args.seconds)
        res = analyze(str(mediagen.write_clip(tmp / f"cut{i}.mp4", frames, sound, rate)), cfg)
        heard = [sp.face for sp in res.speaker.spans] if res.speaker else []
        rows.append({"first": a.stem, "then": b.stem, "model": model, "offset": res.offset_grid,
                     "confidence": res.confidence, "first_alone": [ra.offset_grid, ra.confidence],
                     "then_alone": [rb.offset_grid, rb.confidence], "heard": heard,
                     "tracks": len(res.faces.tracks) if res.faces else 1})
        print(f"| {a.stem} | {b.stem} | {res.offset_grid:+.2f} | {res.confidence:.2f} | {ra.offset_grid:+.2f}, "
              f"{ra.confidence:.2f} | {rb.offset_grid:+.2f}, {rb.confidence:.2f} | "
              + ", ".join("-" if f is None else str(f) for f in heard) + " |", flush=True)
    n = len(rows)
    near = [abs(r["offset"]) <= 1.0 for r in rows]
    rel = [r["confidence"] >= RELIABLE for r in rows]
    either = [max(r["first_alone"][1], r["then_alone"][1]) >= RELIABLE for r in rows]
    if args.voice_over:
        print(f"\n{n} cuts under another person's voice: called reliable (each one wrong): {sum(rel)}")
    else:
        print(f"\n{n} cuts: within a frame of 0: {sum(near)}; called reliable: {sum(rel)}, of them within a frame: "
              f"{sum(a and b for a, b in zip(rel, near))}; a side alone called reliable: {sum(either)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
