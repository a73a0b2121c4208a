"""From per-block evidence to one clip offset and a confidence.

Offset (grid frames, positive = audio late):
- sliding-window methods (C3, QMI): the peak of the clip's curve over the 19 shifts, refined to a
  fraction of a frame by a parabola through the peak and its neighbours;
- WLOS: the mode of the block drifts (kernel density, 0.5-frame bandwidth), refined by the mean of
  the drifts within 1.5 frames of it, so a minority of wild blocks does not pull the estimate.

Confidence in [0, 1]: how stable the answer is under resampling of the clip's own evidence. Blocks
overlap (stride 1), so they are resampled in independent units: the blocks starting in the same
10-frame span form one unit. The units are drawn with replacement 200 times (fixed seed), the
offset is recomputed each time, and the confidence is the share of redraws within one frame of the
reported offset, scaled down when there are fewer than 6 units (2.4 s of usable speech), by a
sixth per unit missing. 0.9 means: nine redraws in ten of this clip's evidence land within a frame
of the answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .estimators import MAX_SHIFT, SHIFTS
from .features import BLOCK

N_BOOT = 200
FULL_EVIDENCE_UNITS = 6


@dataclass
class ClipEstimate:
    offset: float  # grid frames, positive = audio late; NaN when nothing was usable
    confidence: float
    curve: np.ndarray | None  # (19,) the clip's curve for sliding-window methods
    n_blocks: int
    # What the calibration reads (calibration.py): agreement of the bootstrap redraws, margin of
    # the curve's peak over the best candidate 2+ frames away, independent 10-frame units, whether
    # the peak sits at the edge of the search range.
    quality: dict = field(default_factory=dict)


def peak(curve: np.ndarray) -> float:
    """Sub-frame position of a curve's maximum over SHIFTS (NaN entries ignored)."""
    if curve is None:
        return float("nan")
    return float(peaks(np.asarray(curve)[None])[0])


def peaks(curves: np.ndarray) -> np.ndarray:
    """peak() of each row of (k, S) curves, as float64 (a clip's 200 bootstrap curves and its
    blocks' rows at once: a Python loop over them cost a few ms a clip)."""
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
    out[rows] = SHIFTS[i] + frac.astype(np.float64)
    return out


def _boot_counts(starts: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    """(N_BOOT, n_blocks) draw counts of each block when 10-frame units are resampled, and the
    number of units."""
    _, unit = np.unique(np.asarray(starts) // BLOCK, return_inverse=True)
    n_units = int(unit.max()) + 1
    rng = np.random.default_rng(seed)
    unit_counts = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=N_BOOT)
    return np.take(unit_counts.astype(np.float64), unit, axis=1), n_units  # one (N_BOOT, n_blocks) array, not two


def _agreement(boot: np.ndarray, offset: float) -> float:
    boot = boot[np.isfinite(boot)]
    if not len(boot) or not np.isfinite(offset):
        return 0.0
    return float(np.mean(np.abs(boot - offset) <= 1.0))


def _confidence(boot: np.ndarray, offset: float, n_units: int) -> float:
    return round(_agreement(boot, offset) * min(1.0, n_units / FULL_EVIDENCE_UNITS), 3)


def boot_counts(starts: np.ndarray, seed: int = 0) -> tuple[np.ndarray, int]:
    """(N_BOOT, n_blocks) draw counts of each block under resampling of 10-frame units, and the
    number of units; one draw serves every estimator of a clip."""
    return _boot_counts(starts, seed)


# Above this many (N_BOOT x n_blocks) counts, Draws hands them out a few draws at a time: an hour's
# 80 000 blocks would make a 130 MB float64 array. Below it (clips up to ~8 minutes of speech)
# they are made at once, as ever; in parts the means can differ from those in the last bit.
WHOLE_COUNTS = 2_500_000


class Draws:
    """The draws of _boot_counts (the same seed gives the same ones), kept per 10-frame unit
    (N_BOOT x n_units integers) and expanded to blocks only as needed."""

    def __init__(self, starts: np.ndarray, seed: int = 0):
        _, self.unit = np.unique(np.asarray(starts) // BLOCK, return_inverse=True)
        self.n_units = int(self.unit.max()) + 1
        rng = np.random.default_rng(seed)
        self.unit_counts = rng.multinomial(self.n_units, np.full(self.n_units, 1.0 / self.n_units), size=N_BOOT)

    @property
    def shape(self) -> tuple[int, int]:
        return N_BOOT, len(self.unit)

    def counts(self, a: int = 0, b: int = N_BOOT) -> np.ndarray:
        """(b - a, n_blocks) float64 counts of draws a..b-1 (all: _boot_counts's array)."""
        return np.take(self.unit_counts[a:b].astype(np.float64), self.unit, axis=1)

    def columns(self, blocks: np.ndarray) -> np.ndarray:
        """(N_BOOT, len(blocks)) float64 counts of those blocks only."""
        return np.take(self.unit_counts, self.unit[blocks], axis=1).astype(np.float64)

    def apply(self, fn) -> np.ndarray:
        """fn(counts of some draws) -> one row per draw, for all draws, stacked."""
        n = len(self.unit)
        step = N_BOOT if N_BOOT * n <= WHOLE_COUNTS else max(1, WHOLE_COUNTS // max(1, n))
        return np.concatenate([fn(self.counts(a, min(a + step, N_BOOT))) for a in range(0, N_BOOT, step)])


# --- several estimators on one scale ------------------------------------------------------------

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


def c3_rows(curves: np.ndarray) -> np.ndarray:
    """C3's P(in sync) per block and shift as log-odds: a confident "no" counts as much as a
    confident "yes", where averaged probabilities would let a few confident blocks decide."""
    p = np.clip(curves.astype(np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def wlos_rows(logp: np.ndarray, windows: np.ndarray = SHIFTS, drifts: np.ndarray = SHIFTS) -> np.ndarray:
    """WLOS queried with every window (estimators.wlos_posteriors, (n, windows, 19 drifts)) to
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


# The default estimator's parts and weights, chosen on people the models never saw
# (docs/accuracy.md, speaker folds): C3's sliding window alone was right on 124 of 125 answers,
# C3 + WLOS/2 (the choice on GRID s1) on 122; plain WLOS reads new faces' absolute drift badly,
# and leaving it out also halves the networks' work. "wlos" and "qmi" can take part (a weight).
FUSION_WEIGHTS = {"c3": 1.0}


def fuse(parts: dict[str, Evidence], weights: dict[str, float] | None = None) -> Evidence:
    """Standardised curves, weighted and summed: whatever its scale, each estimator weighs what
    FUSION_WEIGHTS gives it."""
    w = weights or FUSION_WEIGHTS
    return Evidence(sum(w[k] * standardise(p.curve) for k, p in parts.items()),
                    sum(w[k] * standardise(p.boot) for k, p in parts.items()))


def from_evidence(ev: Evidence, n_units: int, n_blocks: int, reach: int = MAX_SHIFT) -> ClipEstimate:
    offset = peak(ev.curve)
    boot = peaks(ev.boot)
    return ClipEstimate(offset, _confidence(boot, offset, n_units), ev.curve, n_blocks,
                        quality(ev.curve, offset, boot, n_units, reach))


def quality(curve: np.ndarray, offset: float, boot: np.ndarray, n_units: int, reach: int = MAX_SHIFT) -> dict:
    """What the calibration reads of a clip's evidence (see ClipEstimate.quality); `reach`: the
    search (+- grid frames), whose end is the edge."""
    if not np.isfinite(offset):
        return {"agreement": 0.0, "margin": 0.0, "units": n_units, "edge": 1.0}
    z = standardise(curve)
    far = np.abs(SHIFTS - offset) >= 2.0
    margin = float(z.max() - z[far].max()) if far.any() else 0.0
    return {"agreement": _agreement(boot, offset), "margin": margin, "units": n_units,
            "edge": float(abs(offset) >= reach - 0.5)}


def _mode(drifts: np.ndarray) -> float:
    grid = np.linspace(-MAX_SHIFT - 1, MAX_SHIFT + 1, 401)
    dens = np.exp(-0.5 * ((grid[:, None] - drifts[None]) / 0.5) ** 2).sum(1)
    m = grid[int(np.argmax(dens))]
    near = drifts[np.abs(drifts - m) <= 1.5]
    return float(near.mean()) if len(near) else float(m)


def from_drifts(drifts: np.ndarray, starts: np.ndarray, seed: int = 0, reach: int = MAX_SHIFT) -> ClipEstimate:
    """Clip offset from WLOS's per-block regressions."""
    ok = np.isfinite(drifts)
    d = drifts[ok]
    if not len(d):
        return ClipEstimate(float("nan"), 0.0, None, 0)
    offset = _mode(d)
    counts, n_units = _boot_counts(starts[ok], seed)
    boot = np.array([_mode(np.repeat(d, c.astype(int))) for c in counts])
    density = np.exp(-0.5 * ((SHIFTS[:, None] - d[None]) / 0.5) ** 2).sum(1)
    return ClipEstimate(offset, _confidence(boot, offset, n_units), None, len(d),
                        quality(density, offset, boot, n_units, reach))


def from_curves(curves: np.ndarray, starts: np.ndarray, seed: int = 0, reach: int = MAX_SHIFT) -> ClipEstimate:
    """Clip offset from per-block sliding-window curves (C3): the peak of their mean."""
    has = np.isfinite(curves).any(1)
    rows, starts = curves[has], starts[has]
    if not len(rows):
        return ClipEstimate(float("nan"), 0.0, None, 0)
    filled = np.where(np.isfinite(rows), rows, 0.0)
    present = np.isfinite(rows).astype(float)

    def mean_curve(w: np.ndarray) -> np.ndarray:
        num, den = w @ filled, w @ present
        return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)

    curve = mean_curve(np.ones(len(rows)))
    offset = peak(curve)
    draws = Draws(starts, seed)
    n_units = draws.n_units
    boot = peaks(draws.apply(mean_curve))
    return ClipEstimate(offset, _confidence(boot, offset, n_units), curve, len(rows),
                        quality(curve, offset, boot, n_units, reach))


def from_qmi(feats, starts: np.ndarray, seed: int = 0, reach: int = MAX_SHIFT) -> ClipEstimate:
    """Clip offset from QMI over the pooled frames of the usable blocks."""
    from .estimators import qmi_pooled
    if not len(starts):
        return ClipEstimate(float("nan"), 0.0, None, 0)
    draws = Draws(starts, seed)
    n_units = draws.n_units
    curve, boot_curves = qmi_pooled(feats, starts, boot_counts=draws)
    if reach < MAX_SHIFT:
        from .estimators import within_reach
        curve, boot_curves = within_reach(curve, reach), within_reach(boot_curves, reach)
    offset = peak(curve)
    boot = peaks(boot_curves)
    return ClipEstimate(offset, _confidence(boot, offset, n_units), curve, len(starts),
                        quality(curve, offset, boot, n_units, reach))
