"""C³ (the paper's sliding window): each block's P(in sync) with the 19 audio windows around it,
averaged over the clip; the clip's drift is the peak of that mean."""
from __future__ import annotations

import numpy as np

from .. import estimators, sync
from .base import Clip, Estimate, Method


class C3(Method):
    name = "c3"
    networks = ("c3",)

    def read(self, clip: Clip) -> Estimate:
        rows = clip.spread(estimators.c3_curves(clip.nets["c3"], clip.features, clip.used, windows=clip.windows),
                           np.float32)
        rows = estimators.within_reach(rows, clip.reach)
        return curve_mean(self.name, rows, clip)


def curve_mean(name: str, rows: np.ndarray, clip: Clip) -> Estimate:
    """The clip's answer from per-block curves over SHIFTS (n_blocks, 19; NaN where skipped or
    not searched): the peak of their mean, each block's drift the peak of its own."""
    drift = sync.peaks(rows).astype(np.float32)
    has = np.isfinite(rows).any(1)
    if not has.any():
        return Estimate(name, np.nan, 0.0, drift, {name: rows}, search_frames=clip.reach)
    draws = sync.Draws(clip.starts[has], clip.seed)
    ev = sync.block_mean(rows[has], draws)
    offset, confidence, quality = sync.from_evidence(ev, draws.n_units, clip.reach)
    return Estimate(name, offset, confidence, drift, {name: rows}, {name: ev.curve}, quality,
                    search_frames=clip.reach)
