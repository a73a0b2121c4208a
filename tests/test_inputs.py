"""The files and commands users really have: each case of the 140-case probe (issue 11) that
failed, with its fix or its clear refusal. Numbers refer to the rows of that table."""
from __future__ import annotations

import json
import os
import signal

import av
import numpy as np
import pytest

import mediagen
from wlos_app import AnalysisConfig, analyze
from wlos_app.cli import main
from wlos_app.core import export, media
from wlos_app.errors import ExportError


@pytest.fixture(scope="module")
def source(long_source):
    """The first 3 s of the four-clip source: frames, audio, rate."""
    frames, audio, rate = long_source
    return [f for f in frames if f[0] < 3.0], audio[:, :3 * rate], rate


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_1_multichannel_audio_exports(source, tmp_path):
    src = mediagen.write_clip(tmp_path / "surround.mkv", *source, channels=6)
    out = export.export_synced(str(src), str(tmp_path / "out.mp4"), 0.1)
    info = media.probe(out["path"])
    assert info.audio.channels == 6
    shift = mediagen.measured_shift_s(media.read_audio(str(src)), media.read_audio(out["path"]))
    assert shift == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize("ext", [".mpg", ".avi", ".webm"])
def test_2_3_h264_into_a_container_that_cannot_hold_it_is_refused_first(source, tmp_path, ext):
    src = mediagen.write_clip(tmp_path / "h264.mp4", *source)
    with pytest.raises(ExportError, match=r"cannot carry this clip's h264 video.*export to \.mp4"):
        export.export_synced(str(src), str(tmp_path / f"out{ext}"), 0.1)
    assert _files(tmp_path) == ["h264.mp4"]  # nothing written, not even a temporary file


def test_4_13_mpeg_source_keeps_its_frame_times(grid_clip, tmp_path):
    """.mpg to .mp4 and .mkv: every frame at k/25 s and 25 fps; to .avi (whose readers stamp
    MPEG-1 frames one late) it is refused with a container that works."""
    for ext in (".mp4", ".mkv", ".mov"):
        out = export.export_synced(str(grid_clip), str(tmp_path / f"out{ext}"), 0.0)["path"]
        with av.open(out) as c:
            v = c.streams.video[0]
            times = np.array([float(f.time) for f in c.decode(v)])
            assert float(v.average_rate) == pytest.approx(25.0, abs=1e-6)
        np.testing.assert_allclose(times - times[0], np.arange(len(times)) / 25.0, atol=1e-3)
        assert media.probe(out).duration_s == pytest.approx(3.0, abs=0.03)
    with pytest.raises(ExportError, match="mpeg1video"):
        export.export_synced(str(grid_clip), str(tmp_path / "out.avi"), 0.0)


@pytest.mark.parametrize("rotation", [90, -90])
def test_5_phone_video_stored_sideways_is_turned_upright(long_source, tmp_path, rotation):
    upright = analyze(str(mediagen.write_clip(tmp_path / "upright.mp4", *long_source)))
    side = mediagen.write_clip(tmp_path / f"rot{rotation}.mp4", *long_source, rotation=rotation)
    frame = next(media.iter_video_frames(str(side)))
    assert frame.image.shape == (288, 360)  # stored 360 high, shown 288 high
    res = analyze(str(side))
    assert res.face.valid.mean() > 0.9
    assert abs(res.offset_ms - upright.offset_ms) < 40.0
    with media.FrameReader(str(side)) as r:  # the window shows it upright too
        assert r.frame_at(1.0)[1].shape[:2] == (288, 360)
    out = export.export_synced(str(side), str(tmp_path / "out.mkv"), 0.0)["path"]
    with av.open(out) as c:
        assert next(c.decode(video=0)).rotation == rotation  # the export keeps it


def test_6_a_shift_longer_than_the_sound_is_refused(grid_clip, tmp_path):
    for offset in (5.0, -5.0, 1e12):
        with pytest.raises(ExportError, match="nothing of the sound would be left"):
            export.export_synced(str(grid_clip), str(tmp_path / "out.mp4"), offset)
    assert _files(tmp_path) == []


def test_7_8_9_11_12_16_command_line_refusals(grid_clip, tmp_path, capsys, monkeypatch):
    g = str(grid_clip)
    # 7: a model folder that is missing or empty is an error, not a quiet fallback
    (tmp_path / "empty").mkdir()
    for folder in (str(tmp_path / "empty"), str(tmp_path / "missing")):
        assert main(["analyze", g, "--model", folder]) == 1
        assert "model folder" in capsys.readouterr().err
    # 8, 9: usage errors, exit 2, no traceback
    for argv in (["analyze", g, "--stride", "0"], ["analyze", g, "--stride", "-3"],
                 ["analyze", g, "--landmark-every", "0"],
                 ["export", g, "-o", str(tmp_path / "o.mp4"), "--offset-ms", "nan"],
                 ["export", g, "-o", str(tmp_path / "o.mp4"), "--offset-ms", "inf"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "error:" in err
    # 11: CUDA asked for where there is none
    import torch
    if not torch.cuda.is_available():
        assert main(["analyze", g, "--device", "cuda"]) == 2
        assert "no CUDA device" in capsys.readouterr().err
    # 12: a folder given to export
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "o.mp4"), "--offset-ms", "40"]) == 1
    assert "is a folder" in capsys.readouterr().err
    # an output export would refuse is refused before the clip is analysed
    from wlos_app.core import overlap
    monkeypatch.setattr(overlap, "analyze_each", lambda *a, **k: pytest.fail("analysed before refusing"))
    (tmp_path / "taken.mp4").write_bytes(b"x")
    for out, why in ((g, "is the source file"), (str(tmp_path / "taken.mp4"), "exists"),
                     (str(tmp_path / "o.xyz"), "cannot write .xyz"), (str(tmp_path / "no" / "o.mp4"), "does not exist"),
                     (str(tmp_path / "o.webm"), "cannot carry this clip's")):
        assert main(["export", g, "-o", out]) == 2  # refused before any work: usage
        assert why in capsys.readouterr().err
    monkeypatch.undo()
    # 16: one short line per clip on request
    assert main(["analyze", g, "--json", "--summary-only", "--method", "qmi"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "blocks" not in out and "offset_ms" in out and out["reliable"] in (True, False)


def test_10_audio_rates_a_container_codec_lacks_are_resampled(source, tmp_path):
    src = mediagen.write_clip(tmp_path / "phone8k.mkv", *source, video_codec="mpeg2video", audio_rate=8000)
    out = export.export_synced(str(src), str(tmp_path / "out.mpg"), 0.08)["path"]  # MP2 has no 8 kHz
    assert media.probe(out).audio.sample_rate == 16000
    shift = mediagen.measured_shift_s(media.read_audio(str(src)), media.read_audio(out))
    assert shift == pytest.approx(0.08, abs=1e-3)


def test_14_sigterm_during_export_leaves_nothing_behind(grid_clip, tmp_path, monkeypatch):
    real = export._encode

    def terminated(*a, **kw):
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` would, half way through the export
        yield from real(*a, **kw)
    monkeypatch.setattr(export, "_encode", terminated)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert main(["export", str(grid_clip), "-o", str(tmp_path / "out.mkv"), "--offset-ms", "40"]) == 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert _files(tmp_path) == []


def test_15_the_sound_is_decoded_once(grid_clip, tmp_path, monkeypatch):
    res = analyze(str(grid_clip), AnalysisConfig(method="qmi"))
    assert res.audio is not None and res.audio.samples.shape[1] > 0
    calls = []
    real = media.read_audio
    monkeypatch.setattr(media, "read_audio", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    export.export_synced(str(grid_clip), str(tmp_path / "out.mp4"), 0.04, audio=res.audio)
    assert calls == []
