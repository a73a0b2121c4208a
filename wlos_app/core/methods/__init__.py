"""The estimators, one module each, found by name in METHODS.

Every method reads a clip's features and its usable blocks (base.Clip) into one Estimate: each
block's rows over the candidate drifts and its drift, the clip's drift and what the calibration
reads. `estimate` then runs the one stage every method goes through: the calibrated confidence
(calibration.json, per method) and, for a method without one, a constant drift track.

- c3-track (the default; formerly "fusion"): C³ over +-2 s with a drift track (c3_track.py, search.py);
- c3, wlos, qmi: the paper's methods over +-9 frames (c3.py, wlos.py, qmi.py).

A new method: a module with a Method subclass, and one line in METHODS.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import calibration
from ..drift_track import TRACK_MODELS, DriftTrack
from ..features import ClipFeatures
from ..grid import block_times
from .base import ALIASES, Clip, Estimate, Method, canonical
from .c3 import C3
from .c3_track import WEIGHTS, C3Track
from .qmi import Qmi
from .search import DEFAULT_MAX_SHIFT
from .wlos import Wlos

__all__ = ["ALIASES", "DEFAULT", "METHODS", "Clip", "Estimate", "Method", "canonical", "estimate", "needed_networks"]

# Also the order "auto" tries them in: the first whose networks the model folder holds.
METHODS: dict[str, Method] = {
    "c3-track": C3Track(),
    "c3": C3(),
    "wlos": Wlos(),
    "qmi": Qmi(),
}
DEFAULT = "c3-track"


def needed_networks(method: str, curves: tuple[str, ...] = (), weights: dict | None = None) -> set[str]:
    """The networks an analysis runs: each method's, c3-track's parts only where `weights`
    (default WEIGHTS) weighs them (the default leaves WLOS out, so WLOS is not loaded for it)."""
    return {k for m in (method, *curves) for k in METHODS[canonical(m)].needs(weights or WEIGHTS)}


def estimate(feats: ClipFeatures, starts: np.ndarray, status: list[str], method: str, nets: dict,
             curves: tuple[str, ...] = (), seed: int = 0, on_done: Callable[[str], None] | None = None,
             calibrations: dict | None = None, max_shift: int = DEFAULT_MAX_SHIFT,
             track_models: tuple[str, ...] = TRACK_MODELS, weights: dict | None = None,
             windows: dict | None = None) -> Estimate:
    """`method`'s Estimate of a clip, with the extra `curves` (other methods' rows) beside it.
    nets: kind -> loaded network, for the methods that run one; calibrations: method ->
    calibration.Calibration, which turns the evidence into P(within one frame); max_shift,
    track_models and weights: c3-track's range (grid frames), drift track and parts (base.Clip);
    windows: the sound's network work kept for the other methods and the clip's other faces
    (estimators.Pairs)."""
    ok = np.array([s == "ok" for s in status], bool)
    clip = Clip(feats, starts, ok, nets, weights or WEIGHTS, max_shift, track_models, seed, windows)
    method = canonical(method)
    all_curves: dict[str, np.ndarray] = {}
    clip_curves: dict[str, np.ndarray] = {}
    for m in dict.fromkeys([*map(canonical, curves), method]):  # each method once
        est = METHODS[m].read(clip)
        all_curves.update(est.curves)
        clip_curves.update(est.clip_curves)
        if m == method:
            reported = est
        if on_done:
            on_done(m)
    return _conclude(reported, clip, calibrations or {}, all_curves, clip_curves)


def _conclude(est: Estimate, clip: Clip, calibrations: dict, curves: dict, clip_curves: dict) -> Estimate:
    """The stage every method's estimate goes through: the confidence calibrated where the method
    has a calibration (reading how much of the paper's search a short clip lacks), and a constant
    drift track at the offset where the method fits none."""
    cal = calibrations.get(est.method)
    est.quality["short"] = calibration.shortness(clip.reach)
    if cal is not None and np.isfinite(est.offset_grid):
        est.confidence = round(cal.probability(est.quality), 3)
    if est.track is None and len(clip.used) and np.isfinite(est.offset_grid):
        times = block_times(clip.used)
        est.track = DriftTrack.constant(times[0], times[-1], est.offset_grid)
    est.calibrated, est.curves, est.clip_curves = cal is not None, curves, clip_curves
    return est
