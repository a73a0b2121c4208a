"""Voice-overs: no face in view made the sound. How often is the answer called reliable anyway?
(issue 19: "a voice-over over a silent face: not reliable"). Prints one table.

    .venv/bin/python benchmarks/voice_overs.py [--s1 ../data/data/s1] [--split ../shared/data/grid_s1_split.tsv]
        [--people ../data/speakers] [--cases 20] [--folds RUN] [--json OUT]

- GRID, one face: an s1 validation clip's picture with another's sound;
- GRID, two faces: two s1 validation clips side by side (the second 1.1x larger) with a third's sound;
- people, two faces: two people of the speakers set side by side with a third person's sound (10 s);
- with --folds RUN (a trainer.folds output), people speaker-disjoint: each fold's model (with the
  calibration.json found beside it, speaker_folds.py --write-held-out) on every ordered pair of the
  people it held out, with the sound of the next person who is neither.
The s1 clips are validation clips outside the 20-clip sample (shared/data/grid_s1_sample, which
benchmarks/speakers.py uses), drawn with a fixed seed. GRID's sentences share one rhythm and one
length, so another s1 sentence's sound is the hardest voice-over there is for lips of s1; as the
calibration does (trainer.calibrate.shared_words), each sound is a sentence that says no word at
the same place as the face's (a shared word is that face's own speech at that time).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import mediagen  # noqa: E402
from two_people import another, fold_pairs, people  # noqa: E402
from trainer.calibrate import shared_words  # noqa: E402
from trainer.dataset import read_split_file  # noqa: E402
from wlos_app.core.analysis import AnalysisConfig, analyze  # noqa: E402


def s1_val(s1: Path, split: Path, sample: Path, n: int) -> list[Path]:
    skip = {p.stem for p in sample.glob("*.mpg")}
    val = [c for c, side in read_split_file(split).items()
           if side == "val" and c not in skip and (s1 / f"{c}.mpg").exists()]
    random.Random(0).shuffle(val)
    return [s1 / f"{v}.mpg" for v in val[:n]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--s1", default=str(ROOT.parent / "data" / "data" / "s1"))
    ap.add_argument("--split", default=str(ROOT.parent / "shared" / "data" / "grid_s1_split.tsv"))
    ap.add_argument("--sample", default=str(ROOT.parent / "shared" / "data" / "grid_s1_sample"))
    ap.add_argument("--people", default=str(ROOT.parent / "data" / "speakers"))
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--folds", metavar="RUN", help="a trainer.folds output: people read by models that never saw them")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    clips = s1_val(Path(args.s1), Path(args.split), Path(args.sample), 10 ** 4)  # the faces, then the sounds' pool
    folks = people(Path(args.people)) if Path(args.people).is_dir() else []
    if len(clips) < 3 * args.cases:
        print(f"need {3 * args.cases} s1 validation clips in {args.s1}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="wlos-voice-overs-"))
    k = args.cases
    pool = clips[2 * k:]

    used: set[Path] = set()

    def sound_for(*faces: Path) -> Path:
        """The first clip of the pool not used yet that says no word at the same place as `faces`."""
        c = next((c for c in pool if c not in used and all(shared_words(c.stem, f.stem) == 0 for f in faces)),
                 pool[0])
        used.add(c)
        return c
    sets = {
        "GRID, one face": [((clips[i],), sound_for(clips[i]), None) for i in range(k)],
        "GRID, two faces": [((clips[i], clips[k + i]), sound_for(clips[i], clips[k + i]), None) for i in range(k)],
        "people, two faces": [((folks[i], folks[(i + 5) % len(folks)]), folks[(i + 3) % len(folks)], None)
                              for i in range(len(folks))],
    }
    if args.folds:
        sets["people, two faces, fold models"] = [
            ((a, b), another(folks, folks.index(b) + 1, a, b), model)
            for a, b, model in fold_pairs(Path(args.folds), folks)]
    print("| voice-over | clips | called reliable | a face matched the sound | the reliable ones |")
    print("|---|---|---|---|---|")
    record = {}
    for name, cases in sets.items():
        rows = []
        for j, (faces, sound, model) in enumerate(cases):
            if len(faces) == 1:
                frames = mediagen.load_clip(faces[0])[0]
            else:
                frames = mediagen.side_by_side(faces[0], faces[1], True)[0]
            frames = frames[:250]  # at most 10 s
            _, audio, rate = mediagen.load_clip(sound)
            n = int(round(len(frames) / 25.0 * rate))
            if audio.shape[1] < n:  # a sound shorter than the picture: the picture cut to it
                frames = frames[:int(audio.shape[1] / rate * 25)]
                n = int(round(len(frames) / 25.0 * rate))
            out = mediagen.write_clip(tmp / f"{name.split(',')[0]}_{len(faces)}_{j}.mp4", frames, audio[:, :n], rate)
            res = analyze(str(out), AnalysisConfig(keep_audio=False, model_dir=model))
            matched = bool(res.speaker is not None and res.speaker.matched and len(faces) > 1)
            spans = [sorted(sp.scores.values(), reverse=True) for sp in res.speaker.spans] if res.speaker else []
            rows.append({"faces": [f.stem for f in faces], "sound": sound.stem, "offset": res.offset_grid,
                         "confidence": res.confidence, "reliable": bool(res.reliable), "matched": matched,
                         "span_scores": spans})
        bad = [r for r in rows if r["reliable"]]
        said = "; ".join(f"{'+'.join(r['faces'])} with {r['sound']}'s sound: {r['offset']:+.2f} frames at "
                         f"{r['confidence']:.2f}" for r in bad) or "-"
        matched = sum(r["matched"] for r in rows) if "two" in name else "-"
        print(f"| {name} | {len(rows)} | {len(bad)} | {matched} | {said} |", flush=True)
        record[name] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
