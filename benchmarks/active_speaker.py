"""Whose lips: several faces in view, one of them heard (the active speaker). Prints tables.

    .venv/bin/python -m benchmarks.active_speaker grid [--sample SAMPLE] [--others SPEAKERS] [--cases 20] [--json OUT]
    .venv/bin/python -m benchmarks.active_speaker side-by-side [--people SPEAKERS] [--model DIR | --folds RUN]
        [--seconds 10] [--max-pairs N] [--json OUT]
    .venv/bin/python -m benchmarks.active_speaker cut [--people SETTLED] [--model DIR | --folds RUN] [--seconds 6]
        [--voice-over] [--max-pairs N] [--json OUT]
    .venv/bin/python -m benchmarks.active_speaker turns [--people SETTLED] [--model DIR | --folds RUN] [--seconds 5]
        [--still] [--voice-over] [--max-pairs N] [--json OUT]
    .venv/bin/python -m benchmarks.active_speaker voice-overs [--s1 S1] [--split-file SPLIT] [--people SPEAKERS]
        [--cases 20] [--folds RUN] [--json OUT]
    .venv/bin/python -m benchmarks.active_speaker scores [--sample SAMPLE] [--model DIR]

- grid: the 20 two-face GRID cases (a sample clip heard beside a silent face), a cut from one GRID
  speaker to another, voice-overs, and what the second face costs;
- side-by-side, cut, turns: real people of the speakers set in pairs: two side by side with one
  heard, a cut from one to the other, two in view who take turns. Each person is paired with the
  person five places on; --folds RUN (a trainer.folds output) pairs instead every ordered pair of
  the people each fold held out, read by that fold's model (and the calibration.json beside it,
  `accuracy folds --write-held-out`), so that no face was learned;
- voice-overs: no face in view made the sound: how often is the answer called reliable anyway?
- scores: how clearly a face's lips match the sound (heard.score over whole clips, with their
  own sound and with another clip's), for choosing and checking heard.CLEAR.

Clips are written to a temporary folder with tests/mediagen.py (the tests' generator).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import soxr

from benchmarks import common

import mediagen
from trainer import dataset
from trainer.calibrate import mismatched, shared_words
from trainer.evaluate import estimate_clip
from wlos_app.core import heard
from wlos_app.core.analysis import AnalysisConfig, analyze
from wlos_app.core.calibration import RELIABLE
from wlos_app.core.grid import BLOCK, block_times
from wlos_app.core.methods import DEFAULT
from wlos_app.core.models import load


def people(root: Path) -> list[Path]:
    """Each person's first clip in the speakers set (its GRID speakers left out)."""
    return [common.clips(d)[0] for d in sorted(root.iterdir())
            if d.is_dir() and not d.name.startswith("grid_") and common.clips(d)]


def fold_pairs(run: Path, clips: list[Path]) -> list[tuple[Path, Path, str]]:
    """(a, b, model): every ordered pair of the people each fold of a trainer.folds output held out,
    with that fold's model folder."""
    out = []
    for ev in sorted(run.glob("fold*/eval.json")):
        held = [c for c in clips if c.parent.name in set(json.loads(ev.read_text())["people"])]
        out += [(a, b, str(ev.parent)) for a in held for b in held if a != b]
    return out


def pair_args(ap: argparse.ArgumentParser, people_dir: Path, seconds: float) -> None:
    """The options the commands on real people in pairs share (side-by-side, cut, turns)."""
    ap.add_argument("--people", default=str(people_dir), help="one folder a person (default: %(default)s)")
    common.options(ap, "model", "folds", "json")
    ap.add_argument("--seconds", type=float, default=seconds, help="of each person's clip (default: %(default)s)")
    ap.add_argument("--max-pairs", type=int, default=0, help="at most this many pairs (0: all)")


def pair_jobs(args) -> tuple[list[Path], list[tuple[Path, Path, str | None]]] | None:
    """The people of --people and the (a, b, model) pairs to run: with --folds every ordered pair
    within each fold's held-out people (fold_pairs), else each person and the person five places
    on, with --model. None (said on stderr) when --people holds too few people."""
    clips = people(Path(args.people)) if Path(args.people).is_dir() else []
    if len(clips) < 6:
        print(f"need the speakers set (or its settled copies) in {args.people}", file=sys.stderr)
        return None
    if args.folds:
        jobs = fold_pairs(Path(args.folds), clips)
    else:
        jobs = [(c, clips[(i + 5) % len(clips)], args.model) for i, c in enumerate(clips)]
    return clips, jobs[:args.max_pairs or None]


def another(clips: list[Path], start: int, *besides: Path) -> Path:
    """The first clip from index `start` on (wrapping round) that is none of `besides`: the sound
    of a person who is neither face, for a voice-over."""
    return next(c for c in clips[start:] + clips if c not in besides)


def first(clip: tuple, seconds: float) -> tuple:
    """A loaded clip's first `seconds`."""
    frames, audio, rate = clip
    return frames[:int(seconds * 25)], audio[:, :int(seconds * rate)], rate


def side(res, tid: int | None) -> str:
    if tid is None:
        return "none"
    t = res.faces.by_id(tid)
    return "left" if (t.box[0] + t.box[2]) / 2 / res.faces.size[0] < 0.5 else "right"


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


SHIFT_FRAMES = 4


def cases(sample: list[Path], others: list[Path]) -> list[dict]:
    """The issue's 20: heard clip i, sound moved by 0 or +4 frames, the silent face another GRID
    speaker (cases 0-15) or another s1 recording (16-19), heard on the left in half of each."""
    out = []
    for i in range(20):
        silent = others[i % len(others)] if i < 16 else sample[(i + 7) % len(sample)]
        out.append({"i": i, "heard": sample[i % len(sample)], "silent": silent, "shift": SHIFT_FRAMES * (i % 2),
                    "heard_left": (i // 2) % 2 == 0})
    return out


def heard_is(res, heard_left: bool) -> bool:
    """Whether the answer's face is the heard one (by the side its box is on)."""
    ch = res.heard
    return ch is not None and side(res, ch.face_id) == ("left" if heard_left else "right")


def grey_half(frames: list, width: int, heard_left: bool) -> list:
    """side_by_side's frames with the silent face's side painted grey: one face, the same picture."""
    out = []
    for t, img in frames:
        img = img.copy()
        if heard_left:
            img[:, width:] = 128
        else:
            img[:, :img.shape[1] - width] = 128
        out.append((t, img))
    return out


def timed(path: str, cfg: AnalysisConfig, reps: int = 3):
    best, res = np.inf, None
    for _ in range(reps):
        t0 = time.perf_counter()
        res = analyze(path, cfg)
        best = min(best, time.perf_counter() - t0)
    return res, best


def s1_val(s1: Path, split: Path, sample: Path, n: int) -> list[Path]:
    skip = {p.stem for p in sample.glob("*.mpg")}
    val = [c for c, side in dataset.read_split_file(split).items()
           if side == "val" and c not in skip and (s1 / f"{c}.mpg").exists()]
    random.Random(0).shuffle(val)
    return [s1 / f"{v}.mpg" for v in val[:n]]


def face_score(feats, nets) -> float:
    est = estimate_clip(feats, DEFAULT, nets)
    if est is None:
        return float("nan")
    # as core.heard scores a face: its usable blocks, among the rows of every block
    starts = feats.block_starts()
    ok = np.flatnonzero([feats.block_status(int(t)) == "ok" for t in starts])
    return heard.score(est, ok, block_times(starts))


# ---- grid -----------------------------------------------------------------------------------------

def add_grid(ap) -> None:
    common.options(ap, "sample", "json")
    ap.add_argument("--others", default=str(common.SPEAKERS),
                    help="folder with grid_c/, grid_d/, grid_e/ (other GRID speakers; default: %(default)s)")
    ap.add_argument("--cases", type=int, default=20, help="the first N of the 20 cases (the cost table: at most 3)")


def cmd_grid(args) -> int:
    """Two GRID faces, one heard; a cut between speakers; voice-overs; the cost of the second face.

    1. The 20 two-face cases: a GRID s1 sample clip (the face heard, its sound moved by 0 or +4
       frames) beside a silent face 1.1x larger, either order; the silent face is another GRID
       speaker (16) or another s1 recording (4). Right: the heard face chosen and the drift within a
       frame of the truth; confidently wrong: wrong with confidence >= 0.8 (each such case's source is
       then read by `accuracy source-sync`, which shares nothing learned with the analysis: the truth
       here takes every GRID recording as in sync);
    2. a cut from one speaker to another, each in sync; a voice-over over a silent face;
    3. the cost of the added face: the two-face clip against the heard clip alone and against the
       heard face alone on the same canvas (same code), and the face stage alone."""
    from benchmarks.accuracy import source_lag
    sample = common.clips(args.sample, ".mpg")
    others = [p for s in ("grid_c", "grid_d", "grid_e") for p in sorted((Path(args.others) / s).glob("*.mpg"))]
    if len(sample) < 20 or not others:
        print(f"need 20 clips in {args.sample} and grid_c/d/e clips in {args.others}", file=sys.stderr)
        return 2
    cfg = AnalysisConfig(keep_audio=False)
    analyze(str(sample[0]), cfg)  # networks loaded, caches warm
    rows, record = [], {"cases": []}
    tmp = Path(tempfile.mkdtemp(prefix="wlos-speakers-"))
    print(f"{common.machine()}; shipped model, default estimator\n")
    t = common.Table("case", "heard (sound moved)", "silent face", "heard on", "chosen", "drift (frames)", "error",
                     "confidence", "right", "silent face's own confidence (uncapped)",
                     "heard clip alone: drift, confidence")
    for c in cases(sample, others)[:args.cases]:
        out = tmp / f"two_{c['i']:02d}.mp4"
        mediagen.write_clip(out, *mediagen.side_by_side(c["heard"], c["silent"], c["heard_left"]),
                            audio_delay_s=c["shift"] * 0.04)
        res = analyze(str(out), cfg)
        alone = mediagen.write_clip(tmp / f"alone_{c['i']:02d}.mp4", *mediagen.load_clip(c["heard"]),
                                    audio_delay_s=c["shift"] * 0.04)
        solo = analyze(str(alone), cfg)  # the heard clip alone: the single-face reading
        err = res.offset_grid - c["shift"]
        face_ok = heard_is(res, c["heard_left"])
        right = face_ok and abs(err) <= 1.0
        side_word = "left" if c["heard_left"] else "right"
        chosen = "heard" if face_ok else "none" if res.heard.face_id is None else "silent"
        rows.append((right, res.confidence))
        others_conf = max((o.uncapped.confidence for tid, o in res.heard.own.items()
                           if side(res, tid) != side_word and o.uncapped is not None), default=float("nan"))
        t.row(c["i"], f"{c['heard'].stem} (+{c['shift']})", f"{c['silent'].parent.name}/{c['silent'].stem}", side_word,
              chosen, f"{res.offset_grid:+.2f}", f"{err:+.2f}", f"{res.confidence:.2f}", "yes" if right else "no",
              f"{others_conf:.2f}", f"{solo.offset_grid:+.2f}, {solo.confidence:.2f}")
        record["cases"].append({**{k: str(v) for k, v in c.items()}, "offset": res.offset_grid, "error": err,
                                "silent_own_confidence": others_conf, "alone": solo.offset_grid,
                                "confidence": res.confidence, "face_ok": face_ok, "right": right,
                                "scores": [sp.scores for sp in res.heard.spans]})
    n_right = sum(r for r, _ in rows)
    confident_wrong = sum((not r) and c >= RELIABLE for r, c in rows)
    print(f"\n{n_right} of {len(rows)} right, {confident_wrong} confidently wrong (confidence >= 0.8 and wrong), "
          f"{sum(c >= RELIABLE for _, c in rows)} called reliable\n")
    record.update(right=n_right, confidently_wrong=confident_wrong)
    wrong = [c for c, (r, conf) in zip(record["cases"], rows) if not r and conf >= RELIABLE]
    if wrong:
        # The count takes every GRID source as in sync; a check with no learned part says how far
        # each confidently wrong case's source itself reads from the sample's other clips.
        lags = {p.stem: source_lag(str(p), 6) for p in sample}
        median = float(np.median([lag for lag, _, edge in lags.values() if not edge]))
        for c in wrong:
            lag, _, edge = lags[Path(c["heard"]).stem]
            where = "no reading (its peak is at the end of +-6 frames)" if edge else \
                f"{lag:+.2f} frames, {lag - median:+.2f} from the sample's median"
            print(f"case {c['i']}: {Path(c['heard']).stem}'s source by lips and loudness "
                  f"(accuracy source-sync): {where}")
        print()

    # A cut from one speaker to another (another GRID speaker, another camera place), each in sync.
    t = common.Table("clip", "answer", "drift along the clip (frames)", "confidence", "reliable")
    record["cut"] = []
    for other in others[:3:2]:  # grid_c, grid_e
        cut = mediagen.cut(mediagen.shot(sample[0]), mediagen.shot(other, mirror=True), mediagen.shot(sample[1]))
        p_cut = mediagen.write_clip(tmp / f"cut_{other.parent.name}.mp4", *cut)
        t0 = time.perf_counter()
        res = analyze(str(p_cut), cfg)
        took = time.perf_counter() - t0
        ts = np.arange(0.3, res.duration_s - 0.3, 0.1)
        d = res.drift_ms_at(ts) / 40.0
        heard = ", ".join("-" if sp.face is None else str(sp.face) for sp in res.heard.spans)
        t.row(f"cut s1 -> {other.parent.name} -> s1, each in sync",
              f"{res.offset_grid:+.2f} frames, {res.track_model}; faces heard per span: {heard} "
              f"({len(res.faces.tracks)} tracks, {took:.1f} s)", f"{d.min():+.2f} .. {d.max():+.2f}",
              f"{res.confidence:.2f}", res.reliable)
        record["cut"].append({"other": other.parent.name, "offset": res.offset_grid, "min": float(d.min()),
                              "max": float(d.max()), "confidence": res.confidence, "seconds": took,
                              "spans": [(sp.first, sp.last, sp.face, sp.scores) for sp in res.heard.spans]})
    vo = mediagen.write_clip(tmp / "voice_over.mp4", *mediagen.voice_over(sample[2], sample[3]))
    res = analyze(str(vo), cfg)
    t.row(f"voice-over: {sample[2].stem}'s face, {sample[3].stem}'s sound", f"{res.offset_grid:+.2f} frames", "-",
          f"{res.confidence:.2f}", res.reliable)
    record["voice_over"] = {"offset": res.offset_grid, "confidence": res.confidence, "reliable": res.reliable}
    frames = mediagen.side_by_side(sample[4], others[1], heard_left=True)[0]
    vo2 = mediagen.write_clip(tmp / "voice_over_two.mp4", frames, *mediagen.load_clip(sample[5])[1:])
    res = analyze(str(vo2), cfg)
    t.row(f"voice-over over two faces: {sample[4].stem} and {others[1].parent.name}, {sample[5].stem}'s sound",
          f"{res.offset_grid:+.2f} frames, face matched: {res.heard.matched}", "-", f"{res.confidence:.2f}",
          res.reliable)
    record["voice_over_two"] = {"offset": res.offset_grid, "confidence": res.confidence, "reliable": res.reliable,
                                "matched": res.heard.matched}

    # Cost of the added face: the two-face clip against its heard clip alone and against the heard
    # face alone on the two-face clip's canvas (the silent half grey: the same picture size), best of 3.
    print()
    t = common.Table("clip", "one face (s)", "one face, same canvas (s)", "two faces (s)", "ratio to one",
                     "ratio to same canvas", "face stage, one / two (s)")
    ratios, canvas_ratios = [], []
    for c in cases(sample, others)[:min(3, args.cases)]:
        heard = mediagen.load_clip(c["heard"])
        one = mediagen.write_clip(tmp / f"one_{c['i']:02d}.mp4", *heard, audio_delay_s=c["shift"] * 0.04)
        r1, t1 = timed(str(one), cfg)
        frames, audio, rate = mediagen.side_by_side(c["heard"], c["silent"], c["heard_left"])
        width = heard[0][0][1].shape[1]
        canvas = mediagen.write_clip(tmp / f"canvas_{c['i']:02d}.mp4", grey_half(frames, width, c["heard_left"]),
                                     audio, rate, audio_delay_s=c["shift"] * 0.04)
        _, tc = timed(str(canvas), cfg)
        two = tmp / f"two_{c['i']:02d}.mp4"
        if not two.exists():
            mediagen.write_clip(two, frames, audio, rate, audio_delay_s=c["shift"] * 0.04)
        r2, t2 = timed(str(two), cfg)
        f1 = r1.timings["face"] + r1.timings["decode_video"]
        f2 = r2.timings["face"] + r2.timings["decode_video"]
        ratios.append(t2 / t1)
        canvas_ratios.append(t2 / tc)
        t.row(f"{c['heard'].stem} + {c['silent'].stem}", f"{t1:.3f}", f"{tc:.3f}", f"{t2:.3f}", f"{t2 / t1:.2f}",
              f"{t2 / tc:.2f}", f"{f1:.3f} / {f2:.3f}")
    record["cost_ratio"], record["cost_ratio_same_canvas"] = ratios, canvas_ratios
    common.write_json(args.json, record)
    return 0


# ---- side-by-side ---------------------------------------------------------------------------------

def add_side_by_side(ap) -> None:
    pair_args(ap, common.SPEAKERS, 10.0)


def cmd_side_by_side(args) -> int:
    """Two real people side by side, one heard.

    For each person of the speakers set (the GRID speakers left out), their first clip's first
    --seconds is heard, beside the picture of the other person of the pair (made 1.1x larger, as in
    `grid`), on the left and on the right. The truth is relative: the heard clip analysed alone
    (whether each source is itself in sync is not known). Counted: which face the answer comes from
    (heard, none, silent), whether it is within a frame of the heard clip alone, and whether it is
    called reliable, against the clip alone. Each speech span's evidence (heard.score) for the
    heard face and the best other, and each face's own confidence before any cap, are kept in --json.
    The shipped model learned every one of these people; --folds reads them speaker-disjoint."""
    if (found := pair_jobs(args)) is None:
        return 2
    clips, jobs = found  # (heard, silent, model)
    tmp = Path(tempfile.mkdtemp(prefix="wlos-two-people-"))
    print(f"{common.machine()}\n")
    t = common.Table("heard", "beside", "heard on", "answer from", "drift (frames)", "alone", "confidence", "alone",
                     "spans: heard / other face")
    rows = []
    for i, (voiced, silent, model) in enumerate(jobs):
        cfg = AnalysisConfig(keep_audio=False, model_dir=model)
        alone_clip = mediagen.write_clip(tmp / f"alone_{i}.mp4", *first(mediagen.load_clip(voiced), args.seconds))
        solo = analyze(str(alone_clip), cfg)
        for left in (True, False):
            two = mediagen.write_clip(tmp / f"two_{i}_{left}.mp4",
                                      *first(mediagen.side_by_side(voiced, silent, left), args.seconds))
            res = analyze(str(two), cfg)
            want = "left" if left else "right"
            spans = []
            for sp in res.heard.spans:
                by = {side(res, tid): s for tid, s in sp.scores.items()}
                spans.append((by.get(want, float("nan")),
                              max((s for k, s in by.items() if k != want), default=float("nan"))))
            row = {"heard": voiced.stem, "silent": silent.stem, "model": model, "heard_on": want,
                   "from": side(res, res.heard.face_id), "offset": res.offset_grid, "confidence": res.confidence,
                   "alone": solo.offset_grid, "alone_confidence": solo.confidence, "spans": spans,
                   "own": {side(res, tid): o.uncapped.confidence for tid, o in res.heard.own.items()
                           if o.uncapped is not None}}
            rows.append(row)
            words = "heard" if row["from"] == want else row["from"] if row["from"] == "none" else "silent"
            t.row(voiced.stem, silent.stem, want, words, f"{res.offset_grid:+.2f}", f"{solo.offset_grid:+.2f}",
                  f"{res.confidence:.2f}", f"{solo.confidence:.2f}", ", ".join(f"{h:.2f} / {o:.2f}" for h, o in spans))
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
    common.write_json(args.json, rows)
    return 0


# ---- cut ------------------------------------------------------------------------------------------

def add_cut(ap) -> None:
    pair_args(ap, common.SETTLED, 6.0)
    ap.add_argument("--voice-over", action="store_true", help="a third person's sound over the cut")


def cmd_cut(args) -> int:
    """A cut from one real person to another, each in sync.

    --people: the speakers set's settled copies (trainer.speakers settle), so that each source is in
    sync and the truth is 0 on both sides of the cut. Each person's first clip, its first --seconds,
    scaled to 360 px high on a 640x360 picture, the sound at 16 kHz mono, then the other person of the
    pair. Counted: the answer within a frame of 0, called reliable, against each side analysed alone;
    and which faces the answer was heard from. --voice-over: the cut's sound is replaced by that of
    the next person who is neither side (three places on without --folds): no face in view made it,
    so every answer called reliable is wrong."""
    if (found := pair_jobs(args)) is None:
        return 2
    clips, jobs = found
    tmp = Path(tempfile.mkdtemp(prefix="wlos-people-cuts-"))
    print(f"{common.machine()}\n")
    t = common.Table("first", "then", "answer (frames)", "confidence", "first alone", "then alone", "heard per span")
    rows = []
    for i, (a, b, model) in enumerate(jobs):
        cfg, A, B, ra, rb = alone(a, b, model, args.seconds, tmp, i)
        frames, sound, rate = mediagen.cut(A, B)
        if args.voice_over:
            sound = voiced_over(sound, clips, a, b, bool(args.folds), 2 * args.seconds)
        res = analyze(str(mediagen.write_clip(tmp / f"cut{i}.mp4", frames, sound, rate)), cfg)
        heard = [sp.face for sp in res.heard.spans] if res.heard else []
        rows.append({"first": a.stem, "then": b.stem, "model": model, "offset": res.offset_grid,
                     "confidence": res.confidence, "first_alone": [ra.offset_grid, ra.confidence],
                     "then_alone": [rb.offset_grid, rb.confidence], "heard": heard,
                     "tracks": len(res.faces.tracks) if res.faces else 1})
        t.row(a.stem, b.stem, f"{res.offset_grid:+.2f}", f"{res.confidence:.2f}",
              f"{ra.offset_grid:+.2f}, {ra.confidence:.2f}", f"{rb.offset_grid:+.2f}, {rb.confidence:.2f}",
              ", ".join("-" if f is None else str(f) for f in heard))
    n = len(rows)
    near = [abs(r["offset"]) <= 1.0 for r in rows]
    rel = [r["confidence"] >= RELIABLE for r in rows]
    either = [max(r["first_alone"][1], r["then_alone"][1]) >= RELIABLE for r in rows]
    if args.voice_over:
        print(f"\n{n} cuts under another person's voice: called reliable (each one wrong): {sum(rel)}")
    else:
        print(f"\n{n} cuts: within a frame of 0: {sum(near)}; called reliable: {sum(rel)}, of them within a frame: "
              f"{sum(a and b for a, b in zip(rel, near))}; a side alone called reliable: {sum(either)}")
    common.write_json(args.json, rows)
    return 0


# ---- turns ----------------------------------------------------------------------------------------

def add_turns(ap) -> None:
    pair_args(ap, common.SETTLED, 5.0)
    ap.add_argument("--still", action="store_true", help="the face not heard frozen on its first frame")
    ap.add_argument("--voice-over", action="store_true", help="a third person's sound over both turns")


def cmd_turns(args) -> int:
    """Two real people in view together who take turns (the heard face changing mid-clip).

    Each pair sits side by side, the first on the left, for 2 x --seconds. Each person's picture is
    their clip's first --seconds, twice over: the first person is heard the first time, the second
    person the second time (each with their own sound, in sync). So the face that is not heard moves
    its lips all the same, as a replay would; --still freezes it on its first frame instead (a
    listener who does not move at all, the easy case). --people: the settled copies, so the truth is
    0 on both sides. Counted: the answer within a frame of 0, called reliable, against each turn
    analysed alone; and each speech span's face against the one heard at its middle. --voice-over
    replaces the sound by that of a person who is neither face: every answer called reliable is then
    wrong."""
    if (found := pair_jobs(args)) is None:
        return 2
    clips, jobs = found
    tmp = Path(tempfile.mkdtemp(prefix="wlos-turns-"))
    print(f"{common.machine()}\n")
    t = common.Table("left, heard first", "right, heard then", "answer (frames)", "confidence", "left's turn alone",
                     "right's turn alone", "spans' faces (L/R, right / all)")
    rows = []
    for i, (a, b, model) in enumerate(jobs):
        cfg, A, B, ra, rb = alone(a, b, model, args.seconds, tmp, i)
        frames, sound, rate = turns(A, B, args.still)
        if args.voice_over:
            sound = voiced_over(sound, clips, a, b, bool(args.folds), 2 * args.seconds)
        res = analyze(str(mediagen.write_clip(tmp / f"turns{i}.mp4", frames, sound, rate)), cfg)
        spans = []
        for sp in res.heard.spans if res.heard else []:
            mid = (res.starts[sp.first] + res.starts[sp.last] + BLOCK) / 2 / 25
            spans.append({"face": side(res, sp.face), "want": "left" if mid < args.seconds else "right",
                          "scores": {side(res, tid): s for tid, s in sp.scores.items()}})
        rows.append({"left": a.stem, "right": b.stem, "model": model, "offset": res.offset_grid,
                     "confidence": res.confidence, "left_alone": [ra.offset_grid, ra.confidence],
                     "right_alone": [rb.offset_grid, rb.confidence], "spans": spans,
                     "faces": len(res.faces.tracks) if res.faces else 1})
        said = "".join("-" if s["face"] == "none" else s["face"][0].upper() for s in spans)
        t.row(a.stem, b.stem, f"{res.offset_grid:+.2f}", f"{res.confidence:.2f}",
              f"{ra.offset_grid:+.2f}, {ra.confidence:.2f}", f"{rb.offset_grid:+.2f}, {rb.confidence:.2f}",
              f"{said or '-'} ({sum(s['face'] == s['want'] for s in spans)}/{len(spans)})")
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
    common.write_json(args.json, rows)
    return 0


# ---- voice-overs ----------------------------------------------------------------------------------

def add_voice_overs(ap) -> None:
    common.options(ap, "s1", "split-file", "sample", "folds", "json")
    ap.add_argument("--people", default=str(common.SPEAKERS), help="one folder a person (default: %(default)s)")
    ap.add_argument("--cases", type=int, default=20)


def cmd_voice_overs(args) -> int:
    """Voice-overs: no face in view made the sound. How often is the answer called reliable anyway?

    - GRID, one face: an s1 validation clip's picture with another's sound;
    - GRID, two faces: two s1 validation clips side by side (the second 1.1x larger) with a third's sound;
    - people, two faces: two people of the speakers set side by side with a third person's sound (10 s);
    - with --folds RUN, people speaker-disjoint: each fold's model on every ordered pair of the
      people it held out, with the sound of the next person who is neither.
    The s1 clips are validation clips outside the 20-clip sample (which `grid` uses), drawn with a
    fixed seed. GRID's sentences share one rhythm and one length, so another s1 sentence's sound is
    the hardest voice-over there is for lips of s1; as the calibration does
    (trainer.calibrate.shared_words), each sound is a sentence that says no word at the same place as
    the face's (a shared word is that face's own speech at that time)."""
    clips = s1_val(Path(args.s1), Path(args.split_file), Path(args.sample), 10 ** 4)  # the faces, then the sounds
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
    print(f"{common.machine()}\n")
    t = common.Table("voice-over", "clips", "called reliable", "a face matched the sound", "the reliable ones")
    record = {}
    for name, todo in sets.items():
        rows = []
        for j, (faces, sound, model) in enumerate(todo):
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
            matched = bool(res.heard is not None and res.heard.matched and len(faces) > 1)
            spans = [sorted(sp.scores.values(), reverse=True) for sp in res.heard.spans] if res.heard else []
            rows.append({"faces": [f.stem for f in faces], "sound": sound.stem, "offset": res.offset_grid,
                         "confidence": res.confidence, "reliable": bool(res.reliable), "matched": matched,
                         "span_scores": spans})
        bad = [r for r in rows if r["reliable"]]
        said = "; ".join(f"{'+'.join(r['faces'])} with {r['sound']}'s sound: {r['offset']:+.2f} frames at "
                         f"{r['confidence']:.2f}" for r in bad) or "-"
        t.row(name, len(rows), len(bad), sum(r["matched"] for r in rows) if "two" in name else "-", said)
        record[name] = rows
    common.write_json(args.json, record)
    return 0


# ---- scores ---------------------------------------------------------------------------------------

def add_scores(ap) -> None:
    common.options(ap, "sample", "model")


def cmd_scores(a) -> int:
    """How clearly a face's lips match the sound, with its own sound and with another clip's.

    heard.score over whole clips, printed sorted, for choosing and checking heard.CLEAR. Each
    clip's features come from the training cache (trainer.dataset.build); "another clip's sound" is
    the next clip's (trainer.calibrate.mismatched). The score is the one the analysis puts on a span
    of speech (core.heard), here over all of a clip's usable blocks."""
    nets = {k: load(k, a.model) for k in ("c3", "wlos")}
    clips = [c for c in dataset.build(a.sample).clips if c.version == 0]
    if len(clips) < 2:
        raise SystemExit(f"{a.sample}: needs two clips or more")
    own = [face_score(c.feats, nets) for c in clips]
    other = [face_score(mismatched(c.feats, clips[(i + 1) % len(clips)].feats), nets) for i, c in enumerate(clips)]
    print(f"model: {a.model or 'shipped'}; {common.machine()}\n")
    t = common.Table("sound", "clips", "scores, sorted", f"at or above CLEAR ({heard.CLEAR:g})")
    for name, v in (("its own", own), ("another clip's", other)):
        v = np.sort(np.asarray(v, float))
        t.row(name, len(v), ", ".join(f"{x:.2f}" for x in v), int((v >= heard.CLEAR).sum()))
    return 0


COMMANDS = {"grid": (cmd_grid, add_grid), "side-by-side": (cmd_side_by_side, add_side_by_side),
            "cut": (cmd_cut, add_cut), "turns": (cmd_turns, add_turns),
            "voice-overs": (cmd_voice_overs, add_voice_overs), "scores": (cmd_scores, add_scores)}

if __name__ == "__main__":
    sys.exit(common.main(__doc__, COMMANDS))
