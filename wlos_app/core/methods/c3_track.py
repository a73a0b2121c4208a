"""c3-track, the default (formerly "fusion"): C³'s sliding window over the long-range search (+-2 s)
with a drift track, and the calibrated confidence (search.py).

Per block t and candidate drift D (grid frames, positive = audio late) a part reads:
- c3: the log-odds of "in sync" for block t with audio window t + D;
- wlos: for every window t + k, WLOS's 19-way classifier says "this pair is d off", a vote for
  D = k + d (wlos_rows);
- qmi: QMI pooled over the clip's frames around the same windows.
The parts are standardised over the candidates and weighted (AnalysisConfig.weights). The weights
chosen on people the models never saw (docs/accuracy.md, speaker folds) are C³'s alone, WEIGHTS:
C³ was right on 124 of 125 answers, C³ + WLOS/2 (the choice on GRID s1) on 122; plain WLOS reads new
faces' absolute drift badly, and leaving it out also halves the networks' work.
"""
from __future__ import annotations

import numpy as np

from .. import estimators
from ..grid import SHIFTS
from . import search
from .base import Clip, Estimate, Method

WEIGHTS = {"c3": 1.0}


def c3_rows(curves: np.ndarray) -> np.ndarray:
    """C3's P(in sync) per block and shift as log-odds: a confident "no" counts as much as a
    confident "yes", where averaged probabilities would let a few confident blocks decide."""
    p = np.clip(curves.astype(np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def wlos_rows(logp: np.ndarray, windows: np.ndarray = SHIFTS, drifts: np.ndarray = SHIFTS) -> np.ndarray:
    """WLOS queried with every window (estimators.Pairs.wlos, (n, windows, 19 drifts)) to
    per-block log-likelihoods of each clip drift D in `drifts`: the mean over windows k of
    log P(window t + k is D - k off). A speaker for whom WLOS reads every window a little late
    shifts all the answers alike, and the windows still agree only at the true D."""
    n, K, nd = logp.shape
    half = nd // 2
    k = np.asarray(windows)
    rows = np.full((n, len(drifts)), np.nan)
    for i, D in enumerate(drifts):
        d = D - k
        use = np.abs(d) <= half
        if not use.any():
            continue
        vals = logp[:, np.flatnonzero(use), (d[use] + half)]
        fin = np.isfinite(vals)
        n_fin = fin.sum(1)
        rows[:, i] = np.where(n_fin > 0, np.where(fin, vals, 0.0).sum(1) / np.maximum(n_fin, 1), np.nan)
    return rows


class C3Track(Method):
    name = "c3-track"
    networks = ("c3", "wlos")
    long_range = True

    def needs(self, weights: dict) -> set[str]:
        return {"c3"} | ({"wlos"} if weights.get("wlos") else set())

    def read(self, clip: Clip) -> Estimate:
        def parts() -> search.Ask:
            # float32 on a short clip: on CPU a smaller copy costs a conversion at every pair (the
            # pairs took 1.2-1.7 s against 1.05 s on a 25 s clip in float16); longer clips keep
            # int8, a quarter.
            store = estimators.store_for(clip.used)
            pairs = {k: estimators.Pairs(clip.nets[k], clip.features, clip.used, store=store, windows=clip.windows)
                     for k in sorted(self.needs(clip.weights))}

            def ask(shifts, centre=None, rows=None) -> dict[str, np.ndarray]:
                out = {"c3": c3_rows(pairs["c3"].c3(shifts, centre, rows))}
                if "wlos" in pairs:  # the drifts D within `shifts`, each from the windows that can see it
                    out["wlos"] = wlos_rows(pairs["wlos"].wlos(shifts, centre, rows), shifts, shifts)
                return out
            return ask
        return search.read(self.name, clip, parts)
