"""What every method reads (Clip), what it answers (Estimate), what it is (Method), and its old names."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..drift_track import DriftTrack
from ..estimators import reach_of
from ..features import ClipFeatures
from ..grid import MAX_SHIFT


# Old names still accepted: on the command line, in AnalysisConfig(method=...) and as the keys of a
# calibration.json written before the default was named for what it is (issue 36).
ALIASES = {"fusion": "c3-track"}


def canonical(name: str) -> str:
    """A method's name today (an old name mapped by ALIASES); other names as they are."""
    return ALIASES.get(name, name)


@dataclass
class Estimate:
    """One method's estimate of one clip: every block's drift and rows, the clip's drift, how sure."""

    method: str
    offset_grid: float  # grid frames, positive = audio late; NaN when nothing was usable
    confidence: float  # the bootstrap agreement; calibrated P(within one frame) where `calibrated`
    drift: np.ndarray  # (n_blocks,) each block's drift, grid frames; NaN where skipped
    curves: dict[str, np.ndarray] = field(default_factory=dict)  # method -> (n_blocks, 19) rows over centre + SHIFTS
    clip_curves: dict[str, np.ndarray] = field(default_factory=dict)  # method -> (19,) the clip's curve
    quality: dict = field(default_factory=dict)  # what the calibration reads (sync.quality)
    calibrated: bool = False
    track: DriftTrack | None = None  # drift (grid frames) over grid time (s)
    search_frames: int = MAX_SHIFT  # the drift range searched, +- grid frames (Clip.reach for the paper's)
    centre: np.ndarray | None = None  # (n_blocks,) the window each block's row is centred on; None: 0


@dataclass
class Clip:
    """What a method reads: one clip's features and blocks, the networks, and the search asked for."""

    features: ClipFeatures
    starts: np.ndarray  # (n_blocks,) grid frame of each block's start
    ok: np.ndarray  # (n_blocks,) bool: the usable blocks
    nets: dict  # kind -> loaded network, for the methods that run one
    weights: dict  # the parts c3-track fuses and their weights (c3_track.WEIGHTS)
    max_shift: int  # the long-range search asked for, +- grid frames (c3-track)
    track_models: tuple[str, ...]  # the drift track's models (c3-track)
    seed: int = 0  # of the bootstrap
    windows: dict | None = None  # the sound's network work, kept for the clip's other faces (estimators.Pairs)

    @property
    def used(self) -> np.ndarray:
        return self.starts[self.ok]

    @property
    def reach(self) -> int:
        """The paper's +-9 frames, or less on a clip too short for it (estimators.reach_of)."""
        return reach_of(self.features.n_frames)

    def spread(self, values: np.ndarray, dtype=np.float64, fill=np.nan) -> np.ndarray:
        """Values of the usable blocks over every block: `fill` where skipped."""
        out = np.full((len(self.starts), *np.shape(values)[1:]), fill, dtype)
        out[self.ok] = values
        return out


class Method:
    """A method reads a clip (Clip) into an Estimate: each block's rows over centre + SHIFTS (or
    only its drift, WLOS), the clip's drift and what the calibration reads. The stage it then goes
    through (methods.estimate) calibrates the confidence and gives it a drift track if it has none."""

    name: str
    networks: tuple[str, ...] = ()  # the trained networks it may run
    long_range = False  # whether it searches AnalysisConfig.max_offset_ms (else the paper's +-9 frames)

    def needs(self, weights: dict) -> set[str]:
        """The networks it runs with these weights of c3-track's parts (only c3-track reads them)."""
        return set(self.networks)

    def read(self, clip: Clip) -> Estimate:
        raise NotImplementedError
