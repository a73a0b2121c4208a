import os

import numpy as np
import pytest

from wlos_app.core import features as F, media, mouth


@pytest.fixture(scope="module")
def clip(grid_clip):
    imgs = [f.image for _, f in media.sample_on_grid(media.iter_video_frames(str(grid_clip)))]
    tr = mouth.track_face(imgs)
    a = media.read_audio(str(grid_clip))
    y = media.resample(a.mono(), a.rate)
    return tr, y


def test_mfcc_window_is_exactly_39_by_12():
    y = np.random.default_rng(0).standard_normal(6400).astype(np.float32)  # 0.4 s = 10 frames
    m = F.mfcc(y, F.FeatureConfig())
    assert m.shape == (39, 12)
    # frame m covers samples 160m..160m+255, so the last one ends at sample 6335
    y2 = y.copy()
    y2[6335] += 1.0
    d = np.abs(F.mfcc(y2, F.FeatureConfig()) - m).max(1)
    assert d[-1] > 0 and np.all(d[:-1] == 0)


@pytest.mark.parametrize("n_mels", [26, 40])
def test_mfcc_is_librosas(clip, n_mels):
    """The numpy MFCC is what librosa computes with the same settings, on real speech and on a
    long signal whose spectrum is made in chunks."""
    import librosa
    _, y = clip
    cfg = F.FeatureConfig(n_mels=n_mels)
    assert np.abs(F.mel_filters(n_mels) - librosa.filters.mel(sr=F.SR, n_fft=F.N_FFT, n_mels=n_mels)).max() < 1e-6
    long = np.concatenate([y] * 30)  # 90 s: two chunks of MFCC_CHUNK frames
    for sig in (y, long):
        mel = librosa.feature.melspectrogram(y=sig, sr=F.SR, n_fft=F.N_FFT, hop_length=F.HOP, window="hamming",
                                             center=False, n_mels=n_mels)
        ref = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=F.N_MFCC + 1)[1:].T
        got = F.mfcc(sig, cfg)
        assert got.shape == ref.shape and got.dtype == np.float32
        assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()


def test_clip_features_shapes_and_ranges(clip):
    tr, y = clip
    f = F.clip_features(tr.crops, tr.valid, y)
    assert f.n_frames == 75 and not f.flow_valid[0] and f.flow_valid[1:].all()
    assert f.mfcc.shape == (1 + (len(y) - 256) // 160, 12)
    v, a = f.visual_block(1), f.audio_window(1)
    assert v.shape == (10, 32, 32) and a.shape == (39, 12)
    assert v.min() >= 0 and v.max() <= 1 and a.min() >= 0 and a.max() <= 1
    assert abs(np.median(f.visual_block(30)) - 0.5) < 0.05  # zero flow maps to 0.5
    starts = f.block_starts()
    assert starts[0] == 1 and starts[-1] == 65
    assert f.n_windows == (len(f.mfcc) - 39) // 4 + 1


def test_block_status_and_stride(clip):
    tr, y = clip
    f = F.clip_features(tr.crops, tr.valid, y, F.FeatureConfig(stride=5))
    assert list(f.block_starts()[:3]) == [1, 6, 11]
    st = [f.block_status(int(t)) for t in f.block_starts()]
    assert "ok" in st
    silent = F.clip_features(tr.crops, tr.valid, np.zeros_like(y))
    states = {silent.block_status(int(t)) for t in silent.block_starts()}
    assert "silent" in states and states <= {"silent", "no audio"}  # the last block runs past the audio
    noface = tr.valid.copy()
    noface[30] = False
    g = F.clip_features(tr.crops, noface, y)
    # crop 30 is missing, so flows 30 and 31 are: blocks 21..31 lose their face
    assert g.block_status(21) == g.block_status(31) == "no face"
    assert g.block_status(20) != "no face" and g.block_status(32) != "no face"


def test_flow_sees_a_vertical_shift():
    rng = np.random.default_rng(1)
    base = (rng.random((40, 32)) * 255).astype(np.uint8)
    import cv2
    base = cv2.GaussianBlur(base, (5, 5), 1.5)
    crops = np.stack([base[4:36], base[3:35]])  # content moves down by 1 pixel
    flow, ok = F.vertical_flow(crops, np.array([True, True]), F.FeatureConfig())
    assert ok[1] and abs(np.median(flow[1, 8:24, 8:24]) - 1.0) < 0.25


@pytest.mark.parametrize("chunk", [F.FLOW_CHUNK, 7])
def test_flow_is_kept_in_half_the_memory_with_the_same_scale(clip, chunk, monkeypatch):
    """An hour's flow is 370 MB as float32: it is kept as float16 (half), its scale s still comes
    from the float32 flow, exactly as from all of it at once, and the networks' input moves by less
    than 1e-3 (on a [0, 1] scale whose steps of interest are 1e-2 and more). Made in chunks on two
    threads, it is the one-thread flow, frame for frame."""
    monkeypatch.setattr(F, "FLOW_CHUNK", chunk)
    tr, y = clip
    f = F.clip_features(tr.crops, tr.valid, y)
    assert f.flow.dtype == np.float16 and f.flow.nbytes == f.n_frames * 32 * 32 * 2
    ref, ok = F.vertical_flow(tr.crops, tr.valid, F.FeatureConfig())  # float32, as computed
    assert np.array_equal(ok, f.flow_valid)
    assert np.array_equal(f.flow, ref.astype(np.float16))
    assert f.flow_scale == max(F._percentile_in_place(np.abs(ref[ok]).reshape(-1), 99), 0.05)
    assert f.flow_scale == pytest.approx(np.percentile(np.abs(ref[ok]), 99), rel=1e-6)
    exact = np.clip(ref / (2 * f.flow_scale) + 0.5, 0.0, 1.0)
    assert np.abs(f.visual_frames(0, f.n_frames) - exact).max() < 1e-3


@pytest.mark.parametrize("n", [1, 7, 1000, 300_001])
def test_percentile_from_the_largest_values_is_numpys(n):
    """The flow scale reads only the values it needs, kept as they stream past in chunks."""
    rng = np.random.default_rng(n)
    v = np.abs(rng.standard_normal(n)).astype(np.float32)
    v[rng.random(n) < 0.3] = 0.0  # ties, as a still mouth gives
    keep = F._Largest(n - int(np.floor((n - 1) * 0.99)))
    for a in range(0, n, 40_000):
        keep.add(v[a:a + 40_000])
    assert len(keep.values()) < max(n, 2 * keep.k + 65536 + 40_000)
    got = F._percentile_in_place(keep.values(), 99, n)
    assert got == F._percentile_in_place(v.copy(), 99)  # all values at once
    assert got == pytest.approx(np.percentile(v, 99), rel=1e-6)


def test_frame_power_past_the_end_of_the_sound_is_the_floor():
    sr = F.SAMPLES_PER_FRAME
    tone = 0.1 * np.sin(np.arange(sr * 3 + sr // 2) * 0.3)  # three and a half frames of sound
    p = F.frame_power_db(tone.astype(np.float32), 5)
    assert np.allclose(p[:3], 10 * np.log10(0.005), atol=0.05)  # a sine of amplitude 0.1: power 0.005
    assert (p[3:] == -100.0).all()


def test_config_guards():
    with pytest.raises(ValueError):
        F.FeatureConfig(fps=30.0)
    with pytest.raises(ValueError):
        F.FeatureConfig(stride=0)


def _talking(n=200, lag=0, seed=0):
    """Features whose mouth moves in bursts and whose sound speaks in the same bursts, `lag`
    frames later (audio late), with pauses between them."""
    rng = np.random.default_rng(seed)
    on = np.zeros(n + abs(lag) + 10, bool)
    t = 5
    while t < len(on):
        d = int(rng.integers(8, 20))
        on[t:t + d] = True
        t += d + int(rng.integers(6, 15))
    speak = on[:n]
    flow = np.where(speak[:, None, None], 1.5, 0.05) * rng.uniform(0.7, 1.3, (n, 32, 32))
    power = np.where(np.roll(on, lag)[:n], -20.0, -55.0) + rng.normal(0, 2, n)
    return F.ClipFeatures(flow.astype(np.float16), np.ones(n, bool), 1.0, np.zeros((4 * n, 12), np.float32),
                          power.astype(np.float32), -20.0)


def test_activity_match_reads_the_mouth_against_the_sound():
    f = _talking(lag=6)
    at = F.activity_match(f, np.full(f.n_frames, 6.0))
    assert at > 0.8
    assert F.activity_match(f, np.zeros(f.n_frames)) < at - 0.3  # the wrong drift
    other = _talking(lag=6, seed=1)  # another voice's pauses
    assert F.activity_match(F.ClipFeatures(f.flow, f.flow_valid, 1.0, f.mfcc, other.power_db, -20.0),
                            np.full(f.n_frames, 6.0)) < 0.4


def test_activity_match_leaves_digital_silence_out():
    f = _talking(lag=0)
    drift = np.zeros(f.n_frames)
    muted = f.power_db.copy()
    muted[:80] = -100.0  # as a moved clip's open end, or no sound at all
    g = F.ClipFeatures(f.flow, f.flow_valid, 1.0, f.mfcc, muted, -20.0)
    # the same as the clip without those frames (the motion is smoothed over the whole clip first)
    cut = F.activity_match(g, drift)
    assert np.isfinite(cut) and cut > 0.8
    muted[:190] = -100.0  # too few frames left to tell
    assert np.isnan(F.activity_match(g, drift))


def test_activity_match_on_real_speech(clip):
    tr, y = clip
    f = F.clip_features(tr.crops, tr.valid, y)
    own = F.activity_match(f, np.zeros(f.n_frames))
    reversed_sound = F.ClipFeatures(f.flow, f.flow_valid, f.flow_scale, f.mfcc, f.power_db[::-1].copy(),
                                    f.speech_level_db)
    assert own > 0.3
    assert F.activity_match(reversed_sound, np.zeros(f.n_frames)) < own - 0.2


_FORK_CHECK = """
import os, sys, time
import numpy as np
from wlos_app.core import features as F
rng = np.random.default_rng(0)
crops = (rng.random((30, 32, 32)) * 255).astype(np.uint8)
want = F.flow_features(crops, np.ones(30, bool), F.FeatureConfig())[0]
pid = os.fork()
if pid == 0:  # the child: exit code 0 if its flow is the parent's
    try:
        got = F.flow_features(crops, np.ones(30, bool), F.FeatureConfig())[0]
        os._exit(0 if np.array_equal(got, want) else 3)
    finally:
        os._exit(4)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.05)
os.kill(pid, 9)
sys.exit("the forked child's flow did not finish in 30 s")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_flow_in_a_forked_child_does_not_wait_for_the_parents_threads():
    """The flow's thread pool is made once per process; a child forked after the parent used it
    has the pool but not its threads, and must make its own instead of waiting forever.
    The fork happens in a Python of its own: forked from the suite's many-threaded process, the
    later GUI tests' event loop stalled over 100 ms (docs/design.md)."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _FORK_CHECK], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
