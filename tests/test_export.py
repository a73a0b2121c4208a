"""Export of a synced copy: video copied bit for bit, audio moved by exactly the requested amount."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from wlos_app.core import media
from mediagen import measured_shift_s
from wlos_app.core.export import export_synced
from wlos_app.errors import Cancelled, ExportError, MediaError

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "grid_s1_sample"


@pytest.fixture(scope="module")
def src() -> str:
    clips = sorted(SAMPLE_DIR.glob("*.mpg"))
    if not clips:
        reason = f"GRID sample clips not found in {SAMPLE_DIR}"
        if os.environ.get("WLOS_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return str(clips[0])


def video_packets(path: str) -> list[bytes]:
    with av.open(path) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size > 0]


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
@pytest.mark.parametrize("offset", [0.12, -0.2])
def test_export_shifts_audio_and_copies_video(src, tmp_path, ext, offset):
    dst = str(tmp_path / f"synced{ext}")
    seen = []
    result = export_synced(src, dst, offset, progress=seen.append)

    source_audio = media.read_audio(src)
    assert result["path"] == dst
    assert result["audio_codec"] == "aac"
    assert result["audio_samples_shifted"] == round(offset * source_audio.rate)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)

    source_video = video_packets(src)
    assert video_packets(dst) == source_video
    assert result["video_packets"] == len(source_video)

    info = media.probe(dst)
    assert info.audio.sample_rate == source_audio.rate
    assert info.audio.channels == source_audio.samples.shape[0]
    assert abs(info.audio_delay_s) < 1e-3  # audio and video start together
    exported_audio = media.read_audio(dst, info)
    # Same length as the source, give or take the encoder's last partial frame.
    assert 0 <= exported_audio.samples.shape[1] - source_audio.samples.shape[1] < 1024
    # AAC's 1024 priming samples are skipped by the player (edit list / codec delay): no bias.
    assert measured_shift_s(source_audio, exported_audio) == pytest.approx(offset, abs=1e-3)


def test_source_starting_late_is_rebased_to_zero(src, tmp_path):
    # An MPEG-PS export starts its streams 0.5 s in (the muxer's preload), the audio a little
    # before the video (mp2 priming); exporting that again must land exactly as requested.
    first = str(tmp_path / "first.mpg")
    export_synced(src, first, 0.0)
    assert media.probe(first).origin_s > 0.4

    second = str(tmp_path / "second.mp4")
    export_synced(first, second, 0.05)
    info = media.probe(second)
    assert info.origin_s == pytest.approx(0.0, abs=1e-3)
    assert abs(info.audio_delay_s) < 1e-3
    assert video_packets(second) == video_packets(src)
    shift = measured_shift_s(media.read_audio(src), media.read_audio(second, info))
    assert shift == pytest.approx(0.05, abs=1e-3)


def test_refuses_to_overwrite_the_source(src, tmp_path):
    link = tmp_path / "same.mpg"
    link.symlink_to(src)
    for dst in (src, str(link)):
        with pytest.raises(ExportError, match="source"):
            export_synced(src, dst, 0.1, force=True)
    assert video_packets(src)  # still a readable video


def test_existing_target_needs_force(src, tmp_path):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="exists; use --force"):
        export_synced(src, str(dst), 0.1)
    assert dst.read_bytes() == b"keep me"

    export_synced(src, str(dst), 0.1, force=True)
    assert video_packets(str(dst)) == video_packets(src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_failed_exports_leave_no_temp_file(src, tmp_path):
    with pytest.raises(ExportError, match=r"\.mkv"):  # the message lists what is supported
        export_synced(src, str(tmp_path / "out.flv"), 0.1)
    # The muxer refuses the copied video only once the temporary file exists.
    with pytest.raises(ExportError, match="mpeg1video"):
        export_synced(src, str(tmp_path / "out.webm"), 0.1)
    with pytest.raises(ExportError, match="folder does not exist"):
        export_synced(src, str(tmp_path / "missing" / "out.mp4"), 0.1)
    assert list(tmp_path.iterdir()) == []


def test_cancel_removes_the_partial_file(src, tmp_path):
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 10  # stop in the middle of the video packets

    with pytest.raises(Cancelled):
        export_synced(src, str(tmp_path / "out.mkv"), 0.1, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_source_without_audio_is_a_clean_error(tmp_path):
    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(25):
            image = np.full((48, 64, 3), i * 10, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    with pytest.raises((ExportError, MediaError), match="no audio stream") as err:
        export_synced(str(silent), str(tmp_path / "out.mp4"), 0.1)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.mp4"]
