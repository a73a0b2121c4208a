"""Confidence that means something: the probability that a clip's offset is within one frame.

Each estimator's clip evidence is summarised by a few numbers (`methods.Estimate.quality`):
- agreement: the share of bootstrap redraws of the clip's blocks whose peak lands within one frame;
- margin: how far the curve's peak stands above the best candidate two or more frames away
  (in standard deviations of the curve over the shifts);
- units: independent 10-frame stretches of usable speech (log);
- edge: 1 when the peak sits at the end of the search range, where the truth may lie beyond it
  (such answers are also capped at the rate of right ones among them in the fit: Calibration.edge_rate);
- short: how much of the paper's +-9-frame search a short clip lacks (`shortness`: 0 from 1.16 s,
  0.78 at 0.6 s): the drift of a 0.6 s clip may well lie beyond its +-2 frames;
- parts_agree (c3-track only): the share of the fused estimators (C3, QMI, WLOS) whose own peak is
  within one frame of the fused answer. Estimators that fail in different ways rarely agree on
  the same wrong answer;
- c3_level, wlos_level (c3-track only): C3's mean log-odds of "in sync" and WLOS's mean
  log-likelihood at the answer, and *_contrast, the same less their median over the shifts: the
  standardised curves say which shift is best even when none is right (another clip's sound, a
  drift beyond the search), these say whether the sound matches the lips at all;
- block_agree (c3-track only): the share of blocks whose own peak is within one frame of the answer;
- qmi_level (c3-track only): QMI's pooled curve around the answer's windows, standardised over the
  shifts, at the answer: a second opinion that shares no network with C3;
- activity (c3-track only): whether the mouth moves when the sound speaks, pauses included, at the
  answer (`features.activity_match`): the estimators read only speech blocks, so lips that move
  in the sound's pauses go unseen by them.

A logistic regression maps them to P(|offset - truth| <= 1 frame). It is fitted by
`trainer.calibrate` on clips the networks never trained on (held-out clips with injected shifts,
"other speaker" augmented copies, shifts beyond the range and mismatched audio, which can only be
wrong), and stored per method in `calibration.json` beside the weights (a file that names a method
by an old name, like the shipped one's "fusion", is read under today's: methods.ALIASES). Without
a fit the confidence is the bootstrap agreement.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .methods.base import canonical

FILENAME = "calibration.json"
FORMAT = "wlos-calibration/2"
FEATURES = ("agreement", "margin", "log_units", "edge", "short")  # every method; c3-track adds SEARCH_FEATURES
# At or above this a result is called reliable (JSON "reliable", the summary line, the GUI).
RELIABLE = 0.8


# The long-range search's extra evidence (methods.search): does the sound match at all?
SEARCH_FEATURES = ("parts_agree", "c3_level", "c3_contrast", "wlos_level", "wlos_contrast", "block_agree",
                   "qmi_level", "activity")


def shortness(reach: int) -> float:
    """The `short` feature of a clip searched +-reach grid frames (estimators.reach_of)."""
    from .grid import MAX_SHIFT
    return round(1.0 - min(reach, MAX_SHIFT) / MAX_SHIFT, 3)


def feature_names(quality: dict) -> list[str]:
    return [*FEATURES, *(n for n in SEARCH_FEATURES if n in quality)]


def feature_vector(quality: dict, names=FEATURES) -> np.ndarray:
    def value(name: str) -> float:
        if name == "log_units":
            return math.log(max(1, quality.get("units", 1)))
        return float(quality.get(name, 0.0))
    return np.array([value(n) for n in names], np.float64)


@dataclass
class Calibration:
    method: str
    weights: list[float]
    bias: float
    fitted_on: str = ""  # what the fit saw, in words
    cases: int = 0
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    # The share of right answers among the fit's answers at the edge of the search range (Laplace
    # smoothed), which caps their probability: there the truth may lie beyond the range, and a
    # strong partial match at the edge can outweigh the edge feature in the logistic.
    edge_rate: float | None = None
    # The same for clips too short for the paper's search (quality "short" > 0): their drift may
    # lie beyond the little they can search, and nothing in their evidence says whether it does.
    short_rate: float | None = None

    def probability(self, quality: dict) -> float:
        z = float(np.dot(self.weights, feature_vector(quality, self.features)) + self.bias)
        p = 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))
        if self.edge_rate is not None and quality.get("edge", 0.0) >= 0.5:
            p = min(p, self.edge_rate)
        if self.short_rate is not None and quality.get("short", 0.0) > 0:
            p = min(p, self.short_rate)
        return p


def fit(X: np.ndarray, y: np.ndarray, ridge_per_case: float = 1e-2, iters: int = 50,
        case_weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method, the weights (not the bias) shrunk by a ridge of
    `ridge_per_case` x the number of cases (x the sum of `case_weights`, when the cases are weighted).
    Strong on purpose: the cases are one speaker's clips,
    and an unshrunk fit was confidently wrong on real unseen speakers (docs/accuracy.md: WLOS called 5 of
    unseen_dev's 35 answers reliable and 1 of those was right; shrunk, it calls none reliable)."""
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64)
    c = np.ones(len(X)) if case_weights is None else np.asarray(case_weights, np.float64)
    A = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(A.shape[1])
    reg = np.full(A.shape[1], ridge_per_case * c.sum())
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -40, 40)))
        g = A.T @ (c * (p - y)) + reg * w
        H = (A * (c * p * (1 - p))[:, None]).T @ A + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def save(cals: dict[str, Calibration], folder: str | os.PathLike) -> Path:
    path = Path(folder) / FILENAME
    from .outputs import write_atomic
    write_atomic(path, json.dumps({"format": FORMAT, "methods": {m: asdict(c) for m, c in cals.items()}}, indent=1))
    return path


_cache: dict = {}


def load(model_dir: str | os.PathLike | None = None) -> dict[str, Calibration]:
    """The calibrations beside the weights of `model_dir` (default: the shipped resources/);
    empty when there is none or it cannot be read (then confidence is the bootstrap agreement)."""
    from .paths import resources_dir
    path = Path(model_dir or resources_dir()) / FILENAME
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return {}
    if key not in _cache:
        try:
            blob = json.loads(path.read_text())
            if blob.get("format") != FORMAT:
                raise ValueError("another format")
            _cache[key] = {canonical(m): Calibration(**{**c, "method": canonical(m)})
                           for m, c in blob["methods"].items()}
        except (ValueError, KeyError, TypeError):
            _cache[key] = {}
    return _cache[key]
