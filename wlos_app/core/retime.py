"""The sound with a drift undone: one constant shift, or a whole drift track.

Drift is positive when the audio is late: the sound that belongs to picture time t sits at audio
time t + d(t), so the corrected sound at t is the recorded sound at t + d(t). The result keeps the
input's length, rate and channels; where it would read outside the recording it is silent.

- constant: a shift by whole samples (no resampling: the samples are the recorded ones);
- a linear segment (two clocks that disagree): the recording resampled by the clock ratio with
  soxr, then placed;
- a piecewise track: each segment as above, joined by a 10 ms raised-cosine crossfade, so a jump
  never clicks.
Export and the GUI's preview both play what this returns.
"""
from __future__ import annotations

import numpy as np

from .drift_track import DriftTrack
from .grid import FRAME_S

CROSSFADE_S = 0.010


def shift(samples: np.ndarray, drift_s: float, rate: int) -> tuple[np.ndarray, int]:
    """Undo a constant drift: the audio moved earlier by drift_s (later if negative), keeping its
    length; returns (audio, samples moved)."""
    n = samples.shape[1]
    k = int(round(drift_s * rate))
    out = np.zeros_like(samples)
    m = max(n - abs(k), 0)  # samples that survive the shift
    if k >= 0:
        out[:, :m] = samples[:, n - m:]
    else:
        out[:, n - m:] = samples[:, :m]
    return out, k


def _span(samples: np.ndarray, a: int, b: int) -> np.ndarray:
    """samples[:, a:b], zeros where that is outside the recording."""
    out = np.zeros((samples.shape[0], b - a), samples.dtype)
    lo, hi = max(a, 0), min(b, samples.shape[1])
    if lo < hi:
        out[:, lo - a:hi - a] = samples[:, lo:hi]
    return out


def _render(samples: np.ndarray, rate: int, a: int, b: int, pos_a: float, ratio: float) -> np.ndarray:
    """Output samples a..b-1 that read the input at pos_a + (j - a) * ratio."""
    if abs(ratio - 1.0) < 1e-9:
        k = int(round(pos_a))
        return _span(samples, k, k + (b - a))
    import soxr
    i0 = int(np.floor(pos_a))
    need = int(np.ceil((b - a) * ratio)) + 64
    x = _span(samples, i0, i0 + need)
    # Played at rate * ratio, the input lasts 1/ratio as long: rate * ratio -> rate keeps that.
    y = soxr.resample(np.ascontiguousarray(x.T), rate * ratio, rate).T
    y = y[:, :b - a]
    return np.pad(y, ((0, 0), (0, max(0, (b - a) - y.shape[1])))).astype(samples.dtype, copy=False)


def corrected(samples: np.ndarray, rate: int, drift) -> np.ndarray:
    """The sound ((channels, n) at `rate`) with `drift` undone: a number (seconds) or a DriftTrack
    (drift in grid frames over seconds)."""
    if not isinstance(drift, DriftTrack):
        return shift(samples, float(drift), rate)[0]
    n = samples.shape[1]
    segs = drift.segments
    bounds = [0] + [int(round(s.start_s * rate)) for s in segs[1:]] + [n]
    x = int(round(CROSSFADE_S / 2 * rate))
    out = np.zeros_like(samples)
    for i, seg in enumerate(segs):
        a, b = max(0, bounds[i] - (x if i else 0)), min(n, bounds[i + 1] + (x if i < len(segs) - 1 else 0))
        if b <= a:
            continue
        t_a = a / rate
        d_a = float(seg.at(np.array([t_a]))[0]) * FRAME_S
        ratio = 1.0 + seg.slope * FRAME_S  # input seconds per output second
        part = _render(samples, rate, a, b, (t_a + d_a) * rate, ratio)
        # The fades touch only the 2x samples around each join: weights over the whole segment
        # (float64, an hour's is 1.4 GB at 48 kHz) would cost more memory than the sound itself.
        if i:  # fade in across the join before it
            j = np.arange(a, min(b, bounds[i] + x))
            part[:, :len(j)] *= _ramp((j - (bounds[i] - x)) / max(1, 2 * x)).astype(samples.dtype)
        if i < len(segs) - 1:  # fade out across the join after it
            j = np.arange(max(a, bounds[i + 1] - x), b)
            part[:, len(part[0]) - len(j):] *= (1.0 - _ramp((j - (bounds[i + 1] - x)) / max(1, 2 * x))).astype(
                samples.dtype)
        out[:, a:b] += part
        del part
    return out


def _ramp(u: np.ndarray) -> np.ndarray:
    """0 -> 1 raised cosine over u in [0, 1]."""
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def largest_s(drift, duration_s: float) -> float:
    """The largest |drift| (s) over the recording."""
    if not isinstance(drift, DriftTrack):
        return abs(float(drift))
    t = np.linspace(0.0, max(duration_s, 1e-3), 64)
    return float(np.abs(drift.at(t)).max() * FRAME_S)
