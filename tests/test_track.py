"""The drift track: model choice and fit on evidence with a known d(t), and the sound corrected by it."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlos_app.core import drift_track, retime


def evidence(truth, seconds: float = 60.0, noise: float = 1.0, peak: float = 3.0, seed: int = 0,
             shifts=np.arange(-20, 21)):
    """Unit rows as the fused estimator gives them: a peak of `peak` at the true drift (1 frame
    wide), unit noise elsewhere, one unit per 0.4 s."""
    rng = np.random.default_rng(seed)
    tau = np.arange(0.2, seconds, 0.4)
    d = truth(tau)
    U = rng.normal(0.0, noise, (len(tau), len(shifts))) + peak * np.exp(-0.5 * (shifts[None] - d[:, None]) ** 2)
    return U, tau, shifts


def within(tr: drift_track.DriftTrack, truth, tau, exclude=None) -> float:
    keep = np.ones(len(tau), bool) if exclude is None else np.abs(tau - exclude) > 1.5
    return float(np.mean(np.abs(tr.at(tau) - truth(tau))[keep] <= 1.0))


@pytest.mark.parametrize("seed", range(5))
def test_constant_evidence_reports_constant(seed):
    for value in (0.0, 7.0, -13.0):
        U, tau, shifts = evidence(lambda t: np.full_like(t, value), seed=seed)
        tr = drift_track.fit(U, tau, shifts)
        assert tr.model == "constant", tr
        assert abs(tr.segments[0].drift_start - value) <= 0.5


@pytest.mark.parametrize("seed", range(3))
def test_linear_drift_is_linear_and_followed(seed):
    def truth(t):
        return 8.0 * t / 60.0  # 0 -> +320 ms over a minute
    U, tau, shifts = evidence(truth, seed=seed)
    tr = drift_track.fit(U, tau, shifts)
    assert tr.model == "linear", tr
    assert within(tr, truth, tau) >= 0.95


@pytest.mark.parametrize("seed", range(3))
def test_one_jump_is_piecewise_at_the_right_time(seed):
    def truth(t):
        return np.where(t >= 30.0, 8.0, 0.0)
    U, tau, shifts = evidence(truth, seed=seed)
    tr = drift_track.fit(U, tau, shifts)
    assert tr.model == "piecewise" and tr.jumps == 1, tr
    assert abs(tr.segments[1].start_s - 30.0) <= 1.0
    assert within(tr, truth, tau, exclude=30.0) >= 0.95


def test_short_evidence_never_drifts():
    """Over 3 s nothing but a constant is believed: a slope needs 6 s, a jump 2 s each side."""
    U, tau, shifts = evidence(lambda t: 3.0 * t, seconds=3.0)
    assert drift_track.fit(U, tau, shifts).model == "constant"


def _line_score(U: np.ndarray, x: np.ndarray, a: int, change: float) -> float:
    """A line's score read the plain way: each unit's row interpolated at a + change * x."""
    total = 0.0
    for row, xw in zip(U, x):
        c = a + change * xw
        if c < 0 or c > len(row) - 1:
            return -np.inf
        lo = int(np.floor(c))
        total += row[lo] if lo == len(row) - 1 else row[lo] * (lo + 1 - c) + row[lo + 1] * (c - lo)
    return total


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 25), st.integers(1, 12), st.integers(0, 2**31 - 1), st.booleans())
def test_linear_fit_is_the_best_line(n_units, n_cols, seed, whole):
    """fit_linear's fast search finds the line a plain search over every start and slope finds."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n_units, n_cols))
    U = np.round(U) if whole else U  # ties too
    tau = np.sort(rng.uniform(0, 30, n_units))
    shifts = np.arange(n_cols) - n_cols // 2
    score, d0, d1 = drift_track.fit_linear(U, tau, shifts)
    if tau[-1] == tau[0]:
        return
    x = (tau - tau[0]) / (tau[-1] - tau[0])
    width = n_cols - 1
    changes = np.arange(-width, width + 1e-9, drift_track.SLOPE_STEP_FRAMES)
    plain = max(_line_score(U, x, a, ch) for ch in changes for a in range(n_cols))
    assert score == pytest.approx(plain, abs=1e-9)
    assert _line_score(U, x, int(d0 - shifts[0]), d1 - d0) == pytest.approx(score, abs=1e-9)


def test_track_samples_every_half_second_and_at_jumps():
    Segment = drift_track.Segment
    tr = drift_track.DriftTrack("piecewise", [Segment(0.2, 30.0, 0.0, 0.0), Segment(30.0, 59.8, 8.0, 8.0)], 0.0)
    pts = tr.samples(0.5)
    ts = np.array([p[0] for p in pts])
    assert ts[0] == pytest.approx(0.2) and ts[-1] == pytest.approx(59.8)
    assert np.diff(ts).max() <= 0.5 + 1e-9
    assert dict(pts)[30.0] == 8.0


# --- the sound corrected by a track ------------------------------------------------------------

RATE = 8000


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, (1, int(seconds * RATE))).astype(np.float32)


def lag_at(ref: np.ndarray, out: np.ndarray, t: float, win: float = 0.25, reach: float = 0.5) -> float:
    """How late `out` runs behind `ref` around t (s)."""
    import mediagen
    return float(mediagen.lag_track(ref[0], out[0], RATE, [t], win, reach)[0])


def test_constant_shift_is_whole_samples():
    x = noise(2.0)
    y = retime.corrected(x, RATE, 0.125)
    np.testing.assert_array_equal(y[:, :-1000], x[:, 1000:])
    assert not y[:, -1000:].any()


@settings(max_examples=12, deadline=None)
@given(d0=st.floats(-0.4, 0.4), change=st.floats(-0.32, 0.32))
def test_linear_track_is_undone_everywhere(d0, change):
    """Audio whose drift grows linearly (a clock mismatch), corrected by that track: the result is
    in sync with the original at every point, within 1 ms."""
    import mediagen
    src = noise(12.0)

    def drift_s(t):
        return d0 + change * t / 12.0
    late = mediagen.drifted(src[0], RATE, drift_s)[None]
    tr = drift_track.DriftTrack("linear", [drift_track.Segment(0.0, 12.0, d0 / 0.04, (d0 + change) / 0.04)], 0.0)
    fixed = retime.corrected(late, RATE, tr)
    for t in (1.0, 4.0, 7.0, 10.0):
        if 0 <= t + drift_s(t) <= 11.5:
            assert abs(lag_at(src, fixed, t)) <= 0.001, (t, lag_at(src, fixed, t))


def test_piecewise_track_jumps_without_a_click():
    """A jump from 0 to +320 ms at 6 s: each side in sync after correction, and the join is a
    crossfade, never a step: no sample-to-sample change there bigger than the signal's own."""
    import mediagen
    t = np.arange(int(12 * RATE)) / RATE
    src = (0.5 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32)  # a smooth tone shows any click
    src_n = noise(12.0, seed=1)

    def drift_s(x):
        return np.where(x >= 6.0, 0.32, 0.0)
    Segment = drift_track.Segment
    tr = drift_track.DriftTrack("piecewise", [Segment(0.0, 6.0, 0.0, 0.0), Segment(6.0, 12.0, 8.0, 8.0)], 0.0)
    fixed_n = retime.corrected(mediagen.drifted(src_n[0], RATE, drift_s)[None], RATE, tr)
    for at in (2.0, 5.0, 7.0, 10.0):
        assert abs(lag_at(src_n, fixed_n, at)) <= 0.001
    fixed = retime.corrected(mediagen.drifted(src[0], RATE, drift_s)[None], RATE, tr)
    step = np.abs(np.diff(fixed[0, int(5.9 * RATE):int(6.1 * RATE)]))
    assert step.max() <= np.abs(np.diff(src[0])).max() * 1.05
