"""Two real people side by side, one heard (issue 19 on people rather than GRID). Prints one table
and a summary.

    .venv/bin/python benchmarks/two_people.py [--people ../data/speakers] [--model DIR | --folds RUN]
        [--seconds 10] [--json OUT]

For each person of the speakers set (shared/data/speakers, built with its build.py; the GRID
speakers left out), their first clip's first --seconds is heard, beside the picture of the person
five places on (made 1.1x larger, as in benchmarks/speakers.py), on the left and on the right.
The truth is relative: the heard clip analysed alone (whether each source is itself in sync is not
known). Counted: which face the answer comes from (heard, none, silent), whether it is within a
frame of the heard clip alone, and whether it is called reliable, against the clip alone. Each
speech span's evidence (speaker.score) for the heard face and the best other, and each face's own
confidence before any cap, are kept in --json.

The shipped model learned every one of these people: its evidence for a heard face is what a
person it knows gets. --folds RUN (a trainer.folds output) reads speaker-disjoint instead: each
fold's model (RUN/fold<k>, with the calibration.json found there) on every ordered pair of the
people that fold held out, so neither face was learned.
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

import mediagen  # noqa: E402
from wlos_app.core.analysis import AnalysisConfig, analyze  # noqa: E402
from wlos_app.core.batch import find_clips  # noqa: E402
from wlos_app.core.calibration import RELIABLE  # noqa: E402


def people(root: Path) -> list[Path]:
    """Each person's first clip in the speakers set (its GRID speakers left out)."""
    return [find_clips(d)[0] for d in sorted(root.iterdir())
            if d.is_dir() and not d.name.startswith("grid_") and find_clips(d)]


def fold_pairs(run: Path, clips: list[Path]) -> list[tuple[Path, Path, str]]:
    """(a, b, model): every ordered pair of the people each fold of a trainer.folds output held out,
    with that fold's model folder."""
    out = []
    for ev in sorted(run.glob("fold*/eval.json")):
        held = [c for c in clips if c.parent.name in set(json.loads(ev.read_text())["people"])]
        out += [(a, b, str(ev.parent)) for a in held for b in held if a != b]
    return out


def pair_args(ap: argparse.ArgumentParser, people_dir: Path, seconds: float) -> None:
    """The options the benchmarks of real people in pairs share (this one, people_cuts.py,
    turn_taking.py)."""
    ap.add_argument("--people", default=str(people_dir))
    ap.add_argument("--model", help="a model folder (default: the shipped model)")
    ap.add_argument("--folds", metavar="RUN", help="a trainer.folds output: each fold's model on its own people")
    ap.add_argument("--seconds", type=float, default=seconds)
    ap.add_argument("--json", metavar="OUT")


def pair_jobs(args) -> tuple[list[Path], list[tuple[Path, Path, str | None]]] | None:
    """The people of --people and the (a, b, model) pairs to run: with --folds every ordered pair
    within each fold's held-out people (fold_pairs), else each person and the person five places
    on, with --model. None (said on stderr) when --people holds too few people."""
    clips = people(Path(args.people)) if Path(args.people).is_dir() else []
    if len(clips) < 6:
        print(f"need the speakers set (or its settled copies) in {args.people}", file=sys.stderr)
        return None
    if args.folds:
        return clips, fold_pairs(Path(args.folds), clips)
    return clips, [(c, clips[(i + 5) % len(clips)], args.model) for i, c in enumerate(clips)]


def another(clips: list[Path], start: int, *besides: Path) -> Path:
    """The first clip from index `start` on (wrapping round) that is none of `besides`: the sound
    of a person who is neither face, for a voice-over."""
    return next(c for c in clips[start:] + clips if c not in besides)


def cut(clip: tuple, seconds: float) -> tuple:
    frames, audio, rate = clip
    return frames[:int(seconds * 25)], audio[:, :int(seconds * rate)], rate


def side(res, tid: int | None) -> str:
    if tid is None:
        return "none"
    t = res.faces.by_id(tid)
    return "left" if (t.box[0] + t.box[2]) / 2 / res.faces.size[0] < 0.5 else "right"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    pair_args(ap, ROOT.parent / "data" / "speakers", 10.0)
    args = ap.parse_args()
    if (found := pair_jobs(args)) is None:
        return 2
    clips, jobs = found  # (heard, silent, model)
    tmp = Path(tempfile.mkdtemp(prefix="wlos-two-people-"))
    print("| heard | beside | heard on | answer from | drift (frames) | alone | confidence | alone | spans: heard / other face |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for i, (heard, silent, model) in enumerate(jobs):
        cfg = AnalysisConfig(keep_audio=False, model_dir=model)
        alone = mediagen.write_clip(tmp / f"alone_{i}.mp4", *cut(mediagen.load_clip(heard), args.seconds))
        solo = analyze(str(alone), cfg)
        for left in (True, False):
            two = mediagen.write_clip(tmp / f"two_{i}_{left}.mp4",
                                      *cut(mediagen.side_by_side(heard, silent, left), args.seconds))
            res = analyze(str(two), cfg)
            want = "left" if left else "right"
            spans = []
            for sp in res.speaker.spans:
                by = {side(res, tid): s for tid, s in sp.scores.items()}
                spans.append((by.get(want, float("nan")),
                              max((s for k, s in by.items() if k != want), default=float("nan"))))
            row = {"heard": heard.stem, "silent": silent.stem, "model": model, "heard_on": want,
                   "from": side(res, res.speaker.track), "offset": res.offset_grid, "confidence": res.confidence,
                   "alone": solo.offset_grid, "alone_confidence": solo.confidence, "spans": spans,
                   "own": {side(res, tid): o.uncapped.confidence for tid, o in res.speaker.own.items()
                           if o.uncapped is not None}}
            rows.append(row)
            words = "heard" if row["from"] == want else row["from"] if row["from"] == "none" else "silent"
            print(f"| {heard.stem} | {silent.stem} | {want} | {words} | {res.offset_grid:+.2f} | {solo.offset_grid:+.2f} "
                  f"| {res.confidence:.2f} | {solo.confidence:.2f} | "
                  + ", ".join(f"{h:.2f} / {o:.2f}" for h, o in spans) + " |", flush=True)
    n = len(rows)
    heard_n = sum(r["from"] == r["heard_on"] for r in rows)
    none_n = sum(r["from"] == "none" for r in rows)
    near = [abs(r["offset"] - r["alone"]) <= 1.0 for r in rows]
    rel = [r["confidence"] >= RELIABLE for r in rows]
    rel_alone = [r["alone_confidence"] >= RELIABLE for r in rows]
    heard_spans = [h for r in rows for h, _ in r["spans"] if np.isfinite(h)]
    other_spans = [o for r in rows for _, o in r["spans"] if np.isfinite(o)]
    print(f"\n{n} clips: the answer from the heard face in {heard_n}, from none in {none_n}, from the silent face in "
          f"{n - heard_n - none_n}; within a frame of the heard clip alone: {sum(near)}; called reliable: {sum(rel)} "
          f"(alone: {sum(rel_alone)}), of them within a frame: {sum(a and b for a, b in zip(rel, near))}, from the "
          f"silent face: {sum(a and r['from'] not in (r['heard_on'], 'none') for a, r in zip(rel, rows))}")
    if heard_spans and other_spans:
        print(f"span evidence: heard faces quartiles {np.round(np.percentile(heard_spans, [25, 50, 75]), 2).tolist()}, "
              f"the other faces' highest {max(other_spans):.2f} (95th percentile {np.percentile(other_spans, 95):.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
