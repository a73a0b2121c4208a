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

from dataclasses import dataclass

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


def peak(curve: np.ndarray) -> float:
    """Sub-frame position of a curve's maximum over SHIFTS (NaN entries ignored)."""
    if curve is None or not np.isfinite(curve).any():
        return float("nan")
    c = np.where(np.isfinite(curve), curve, -np.inf)
    i = int(np.argmax(c))
    frac = 0.0
    if 0 < i < len(c) - 1 and np.isfinite(c[i - 1]) and np.isfinite(c[i + 1]):
        den = c[i - 1] - 2 * c[i] + c[i + 1]
        if den < 0:
            frac = float(np.clip(0.5 * (c[i - 1] - c[i + 1]) / den, -0.5, 0.5))
    return float(SHIFTS[i] + frac)


def _boot_counts(starts: np.ndarray, seed: int) -> tuple[np.ndarray, int]:
    """(N_BOOT, n_blocks) draw counts of each block when 10-frame units are resampled, and the
    number of units."""
    _, unit = np.unique(np.asarray(starts) // BLOCK, return_inverse=True)
    n_units = int(unit.max()) + 1
    rng = np.random.default_rng(seed)
    unit_counts = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=N_BOOT)
    return unit_counts[:, unit].astype(np.float64), n_units


def _confidence(boot: np.ndarray, offset: float, n_units: int) -> float:
    boot = boot[np.isfinite(boot)]
    if not len(boot) or not np.isfinite(offset):
        return 0.0
    agree = float(np.mean(np.abs(boot - offset) <= 1.0))
    return round(agree * min(1.0, n_units / FULL_EVIDENCE_UNITS), 3)


def _mode(drifts: np.ndarray) -> float:
    grid = np.linspace(-MAX_SHIFT - 1, MAX_SHIFT + 1, 401)
    dens = np.exp(-0.5 * ((grid[:, None] - drifts[None]) / 0.5) ** 2).sum(1)
    m = grid[int(np.argmax(dens))]
    near = drifts[np.abs(drifts - m) <= 1.5]
    return float(near.mean()) if len(near) else float(m)


def from_drifts(drifts: np.ndarray, starts: np.ndarray, seed: int = 0) -> ClipEstimate:
    """Clip offset from WLOS's per-block regressions."""
    ok = np.isfinite(drifts)
    d = drifts[ok]
    if not len(d):
        return ClipEstimate(float("nan"), 0.0, None, 0)
    offset = _mode(d)
    counts, n_units = _boot_counts(starts[ok], seed)
    boot = np.array([_mode(np.repeat(d, c.astype(int))) for c in counts])
    return ClipEstimate(offset, _confidence(boot, offset, n_units), None, len(d))


def from_curves(curves: np.ndarray, starts: np.ndarray, seed: int = 0) -> ClipEstimate:
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
    counts, n_units = _boot_counts(starts, seed)
    boot = np.array([peak(c) for c in mean_curve(counts)])
    return ClipEstimate(offset, _confidence(boot, offset, n_units), curve, len(rows))


def from_qmi(feats, starts: np.ndarray, seed: int = 0) -> ClipEstimate:
    """Clip offset from QMI over the pooled frames of the usable blocks."""
    from .estimators import qmi_pooled
    if not len(starts):
        return ClipEstimate(float("nan"), 0.0, None, 0)
    counts, n_units = _boot_counts(starts, seed)
    curve, boot_curves = qmi_pooled(feats, starts, boot_counts=counts)
    offset = peak(curve)
    boot = np.array([peak(c) for c in boot_curves])
    return ClipEstimate(offset, _confidence(boot, offset, n_units), curve, len(starts))
