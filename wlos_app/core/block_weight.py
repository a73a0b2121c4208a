"""How much to believe one block's drift: the weight the drift plot draws each point with."""
from __future__ import annotations

import numpy as np

from .grid import SHIFTS
from .sync import standardise

# The margin (in standard deviations of the block's curve) from which a block counts in full. On the
# 20 GRID sample clips and the 7 unseen_dev clips (1660 blocks, default estimator), the share of
# blocks within a frame of the fitted track rose with the margin: 33 % below 0.25, 78 % from 0.5 to
# 1, 90 % from 1 to 1.5, 92 % above (but on the interview clip alone it did not rise).
FULL_MARGIN = 1.5


def block_weights(curves: np.ndarray) -> np.ndarray:
    """(n_blocks, 19) per-block curves over SHIFTS (higher = better match; NaN = shift missing) ->
    (n_blocks,) weights in [0, 1]; 0 for a block without a curve.

    The margin of the curve's peak over its best rival two or more frames away (the curve
    standardised), full at FULL_MARGIN: the margin the clip's confidence reads on the clip's curve
    (sync.quality), read on one block. One clear peak pins a block's drift; a flat curve, or two
    near-equal peaks, could as well have been read elsewhere. It ignores the track, so no point looks
    strong merely for agreeing with it; and it says how clearly a block reads, not whether it reads
    right (speech with a steady rhythm can clearly prefer a drift a syllable away), which is why the
    plot's line, not its points, is the answer."""
    z = standardise(curves, "nan")
    z = np.where(np.isfinite(z), z, -np.inf)
    best = np.argmax(z, axis=1)
    top = z[np.arange(len(z)), best]
    far = np.abs(SHIFTS[None, :] - SHIFTS[best][:, None]) >= 2
    rival = np.where(far, z, -np.inf).max(axis=1)
    # No curve, or no rival left in the search (a clip's edge): nothing sets the reading apart.
    with np.errstate(invalid="ignore"):  # -inf - -inf, a block without a curve
        margin = top - rival
    margin = np.where(np.isfinite(margin), margin, 0.0)
    return np.clip(margin / FULL_MARGIN, 0.0, 1.0)
