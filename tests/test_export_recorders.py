"""Export of files as recorders write them (OBS, phones, ffmpeg): pictures out of decode order,
Matroska without decode times, fragmented MP4, MOV edit lists, AAC/Opus/FLAC/PCM at 16-48 kHz.

Each source is exported to every container the export offers. Where it writes a file: every video
packet is the source's, byte for byte and in order; ffmpeg decodes the same pictures at the same
times (from the first picture); and the sound, as ffmpeg presents it against the picture, is moved
by exactly the asked amount (+-1 ms). Where it refuses, nothing is left behind. ffmpeg (Debian) is
the reference: what it presents is what players show (tests/ffref.py).
"""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

import ffref
import mediagen
from test_export import video_packets
from wlos_app.core import export, media
from wlos_app.errors import ExportError

R = mediagen.RECORDERS
# name -> write_clip arguments. The first two are the failing sources (OBS's .mkv).
SOURCES = {
    "obs_aac.mkv": dict(video_options=R["x264_bframes"], audio_codec="aac", audio_rate=44100),
    "obs_flac.mkv": dict(video_options=R["x264_open_gop"], audio_codec="flac", audio_rate=48000, channels=2),
    "phone.mp4": dict(video_options=R["x264_bframes"], audio_codec="aac", audio_rate=48000, channels=2),
    "fragmented.mp4": dict(video_options=R["x264_bframes"], audio_codec="aac", audio_rate=16000, channels=6,
                           container_options=mediagen.FRAGMENTED),
    "hevc_late_audio.mov": dict(video_codec="libx265", video_options=R["x265"], audio_codec="aac",
                                audio_rate=44100, audio_start_s=0.1),
    "pcm.mov": dict(video_options=R["x264_open_gop"], audio_codec="pcm_s16le", audio_rate=16000),
    "mpeg4.avi": dict(video_codec="mpeg4", audio_codec="libmp3lame", audio_rate=44100),
    "vp9_opus.webm": dict(video_codec="libvpx-vp9", video_options=R["vp9"], audio_codec="libopus"),
    "av1_opus.mkv": dict(video_codec="libsvtav1", video_options=R["svtav1"], audio_codec="libopus", channels=2),
}
TARGETS = [".mp4", ".mkv", ".mov", ".webm", ".avi", ".mpg"]  # .m4v and .mpeg are .mp4's and .mpg's muxers


@pytest.fixture(scope="module")
def sources(sample_clips, tmp_path_factory):
    ffref.need_ffmpeg()
    frames, audio, rate = mediagen.load_clip(sample_clips[1])
    folder = tmp_path_factory.mktemp("recorders")
    return {name: mediagen.write_clip(folder / name, frames, audio, rate, **kw) for name, kw in SOURCES.items()}


@pytest.fixture(scope="module")
def reference(sources):
    """Each source as ffmpeg presents it: (pictures, sound)."""
    return {name: (ffref.frames(p), ffref.sound(p)) for name, p in sources.items()}


def assert_same_pictures(before, after) -> None:
    assert len(after) == len(before), (len(before), len(after))
    assert [h for _, h in after] == [h for _, h in before]  # the same pictures in the same order
    # at the same times: Matroska keeps milliseconds, so +-1 ms
    assert np.abs(np.array([t for t, _ in after]) - np.array([t for t, _ in before])).max() <= 0.001


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_reader_places_the_sound_where_ffmpeg_plays_it(sources, reference, name):
    """The reader decides what a clip's drift is, and the preview plays what it read: it must place
    the sound against the picture as ffmpeg does, codec delays and all."""
    a = media.read_audio(str(sources[name]))
    ours = media.resample(a.mono(), a.rate, ffref.RATE)
    assert ffref.shift_s(reference[name][1], ours) == pytest.approx(0.0, abs=0.001)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_export_keeps_every_picture_and_moves_the_sound_exactly(sources, reference, tmp_path, name, target):
    src = sources[name]
    dst = tmp_path / f"out{target}"
    offset = 0.12
    try:
        result = export.export_synced(str(src), str(dst), offset)
    except ExportError as exc:
        assert "\n" not in str(exc)
        assert list(tmp_path.iterdir()) == []  # a refusal leaves nothing
        # Refused only where the container cannot hold the picture as it is.
        assert target not in export.containers_for(media.probe(str(src)).video.codec) or \
            "edit list hides" in str(exc), str(exc)
        return
    assert video_packets(str(dst)) == video_packets(str(src))
    assert result["video_packets"] == len(video_packets(str(src)))
    pictures, sound = reference[name]
    assert_same_pictures(pictures, ffref.frames(dst))
    assert ffref.shift_s(sound, ffref.sound(dst)) == pytest.approx(offset, abs=0.001)


def test_the_obs_mkv_keeps_its_first_keyframe(sources, tmp_path):
    """The issue's first row: the first two packets of an OBS .mkv have no decode time and were
    dropped, the first keyframe among them, so the copy began on a B-frame."""
    dst = tmp_path / "out.mp4"
    export.export_synced(str(sources["obs_aac.mkv"]), str(dst), -0.08)
    with av.open(str(dst)) as c:
        assert next(p for p in c.demux(video=0) if p.size).is_keyframe
    with av.open(str(dst)) as c:
        frame = next(c.decode(video=0))
        assert frame.time == pytest.approx(0.0, abs=1e-3)  # the first picture is shown at 0


class _Demuxer:
    """Stands in for an input container: yields the given packets."""

    def __init__(self, stamps):
        self.stamps = stamps

    def demux(self, _stream):
        for i, (pts, dts) in enumerate(self.stamps):
            p = av.Packet(bytes([i + 1]))
            p.time_base = Fraction(1, 1000)
            p.pts, p.dts = pts, dts
            yield p


@pytest.mark.parametrize("stamps", [
    [(0, None), (160, None), (80, 0), (40, 40), (120, 80), (320, 120)],  # Matroska, B-frames
    [(0, None), (160, None)],  # shorter than the reorder delay: no dts ever
    [(0, 0), (40, 40), (80, None), (60, None), (None, None), (160, 160)],  # damage in the middle
    [(0, 0), (40, 40), (None, None), (None, None)],  # damage at the end
])
def test_every_packet_gets_a_decode_time_it_can_be_muxed_with(stamps):
    out = list(export._video_packets(_Demuxer(stamps), None, Fraction(1, 1000), 0, 40))
    assert [bytes(p)[0] for p in out] == list(range(1, len(stamps) + 1))  # all, in order
    dts = [p.dts for p in out]
    assert all(a < b for a, b in zip(dts, dts[1:]))
    assert all(p.pts is None or p.dts <= p.pts for p in out)


def test_a_file_that_does_not_read_back_is_never_delivered(sources, tmp_path):
    """A damaged AV1 stream: FFmpeg's MP4 muxer logs that it cannot parse it and leaves the file
    without its index, without failing. The export reads its file back before renaming it."""
    src = tmp_path / "damaged.mkv"
    data = bytearray(sources["av1_opus.mkv"].read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.integers(len(data) // 2, len(data), 64):
        data[i] = int(rng.integers(0, 256))
    src.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="could not write the synced file"):
        export.export_synced(str(src), str(tmp_path / "out.mp4"), 0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.mkv"]
