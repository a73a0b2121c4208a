"""The networks' clip-level stages in ONNX Runtime (core.models.runtime) give torch's answers."""
import numpy as np
import pytest
import torch

from wlos_app.core import estimators, models
from wlos_app.core.models import runtime, sequence

from test_models import _fake_features

pytest.importorskip("onnxruntime")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WLOS_CACHE", str(tmp_path))
    monkeypatch.delenv("WLOS_ONNX", raising=False)
    return tmp_path / "wlos-sync" / "onnx"


def _trained_looking(kind: str, seed: int):
    """A network with batch-norm statistics that are not the identity (the exporter folds them)."""
    torch.manual_seed(seed)
    net = models.NETWORKS[kind]().eval()
    for bn in [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d | torch.nn.BatchNorm2d)]:
        with torch.no_grad():
            bn.running_mean.normal_(0, 0.5), bn.running_var.uniform_(0.5, 2.0), bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.3)
    return net


@pytest.mark.parametrize("kind", ["c3", "wlos"])
def test_onnx_stages_equal_torch_across_chunks(kind, cache, tmp_path, monkeypatch):
    monkeypatch.setattr(sequence, "CHUNK", 37)  # several chunks, of other lengths than the export's
    net = _trained_looking(kind, 3)
    weights = tmp_path / f"{kind}.pt"
    models.save(net, weights, half=False)
    feats = _fake_features(n_frames=120)
    starts = np.array([0, 1, 5, 27, 28, 60, 99, 110])
    with torch.inference_mode():
        want_v = sequence.block_features(net.visual, feats, starts).numpy()
        want_a = sequence.window_features(net.audio, feats, np.arange(feats.n_windows)).numpy()
        assert runtime.accelerate(net, weights)
        assert net.visual in sequence.FAST and net.audio in sequence.FAST
        got_v = sequence.block_features(net.visual, feats, starts).numpy()
        got_a = sequence.window_features(net.audio, feats, np.arange(feats.n_windows)).numpy()
    assert not np.array_equal(got_v, want_v)  # ONNX Runtime really ran (it rounds differently)
    np.testing.assert_allclose(got_v, want_v, atol=2e-5)
    np.testing.assert_allclose(got_a, want_a, atol=2e-5)
    assert sorted(p.name.split("-")[1] for p in cache.glob("*.onnx")) == ["audio.onnx", "visual.onnx"]


def test_training_mode_and_gradients_stay_in_torch(cache, tmp_path):
    net = _trained_looking("c3", 4)
    weights = tmp_path / "c3.pt"
    models.save(net, weights, half=False)
    assert runtime.accelerate(net, weights)
    flows = torch.rand(1, 20, 32, 32)
    net.train()
    out = sequence._sequence(net.visual, sequence.visual_sequence, flows)
    assert out.requires_grad  # torch's graph, so the trainer can learn through it
    net.eval()
    with torch.no_grad():
        assert not sequence._sequence(net.visual, sequence.visual_sequence, flows).requires_grad


def test_the_cache_is_read_and_anything_missing_falls_back_to_torch(cache, tmp_path, monkeypatch):
    net = _trained_looking("c3", 5)
    weights = tmp_path / "c3.pt"
    models.save(net, weights, half=False)
    assert runtime.accelerate(net, weights)
    # A second process opens the cached export: no exporter needed.
    again = _trained_looking("c3", 5)
    monkeypatch.setattr(runtime, "_export", lambda *a: (_ for _ in ()).throw(RuntimeError("no exporter")))
    assert runtime.accelerate(again, weights)
    # Other weights would need an export, which fails here: torch, with the same answers.
    other = _trained_looking("c3", 6)
    models.save(other, tmp_path / "other.pt", half=False)
    assert not runtime.accelerate(other, tmp_path / "other.pt")
    assert other.visual not in sequence.FAST
    feats = _fake_features()
    assert np.isfinite(estimators.c3_curves(other, feats, np.array([10, 20]))).all()
    monkeypatch.setenv("WLOS_ONNX", "0")
    assert not runtime.accelerate(_trained_looking("c3", 5), weights)
