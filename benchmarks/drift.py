"""Drift as users meet it: long offsets, drift that grows, drift that jumps. Prints tables.

    .venv/bin/python -m benchmarks.drift [--s1 S1] [--split-file SPLIT] [--unseen DIR ...] [--real CLIP ...]
        [--sequences 8] [--only-constant] [--only-real]

1. Constant drifts of 0, +-0.5, +-1 and +-2 s, and +-3 s (beyond the 2 s searched: no answer may
   be reliable), on 15 s recordings: GRID s1 validation clips joined five at a time, the same as
   "other speaker" copies (trainer.augment, every part), and each unseen clip (their first 15 s,
   or all of a shorter clip when it is at least 3x the drift; scored relative to its unshifted
   reading). On cached features, with the audio features moved (trainer.evaluate.drift_audio).
2. 60 s recordings (20 joined clips) with the drift linear from 0 to +320 ms, jumping from 0 to
   +320 ms at 30 s, and constant 0 (the control): the model reported, and the share of the track's
   points within one frame of the truth (1.5 s around the jump excepted).
3. --real: real files written with those tracks (the first 20 s of each clip given), analysed,
   exported with the fitted track, and the export analysed again.
4. Time of the default analysis (features excluded) with +-2 s against +-9 frames, per 60 s.

--sequences N joined recordings per s1 set (the first 5N, or 20N, validation clips are read).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import common

from trainer import dataset
from trainer.evaluate import drift_audio, estimate_clip, join
from wlos_app.core import calibration
from wlos_app.core.analysis import _network
from wlos_app.core.grid import MAX_SHIFT
from wlos_app.core.methods import DEFAULT
from wlos_app.core.methods.search import DEFAULT_MAX_SHIFT

CONSTANTS_S = (0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0)
BEYOND_S = (3.0, -3.0)


def run(f, nets, cals, max_shift=DEFAULT_MAX_SHIFT):
    return estimate_clip(f, DEFAULT, nets, calibrations=cals, max_shift=max_shift)


def cut(f, seconds: float):
    from dataclasses import replace
    n = int(seconds * 25)
    return replace(f, flow=f.flow[:n], flow_valid=f.flow_valid[:n], mfcc=f.mfcc[:4 * n], power_db=f.power_db[:n])


def constant_table(sets: dict, nets, cals) -> None:
    print("Constant drift on 15 s recordings: right within a frame (reliable answers in brackets); "
          "absolute for GRID, relative to the unshifted reading for the unseen clips (whose own sync is "
          "not known)\n")
    head = " | ".join(f"{d:+.1f} s" for d in CONSTANTS_S)
    print(f"| recordings | n | {head} | beyond: {BEYOND_S[0]:+.0f}/{BEYOND_S[1]:+.0f} s reliable |")
    print("|---|---|" + "---|" * (len(CONSTANTS_S) + 1))
    for name, (feats, known) in sets.items():
        base = [0.0 if known else run(f, nets, cals).offset_grid for f in feats]
        cells = []
        for d in CONSTANTS_S:
            right = reliable = n = 0
            for f, b in zip(feats, base):
                if f.n_frames / 25.0 < 3 * abs(d):
                    continue
                est = run(drift_audio(f, lambda t, d=d: np.full_like(t, d * 25.0)), nets, cals)
                if est is None:
                    continue
                n += 1
                ok = abs(est.offset_grid - b - d * 25.0) <= 1.0
                right += ok
                reliable += ok and est.confidence >= calibration.RELIABLE
            cells.append(f"{right}/{n} ({reliable})" if n else "—")
        conf = []
        for d in BEYOND_S:
            for f in feats:
                if f.n_frames / 25.0 < 3 * abs(d):
                    continue
                est = run(drift_audio(f, lambda t, d=d: np.full_like(t, d * 25.0)), nets, cals)
                if est is not None:
                    conf.append(est.confidence >= calibration.RELIABLE)
        print(f"| {name} | {len(feats)} | " + " | ".join(cells) + f" | {sum(conf)}/{len(conf)} |")
    print()


def linear(t):
    return 8.0 * np.asarray(t) / 60.0


def jump(t):
    return np.where(np.asarray(t) >= 30.0, 8.0, 0.0)


def control(t):
    return np.zeros_like(np.asarray(t, float))


def track_table(sets: dict, nets, cals) -> None:
    print("60 s recordings: model reported (share right), track points within a frame (mean, worst)\n")
    print("| recordings | n | linear 0 -> +320 ms | jump 0 -> +320 ms at 30 s | constant 0 (control) |")
    print("|---|---|---|---|---|")
    for name, feats in sets.items():
        cells = []
        for model, fn, around in (("linear", linear, None), ("piecewise", jump, 30.0), ("constant", control, None)):
            hits, shares = [], []
            for f in feats:
                g = drift_audio(f, fn)
                est = run(g, nets, cals)
                pts = np.array(est.track.samples(0.5))
                keep = np.ones(len(pts), bool) if around is None else np.abs(pts[:, 0] - around) > 1.5
                shares.append(np.mean(np.abs(pts[keep, 1] - fn(pts[keep, 0])) <= 1.0))
                hits.append(est.track.model == model)
            cells.append(f"{model} {np.mean(hits):.2f}; {np.mean(shares):.3f}, {np.min(shares):.3f}")
        print(f"| {name} | {len(feats)} | " + " | ".join(cells) + " |")
    print()


def speed(feats: list, nets) -> None:
    t = {}
    for label, ms in (("+-9 frames", MAX_SHIFT), ("+-2 s", DEFAULT_MAX_SHIFT)):
        t0 = time.perf_counter()
        for f in feats:
            run(drift_audio(f, linear), nets, {}, ms)
        t[label] = (time.perf_counter() - t0) / len(feats)
    print(f"Default estimator per 60 s recording (features excluded): +-9 frames {t['+-9 frames']:.2f} s, "
          f"+-2 s {t['+-2 s']:.2f} s ({t['+-2 s'] / t['+-9 frames']:.2f}x)\n")


def real_files(clips: list[str]) -> None:
    import av
    import mediagen
    from wlos_app import AnalysisConfig, analyze
    from wlos_app.core.export import export_synced
    print("Real files (first 20 s of each), written with a known track, analysed, exported with the fitted "
          "track, analysed again; the track is scored against the truth plus the clip's own reading as recorded\n")
    print("| clip | truth | model found | track within a frame | export: model, points within a frame of 0 |")
    print("|---|---|---|---|---|")
    for clip in clips:
        frames, audio, rate = mediagen.load_clip(clip)
        frames = [(t, im) for t, im in frames if t < 20.0]
        audio = audio[:, :int(20.0 * rate)]
        with av.open(clip) as c:
            fps = float(c.streams.video[0].average_rate or 25)
        span = frames[-1][0]
        with tempfile.TemporaryDirectory() as tmp:  # the source's own drift, which the truth adds to
            base = analyze(str(mediagen.write_clip(Path(tmp) / "as_is.mp4", frames, audio, rate, fps=fps)))
        print(f"| {Path(clip).name} | as recorded | {base.track_model} | {base.summary()} | |")
        for name, fn in (("linear 0 -> +320 ms", lambda t: 0.32 * np.asarray(t) / span),
                         ("jump 0 -> +320 ms", lambda t: np.where(np.asarray(t) >= span / 2, 0.32, 0.0))):
            with tempfile.TemporaryDirectory() as tmp:
                src = mediagen.write_clip(Path(tmp) / "drifted.mp4", frames, audio, rate, fps=fps, drift_s=fn)
                res = analyze(str(src), AnalysisConfig())
                pts = np.array(res.to_json()["track"], float)
                keep = np.abs(pts[:, 0] - span / 2) > 1.5 if name.startswith("jump") else np.ones(len(pts), bool)
                share = np.mean(np.abs(pts[keep, 1] - base.offset_ms - 1000 * fn(pts[keep, 0])) <= 40.0)
                out = export_synced(str(src), str(Path(tmp) / "synced.mp4"), res.track, audio=res.audio)
                again = analyze(out["path"])
                p2 = np.array(again.to_json()["track"], float)
                share2 = np.mean(np.abs(p2[:, 1]) <= 40.0)
                print(f"| {Path(clip).name} | {name} | {res.track_model} | {share:.3f} | "
                      f"{again.track_model}, {share2:.3f} |")
    print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.options(ap, "s1", "split-file", "unseen")
    ap.add_argument("--real", action="append", default=[], help="real clips (>= 20 s) for the file round trip")
    ap.add_argument("--sequences", type=int, default=8, help="joined recordings per s1 set")
    ap.add_argument("--only-constant", action="store_true", help="the first table alone")
    ap.add_argument("--only-real", action="store_true", help="the real-file round trip alone")
    a = ap.parse_args(argv)

    if a.only_real:
        real_files(a.real)
        return 0
    nets = {"c3": _network("c3", None, None), "wlos": _network("wlos", None, None)}
    cals = calibration.load()
    n = a.sequences
    s1 = dataset.build(a.s1)
    _, val = dataset.split_clips(s1, a.split_file)
    val = dataset.ClipSet(val.clips[:(5 if a.only_constant else 20) * n])  # what the joined recordings use
    other = dataset.build(sorted({c.path for c in val.clips}), augmented=1, every_part=True, include_clean=False)
    clean, aug = [c.feats for c in val.clips], [c.feats for c in other.clips]
    print(f"{common.machine()}; shipped model; default estimator\n")
    short = {"s1 val, 5 joined": ([join(clean[5 * i:5 * i + 5]) for i in range(n) if clean[5 * i:]], True),
             "s1 val other speaker, 5 joined": ([join(aug[5 * i:5 * i + 5]) for i in range(n) if aug[5 * i:]], True)}
    for folder in common.unseen_folders(a):
        clips = dataset.build(folder).clips
        short[f"{Path(folder).name} (each clip, <= 15 s)"] = ([cut(c.feats, 15.0) for c in clips], False)
    constant_table(short, nets, cals)
    if a.only_constant:
        return 0
    long = {"s1 val, 20 joined": [join(clean[20 * i:20 * i + 20]) for i in range(n) if clean[20 * i:]],
            "s1 val other speaker, 20 joined": [join(aug[20 * i:20 * i + 20]) for i in range(n) if aug[20 * i:]]}
    track_table(long, nets, cals)
    speed(long["s1 val, 20 joined"][:4], nets)
    if a.real:
        real_files(a.real)
    return 0


if __name__ == "__main__":
    sys.exit(main())
