"""Augmentations change how a speaker looks and sounds, never when: the drift label must survive."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.augment import Augmentation, lag_samples
from wlos_app.core import media
from wlos_app.core.features import SR


def _bursts(seconds=3.0, onsets=(0.5, 1.1, 1.7, 2.3)):
    """Tone bursts with sharp onsets: their energy centroids say exactly where the sound is."""
    t = np.arange(int(seconds * SR)) / SR
    x = np.zeros_like(t)
    for o in onsets:
        m = (t >= o) & (t < o + 0.2)
        x[m] = 0.4 * np.sin(2 * np.pi * 220 * t[m]) * np.hanning(m.sum()) ** 0.2
    return x.astype(np.float32), t, onsets


def _centroids(y, t, onsets):
    out = []
    for o in onsets:
        w = (t > o - 0.1) & (t < o + 0.3)
        e = y[w].astype(np.float64) ** 2
        out.append((t[w] * e).sum() / e.sum())
    return np.array(out)


@pytest.mark.parametrize("kw", [
    dict(pitch_steps=4.5), dict(pitch_steps=-4.5), dict(rt60=0.5), dict(telephone=True),
    dict(codec="aac", bitrate=24000), dict(codec="libmp3lame", bitrate=16000),
    dict(codec="libopus", bitrate=16000), dict(snr_db=10, noise_tilt=1.0), dict(gain_db=-12),
])
def test_sound_augmentations_keep_the_timing(kw):
    x, t, onsets = _bursts()
    y = Augmentation(**kw).audio(x)
    assert len(y) == len(x) and np.isfinite(y).all()
    shift_ms = 1000 * (_centroids(y, t, onsets) - _centroids(x, t, onsets))
    # Reverb adds a tail that pulls an energy centroid later without moving the sound itself; the
    # phase vocoder of a pitch shift moves single onsets by up to ~11 ms but not on average. A
    # label is whole 40 ms frames.
    limit = 25.0 if "rt60" in kw else 15.0
    assert np.abs(shift_ms).max() < limit, shift_ms
    if "rt60" not in kw:
        assert abs(shift_ms.mean()) < 5.0, shift_ms
    if "codec" in kw or "telephone" in kw:  # these realign by whole samples: the lag is exactly zero
        assert abs(lag_samples(y, x)) <= 1


def test_sound_augmentations_change_the_voice():
    x, _, _ = _bursts()
    y = Augmentation(pitch_steps=4.0).audio(x)
    fx, fy = (np.abs(np.fft.rfft(v)) for v in (x, y))
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    assert freqs[np.argmax(fy)] == pytest.approx(220 * 2 ** (4 / 12), rel=0.03)
    assert freqs[np.argmax(fx)] == pytest.approx(220, rel=0.01)


def test_frame_rate_change_blends_at_the_new_times():
    """A bar moving one pixel per 40 ms frame, re-timed to 30 fps: each new frame shows the bar
    where it was at that time (a blend of the two frames around it)."""
    frames = []
    for k in range(25):
        img = np.zeros((40, 60), np.uint8)
        img[:, 10 + k] = 255
        frames.append(media.Frame(k, k / 25, img))
    out = list(Augmentation(fps=30.0).frames(iter(frames)))
    assert [round(f.t * 30) for f in out] == list(range(len(out)))
    for f in out[:25]:
        profile = f.image[0].astype(float)
        centre = (profile * np.arange(60)).sum() / profile.sum()
        assert centre == pytest.approx(10 + f.t * 25, abs=0.05)


def test_picture_augmentations_keep_timestamps_and_change_the_picture(grid_clip):
    aug = Augmentation.draw(np.random.default_rng(3), 1.0, every_part=True)
    src = list(media.iter_video_frames(str(grid_clip)))[:30]
    out = list(Augmentation(**{**aug.describe(), "fps": 0.0}).frames(iter(src)))
    assert [f.t for f in out] == [f.t for f in src]
    assert out[0].image.shape != src[0].image.shape or np.abs(
        out[0].image.astype(int) - src[0].image.astype(int)).mean() > 5


def test_draw_is_seeded_and_bounded():
    a = Augmentation.draw(np.random.default_rng(7))
    assert a == Augmentation.draw(np.random.default_rng(7))
    for seed in range(50):
        b = Augmentation.draw(np.random.default_rng(seed))
        assert 0.8 <= b.scale <= 3.2 and 0.85 <= b.zoom <= 1.15 and abs(b.rotate_deg) <= 12
        assert b.snr_db == 0 or 5 <= b.snr_db <= 30
    assert Augmentation.draw(np.random.default_rng(1), 0.0) .pitch_steps == 0.0


def test_augmented_copy_keeps_the_drift(made):
    """End to end: a clip with its audio 160 ms late, seen through another camera and voice,
    still reads 160 ms late (the label of its augmented copy is right)."""
    from wlos_app.core.analysis import AnalysisConfig, _network, analyze, extract
    from wlos_app.core.methods import estimate
    path = str(made("late160.mp4", audio_delay_s=0.16))
    aug = Augmentation(scale=1.6, zoom=1.1, rotate_deg=8, shift=(0.04, -0.03), wobble=0.01, contrast=1.2,
                       gamma=0.8, blur=0.8, noise=3.0, fps=30.0, crf=32, pitch_steps=-3.0, rt60=0.3,
                       codec="aac", bitrate=32000, snr_db=20, noise_tilt=1.0, seed=5)
    ex = extract(path, transform=aug)
    nets = {"c3": _network("c3", None, "cpu"), "wlos": _network("wlos", None, "cpu")}
    est = estimate(ex.features, ex.starts, ex.status, "c3-track", nets)
    plain = analyze(path, AnalysisConfig(method="c3-track"))
    assert abs(plain.offset_ms - 160) < 40, plain.summary()
    assert abs(est.offset_grid * 40 - 160) < 40, est.offset_grid
