"""Fit each method's confidence calibration (wlos_app.core.calibration) on held-out clips.

The cases are made from clips the networks did not train on (a model's validation clips, and
their "other speaker" augmented copies), so what the confidence promises is measured on evidence
the networks never fitted:
- each clip with its audio moved by every shift in CAL_SHIFTS and WIDE_SHIFTS (right when within
  one frame; the paper's methods search +-9, so for them the wide ones are beyond their range);
- each clip moved beyond the default estimator's reach (BEYOND frames past it): any answer is
  wrong, as it would be for a real clip whose drift is larger than the range;
- each clip's picture with another clip's sound: no answer can be right (never a clip with the
  same recording's sound, same_sound, and of GRID's sentences the one sharing the fewest words
  with it at the same place, shared_words);
- short clips (SHORT_FRAMES) cut from each, shifted within and beyond the search they allow;
- the same for clips joined JOIN at a time into longer recordings (15 s of GRID), with the long
  shifts of LONG_SHIFTS, so the fit also sees the long range and more evidence per clip.
Half of the clips (by a hash of their name) fit the calibration, the other half check it; the
reliability of the check half is what the model card reports.
"""
from __future__ import annotations

import json
import os
import re
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from wlos_app.core import calibration
from wlos_app.core.outputs import write_atomic
from wlos_app.core.features import ClipFeatures, loudness
from wlos_app.core.estimators import reach_of
from wlos_app.core.grid import MAX_SHIFT
from wlos_app.core.methods.search import DEFAULT_MAX_SHIFT, reach_for

from .dataset import ClipSet
from .evaluate import cut, estimate_clip, join, shift_audio

CAL_SHIFTS = (-8, -4, -2, 0, 2, 4, 8)
WIDE_SHIFTS = (-20, -12, 12, 20)
LONG_SHIFTS = (-50, -25, -12, 0, 12, 25, 50)
# Short clips (frames) cut from the middle of each shifted clip, with their audio moved to either
# end of the search such a clip allows and not at all (estimators.reach_of): 0.6 s and 0.88 s.
SHORT_FRAMES = (15, 22)
BEYOND = 10  # frames past the default estimator's reach
JOIN = 5


def mismatched(video: ClipFeatures, audio: ClipFeatures) -> ClipFeatures:
    """The picture of one clip with the sound of another."""
    n = min(video.n_frames, len(audio.power_db))
    return replace(video, flow=video.flow[:n], flow_valid=video.flow_valid[:n], mfcc=audio.mfcc,
                   power_db=audio.power_db, speech_level_db=audio.speech_level_db)


def same_sound(a: ClipFeatures, b: ClipFeatures, min_frames: int = 75, above: float = 0.9) -> bool:
    """Whether two clips carry the same recording's sound at some lag: their speech envelopes
    correlate above `above` (Pearson, over the overlap) over at least `min_frames` frames. Two
    sources of one speech, such as obama_edtalk and obama_st1 of shared/data/speakers, are not
    "another clip's sound"."""
    x, y = loudness(a.power_db, a.speech_level_db), loudness(b.power_db, b.speech_level_db)
    nx, ny = len(x), len(y)
    if min(nx, ny) < min_frames:
        return False
    size = 1 << (nx + ny - 2).bit_length()
    lags = np.arange(-(ny - 1), nx)  # x[i] against y[i - lag]
    sxy = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)[lags % size]
    x0, x1 = np.maximum(0, lags), np.minimum(nx, lags + ny)  # the overlap, in x's frames
    y0, y1 = x0 - lags, x1 - lags
    n = (x1 - x0).astype(np.float64)

    def span(v, lo, hi):  # sums of v[lo:hi] for every lag
        c = np.concatenate([[0.0], np.cumsum(v)])
        return c[hi] - c[lo]
    sx, sy = span(x, x0, x1), span(y, y0, y1)
    vx = span(x * x, x0, x1) - sx * sx / np.maximum(n, 1)
    vy = span(y * y, y0, y1) - sy * sy / np.maximum(n, 1)
    ok = (n >= min_frames) & (vx > 1e-6 * n) & (vy > 1e-6 * n)
    r = (sxy[ok] - sx[ok] * sy[ok] / n[ok]) / np.sqrt(vx[ok] * vy[ok])
    return bool(ok.any() and r.max() > above)


# GRID's file names spell the sentence: command, colour, preposition, letter, digit, adverb
# ("bbaf2n": bin blue at f two now).
GRID_NAME = re.compile(r"^[blps][bgrw][abiw][a-z][0-9z][anps]$")


def shared_words(a: str, b: str) -> int:
    """How many words two GRID sentences (by their clips' names) say at the same place; 0 for
    clips of other sources. One speaker reads GRID's grammar at one pace, so another sentence that
    shares words with a clip is, for those words, the clip's own speech at the same time, not a
    case that can only be wrong. On v4's fold models' s1 cases the next sentence's sound got a mean
    confidence of 0.21 sharing none of command, colour, preposition and adverb, 0.30 sharing one
    and 0.53 sharing two (docs/accuracy.md)."""
    if not (GRID_NAME.match(a) and GRID_NAME.match(b)):
        return 0
    return sum(x == y for x, y in zip(a, b))


def partners(i: int, names: list[str]) -> list[int]:
    """The clips whose sound may stand in for clip i's as another clip's: the ones after it (then
    from the start), those sharing the fewest words with it first (shared_words)."""
    order = [(i + k) % len(names) for k in range(1, len(names))]
    return sorted(order, key=lambda j: shared_words(names[i], names[j]))  # stable: the next first


def _variants(f: ClipFeatures, shifts, other: ClipFeatures | None) -> list[tuple[str, ClipFeatures, int | None]]:
    reach = reach_for(f, DEFAULT_MAX_SHIFT)
    out = [(f"shift {s:+d}", shift_audio(f, s), s) for s in shifts]
    out += [(f"beyond {s:+d}", shift_audio(f, s), None) for s in (-reach - BEYOND, reach + BEYOND)]
    for n in SHORT_FRAMES:
        r, start = reach_of(n), max(0, (f.n_frames - n) // 2)
        if f.n_frames >= n + 2 * MAX_SHIFT:
            out += [(f"short {n} shift {s:+d}", cut(shift_audio(f, s), start, n), s) for s in (-r, 0, r)]
            out.append((f"short {n} beyond", cut(shift_audio(f, r + 4), start, n), None))
    if other is not None:
        out.append(("mismatched audio", mismatched(f, other), None))
    return out


def joined(clips: ClipSet, k: int = JOIN) -> list[tuple[str, Callable[[], ClipFeatures]]]:
    """Clips joined k at a time into longer recordings, within each half of fit_half (so the
    check half stays clip-disjoint); each named after its first clip and made when called (the
    clips' features are read on demand: trainer.store)."""
    out = []
    for half in (True, False):
        cl = [c for c in clips.clips if fit_half(c.name) == half]
        out += [(cl[i].name, lambda part=cl[i:i + k]: join([c.feats for c in part]))
                for i in range(0, len(cl) - k + 1, k)]
    return out


def cases(clips: ClipSet, methods: dict, seed: int = 0, progress: Callable[[int, int], None] | None = None,
          join_k: int = JOIN, shifts=(*CAL_SHIFTS, *WIDE_SHIFTS),
          weights: dict | None = None) -> dict[str, list[tuple[str, str, dict, bool]]]:
    """methods: name -> (method, nets); weights: c3-track's parts (default AnalysisConfig's).
    Returns per method a list of (clip name, case, quality, right)."""
    out: dict[str, list] = {name: [] for name in methods}
    # (name, features when called, shifts): two clips' features at a time, not all of them
    items = [(c.name, lambda c=c: c.feats, tuple(shifts)) for c in clips.clips]
    if join_k > 1:
        items += [(name, f, LONG_SHIFTS) for name, f in joined(clips, join_k)]
    for i, (name, feats_of, shifts) in enumerate(items):
        feats, other = feats_of(), None
        # The first of the others (partners) that is not a source of the same sound
        for j in partners(i, [it[0] for it in items]):
            if items[j][0] != name:
                cand = items[j][1]()
                if not same_sound(feats, cand):
                    other = cand
                    break
        for case, f, s in _variants(feats, shifts, other):
            for m, (method, nets) in methods.items():
                est = estimate_clip(f, method, nets, seed=seed, weights=weights)
                if est is None:
                    break
                right = s is not None and np.isfinite(est.offset_grid) and abs(est.offset_grid - s) <= 1.0
                out[m].append((name, case, est.quality, bool(right)))
        if progress:
            progress(i + 1, len(items))
    return out


def fit_half(name: str) -> bool:
    """Which half of the clips fits the calibration (the other half checks it)."""
    return zlib.crc32(name.encode()) % 2 == 0


def fit_methods(found: dict[str, list], fitted_on: str, select=fit_half,
                ridge_per_case: float = 1e-2, weigh=None) -> dict[str, calibration.Calibration]:
    """A calibration per method from its (clip name, case, quality, right) rows: those whose clip
    `select` picks (default: the fit half), or all when `select` is None. The ridge is strong by
    default (the cases of one folder are usually one speaker: calibration.fit). `weigh`: the
    rows' weights in the fit from the rows (default: all 1)."""
    cals = {}
    for method, rows in found.items():
        fit_rows = [r for r in rows if select is None or select(r[0])] or rows
        if not fit_rows:
            continue
        names = calibration.feature_names(fit_rows[0][2])
        X = np.array([calibration.feature_vector(q, names) for _, _, q, _ in fit_rows])
        y = np.array([ok for *_, ok in fit_rows], float)
        if len(set(y)) < 2:
            continue  # all right or all wrong: nothing to fit
        w, b = calibration.fit(X, y, ridge_per_case, case_weights=weigh(fit_rows) if weigh else None)
        def rate(mask):  # the share of right answers among these cases, Laplace smoothed
            return round(float((y[mask].sum() + 1) / (mask.sum() + 2)), 4) if mask.any() else None
        edge_rate = rate(np.array([q.get("edge", 0.0) >= 0.5 for _, _, q, _ in fit_rows]))
        short_rate = rate(np.array([q.get("short", 0.0) > 0 for _, _, q, _ in fit_rows]))
        cals[method] = calibration.Calibration(method, [round(float(v), 5) for v in w], round(b, 5),
                                               fitted_on, len(fit_rows), names, edge_rate, short_rate)
    return cals


def reliability(rows: list, cal: calibration.Calibration | None, bins: int = 10) -> dict:
    """Predicted confidence against the observed rate of right answers, on the check half."""
    check = [r for r in rows if not fit_half(r[0])]
    p = np.array([cal.probability(q) if cal else q.get("agreement", 0.0) for _, _, q, _ in check])
    y = np.array([ok for *_, ok in check], float)
    edges = np.linspace(0, 1, bins + 1)
    table = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.any():
            table.append({"from": round(lo, 2), "to": round(hi, 2), "n": int(m.sum()),
                          "mean_confidence": round(float(p[m].mean()), 3), "right": round(float(y[m].mean()), 3)})
    high = p >= calibration.RELIABLE
    return {"cases": int(len(y)), "bins": table,
            "ece": round(float(sum(b["n"] * abs(b["mean_confidence"] - b["right"]) for b in table) / max(1, len(y))), 4),
            "reliable_share": round(float(high.mean()), 3) if len(y) else None,
            "right_when_reliable": round(float(y[high].mean()), 3) if high.any() else None}


def calibrate_model(model_dir: str, sets: dict[str, ClipSet], device: str | None = None,
                    progress: Callable[[int, int], None] | None = None, seed: int = 0,
                    only: tuple[str, ...] = (), cases_file: str | None = None) -> dict:
    """Fit and write model_dir/calibration.json for every method its weights allow (or those in
    `only`, keeping the others' fits), from the held-out clip sets given (name -> clips).
    Returns {method: reliability on the check half}."""
    from wlos_app.core.methods import METHODS, canonical
    from wlos_app.core.models import load, weights_path
    only = tuple(map(canonical, only))
    have = {k for k in ("c3", "wlos") if weights_path(k, model_dir).exists()}
    nets = {k: load(k, model_dir, device) for k in have}
    methods = {m: (m, {k: nets[k] for k in METHODS[m].networks}) for m in METHODS
               if set(METHODS[m].networks) <= have and (not only or m in only)}
    allclips = ClipSet([c for s in sets.values() for c in s.clips])
    if cases_file and os.path.exists(cases_file):  # refit only: the estimates are what they were
        found = {canonical(m): [tuple(r) for r in rows] for m, rows in json.loads(Path(cases_file).read_text()).items()
                 if canonical(m) in methods}
    else:
        found = cases(allclips, methods, seed, progress)
        if cases_file:
            write_atomic(cases_file, json.dumps(found))
    desc = " + ".join(f"{len(s.clips)} {name} clips" for name, s in sets.items())
    cals = fit_methods(found, f"{desc}; shifts {list(CAL_SHIFTS + WIDE_SHIFTS)}, joined by {JOIN} with shifts "
                              f"{list(LONG_SHIFTS)}, {BEYOND} frames beyond the reach, mismatched audio")
    calibration.save({**(calibration.load(model_dir) if only else {}), **cals}, model_dir)
    return {m: reliability(rows, cals.get(m)) for m, rows in found.items()}
