"""The analysis grid: every clip is read at FPS frames a second (media.sample_on_grid), in blocks of
BLOCK frames, and its drift is searched over whole grid frames.

Inside the core, drift is in grid frames (FRAME_MS each), positive = audio late, and time in
seconds from the start of the video stream. Block t covers grid frames t..t+9; candidate shift d
pairs it with the audio window t + d (SHIFTS: the paper's -9..+9).
"""
from __future__ import annotations

import numpy as np

FPS = 25  # the networks were defined for 25 fps (FeatureConfig checks it)
FRAME_S = 1 / FPS  # one grid frame: 0.04 s
FRAME_MS = 1000 / FPS
BLOCK = 10  # frames a block covers
MAX_SHIFT = 9
SHIFTS = np.arange(-MAX_SHIFT, MAX_SHIFT + 1)  # the drift axis around a block's window


def seconds(frames):
    """Grid frames (a count or an index) in seconds."""
    return frames / FPS


def frame_at(t_s: float) -> int:
    """The grid frame shown at time t_s."""
    return int(round(t_s * FPS))


def block_times(starts: np.ndarray) -> np.ndarray:
    """Centre of each block (the grid frame it starts at), s."""
    return (np.asarray(starts) + BLOCK / 2) / FPS


def nearest_block(starts: np.ndarray, t_s: float) -> int:
    """The index of the block centred nearest to time t_s."""
    return int(np.argmin(np.abs(np.asarray(starts) + BLOCK / 2 - frame_at(t_s))))


def on_one_axis(rows: np.ndarray, centre: np.ndarray, fill: float = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Per-block rows over centre + SHIFTS (each block its own centre, whole frames) placed on one
    absolute drift axis: (axis, (n_blocks, len(axis)) rows, `fill` where a block was not asked)."""
    centre = np.asarray(centre, int)
    axis = np.arange(int(centre.min()) - MAX_SHIFT, int(centre.max()) + MAX_SHIFT + 1)
    out = np.full((len(rows), len(axis)), fill)
    out[np.arange(len(rows))[:, None], (centre - centre.min())[:, None] + np.arange(len(SHIFTS))[None]] = rows
    return axis, out
