"""The weights in resources/: present, small, loaded by default, and accurate on held-out clips.

The GRID sample clips are all in the validation split of grid_s1_split.tsv, which the shipped
models were not trained on.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from wlos_app import AnalysisConfig, analyze
from wlos_app.core import models
from wlos_app.core.analysis import resolve_method
from wlos_app.core.paths import resources_dir


@pytest.mark.parametrize("kind", ["wlos", "c3"])
def test_shipped_weights_are_small_fp16_and_documented(kind):
    path = models.weights_path(kind)
    assert path.exists(), f"{path} missing: the engine should ship trained weights"
    assert path.stat().st_size < 30 * 2 ** 20
    blob = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values() if v.is_floating_point())
    net = models.load(kind, device="cpu")
    meta = net.meta
    # GRID s1's 800 training clips and the settled clips of 16 people (docs/data.md); the 200
    # s1 validation clips held out and measured
    assert meta["config"]["protocol"] == "clip" and meta["train_clips"] == 800 + 21
    assert meta["config"]["per_speaker"] > 0  # no one voice dominates (trainer.folds)
    assert np.isfinite(meta["val"]["mae"]) and meta["val"]["pairs"] == 226572
    card = (resources_dir() / "MODEL_CARD.md").read_text()
    assert f"{kind}.pt" in card


def test_engine_uses_c3_track_by_default():
    assert resolve_method(AnalysisConfig()) == "c3-track"


@pytest.mark.parametrize("name,kw,expect_ms", [
    ("sync.mp4", {}, 0.0),
    ("late120_30fps.mp4", dict(fps=30, audio_delay_s=0.12), 120.0),
    ("early160.mp4", dict(audio_delay_s=-0.16), -160.0),
])
def test_shipped_networks_find_injected_delays(made, name, kw, expect_ms):
    res = analyze(str(made(name, **kw)), AnalysisConfig(curves=("c3",)))
    assert res.method == "c3-track"
    assert abs(res.offset_ms - expect_ms) < 40.0, res.summary()
    assert res.reliable, res.summary()
    for method in ("c3", "wlos"):
        other = analyze(str(made(name, **kw)), AnalysisConfig(method=method))
        assert abs(other.offset_ms - expect_ms) < 40.0, other.summary()


def test_shipped_default_on_held_out_sample_clips(sample_clips):
    """Each 3 s sample clip is in sync; most should read within a frame."""
    offsets = [analyze(str(c)).offset_grid for c in sample_clips]
    within = sum(abs(o) <= 1.0 for o in offsets)
    assert within >= 0.9 * len(offsets), offsets
