"""From per-block evidence to one clip offset and a confidence.

Offset (grid frames, positive = audio late):
- sliding-window methods (C3, QMI): the peak of the clip's curve over the 19 shifts, refined to a
  fraction of a frame by a parabola through the peak and its neighbours;
- WLOS: the mode of the block drifts (methods/wlos.py).
Each method (core/methods) reads its offset so; `answer` turns it, and its redraws', into the
confidence and what the calibration reads.

Confidence in [0, 1]: how stable the answer is under resampling of the clip's own evidence. Blocks
overlap (stride 1), so they are resampled in independent units: the blocks starting in the same
10-frame span form one unit. The units are drawn with replacement 200 times (fixed seed), the
offset is recomputed each time, and the confidence is the share of redraws within one frame of the
reported offset, scaled down when there are fewer than 6 units (2.4 s of usable speech), by a
sixth per unit missing. 0.9 means: nine redraws in ten of this clip's evidence land within a frame
of the answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import BLOCK, MAX_SHIFT, SHIFTS

N_BOOT = 200
FULL_EVIDENCE_UNITS = 6


def peak(curve: np.ndarray) -> float:
    """Sub-frame position of a curve's maximum over SHIFTS (NaN entries ignored)."""
    if curve is None:
        return float("nan")
    return float(peaks(np.asarray(curve)[None])[0])


def peaks(curves: np.ndarray, axis: np.ndarray = SHIFTS) -> np.ndarray:
    """peak() of each row of (k, S) curves over the drifts `axis` (default SHIFTS), as float64 (a
    clip's 200 bootstrap curves and its blocks' rows at once: a Python loop over them cost a few ms
    a clip). The maximum is refined by a parabola through it and its neighbours."""
    curves = np.asarray(curves)
    out = np.full(len(curves), np.nan)
    if not curves.size:
        return out
    fin = np.isfinite(curves)
    c = np.where(fin, curves, -np.inf)
    rows = np.flatnonzero(fin.any(1))
    i = np.argmax(c[rows], axis=1)
    frac = np.zeros(len(rows), c.dtype)
    inner = (i > 0) & (i < c.shape[1] - 1)
    r, j = rows[inner], i[inner]
    left, mid, right = c[r, j - 1], c[r, j], c[r, j + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        den = left - 2 * mid + right  # -inf where a neighbour is missing: no interpolation
        ok = np.isfinite(left) & np.isfinite(right) & (den < 0)
        frac[np.flatnonzero(inner)[ok]] = np.clip(0.5 * (left[ok] - right[ok]) / den[ok], -0.5, 0.5)
    out[rows] = np.asarray(axis)[i] + frac.astype(np.float64)
    return out


def _agreement(boot: np.ndarray, offset: float) -> float:
    boot = boot[np.isfinite(boot)]
    if not len(boot) or not np.isfinite(offset):
        return 0.0
    return float(np.mean(np.abs(boot - offset) <= 1.0))


def _confidence(boot: np.ndarray, offset: float, n_units: int) -> float:
    return round(_agreement(boot, offset) * min(1.0, n_units / FULL_EVIDENCE_UNITS), 3)


# Above this many (N_BOOT x n_blocks) counts, Draws hands them out a few draws at a time: an hour's
# 80 000 blocks would make a 130 MB float64 array. Below it (clips up to ~8 minutes of speech)
# they are made at once, as ever; in parts the means can differ from those in the last bit.
WHOLE_COUNTS = 2_500_000


class Draws:
    """N_BOOT redraws of a clip's 10-frame units with replacement (the same seed gives the same
    ones), kept per unit (N_BOOT x n_units integers) and expanded to blocks only as needed."""

    def __init__(self, starts: np.ndarray, seed: int = 0):
        _, self.unit = np.unique(np.asarray(starts) // BLOCK, return_inverse=True)
        self.n_units = int(self.unit.max()) + 1
        rng = np.random.default_rng(seed)
        self.unit_counts = rng.multinomial(self.n_units, np.full(self.n_units, 1.0 / self.n_units), size=N_BOOT)

    @property
    def shape(self) -> tuple[int, int]:
        return N_BOOT, len(self.unit)

    def counts(self, a: int = 0, b: int = N_BOOT) -> np.ndarray:
        """(b - a, n_blocks) float64 counts of each block in draws a..b-1."""
        return np.take(self.unit_counts[a:b].astype(np.float64), self.unit, axis=1)

    def columns(self, blocks: np.ndarray) -> np.ndarray:
        """(N_BOOT, len(blocks)) float64 counts of those blocks only."""
        return np.take(self.unit_counts, self.unit[blocks], axis=1).astype(np.float64)

    def apply(self, fn) -> np.ndarray:
        """fn(counts of some draws) -> one row per draw, for all draws, stacked."""
        n = len(self.unit)
        step = N_BOOT if N_BOOT * n <= WHOLE_COUNTS else max(1, WHOLE_COUNTS // max(1, n))
        return np.concatenate([fn(self.counts(a, min(a + step, N_BOOT))) for a in range(0, N_BOOT, step)])


def boot_counts(starts: np.ndarray, seed: int = 0) -> tuple[np.ndarray, int]:
    """(N_BOOT, n_blocks) draw counts of each block (Draws, all at once), and the number of units."""
    draws = Draws(starts, seed)
    return draws.counts(), draws.n_units


# --- a clip's curve from its blocks' -------------------------------------------------------------

@dataclass
class Evidence:
    """One estimator's clip curve over the candidate shifts (higher = more likely) and the same
    curve for each bootstrap redraw of the clip's blocks."""

    curve: np.ndarray  # (S,)
    boot: np.ndarray  # (N_BOOT, S)


def block_mean(rows: np.ndarray, counts) -> Evidence:
    """Mean over blocks of per-block curves (NaN = that shift's window is missing), for the clip
    and for each redraw (counts: (N_BOOT, n_blocks) from boot_counts, or Draws)."""
    filled = np.where(np.isfinite(rows), rows, 0.0)
    present = np.isfinite(rows).astype(np.float64)

    def mean(w: np.ndarray) -> np.ndarray:
        num, den = w @ filled, w @ present
        return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)

    return Evidence(mean(np.ones(len(rows))), counts.apply(mean) if isinstance(counts, Draws) else mean(counts))


def standardise(x: np.ndarray, missing: str = "min") -> np.ndarray:
    """Each curve (last axis) to mean 0, s.d. 1 over its finite shifts; missing shifts get the
    curve's minimum, so they never win ("min"), or stay NaN ("nan")."""
    x = np.asarray(x, np.float64)
    fin = np.isfinite(x)
    cnt = np.maximum(fin.sum(-1, keepdims=True), 1)
    mu = np.where(fin, x, 0.0).sum(-1, keepdims=True) / cnt
    sd = np.sqrt((np.where(fin, x - mu, 0.0) ** 2).sum(-1, keepdims=True) / cnt) + 1e-9
    z = (x - mu) / sd
    if missing == "nan":
        return np.where(fin, z, np.nan)
    low = np.where(fin, z, np.inf).min(-1, keepdims=True)
    return np.where(fin, z, np.where(np.isfinite(low), low, 0.0))


def answer(offset: float, boot: np.ndarray, n_units: int, curve: np.ndarray,
           reach: int = MAX_SHIFT) -> tuple[float, float, dict]:
    """A clip's (offset, confidence, quality) from its offset, the redraws' offsets and its curve
    over SHIFTS (see the module's docstring)."""
    return offset, _confidence(boot, offset, n_units), quality(curve, offset, boot, n_units, reach)


def from_evidence(ev: Evidence, n_units: int, reach: int = MAX_SHIFT) -> tuple[float, float, dict]:
    """`answer` of a sliding-window curve: the peak of the clip's curve and of each redraw's."""
    return answer(peak(ev.curve), peaks(ev.boot), n_units, ev.curve, reach)


def quality(curve: np.ndarray, offset: float, boot: np.ndarray, n_units: int, reach: int = MAX_SHIFT) -> dict:
    """What the calibration reads of a clip's evidence (calibration.py): agreement of the
    bootstrap redraws, margin of the curve's peak over the best candidate 2+ frames away,
    independent 10-frame units, whether the peak sits at the edge of the search (+-reach)."""
    if not np.isfinite(offset):
        return {"agreement": 0.0, "margin": 0.0, "units": n_units, "edge": 1.0}
    z = standardise(curve)
    far = np.abs(SHIFTS - offset) >= 2.0
    margin = float(z.max() - z[far].max()) if far.any() else 0.0
    return {"agreement": _agreement(boot, offset), "margin": margin, "units": n_units,
            "edge": float(abs(offset) >= reach - 0.5)}
