from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wlos_app.core import estimators, features as F, grid, models, sync
from wlos_app.core.methods.wlos import from_drifts
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
            for si, d in enumerate(grid.SHIFTS):
                j = t + d
                if j < 0 or j >= feats.n_windows:
                    assert np.isnan(fast[i, si])
                    continue
                logits = net(torch.from_numpy(feats.visual_block(t))[None], torch.from_numpy(feats.audio_window(j))[None])
                assert fast[i, si] == pytest.approx(torch.softmax(logits, 1)[0, 1].item(), abs=1e-5)


def test_pairs_in_chunks_equal_all_at_once(monkeypatch):
    """Long clips run their pairs in chunks of blocks (memory); the answers must not change."""
    torch.manual_seed(0)
    feats = _fake_features()
    starts = np.arange(1, 41)
    c3, wlos = models.C3().eval(), models.WLOS().eval()
    wlos.drift_from = "classifier"
    whole = estimators.c3_curves(c3, feats, starts), estimators.wlos_posteriors(wlos, feats, starts)
    monkeypatch.setattr(estimators, "PAIR_CHUNK", 7)
    parts = estimators.c3_curves(c3, feats, starts), estimators.wlos_posteriors(wlos, feats, starts)
    for a, b in zip(whole, parts):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b), atol=1e-6)
    # WLOS asked with window t + 0 is the paper's WLOS on block t
    d = estimators.wlos_drifts(wlos, feats, starts)
    expected = (np.exp(parts[1][:, grid.MAX_SHIFT]) * grid.SHIFTS).sum(1)
    np.testing.assert_allclose(d, expected, atol=1e-4)


@pytest.mark.parametrize("keep", [0, 10_000])
def test_windows_are_made_as_a_pass_reaches_them(monkeypatch, keep):
    """On a long clip (keep 0) the windows' half of the first layer is made a chunk at a time as
    the pairs reach it, never for the whole clip at once (an hour's would be 180 MB); on a short
    one (keep 10 000) once, by the same chunks, and kept. Either gives what all windows at once
    give, also when the centres go back (a track's jump)."""
    import torch.nn.functional as tF

    from wlos_app.core.models import sequence
    torch.manual_seed(0)
    net = models.C3().eval()
    feats = _fake_features(200)
    starts = np.arange(1, 190)
    with torch.inference_mode():
        lin, nv = net.head[0], net.visual.out_dim
        ha = tF.linear(sequence.window_features(net.audio, feats, np.arange(feats.n_windows)), lin.weight[:, nv:],
                       lin.bias)
        hv = sequence.block_features(net.visual, feats, starts) @ lin.weight[:, :nv].T
    monkeypatch.setattr(estimators, "BLOCK_CHUNK", 16)
    monkeypatch.setattr(estimators, "SHORT_CLIP", keep)
    made = []
    real = sequence.window_features
    monkeypatch.setattr(sequence, "window_features", lambda ab, f, w: made.append(len(w)) or real(ab, f, w))
    pairs = estimators.Pairs(net, feats, starts)
    centre = np.where(np.arange(len(starts)) < 100, 3, -4)  # a jump back half-way
    got = pairs.c3(grid.SHIFTS, centre)
    assert made and max(made) <= 16 and pairs._ha == {}
    assert (pairs._all is None) == (keep == 0)
    if keep:  # kept: another pass makes nothing again
        n = len(made)
        pairs.c3(grid.SHIFTS)
        assert len(made) == n
    for i, t in enumerate(starts):
        for k, d in enumerate(grid.SHIFTS):
            j = t + centre[i] + d
            if not 0 <= j < feats.n_windows:
                assert np.isnan(got[i, k])
                continue
            with torch.inference_mode():
                p = torch.softmax(net.from_hidden((hv[i] + ha[j])[None]), 1)[0, 1].item()
            assert got[i, k] == pytest.approx(p, abs=1e-5)


def test_the_faces_of_one_clip_share_its_windows_half(monkeypatch):
    """Every face of a clip has the same sound: given one `windows` dict, the second face's Pairs
    (and c3_curves) takes the windows' half the first made (made once per network), and reads what
    it reads alone.
    Another sound (another clip's MFCCs) is not given the first's."""
    from wlos_app.core.models import sequence
    torch.manual_seed(0)
    net = models.C3().eval()
    first = _fake_features(80, seed=1)
    second = replace(first, flow=np.random.default_rng(2).standard_normal(first.flow.shape).astype(np.float32))
    starts = np.arange(1, 60)
    alone = estimators.Pairs(net, second, starts).c3()
    made = []
    real = sequence.window_features
    monkeypatch.setattr(sequence, "window_features", lambda ab, f, w: made.append(len(w)) or real(ab, f, w))
    shared: dict = {}
    estimators.Pairs(net, first, starts, windows=shared).c3()
    assert len(made) == 1
    got = estimators.Pairs(net, second, starts, windows=shared).c3()
    assert len(made) == 1
    estimators.c3_curves(net, second, starts, windows=shared)  # --method c3, or C3's extra curves
    assert len(made) == 1
    np.testing.assert_array_equal(np.isnan(got), np.isnan(alone))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(alone), atol=1e-6)
    other = replace(second, mfcc=np.random.default_rng(3).random(first.mfcc.shape).astype(np.float32))
    estimators.Pairs(net, other, starts, windows=shared).c3()
    assert len(made) == 2


def test_blocks_half_in_int8_on_long_clips_reads_as_float32():
    """Long clips keep the blocks' half of the first layer in int8 with a scale per block (an
    hour's in 92 MB instead of 368): the networks' outputs move by a few thousandths, the peaks not."""
    torch.manual_seed(0)
    feats = _fake_features(200)
    starts = np.arange(1, 190)
    for net in (models.C3().eval(), models.WLOS().eval()):
        full, small = estimators.Pairs(net, feats, starts), estimators.Pairs(net, feats, starts, store=torch.int8)
        assert small.hv.dtype == torch.int8 and small.hv.abs().max() == 127
        if isinstance(net, models.C3):
            a, b = full.c3(), small.c3()
            tol = 2e-3
        else:
            a, b = np.exp(full.wlos()), np.exp(small.wlos())
            tol = 5e-3
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        assert 0 < np.nanmax(np.abs(a - b)) < tol  # quantised, not a copy, and close


def test_the_long_clip_path_gives_a_real_clip_the_same_answer(monkeypatch, grid_clip):
    """A real clip analysed as a long one (windows made per pass, the blocks' half in int8) reads
    what it reads as a short one, within a hundredth of a frame."""
    from wlos_app import AnalysisConfig
    from wlos_app.core import analysis
    ex = analysis.extract(str(grid_clip), AnalysisConfig(keep_audio=False))
    short = analysis.conclude(ex)
    monkeypatch.setattr(estimators, "SHORT_CLIP", 0)
    long = analysis.conclude(ex)
    assert abs(long.offset_grid - short.offset_grid) < 0.01
    assert abs(long.confidence - short.confidence) < 0.01
    # the per-block curves asked besides (the window's C3 curves) take the long path too
    monkeypatch.setattr(estimators, "SHORT_CLIP", 10 ** 9)
    c3 = analysis.conclude(ex, AnalysisConfig(curves=("c3",))).curves["c3"]
    monkeypatch.setattr(estimators, "SHORT_CLIP", 0)
    c3_long = analysis.conclude(ex, AnalysisConfig(curves=("c3",))).curves["c3"]
    np.testing.assert_array_equal(np.isnan(c3), np.isnan(c3_long))
    assert 0 < np.nanmax(np.abs(c3 - c3_long)) < 0.05  # probabilities of "in sync"
    rows = np.isfinite(c3).any(1)
    same = np.nanargmax(c3[rows], 1) == np.nanargmax(c3_long[rows], 1)
    assert same.mean() >= 0.95, same.mean()  # 1.0 on six sample clips, the C3 answer within 0.001 frames


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
    bn = net.visual.features[5]  # trained statistics, so the folded batch norm is checked too
    with torch.no_grad():
        bn.running_mean.normal_(0, 0.5), bn.running_var.uniform_(0.5, 2.0), bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_(0, 0.3)
    feats = _fake_features()
    starts = np.array([1, 2, 3, 17, 18, 30, 44])
    with torch.inference_mode():
        ref = [float(net(torch.from_numpy(feats.visual_block(t)[None]), torch.from_numpy(feats.audio_window(t)[None])))
               for t in starts]
    np.testing.assert_allclose(estimators.wlos_drifts(net, feats, starts), ref, atol=1e-5)


@pytest.mark.parametrize("shape, k", [((1, 64, 73, 30, 30), (2, 2)), ((1, 32, 68, 13, 13), (2, 2)),
                                      ((1, 128, 37, 11), (2, 2)), ((1, 64, 18, 5), (1, 2))])
def test_max_pool_equals_max_pool2d_with_and_without_gradients(shape, k):
    """The analysis's strided maxima are max_pool2d's values to the bit (odd sizes included);
    with gradients, max_pool2d itself runs, so training is untouched."""
    import torch.nn.functional as tF
    from wlos_app.core.models import sequence
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
    x[..., ::3, ::2] = x[..., 1::3, ::2].max()  # ties, as in still regions
    want = tF.max_pool2d(x.flatten(0, -3), k)
    want = want.reshape(*shape[:-2], *want.shape[-2:])
    assert torch.equal(sequence.max_pool(x, *k), want)
    xg = x.clone().requires_grad_()
    y = sequence.max_pool(xg, *k)
    assert torch.equal(y.detach(), want)
    y.sum().backward()
    assert torch.equal(xg.grad.sum(), torch.tensor(float(want.numel())))  # each maximum passes one gradient
    assert set(xg.grad.unique().tolist()) <= {0.0, 1.0}


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


def test_qmi_around_a_centre_reads_the_audio_moved_by_it():
    """Blocks re-centred on a drift of s frames (methods.search) read QMI as a clip whose sound was
    moved back by s: the same curve and the same bootstrap curves."""
    rng = np.random.default_rng(5)
    n, s = 400, 7
    feats = _fake_features(n, seed=5)
    feats = replace(feats, power_db=(rng.standard_normal(n) * 10).astype(np.float32))
    late = replace(feats, power_db=np.concatenate([rng.standard_normal(s), feats.power_db[:-s]]).astype(np.float32))
    starts = np.arange(30, n - 60, 3)  # every frame usable at every shift, either way
    counts, _ = sync.boot_counts(starts, seed=1)
    plain = estimators.qmi_pooled(feats, starts, boot_counts=counts)
    moved = estimators.qmi_pooled(late, starts, boot_counts=counts, centre=np.full(len(starts), s))
    np.testing.assert_allclose(moved[0], plain[0], atol=1e-9)
    np.testing.assert_allclose(moved[1], plain[1], atol=1e-9)
    # without the centre the late sound's curve is another one
    assert not np.allclose(estimators.qmi_pooled(late, starts)[0], plain[0], atol=1e-3)


def test_peak_interpolates_between_frames():
    s = grid.SHIFTS.astype(float)
    assert sync.peak(-(s - 2.3) ** 2) == pytest.approx(2.3, abs=1e-6)
    assert sync.peak(-(s + 9) ** 2) == -9.0
    assert np.isnan(sync.peak(np.full(19, np.nan)))


def _peak_one(curve):
    """The per-curve loop that sync.peaks replaced, kept as the reference."""
    if not np.isfinite(curve).any():
        return float("nan")
    c = np.where(np.isfinite(curve), curve, -np.inf)
    i = int(np.argmax(c))
    frac = 0.0
    if 0 < i < len(c) - 1 and np.isfinite(c[i - 1]) and np.isfinite(c[i + 1]):
        den = c[i - 1] - 2 * c[i] + c[i + 1]
        if den < 0:
            frac = float(np.clip(0.5 * (c[i - 1] - c[i + 1]) / den, -0.5, 0.5))
    return float(grid.SHIFTS[i] + frac)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from([np.float32, np.float64]), st.floats(0.0, 0.6))
def test_peaks_of_many_curves_equal_the_one_curve_loop(seed, dtype, holes):
    rng = np.random.default_rng(seed)
    curves = rng.normal(size=(30, 19)).astype(dtype)
    curves[rng.random(curves.shape) < holes] = np.nan
    curves[0] = np.nan  # a row with nothing
    curves[1, :] = 1.0  # ties: the first maximum, flat (no interpolation)
    curves[2, 5] = np.inf  # not finite: ignored
    want = np.array([_peak_one(c) for c in curves])
    np.testing.assert_array_equal(sync.peaks(curves), want)  # to the bit, NaN where nothing


def test_wlos_clip_offset_ignores_outlier_blocks_and_confidence_tracks_agreement():
    rng = np.random.default_rng(0)
    starts = np.arange(1, 101)
    drifts = 3.0 + 0.3 * rng.standard_normal(100)
    drifts[::5] = rng.uniform(-9, 9, 20)  # a fifth of the blocks are wild
    offset, confidence, _ = from_drifts(drifts, starts)
    assert offset == pytest.approx(3.0, abs=0.2) and confidence > 0.9
    assert from_drifts(rng.uniform(-9, 9, 100), starts)[1] < 0.5
    few = from_drifts(drifts[:12], starts[:12])  # two 10-frame units of evidence
    assert few[1] <= 2 / sync.FULL_EVIDENCE_UNITS + 1e-9


def test_calibration_fit_recovers_a_known_rate():
    """Logistic fit on cases whose right-rate is a known function of the agreement."""
    from wlos_app.core import calibration
    rng = np.random.default_rng(0)
    agree = rng.uniform(0, 1, 4000)
    p_true = 1 / (1 + np.exp(-(8 * agree - 4)))
    right = rng.uniform(0, 1, 4000) < p_true
    X = np.stack([agree, *[np.zeros(4000)] * (len(calibration.FEATURES) - 1)], 1)
    w, b = calibration.fit(X, right, ridge_per_case=1e-5)
    cal = calibration.Calibration("x", list(w), b)
    for a in (0.1, 0.5, 0.9):
        assert cal.probability({"agreement": a, "units": 1}) == pytest.approx(1 / (1 + np.exp(-(8 * a - 4))), abs=0.05)
    # the default shrinkage pulls confident answers towards the middle, never past it
    w2, b2 = calibration.fit(X, right)
    shrunk = calibration.Calibration("x", list(w2), b2)
    assert 0.5 < shrunk.probability({"agreement": 0.9, "units": 1}) < cal.probability({"agreement": 0.9, "units": 1})


def test_short_clips_and_the_edge_are_capped_at_their_fitted_rate():
    """A clip too short for the paper's search (quality "short" > 0) gets at most the share of
    right answers among such cases in the fit, however clear its peak; so does the edge."""
    from trainer.calibrate import fit_methods
    from wlos_app.core import calibration
    rng = np.random.default_rng(1)
    rows = []
    for i in range(400):
        short = i % 4 == 0
        agree = rng.uniform(0.5, 1.0)
        # short cases: right only 60 % of the time, whatever their agreement (the drift may lie beyond)
        right = rng.uniform() < (0.6 if short else agree)
        rows.append((f"c{i}", "case", {"agreement": agree, "units": 20, "short": 0.78 if short else 0.0,
                                       "edge": 0.0}, bool(right)))
    cal = fit_methods({"x": rows}, "test", select=None)["x"]
    assert cal.short_rate == pytest.approx(0.6, abs=0.1)
    clear = {"agreement": 1.0, "margin": 5.0, "units": 50}
    assert cal.probability({**clear, "short": 0.78}) <= cal.short_rate < calibration.RELIABLE
    assert cal.probability(clear) > cal.short_rate
    assert calibration.shortness(2) == 0.778 and calibration.shortness(9) == 0.0


def test_parts_weigh_what_their_weights_say_whatever_their_scale():
    from wlos_app.core.methods.search import fuse
    a, b = np.arange(19.0), -np.arange(19.0) * 100
    # b is 100 times larger, but standardised it weighs what its weight says: equal weights cancel
    np.testing.assert_allclose(fuse({"c3": a, "qmi": b}, {"c3": 1.0, "qmi": 1.0}), 0.0, atol=1e-9)
    assert sync.peak(fuse({"c3": a, "qmi": b}, {"c3": 1.0, "qmi": 0.5})) == 9.0
    z = sync.standardise(np.array([1.0, np.nan, 3.0]))
    assert z[1] == z.min() and np.isfinite(z).all()


def test_wlos_rows_read_each_window_as_a_vote_for_d_plus_k():
    """A WLOS that says "window t + k is 2 - k frames off" for every k votes for D = 2."""
    from wlos_app.core.methods.c3_track import wlos_rows
    logp = np.full((1, 19, 19), np.log(1e-3))
    for ik, k in enumerate(range(-9, 10)):
        d = 2 - k
        if abs(d) <= 9:
            logp[0, ik, d + 9] = 0.0
    assert sync.peak(wlos_rows(logp)[0]) == 2.0


def test_bootstrap_draws_in_parts_are_the_same_draws(monkeypatch):
    """A long clip's draw counts are handed out a few draws at a time (an hour's would be 130 MB):
    the same draws, the same clip means to the last bits, and QMI's frame weights exactly."""
    rng = np.random.default_rng(3)
    feats = _fake_features(400)
    starts = np.sort(rng.choice(np.arange(10, 370), 200, replace=False))
    counts, n_units = sync.boot_counts(starts, seed=4)
    draws = sync.Draws(starts, seed=4)
    assert draws.n_units == n_units and np.array_equal(draws.counts(), counts)
    rows = rng.standard_normal((len(starts), 19))
    rows[rng.random(rows.shape) < 0.1] = np.nan
    whole = sync.block_mean(rows, counts)
    monkeypatch.setattr(sync, "WHOLE_COUNTS", 3 * len(starts))  # three draws at a time
    parts = sync.block_mean(rows, draws)
    np.testing.assert_array_equal(whole.curve, parts.curve)
    np.testing.assert_allclose(parts.boot, whole.boot, rtol=1e-12, atol=1e-12)
    a, b = estimators.qmi_pooled(feats, starts, boot_counts=counts), estimators.qmi_pooled(feats, starts, boot_counts=draws)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_another_clips_sound_is_a_sentence_sharing_no_words():
    """GRID's sentences share a grammar and a pace: the calibration's "another clip's sound" for
    an s1 clip is the next sentence that says none of its words at the same place."""
    from trainer.calibrate import partners, shared_words
    assert shared_words("bbaf2n", "bbaf3s") == 4 and shared_words("bbaf2n", "lgiz8p") == 0
    assert shared_words("obama_st3", "obama_edtalk") == 0  # other sources: by the sound alone
    names = ["bbaf2n", "bbaf3s", "bgaa1a", "lrix5p", "pbbz2n", "obama_st3"]
    assert [names[j] for j in partners(0, names)][:3] == ["lrix5p", "obama_st3", "bgaa1a"]
    assert partners(5, names) == [0, 1, 2, 3, 4]  # no GRID name: the next ones, in order
