"""WLOS (the paper's method): one regression per block, its flows against its own audio window.
The clip's drift is the mode of the blocks' drifts (kernel density, 0.5-frame bandwidth), refined
by the mean of the drifts within 1.5 frames of it, so a minority of wild blocks does not pull it."""
from __future__ import annotations

import numpy as np

from .. import estimators, sync
from ..grid import MAX_SHIFT, SHIFTS
from .base import Clip, Estimate, Method


class Wlos(Method):
    name = "wlos"
    networks = ("wlos",)

    def read(self, clip: Clip) -> Estimate:
        drift = clip.spread(estimators.wlos_drifts(clip.nets["wlos"], clip.features, clip.used), np.float32)
        if clip.reach < MAX_SHIFT:  # a regression beyond a short clip's search is not an answer
            drift[np.abs(drift) > clip.reach + 0.5] = np.nan
        offset, confidence, quality = from_drifts(drift[clip.ok], clip.used, clip.seed, clip.reach)
        return Estimate(self.name, offset, confidence, drift, quality=quality, search_frames=clip.reach)


def _mode(drifts: np.ndarray) -> float:
    grid = np.linspace(-MAX_SHIFT - 1, MAX_SHIFT + 1, 401)
    dens = np.exp(-0.5 * ((grid[:, None] - drifts[None]) / 0.5) ** 2).sum(1)
    m = grid[int(np.argmax(dens))]
    near = drifts[np.abs(drifts - m) <= 1.5]
    return float(near.mean()) if len(near) else float(m)


def from_drifts(drifts: np.ndarray, starts: np.ndarray, seed: int = 0,
                reach: int = MAX_SHIFT) -> tuple[float, float, dict]:
    """(offset, confidence, quality) from per-block drifts (NaN: none), as sync.answer reads them;
    the curve the quality reads is the drifts' density over SHIFTS."""
    ok = np.isfinite(drifts)
    d = drifts[ok]
    if not len(d):
        return float("nan"), 0.0, {}
    draws = sync.Draws(starts[ok], seed)
    boot = np.array([_mode(np.repeat(d, c.astype(int))) for c in draws.counts()])
    density = np.exp(-0.5 * ((SHIFTS[:, None] - d[None]) / 0.5) ** 2).sum(1)
    return sync.answer(_mode(d), boot, draws.n_units, density, reach)
