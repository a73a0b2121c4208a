"""The default estimator: C3's sliding window (and, where sync.FUSION_WEIGHTS gives them a weight,
WLOS asked with every window and QMI), fused, over a long range, with a drift track.

Per block t and candidate drift D (grid frames, positive = audio late):
- C3: the log-odds of "in sync" for block t with audio window t + D;
- WLOS: for every window t + k, its 19-way classifier says "this pair is d off", a vote for
  D = k + d (sync.wlos_rows).
Each is standardised over the candidates and weighted (sync.FUSION_WEIGHTS).

Range. The networks see +-9 frames around a window. Drift up to `max_shift` frames (2 s by
default; the search reaches 9 frames further, see reach_for) is found in two passes:
1. coarse: usable blocks (all on short clips, every COARSE_STRIDE-th on long ones) against every
   window within +-reach; a drift track (core.track) is fitted to that evidence;
2. fine: every usable block against the 19 windows centred on the coarse track there, and the
   track fitted again on that. Where the fine track leaves the coarse one by a frame or more,
   the fine pass runs once more, centred on it.
A clip holds evidence for a drift only where the drifted window exists, so the reach is limited to
a third of the clip (a 3 s clip: +-1 s); beyond it an answer is never reported as reliable
(the calibration sees such cases).

The clip's answer (offset, confidence, what the calibration reads) comes from the evidence
re-centred on the track: for each block the 19 windows around the track's drift there, averaged
over the clip. For a constant track this is the clip curve of the +-9 estimator, moved to the
track's drift; the offset reported is the median of the track.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import estimators, memory, sync, track
from .estimators import MAX_SHIFT, SHIFTS
from .features import BLOCK, ClipFeatures, activity_match

# Coarse pass: at least COARSE_BLOCKS usable blocks, at most every COARSE_STRIDE-th (blocks still
# overlap: 10 frames each). Fewer blocks let a spurious match win over +-2 s on a short clip (a 7 s
# interview with its audio 1 s early read 2.2 s early at one block in five, right at every block).
COARSE_STRIDE = 5
COARSE_BLOCKS = 250
GRID_FPS = 25.0


@dataclass
class FusionResult:
    estimate: sync.ClipEstimate  # offset in grid frames (the track's median), confidence, quality
    rows: np.ndarray  # (n_used, 19) fused per-block rows over centre + SHIFTS
    centre: np.ndarray  # (n_used,) each block's window centre (whole frames)
    track: track.Track  # drift in grid frames over grid time (s)
    reach: int  # the drift range searched, +- grid frames


def block_times(starts: np.ndarray) -> np.ndarray:
    """Centre of each block on the grid, s."""
    return (np.asarray(starts) + BLOCK / 2) / GRID_FPS


def reach_for(feats: ClipFeatures, max_shift: int) -> int:
    """How far this clip is searched: `max_shift` and 9 frames more, so that a drift at the limit
    asked for is not at the edge of the search (where the truth could lie beyond it); at most a
    third of the clip; not less than the networks' own +-9 unless the clip is too short for it
    (estimators.reach_of)."""
    short = estimators.reach_of(feats.n_frames)
    return short if short < MAX_SHIFT else int(max(MAX_SHIFT, min(max_shift + MAX_SHIFT, feats.n_frames // 3)))


def _raw_rows(pairs: dict, shifts, centre=None, rows=None) -> dict[str, np.ndarray]:
    """Each part's per-block rows over `shifts` around `centre` (unstandardised), for blocks
    `rows` (indices into the Pairs' starts; default all). pairs: kind -> estimators.Pairs."""
    rows_of = {"c3": sync.c3_rows(pairs["c3"].c3(shifts, centre, rows))}
    if sync.FUSION_WEIGHTS.get("wlos"):
        # the drifts D within `shifts`, each from the windows that can see it
        rows_of["wlos"] = sync.wlos_rows(pairs["wlos"].wlos(shifts, centre, rows), shifts, shifts)
    return rows_of


def _fused(rows: dict[str, np.ndarray], missing: str = "min") -> np.ndarray:
    """The parts standardised and weighted; `missing`: what a drift whose window is not in the
    clip gets (sync.standardise)."""
    w = sync.FUSION_WEIGHTS
    return sum(w[k] * sync.standardise(r, missing) for k, r in rows.items())


def _neutral(A: np.ndarray) -> np.ndarray:
    """A drift whose window is not in the clip tells nothing about it: 0, the row's mean."""
    return np.where(np.isfinite(A), A, 0.0)


def _fit(used: np.ndarray, fused: np.ndarray, centre: np.ndarray, models, reach: int = MAX_SHIFT) -> track.Track:
    """Fit a track to per-block rows over centre + SHIFTS, placed on one absolute drift axis;
    drifts beyond +-reach (a short clip's search) are never chosen."""
    lo, hi = int(centre.min()) - MAX_SHIFT, int(centre.max()) + MAX_SHIFT
    axis = np.arange(lo, hi + 1)
    A = np.full((len(used), len(axis)), -np.inf)
    cols = (centre - centre.min())[:, None] + np.arange(len(SHIFTS))[None, :]
    A[np.arange(len(used))[:, None], cols] = _neutral(fused)
    if reach < MAX_SHIFT:
        A[:, np.abs(axis) > reach] = -np.inf
    # Outside its band a block was not asked: that counts as its least likely drift there.
    low = np.where(np.isfinite(A), A, np.inf).min(1, keepdims=True)
    U, tau = track.units(used, np.where(np.isfinite(A), A, low))
    return track.fit(U, tau, axis, models)


def estimate(feats: ClipFeatures, used: np.ndarray, nets: dict, seed: int = 0, max_shift: int = MAX_SHIFT,
             models=("constant", "linear", "piecewise"), windows: dict | None = None) -> FusionResult:
    """The fused estimate for the usable blocks `used`, searching +-max_shift grid frames (limited
    by reach_for); `models`: the track models allowed; `windows`: see estimators.Pairs."""
    reach = reach_for(feats, max_shift)
    times = block_times(used)
    if not len(used):
        nothing = track.Track("constant", [track.Segment(0.0, 0.0, np.nan, np.nan)], 0.0)
        return FusionResult(sync.ClipEstimate(np.nan, 0.0, None, 0), np.zeros((0, len(SHIFTS))),
                            np.zeros(0, int), nothing, reach)
    # float32 on a short clip: on CPU a smaller copy costs a conversion at every pair (the pairs
    # took 1.2-1.7 s against 1.05 s on a 25 s clip in float16); longer clips keep int8, a quarter.
    store = estimators.store_for(used)
    # The allocator keeps what each pass frees; on long clips it is handed back between the steps
    # below (memory.trim). A trim costs about a millisecond and pages faulted in again after it,
    # more than a short clip's few MB are worth.
    trim = memory.trim if len(used) > estimators.SHORT_CLIP else (lambda: None)
    pairs = {k: estimators.Pairs(nets[k], feats, used, store=store, windows=windows) for k in ("c3", "wlos")
             if k == "c3" or sync.FUSION_WEIGHTS.get(k)}
    trim()  # the visual branch's work arrays (140 MB kept by the allocator on 10 minutes)
    if reach > MAX_SHIFT:
        rows = np.arange(0, len(used), int(np.clip(len(used) // COARSE_BLOCKS, 1, COARSE_STRIDE)))
        wide = np.arange(-reach, reach + 1)
        U, tau = track.units(used[rows], _neutral(_fused(_raw_rows(pairs, wide, rows=rows), "nan")))
        trim()  # the pass's chunks, before the fit's own work
        first = track.fit(U, tau, wide, models)
        centre = np.rint(first.at(times)).astype(int)
    else:
        centre = np.zeros(len(used), int)
    for attempt in range(2):
        trim()  # the last fit's work (tens of MB on long clips)
        raw = _raw_rows(pairs, SHIFTS, centre)
        if reach < MAX_SHIFT:  # a short clip: only the drifts it can show are candidates
            raw = {k: estimators.within_reach(r, reach) for k, r in raw.items()}
        trim()  # the pass's chunks, before the fit's own work
        fitted = _fit(used, _fused(raw, "nan"), centre, models, reach)
        want = np.rint(fitted.at(times)).astype(int)
        # Centre the windows on the track again where it left them: a drifting track by a frame
        # (so the answer's evidence follows it), a constant one only when near the band's edge.
        moving = fitted.model != "constant" or len(np.unique(centre)) > 1
        if attempt or np.abs(want - centre).max() < (1 if moving else 5):
            break
        centre = want

    trim()  # the fit's work, before the bootstrap's
    fused = _fused(raw)
    # The clip's answer from the evidence around the track (see the module's docstring).
    draws = sync.Draws(used, seed)
    n_units = draws.n_units
    parts = {k: sync.block_mean(r, draws) for k, r in raw.items()}
    # QMI around the same centres: a fused part where FUSION_WEIGHTS gives it a weight, else only
    # a second opinion for the calibration (qmi_level below), without its bootstrap.
    qmi = sync.Evidence(*estimators.qmi_pooled(feats, used, centre=centre,
                                               boot_counts=draws if sync.FUSION_WEIGHTS.get("qmi") else None))
    if sync.FUSION_WEIGHTS.get("qmi"):
        parts["qmi"] = qmi
    est = sync.from_evidence(sync.fuse(parts), n_units, len(used), min(reach, MAX_SHIFT))
    est.quality["parts_agree"] = float(np.mean([abs(sync.peak(p.curve) - est.offset) <= 1.0
                                                for p in parts.values()]))
    if np.isfinite(est.offset):
        # How well the sound matches at all, in the networks' own units: standardised curves say
        # which shift is best even when none is right (another clip's sound, a drift beyond the
        # reach); C3's mean log-odds and WLOS's mean log-likelihood at the answer say whether any is.
        i = int(np.nanargmax(est.curve))
        for k, p in parts.items():
            c = p.curve
            est.quality[f"{k}_level"] = float(c[i]) if np.isfinite(c[i]) else 0.0
            est.quality[f"{k}_contrast"] = float(c[i] - np.nanmedian(c)) if np.isfinite(c[i]) else 0.0
        # QMI reads the same frames through no network: the audio's changes against the mouth's
        # motion. Another clip's sound can give the networks a clear peak, but rarely QMI too.
        q = sync.standardise(qmi.curve, "nan")[i] if np.isfinite(qmi.curve).any() else np.nan
        est.quality["qmi_level"] = float(q) if np.isfinite(q) else 0.0
        # Where along the range the answer lies: at its end the truth may be beyond it.
        drift = fitted.at(times) if fitted.model != "constant" else centre + est.offset
        est.quality["edge"] = float(np.abs(drift).max() >= reach - 0.5)
        if fitted.model == "constant":
            # One drift: the re-centred curve's sub-frame peak, as the +-9 estimator reads it.
            d = float(np.median(centre)) + est.offset
            if reach < MAX_SHIFT:  # a short clip: the peak's sub-frame refinement stays inside its search
                d = float(np.clip(d, -reach, reach))
            fitted = track.Track("constant", [track.Segment(float(times[0]), float(times[-1]), d, d)],
                                 fitted.score)
        est.offset = float(np.median(fitted.at(times)))
        # Does the mouth move when the sound speaks, pauses included (which no estimator reads)?
        a = activity_match(feats, fitted.at(np.arange(feats.n_frames) / GRID_FPS))
        est.quality["activity"] = a if np.isfinite(a) else 0.0
        # How many blocks on their own peak where the answer lies: a voice that is not this face's
        # can still give the clip a clear peak, but then few blocks agree on it.
        own = centre + SHIFTS[np.argmax(np.where(np.isfinite(fused), fused, -np.inf), 1)]
        est.quality["block_agree"] = float(np.mean(np.abs(own - fitted.at(times)) <= 1.0))
    return FusionResult(est, fused, centre, fitted, reach)
