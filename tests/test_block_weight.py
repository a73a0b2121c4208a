"""block_weights: how clearly each block's own curve picks its drift."""
from __future__ import annotations

import numpy as np
import pytest

from wlos_app.core.block_weight import block_weights
from wlos_app.core.grid import SHIFTS


def curve(peaks: dict[int, float]) -> np.ndarray:
    """A curve over SHIFTS: 0 everywhere but the given {shift: height}."""
    c = np.zeros(len(SHIFTS))
    for d, h in peaks.items():
        c[d + 9] = h
    return c


def test_one_clear_peak_counts_in_full_and_a_rival_takes_it_away():
    rows = np.array([curve({3: 1.0}),                 # one peak: the block pins its drift
                     curve({3: 1.0, 4: 0.9}),          # its neighbour is the same reading, not a rival
                     curve({3: 1.0, -4: 0.7}),         # a lower rival
                     curve({3: 1.0, -4: 0.9}),         # a rival nearly as high
                     curve({3: 1.0, -4: 1.0}),         # two equal readings: either could be the drift
                     np.ones(len(SHIFTS))])            # flat: no reading at all
    w = block_weights(rows)
    assert w[0] == 1.0 and w[1] == 1.0
    assert 1.0 > w[2] > w[3] > 0.0
    assert w[4] == 0.0 and w[5] == 0.0


def test_scale_free_missing_shifts_ignored_and_no_curve_is_zero():
    rows = np.array([curve({0: 1.0, 5: 0.8}), curve({0: 1.0, 5: 0.8}) * 40 - 7,  # any method's units
                     np.full(len(SHIFTS), np.nan)])
    clipped = curve({0: 1.0, 5: 0.8})
    clipped[:3] = np.nan  # near the clip's start, the most negative shifts have no sound
    w = block_weights(np.vstack([rows, clipped]))
    assert w[0] == pytest.approx(w[1]) and 0.0 < w[0] < 1.0
    assert w[2] == 0.0
    assert 0.0 < w[3] < 1.0
    assert ((w >= 0) & (w <= 1)).all() and block_weights(np.zeros((0, len(SHIFTS)))).shape == (0,)
