import numpy as np
import pytest
import torch

from wlos_app.core import estimators, features as F, models, sync
from wlos_app.errors import WeightsError


def test_branch_shapes_match_the_paper():
    v, a = models.VisualBranch().eval(), models.AudioBranch().eval()
    assert v(torch.rand(3, 10, 32, 32)).shape == (3, 1024)
    assert a(torch.rand(3, 39, 12)).shape == (3, 1024)
    assert models.WLOS().eval()(torch.rand(2, 10, 32, 32), torch.rand(2, 39, 12)).shape == (2,)
    assert models.C3().eval()(torch.rand(2, 10, 32, 32), torch.rand(2, 39, 12)).shape == (2, 2)
    convs = [m for m in models.VisualBranch().modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 32] and all(c.kernel_size == (3, 3, 3) for c in convs)


def _fake_features(n_frames=60, seed=0):
    rng = np.random.default_rng(seed)
    return F.ClipFeatures(
        flow=rng.standard_normal((n_frames, 32, 32)).astype(np.float32), flow_valid=np.ones(n_frames, bool),
        flow_scale=1.0, mfcc=rng.random((4 * n_frames, 12)).astype(np.float32),
        power_db=np.zeros(n_frames, np.float32), speech_level_db=0.0)


def test_c3_sliding_window_equals_running_the_whole_network_19_times():
    torch.manual_seed(0)
    net = models.C3().eval()
    feats = _fake_features()
    starts = np.array([1, 40])  # both ends: windows cut off below and above
    fast = estimators.c3_curves(net, feats, starts)
    with torch.inference_mode():
        for i, t in enumerate(starts):
            for si, d in enumerate(estimators.SHIFTS):
                j = t + d
                if j < 0 or j >= feats.n_windows:
                    assert np.isnan(fast[i, si])
                    continue
                logits = net(torch.from_numpy(feats.visual_block(t))[None], torch.from_numpy(feats.audio_window(j))[None])
                assert fast[i, si] == pytest.approx(torch.softmax(logits, 1)[0, 1].item(), abs=1e-5)


def test_weights_round_trip_fp16_and_clear_errors(tmp_path):
    torch.manual_seed(1)
    net = models.WLOS().eval()
    models.save(net, tmp_path / "wlos.pt", meta={"note": "test"})
    back = models.load("wlos", tmp_path, "cpu")
    v, a = torch.rand(4, 10, 32, 32), torch.rand(4, 39, 12)
    with torch.inference_mode():
        assert torch.allclose(net(v, a), back(v, a), atol=2e-2)
    assert back.meta == {"note": "test"}
    with pytest.raises(WeightsError, match="no C3 weights"):
        models.load("c3", tmp_path, "cpu")
    models.save(models.C3(), tmp_path / "c3.pt")
    (tmp_path / "c3.pt").rename(tmp_path / "wlos.pt")  # the wrong network under the WLOS name
    with pytest.raises(WeightsError, match="not WLOS weights"):
        models.load("wlos", tmp_path, "cpu")
    (tmp_path / "wlos.pt").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a readable weights file"):
        models.load("wlos", tmp_path, "cpu")


def test_sequence_path_equals_block_by_block(monkeypatch):
    """Analysis runs the branches over whole clip chunks; the result must equal running the
    network on each block, also across chunk boundaries."""
    from wlos_app.core.models import sequence
    monkeypatch.setattr(sequence, "CHUNK", 23)
    torch.manual_seed(2)
    net = models.WLOS().eval()
    feats = _fake_features()
    starts = np.array([1, 2, 3, 17, 18, 30, 44])
    with torch.inference_mode():
        ref = [float(net(torch.from_numpy(feats.visual_block(t)[None]), torch.from_numpy(feats.audio_window(t)[None])))
               for t in starts]
    np.testing.assert_allclose(estimators.wlos_drifts(net, feats, starts), ref, atol=1e-5)


def test_qmi_weighted_equals_unweighted_with_unit_weights():
    rng = np.random.default_rng(0)
    x, ys = rng.standard_normal(30), rng.standard_normal((19, 30))
    kx, ky = estimators._gauss(x), estimators._gauss(ys)
    plain = estimators.qmi_from_kernels(kx, ky)
    weighted = estimators.qmi_from_kernels(kx, ky, np.ones((2, 30)))
    assert np.allclose(weighted, plain[None])
    # dependence scores higher than independence
    dep = estimators.qmi_from_kernels(kx, estimators._gauss(np.stack([x, rng.standard_normal(30)])))
    assert dep[0] > dep[1]


def test_peak_interpolates_between_frames():
    s = estimators.SHIFTS.astype(float)
    assert sync.peak(-(s - 2.3) ** 2) == pytest.approx(2.3, abs=1e-6)
    assert sync.peak(-(s + 9) ** 2) == -9.0
    assert np.isnan(sync.peak(np.full(19, np.nan)))


def test_wlos_clip_offset_ignores_outlier_blocks_and_confidence_tracks_agreement():
    rng = np.random.default_rng(0)
    starts = np.arange(1, 101)
    drifts = 3.0 + 0.3 * rng.standard_normal(100)
    drifts[::5] = rng.uniform(-9, 9, 20)  # a fifth of the blocks are wild
    est = sync.from_drifts(drifts, starts)
    assert est.offset == pytest.approx(3.0, abs=0.2) and est.confidence > 0.9
    noise = sync.from_drifts(rng.uniform(-9, 9, 100), starts)
    assert noise.confidence < 0.5
    few = sync.from_drifts(drifts[:12], starts[:12])  # two 10-frame units of evidence
    assert few.confidence <= 2 / sync.FULL_EVIDENCE_UNITS + 1e-9
