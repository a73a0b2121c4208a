"""The long-range search: any method whose rows can be asked around moving centres, read over up to
+-2 s with a drift track, and the clip's answer around that track.

`ask(shifts, centre, rows)` gives each part's per-block rows over `shifts` around each block's
`centre` (whole grid frames; a part: one estimator's evidence, e.g. C³'s log-odds); the parts are
standardised over the candidates and summed with the method's weights.

Range. The networks see +-9 frames around a window. Drift up to `max_shift` frames (2 s by
default; the search reaches 9 frames further, see reach_for) is found in two passes:
1. coarse: usable blocks (all on short clips, every COARSE_STRIDE-th on long ones) against every
   window within +-reach; a drift track (core.drift_track) is fitted to that evidence;
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

import math
from typing import Callable

import numpy as np

from .. import drift_track, estimators, memory, sync
from ..drift_track import DriftTrack
from ..features import ClipFeatures, activity_match
from ..grid import FPS, FRAME_MS, MAX_SHIFT, SHIFTS, block_times, on_one_axis
from .base import Clip, Estimate

# Coarse pass: at least COARSE_BLOCKS usable blocks, at most every COARSE_STRIDE-th (blocks still
# overlap: 10 frames each). Fewer blocks let a spurious match win over +-2 s on a short clip (a 7 s
# interview with its audio 1 s early read 2.2 s early at one block in five, right at every block).
COARSE_STRIDE = 5
COARSE_BLOCKS = 250

MAX_OFFSET_MS = 2000.0  # the drift searched for by default, either way (AnalysisConfig.max_offset_ms)

# ask(shifts, centre, rows) -> part -> (n_rows, len(shifts)) unstandardised rows
Ask = Callable[..., dict[str, np.ndarray]]


def max_shift_frames(max_offset_ms: float) -> int:
    """The search asked for, in grid frames (never below the networks' +-9)."""
    if not math.isfinite(max_offset_ms) or max_offset_ms <= 0:
        raise ValueError(f"max_offset_ms must be a positive number, not {max_offset_ms!r}")
    return max(MAX_SHIFT, int(math.ceil(max_offset_ms / FRAME_MS - 1e-9)))


DEFAULT_MAX_SHIFT = max_shift_frames(MAX_OFFSET_MS)


def reach_for(feats: ClipFeatures, max_shift: int) -> int:
    """How far this clip is searched: `max_shift` and 9 frames more, so that a drift at the limit
    asked for is not at the edge of the search (where the truth could lie beyond it); at most a
    third of the clip; not less than the networks' own +-9 unless the clip is too short for it
    (estimators.reach_of)."""
    short = estimators.reach_of(feats.n_frames)
    return short if short < MAX_SHIFT else int(max(MAX_SHIFT, min(max_shift + MAX_SHIFT, feats.n_frames // 3)))


def fuse(parts: dict[str, np.ndarray], weights: dict[str, float], missing: str = "min") -> np.ndarray:
    """Curves or rows of each part standardised and weighted: whatever its scale, each part weighs
    what `weights` gives it; `missing`: what a drift whose window is not in the clip gets
    (sync.standardise)."""
    return sum(weights[k] * sync.standardise(r, missing) for k, r in parts.items())


def _neutral(A: np.ndarray) -> np.ndarray:
    """A drift whose window is not in the clip tells nothing about it: 0, the row's mean."""
    return np.where(np.isfinite(A), A, 0.0)


def _fit(used: np.ndarray, fused: np.ndarray, centre: np.ndarray, models, reach: int = MAX_SHIFT) -> DriftTrack:
    """Fit a track to per-block rows over centre + SHIFTS, placed on one absolute drift axis;
    drifts beyond +-reach (a short clip's search) are never chosen."""
    axis, A = on_one_axis(_neutral(fused), centre, -np.inf)
    if reach < MAX_SHIFT:
        A[:, np.abs(axis) > reach] = -np.inf
    # Outside its band a block was not asked: that counts as its least likely drift there.
    low = np.where(np.isfinite(A), A, np.inf).min(1, keepdims=True)
    U, tau = drift_track.units(used, np.where(np.isfinite(A), A, low))
    return drift_track.fit(U, tau, axis, models)


def read(name: str, clip: Clip, parts: Callable[[], Ask]) -> Estimate:
    """The method `name` over the long-range search of `clip` (clip.max_shift, limited by
    reach_for), its drift track of clip.track_models and the answer around it. parts(): the
    parts' passes over the usable blocks made, their `ask` (see the module's docstring)."""
    feats, used, models, weights = clip.features, clip.used, clip.track_models, clip.weights
    reach = reach_for(feats, clip.max_shift)
    times = block_times(used)
    if not len(used):
        nothing = DriftTrack.constant(0.0, 0.0, np.nan)
        return Estimate(name, np.nan, 0.0, clip.spread(np.zeros(0), np.float32),
                        {name: clip.spread(np.zeros((0, len(SHIFTS))))}, track=nothing, search_frames=reach,
                        centre=np.zeros(len(clip.starts), int))
    # The allocator keeps what each pass frees; on long clips it is handed back between the steps
    # below (memory.trim). A trim costs about a millisecond and pages faulted in again after it,
    # more than a short clip's few MB are worth.
    trim = memory.trim if len(used) > estimators.SHORT_CLIP else (lambda: None)
    ask = parts()
    trim()  # the visual branch's work arrays (140 MB kept by the allocator on 10 minutes)
    if reach > MAX_SHIFT:
        rows = np.arange(0, len(used), int(np.clip(len(used) // COARSE_BLOCKS, 1, COARSE_STRIDE)))
        wide = np.arange(-reach, reach + 1)
        U, tau = drift_track.units(used[rows], _neutral(fuse(ask(wide, rows=rows), weights, "nan")))
        trim()  # the pass's chunks, before the fit's own work
        first = drift_track.fit(U, tau, wide, models)
        centre = np.rint(first.at(times)).astype(int)
    else:
        centre = np.zeros(len(used), int)
    for attempt in range(2):
        trim()  # the last fit's work (tens of MB on long clips)
        raw = ask(SHIFTS, centre)
        if reach < MAX_SHIFT:  # a short clip: only the drifts it can show are candidates
            raw = {k: estimators.within_reach(r, reach) for k, r in raw.items()}
        trim()  # the pass's chunks, before the fit's own work
        fitted = _fit(used, fuse(raw, weights, "nan"), centre, models, reach)
        want = np.rint(fitted.at(times)).astype(int)
        # Centre the windows on the track again where it left them: a drifting track by a frame
        # (so the answer's evidence follows it), a constant one only when near the band's edge.
        moving = fitted.model != "constant" or len(np.unique(centre)) > 1
        if attempt or np.abs(want - centre).max() < (1 if moving else 5):
            break
        centre = want

    trim()  # the fit's work, before the bootstrap's
    fused = fuse(raw, weights)
    # The clip's answer from the evidence around the track (see the module's docstring).
    draws = sync.Draws(used, clip.seed)
    evidence = {k: sync.block_mean(r, draws) for k, r in raw.items()}
    # QMI around the same centres: a part where the weights give it one, else only a second
    # opinion for the calibration (qmi_level below), without its bootstrap.
    qmi = sync.Evidence(*estimators.qmi_pooled(feats, used, centre=centre,
                                               boot_counts=draws if weights.get("qmi") else None))
    if weights.get("qmi"):
        evidence["qmi"] = qmi
    ev = sync.Evidence(fuse({k: p.curve for k, p in evidence.items()}, weights),
                       fuse({k: p.boot for k, p in evidence.items()}, weights))
    offset, confidence, quality = sync.from_evidence(ev, draws.n_units, min(reach, MAX_SHIFT))
    quality["parts_agree"] = float(np.mean([abs(sync.peak(p.curve) - offset) <= 1.0 for p in evidence.values()]))
    if np.isfinite(offset):
        # How well the sound matches at all, in the networks' own units: standardised curves say
        # which shift is best even when none is right (another clip's sound, a drift beyond the
        # reach); C3's mean log-odds and WLOS's mean log-likelihood at the answer say whether any is.
        i = int(np.nanargmax(ev.curve))
        for k, p in evidence.items():
            c = p.curve
            quality[f"{k}_level"] = float(c[i]) if np.isfinite(c[i]) else 0.0
            quality[f"{k}_contrast"] = float(c[i] - np.nanmedian(c)) if np.isfinite(c[i]) else 0.0
        # QMI reads the same frames through no network: the audio's changes against the mouth's
        # motion. Another clip's sound can give the networks a clear peak, but rarely QMI too.
        q = sync.standardise(qmi.curve, "nan")[i] if np.isfinite(qmi.curve).any() else np.nan
        quality["qmi_level"] = float(q) if np.isfinite(q) else 0.0
        # Where along the range the answer lies: at its end the truth may be beyond it.
        drift = fitted.at(times) if fitted.model != "constant" else centre + offset
        quality["edge"] = float(np.abs(drift).max() >= reach - 0.5)
        if fitted.model == "constant":
            # One drift: the re-centred curve's sub-frame peak, as the +-9 estimator reads it.
            d = float(np.median(centre)) + offset
            if reach < MAX_SHIFT:  # a short clip: the peak's sub-frame refinement stays inside its search
                d = float(np.clip(d, -reach, reach))
            fitted = DriftTrack.constant(times[0], times[-1], d, fitted.score)
        offset = float(np.median(fitted.at(times)))
        # Does the mouth move when the sound speaks, pauses included (which no estimator reads)?
        a = activity_match(feats, fitted.at(np.arange(feats.n_frames) / FPS))
        quality["activity"] = a if np.isfinite(a) else 0.0
        # How many blocks on their own peak where the answer lies: a voice that is not this face's
        # can still give the clip a clear peak, but then few blocks agree on it.
        own = centre + SHIFTS[np.argmax(np.where(np.isfinite(fused), fused, -np.inf), 1)]
        quality["block_agree"] = float(np.mean(np.abs(own - fitted.at(times)) <= 1.0))
    # Each block's row over its own centre + SHIFTS, its drift where that row peaks.
    return Estimate(name, offset, confidence, clip.spread(centre + sync.peaks(fused), np.float32),
                    {name: clip.spread(fused)}, {name: ev.curve}, quality, track=fitted, search_frames=reach,
                    centre=clip.spread(centre, int, 0))
