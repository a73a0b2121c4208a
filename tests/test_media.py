import numpy as np
import pytest

from wlos_app.core import media
from wlos_app.errors import MediaError


def test_probe_grid(grid_clip):
    info = media.probe(str(grid_clip))
    assert info.video.fps == 25.0
    assert (info.video.width, info.video.height) == (360, 288)
    assert info.audio.sample_rate == 44100
    assert info.audio_delay_s == 0.0


def test_frames_and_audio_on_one_timeline(grid_clip):
    frames = list(media.iter_video_frames(str(grid_clip)))
    assert len(frames) == 75
    assert np.allclose([f.t for f in frames], np.arange(75) * 0.04, atol=1e-6)
    assert frames[0].image.shape == (288, 360) and frames[0].image.flags["C_CONTIGUOUS"]
    audio = media.read_audio(str(grid_clip))
    assert audio.rate == 44100 and abs(audio.duration_s - 2.98) < 0.01
    y = media.resample(audio.mono(), audio.rate)
    assert abs(len(y) - audio.duration_s * 16000) <= 2


def test_grid_resampling_of_30fps_and_50fps():
    def frames(fps, n):
        return (media.Frame(i, i / fps, np.full((2, 2), i, np.uint8)) for i in range(n))
    g30 = list(media.sample_on_grid(frames(30, 90)))  # 3 s at 30 fps
    assert len(g30) == 75 and [k for k, _ in g30] == list(range(75))
    # each grid time takes the nearest source frame
    for k, f in g30:
        assert abs(f.t - k / 25) <= 0.5 / 30 + 1e-9
    g50 = list(media.sample_on_grid(frames(50, 150)))
    assert len(g50) == 75 and [f.index for _, f in g50[:4]] == [0, 2, 4, 6]


def test_variable_frame_rate_and_gap_hold_last_frame():
    times = [0.0, 0.035, 0.06, 0.12, 0.4, 0.44]  # uneven, with a 0.28 s hole (lost packets)
    fr = [media.Frame(i, t, np.zeros((1, 1), np.uint8)) for i, t in enumerate(times)]
    grid = list(media.sample_on_grid(iter(fr)))
    assert [k for k, _ in grid] == list(range(len(grid)))
    by_k = {k: f.index for k, f in grid}
    assert by_k[0] == 0 and by_k[1] == 1 and by_k[3] == 3
    assert all(by_k[k] == 3 for k in range(4, 7))  # the hole holds the last good frame
    assert by_k[10] == 4 and by_k[11] == 5


def test_late_audio_stream_is_placed_late(made):
    same = media.read_audio(str(made("sync.mkv")))
    late = media.read_audio(str(made("start200.mkv", audio_start_s=0.2)))
    assert media.probe(str(made("start200.mkv", audio_start_s=0.2))).audio_delay_s == pytest.approx(0.2, abs=1e-3)
    a, b = same.mono()[:5 * same.rate], late.mono()[:5 * same.rate]
    lag = _lag(a, b, same.rate)
    assert lag == pytest.approx(0.2, abs=0.002)


def _lag(a, b, rate):
    """Seconds by which b lags a (cross-correlation peak)."""
    from scipy.signal import correlate
    c = correlate(b, a, mode="full", method="fft")
    return (np.argmax(c) - (len(a) - 1)) / rate


def test_corrupt_packets_do_not_shift_what_follows(grid_clip, tmp_path):
    data = bytearray(grid_clip.read_bytes())
    # Scribble over ~6 KB in the middle of the stream (several video packets, some audio).
    mid = len(data) // 2
    data[mid:mid + 6000] = bytes((i * 37) % 256 for i in range(6000))
    bad = tmp_path / "corrupt.mpg"
    bad.write_bytes(bytes(data))
    good_frames = {round(f.t, 3): f.image for f in media.iter_video_frames(str(grid_clip))}
    report = media.DecodeReport()
    frames = list(media.iter_video_frames(str(bad), report=report))
    assert 40 <= len(frames) < 75  # the damage cost frames: they are gone, not shifted
    # Frames are known by timestamp: late frames still match the same frame of the clean file.
    late = [f for f in frames if f.t > 2.5]
    assert late and all(np.abs(f.image.astype(int) - good_frames[round(f.t, 3)]).mean() < 3 for f in late)
    audio = media.read_audio(str(bad), report=report)
    clean = media.read_audio(str(grid_clip))
    tail = slice(int(2.5 * clean.rate), int(2.9 * clean.rate))
    assert np.allclose(audio.samples[:, tail], clean.samples[:, tail], atol=1e-3)


@pytest.mark.parametrize("recorder, codec, ext", [("x264_bframes", "libx264", ".mkv"), ("vp9", "libvpx-vp9", ".webm")])
def test_frame_threaded_decode_gives_the_frames_one_thread_gives(made, recorder, codec, ext, tmp_path, monkeypatch):
    """The analysis decodes with FFmpeg's frame threads (media.DECODE_THREADS): the same frames at
    the same times as one thread, the last ones too (a frame-threaded decoder holds some back
    until it is flushed). After damage it may drop a few more of the damaged frames (VP9 here
    drops 6 that one thread decodes as garbage), never shift or change the others."""
    import mediagen
    clip = made(f"threads_{recorder}{ext}", video_codec=codec, video_options=mediagen.RECORDERS[recorder])
    data = bytearray(clip.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 3000] = bytes((i * 37) % 256 for i in range(3000))
    bad = tmp_path / f"damaged{ext}"
    bad.write_bytes(bytes(data))

    def frames(path, threads):
        monkeypatch.setattr(media, "DECODE_THREADS", threads)
        return {round(f.t, 4): f.image for f in media.iter_video_frames(str(path))}
    threaded, single = frames(clip, "AUTO"), frames(clip, "SLICE")
    assert len(threaded) == 300 and threaded.keys() == single.keys()
    assert all(np.array_equal(threaded[t], single[t]) for t in single)
    threaded, single = frames(bad, "AUTO"), frames(bad, "SLICE")
    assert threaded.keys() <= single.keys() and len(threaded) >= 0.9 * len(single)
    assert all(np.array_equal(threaded[t], single[t]) for t in threaded)


@pytest.mark.parametrize("content", [b"", b"hello, this is not a video\n" * 20])
def test_unreadable_files(tmp_path, content):
    p = tmp_path / "clip.mp4"
    p.write_bytes(content)
    with pytest.raises(MediaError) as e:
        media.probe(str(p))
    assert str(p) in str(e.value)


def test_folder_and_missing(tmp_path):
    with pytest.raises(MediaError, match="folder"):
        media.probe(str(tmp_path))
    with pytest.raises(MediaError, match="no such file"):
        media.probe(str(tmp_path / "nope.mp4"))


@pytest.mark.parametrize("name", ["reader.mp4", "reader.mpg"])
def test_frame_reader_gives_the_frame_shown_at_any_time(made, name):
    """Random access for the video view: the same picture as decoding from the start, whether reached
    by stepping forward, jumping back or jumping far ahead (a seek)."""
    path = str(made(name, fps=30.0))
    frames = list(media.iter_video_frames(path, "rgb24"))
    times = np.array([f.t for f in frames])
    with media.FrameReader(path) as reader:
        assert reader.size == (frames[0].image.shape[1], frames[0].image.shape[0])
        for t in [0.0, 0.02, 0.5, 0.51, 9.3, 2.0, 11.9, 0.1, 6.66, 100.0]:
            i = max(0, int(np.searchsorted(times, t + 1e-6)) - 1)  # the last frame starting at or before t
            tf, img = reader.frame_at(t)
            assert tf == pytest.approx(times[i], abs=1e-6), t
            assert np.abs(img.astype(int) - frames[i].image.astype(int)).mean() < 1.0, t


def _long_wav(path, seconds: float, rate: int = 48000, channels: int = 2) -> None:
    """A chirp with a little noise, `channels` channels of 16-bit PCM, written a second at a time."""
    import av
    from fractions import Fraction
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=rate, layout="stereo" if channels == 2 else "mono")
        for k in range(int(seconds)):
            t = k + np.arange(rate) / rate
            x = 0.3 * np.sin(2 * np.pi * (200 + 20 * t) * t) + 0.01 * rng.standard_normal(rate)
            pcm = (np.repeat(x[None], channels, 0) * 32767).astype(np.int16).T.reshape(1, -1)
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm), format="s16", layout=s.layout.name)
            f.sample_rate, f.pts, f.time_base = rate, k * rate, Fraction(1, rate)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_analysis_sound_of_a_long_recording_is_decoded_in_little_memory(tmp_path):
    """The 16 kHz mono sound analysis reads is mixed and resampled as it is decoded: 3 minutes of
    48 kHz stereo (69 MB as float32) never sit in memory at once, and the result is exactly what
    resampling the whole decoded sound gives."""
    import tracemalloc
    path = tmp_path / "long.wav"
    _long_wav(path, 180)
    tracemalloc.start()
    try:
        y, full = media.decode_audio(str(path), keep=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert full is None and len(y) == 180 * 16000
    assert peak < 2 * y.nbytes + 16e6, f"{peak / 1e6:.0f} MB at the peak for {y.nbytes / 1e6:.0f} MB of sound"
    whole = media.read_audio(str(path))
    assert np.array_equal(y, media.resample(whole.mono(), whole.rate))
    y2, kept = media.decode_audio(str(path), keep=True)
    assert np.array_equal(y2, y) and np.array_equal(kept.samples, whole.samples) and kept.rate == 48000


def test_analysis_sound_is_placed_as_read_audio_places_it(made, grid_clip):
    """A late stream and the GRID clip (44.1 kHz stereo, MPEG-PS): the streamed copy is the whole
    sound resampled, sample for sample."""
    for path in (str(made("start200.mkv", audio_start_s=0.2)), str(grid_clip)):
        whole = media.read_audio(path)
        y, _ = media.decode_audio(path, keep=False)
        assert np.array_equal(y, media.resample(whole.mono(), whole.rate))
