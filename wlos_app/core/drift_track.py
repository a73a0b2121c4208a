"""Drift over time (a drift track; faces.Track is a face followed): the simplest d(t) that explains
a clip's per-block evidence.

Evidence comes in 10-frame units (the blocks starting in the same 10 grid frames, as in the
bootstrap of sync.py): for unit u at time tau_u, a row of scores over candidate drifts D (whole grid
frames, consecutive, higher = more likely; the long-range search's standardised rows). A track's
score is the sum over units of the unit's row at the track's drift, read between whole frames by
linear interpolation.

Models, from the simplest:
- constant: one drift;
- linear: a + b t (the audio and video clocks disagree);
- piecewise: segments joined by jumps (an edit, a dropped buffer), each constant or linear.
The chosen model has the highest score less its penalties: JUMP_PENALTY per jump, SLOPE_PENALTY per
sloped segment. Both are in units of the evidence's own scale (a unit of speech that clearly
prefers one drift scores about 2-4 there, see sync.standardise), and were set on GRID s1 clips
joined end to end (docs/drift.md): with them no in-sync or constant clip of the tests' media reports
anything but `constant`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import BLOCK, FPS, block_times
from .sync import peaks

TRACK_MODELS = ("constant", "linear", "piecewise")  # every model, from the simplest
# Units of evidence that a jump, or a slope, must gain before the model that has it is preferred.
JUMP_PENALTY = 20.0
SLOPE_PENALTY = 6.0
MIN_SEGMENT_S = 2.0  # a segment shorter than this is not believed (a jump needs evidence on both sides)
MIN_SLOPE_S = 6.0  # nor a slope over less than this: over a few seconds a slope is within the noise
SLOPE_STEP_FRAMES = 0.25  # resolution of the slope search: drift change over a segment
# Elements in each of fit_linear's work arrays (float64): many slopes at once on a short clip, one
# at a time on an hour's coarse pass (0.94 M elements a slope; two at a time, its fit peaked 20 MB
# higher in one run each, and was no faster on the same rows)
LINEAR_BATCH = 1_000_000


@dataclass
class Segment:
    start_s: float
    end_s: float
    drift_start: float  # grid frames (positive = audio late), at start_s
    drift_end: float  # at end_s

    def at(self, t: np.ndarray) -> np.ndarray:
        span = self.end_s - self.start_s
        if span <= 0 or self.drift_end == self.drift_start:
            return np.full(np.shape(t), self.drift_start, float)
        return self.drift_start + (np.asarray(t, float) - self.start_s) * (self.drift_end - self.drift_start) / span

    @property
    def slope(self) -> float:
        """Grid frames per second."""
        span = self.end_s - self.start_s
        return (self.drift_end - self.drift_start) / span if span > 0 else 0.0


@dataclass
class DriftTrack:
    model: str  # "constant" | "linear" | "piecewise"
    segments: list[Segment]
    score: float  # evidence along the track, less the model's penalties

    @classmethod
    def constant(cls, start_s: float, end_s: float, drift: float, score: float = 0.0) -> DriftTrack:
        """One drift from start_s to end_s."""
        return cls("constant", [Segment(float(start_s), float(end_s), drift, drift)], score)

    def at(self, t) -> np.ndarray:
        """The drift (grid frames) at times t (s): at a boundary the later segment's; before the
        first segment and after the last, those segments carried on (a slope keeps drifting)."""
        t = np.atleast_1d(np.asarray(t, float))
        out = self.segments[0].at(t)
        for s in self.segments[1:]:
            m = t >= s.start_s
            out[m] = s.at(t[m])
        return out

    def samples(self, step_s: float = 0.5) -> list[tuple[float, float]]:
        """(t, drift) from the first to the last unit, every `step_s`, with each segment's ends:
        a jump appears as two points at the same time, the drift before it and after it."""
        grid = np.arange(self.segments[0].start_s, self.segments[-1].end_s, step_s)
        out = []
        for s in self.segments:
            inside = grid[(grid > s.start_s + 1e-6) & (grid < s.end_s - 1e-6)]
            ts = np.concatenate([[s.start_s], inside, [s.end_s]])
            out += [(round(float(t), 3), float(d)) for t, d in zip(ts, s.at(ts))]
        return out

    @property
    def jumps(self) -> int:
        return len(self.segments) - 1


def units(starts: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-block rows (n_blocks, n_shifts) to unit rows: the mean over the blocks of each 10-frame
    unit, and each unit's time (s, the mean centre of its blocks)."""
    starts = np.asarray(starts)
    key = starts // BLOCK
    uniq, inv = np.unique(key, return_inverse=True)
    n = np.bincount(inv).astype(float)
    out = np.zeros((len(uniq), rows.shape[1]))
    np.add.at(out, inv, rows)
    tau = np.bincount(inv, weights=block_times(starts)) / n
    return out / n[:, None], tau


def fit_constant(U: np.ndarray, shifts: np.ndarray) -> tuple[float, float]:
    """(score, drift) of the best single drift for unit rows U."""
    total = U.sum(0)
    return float(total.max()), float(peaks(total[None], shifts)[0])


def fit_linear(U: np.ndarray, tau: np.ndarray, shifts: np.ndarray) -> tuple[float, float, float]:
    """(score, drift at tau[0], drift at tau[-1]) of the best straight line through unit rows U,
    the slope searched so the drift changes by up to the span of `shifts` over the units."""
    span_s = float(tau[-1] - tau[0]) if len(tau) > 1 else 0.0
    if span_s <= 0:
        s, d = fit_constant(U, shifts)
        return s, d, d
    n_units, n_cols = U.shape
    width = float(shifts[-1] - shifts[0])
    changes = np.arange(-width, width + 1e-9, SLOPE_STEP_FRAMES)  # drift change over the units
    x = (tau - tau[0]) / span_s  # 0..1
    cols = np.arange(n_cols)
    after = np.concatenate([U[:, 1:], np.zeros((n_units, 1))], 1)  # the next column (none past the end)
    best = (-np.inf, 0.0, 0.0)
    per_batch = max(1, LINEAR_BATCH // max(1, n_units * n_cols))  # bounds the work arrays
    for c0 in range(0, len(changes), per_batch):
        ch = changes[c0:c0 + per_batch]
        # The line starting at column a reads unit w at column a + o_w, o_w = ch * x_w. The
        # fraction of o_w is the same for every a, so each unit's row is interpolated once per
        # change (Z), and a line's score is a sum of Z read at a + floor(o_w).
        o = ch[:, None] * x[None, :]  # (n_ch, n_units)
        fl = np.floor(o)
        f = (o - fl)[:, :, None]
        Z = U[None] * (1 - f) + after[None] * f
        idx = np.clip(cols[None, None, :] + fl.astype(int)[:, :, None], 0, n_cols - 1)
        sc = np.take_along_axis(Z, idx, 2).sum(1)  # (n_ch, n_a)
        # only lines that stay within the columns at every unit
        inside = (cols[None, :] >= -o.min(1)[:, None]) & (cols[None, :] <= n_cols - 1 - o.max(1)[:, None])
        sc = np.where(inside, sc, -np.inf)
        k, a = np.unravel_index(int(np.argmax(sc)), sc.shape)
        if sc[k, a] > best[0]:
            d0 = float(shifts[0] + a)
            best = (float(sc[k, a]), d0, d0 + float(ch[k]))
    return best


def _best_segment(U: np.ndarray, tau: np.ndarray, shifts: np.ndarray) -> tuple[float, Segment]:
    """Constant or linear, whichever scores more after the slope's penalty."""
    sc, d = fit_constant(U, shifts)
    seg = Segment(float(tau[0]), float(tau[-1]), d, d)
    if tau[-1] - tau[0] >= MIN_SLOPE_S:
        sl, d0, d1 = fit_linear(U, tau, shifts)
        if sl - SLOPE_PENALTY > sc and abs(d1 - d0) >= 0.5:
            return sl - SLOPE_PENALTY, Segment(float(tau[0]), float(tau[-1]), d0, d1)
    return sc, seg


def _partition(U: np.ndarray, tau: np.ndarray, min_units: int) -> list[tuple[int, int]]:
    """Optimal partition of the units into constant segments of at least `min_units` units, each
    new segment costing JUMP_PENALTY (dynamic programming over change points)."""
    n = len(U)
    C = np.vstack([np.zeros(U.shape[1]), np.cumsum(U, 0)])  # C[u] = sum of rows < u
    F = np.full(n + 1, -np.inf)
    F[0] = 0.0
    back = np.zeros(n + 1, int)
    for u in range(min_units, n + 1):
        v = np.arange(0, u - min_units + 1)
        v = v[(v == 0) | (v >= min_units)]
        v = v[np.isfinite(F[v])]
        if not len(v):
            continue
        seg = (C[u][None, :] - C[v]).max(1) - np.where(v > 0, JUMP_PENALTY, 0.0)
        tot = F[v] + seg
        k = int(np.argmax(tot))
        F[u], back[u] = tot[k], v[k]
    if not np.isfinite(F[n]):
        return [(0, n)]
    cuts, u = [], n
    while u > 0:
        cuts.append((back[u], u))
        u = back[u]
    return cuts[::-1]


def fit(U: np.ndarray, tau: np.ndarray, shifts: np.ndarray, models=TRACK_MODELS) -> DriftTrack:
    """The best track of the allowed models for unit rows U (n_units, len(shifts)) at times tau."""
    shifts = np.asarray(shifts)
    sc, d = fit_constant(U, shifts)
    best = DriftTrack.constant(tau[0], tau[-1], d, sc)
    if "linear" in models and tau[-1] - tau[0] >= MIN_SLOPE_S:
        sl, d0, d1 = fit_linear(U, tau, shifts)
        if sl - SLOPE_PENALTY > best.score and abs(d1 - d0) >= 0.5:
            best = DriftTrack("linear", [Segment(float(tau[0]), float(tau[-1]), d0, d1)], sl - SLOPE_PENALTY)
    if "piecewise" in models and len(tau) >= 2:
        step = float(np.median(np.diff(tau))) if len(tau) > 1 else BLOCK / FPS
        min_units = max(2, int(round(MIN_SEGMENT_S / max(step, 1e-6))))
        parts = _partition(U, tau, min_units)
        if len(parts) > 1:
            total, segs = -JUMP_PENALTY * (len(parts) - 1), []
            for a, b in parts:
                s, seg = _best_segment(U[a:b], tau[a:b], shifts)
                total += s
                segs.append(seg)
            # Each segment reaches halfway to the next unit, so the track has no holes.
            for s0, s1 in zip(segs, segs[1:]):
                mid = 0.5 * (s0.end_s + s1.start_s)
                d_end, d_start = float(s0.at(np.array([mid]))[0]), float(s1.at(np.array([mid]))[0])
                s0.end_s, s0.drift_end = mid, d_end
                s1.start_s, s1.drift_start = mid, d_start
            if total > best.score:
                best = DriftTrack("piecewise", segs, total)
    return best
