"""A synced copy keeps what its source holds: every audio track (each moved by the drift), the
subtitles (moved with the sound, or kept with the picture), chapters, titles, languages,
dispositions, attachments and the picture's rotation. What a container cannot carry is named in
the result's "dropped", never lost without a word.

The sources are written with Debian's ffmpeg as recorders write them (an OBS multi-track .mkv)
and read back with ffprobe (tests/ffref.py), the reference independent of PyAV.
"""
from __future__ import annotations

import json
import subprocess

import av
import numpy as np
import pytest

import ffref
import mediagen
from wlos_app.core import export, media
from wlos_app.core.drift_track import Segment, DriftTrack
from wlos_app.errors import ExportError

DRIFT = 0.12
SRT = """1
00:00:00,500 --> 00:00:01,200
bin blue

2
00:00:01,500 --> 00:00:02,400
at f four please
"""
CHAPTERS = ";FFMETADATA1\ntitle=My Recording\n\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=Intro\n"


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True, timeout=120)


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_chapters", "-show_format", "-of", "json",
                          str(path)], capture_output=True, check=True, timeout=60).stdout
    return json.loads(out)


def streams(path, kind: str) -> list[dict]:
    return [s for s in probe(path)["streams"] if s["codec_type"] == kind]


def title(stream: dict) -> str | None:
    """A track's name as players read it: MP4 and MOV keep it as the handler's name."""
    tags = stream.get("tags", {})
    return tags.get("title") or tags.get("handler_name")


def cues(path) -> list[tuple[float, float]]:
    """(start, end) of each cue of the first subtitle track, in s from the first picture shown.
    MP4's muxer fills the gaps between cues with empty ones (2 bytes): not cues."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "s:0", "-show_entries",
                          "packet=pts_time,duration_time,size", "-of", "csv=p=0", str(path)],
                         capture_output=True, check=True, timeout=60, text=True).stdout
    t0 = ffref.first_picture_s(path)
    rows = [line.split(",") for line in out.split()]
    return [(float(pts) - t0, float(pts) + float(dur) - t0) for pts, dur, size in rows if int(size) > 2]


def subtitle_text(path) -> str:
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
                          capture_output=True, check=True, timeout=60, text=True).stdout


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    ffref.need_ffmpeg()
    folder = tmp_path_factory.mktemp("streams")
    (folder / "cues.srt").write_text(SRT)
    (folder / "chapters.txt").write_text(CHAPTERS)
    return folder


@pytest.fixture(scope="module")
def obs(folder, sample_clips):
    """As OBS records with two audio tracks: H.264 with B-frames, the mix and the microphone (another
    clip's sound, so tracks cannot be mistaken for each other) in AAC, titled, with languages; a
    subtitle track, a chapter and a title."""
    out = folder / "obs.mkv"
    ffmpeg("-i", sample_clips[0], "-i", sample_clips[1], "-i", folder / "cues.srt", "-i", folder / "chapters.txt",
           "-map", "0:v", "-map", "0:a", "-map", "1:a", "-map", "2", "-map_metadata", "3", "-map_chapters", "3",
           "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-c:a", "aac", "-ar", "48000", "-c:s", "srt",
           "-metadata:s:a:0", "title=mix", "-metadata:s:a:0", "language=eng",
           "-metadata:s:a:1", "title=mic", "-metadata:s:a:1", "language=fra",
           "-metadata:s:s:0", "title=captions", "-metadata:s:s:0", "language=eng",
           "-disposition:a:0", "default", "-disposition:a:1", "comment", out)
    return out


@pytest.fixture(scope="module")
def styled(folder, grid_clip):
    """A GRID clip (MPEG-1, MP2, copied) with styled (ASS) subtitles, their font attached, a chapter."""
    out = folder / "styled.mkv"
    (folder / "font.ttf").write_bytes(b"\0\1\0\0 not really a font")
    ffmpeg("-i", grid_clip, "-i", folder / "cues.srt", "-i", folder / "chapters.txt", "-map", "0:v", "-map", "0:a",
           "-map", "1", "-map_chapters", "2", "-c:v", "copy", "-c:a", "copy", "-c:s", "ass",
           "-metadata:s:s:0", "title=captions", "-attach", folder / "font.ttf", "-metadata:s:t", "mimetype=font/ttf",
           out)
    return out


@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".mov"])
def test_every_audio_track_is_kept_with_its_name_and_moved(obs, tmp_path, ext):
    dst = tmp_path / f"out{ext}"
    result = export.export_synced(str(obs), str(dst), DRIFT)
    tracks = streams(dst, "audio")
    assert [title(s) for s in tracks] == ["mix", "mic"]
    assert [s["tags"]["language"] for s in tracks] == ["eng", "fra"]
    assert [s["disposition"]["default"] for s in tracks] == [1, 0]
    if ext == ".mkv":  # MOV has no place for "commentary"
        assert [s["disposition"]["comment"] for s in tracks] == [0, 1]
    for k in (0, 1):
        before, after = media.read_audio(str(obs), audio_stream=k), media.read_audio(str(dst), audio_stream=k)
        assert mediagen.measured_shift_s(before, after) == pytest.approx(DRIFT, abs=1e-3), k
    assert result["audio_streams"] == 2 and result["dropped"] == []


@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".mov"])
@pytest.mark.parametrize("timing", ["sound", "picture"])
def test_subtitles_move_with_the_sound_or_stay_with_the_picture(obs, tmp_path, ext, timing):
    dst = tmp_path / f"out{ext}"
    chosen = {"subtitles": timing} if timing == "picture" else {}  # "sound" is the default
    result = export.export_synced(str(obs), str(dst), DRIFT, **chosen)
    [sub] = streams(dst, "subtitle")
    assert sub["codec_name"] == ("subrip" if ext == ".mkv" else "mov_text")  # SRT becomes MP4's text
    assert title(sub) == "captions" and sub["tags"]["language"] == "eng"
    assert "bin blue" in subtitle_text(dst) and "at f four please" in subtitle_text(dst)
    moved = DRIFT if timing == "sound" else 0.0
    expected = np.array(cues(obs)) - moved
    np.testing.assert_allclose(cues(dst), expected, atol=0.002)  # Matroska keeps milliseconds
    assert result["subtitle_streams"] == 1


def test_subtitles_follow_a_drift_track(obs, tmp_path):
    """The sound drifts from 0 to 200 ms late: a cue recorded at s belongs to the picture time t
    where t + d(t) = s."""
    track = DriftTrack("linear", [Segment(0.0, 3.0, 0.0, 5.0)], 0.0)  # grid frames of 40 ms
    dst = tmp_path / "out.mkv"
    export.export_synced(str(obs), str(dst), track)
    t = np.linspace(-1.0, 4.0, 500001)
    arrival = t + track.at(t) * 0.04
    expected = [[t[np.argmin(np.abs(arrival - s))] for s in cue] for cue in cues(obs)]
    np.testing.assert_allclose(cues(dst), expected, atol=0.002)
    assert expected[1][0] < cues(obs)[1][0] - 0.06  # the later cue moved more


def test_chapters_and_the_title_are_kept_on_the_picture_clock(obs, tmp_path):
    start = ffref.first_picture_s(obs)  # the copy starts with the first picture
    for ext in (".mkv", ".mp4", ".mov"):
        dst = tmp_path / f"out{ext}"
        export.export_synced(str(obs), str(dst), DRIFT)
        info = probe(dst)
        assert info["format"]["tags"]["title"] == "My Recording"
        [chapter] = info["chapters"]
        assert chapter["tags"]["title"] == "Intro"
        assert float(chapter["start_time"]) == pytest.approx(0.0, abs=0.002)
        assert float(chapter["end_time"]) - ffref.first_picture_s(dst) == pytest.approx(1.5 - start, abs=0.002)


def test_a_round_trip_through_mp4_gives_the_source_back(obs, tmp_path):
    """OBS .mkv to .mp4 (SRT to mov_text, titles to handler names) and back to .mkv with the
    opposite drift: the same tracks, names and cue times."""
    there, back = tmp_path / "there.mp4", tmp_path / "back.mkv"
    export.export_synced(str(obs), str(there), DRIFT)
    export.export_synced(str(there), str(back), -DRIFT)
    assert [(s["tags"]["title"], s["tags"]["language"]) for s in streams(back, "audio")] == [("mix", "eng"),
                                                                                          ("mic", "fra")]
    [sub] = streams(back, "subtitle")
    assert sub["codec_name"] == "subrip" and sub["tags"]["title"] == "captions"
    np.testing.assert_allclose(cues(back), cues(obs), atol=0.002)


def test_the_analysed_track_can_be_any_and_is_not_decoded_again(obs, tmp_path, monkeypatch):
    mic = media.read_audio(str(obs), audio_stream=1)
    decoded = []
    real = media.read_audio
    monkeypatch.setattr(media, "read_audio", lambda *a, **kw: decoded.append(kw.get("audio_stream")) or real(*a, **kw))
    dst = tmp_path / "out.mp4"
    export.export_synced(str(obs), str(dst), DRIFT, audio=mic, audio_stream=1)
    assert decoded == [0]  # the mix; the microphone was given
    monkeypatch.undo()
    for k in (0, 1):
        shift = mediagen.measured_shift_s(media.read_audio(str(obs), audio_stream=k),
                                          media.read_audio(str(dst), audio_stream=k))
        assert shift == pytest.approx(DRIFT, abs=1e-3), k
    with pytest.raises(ExportError, match="no audio track 2"):
        export.export_synced(str(obs), str(tmp_path / "other.mp4"), DRIFT, audio_stream=2)
    with pytest.raises(ValueError, match="subtitles"):
        export.export_synced(str(obs), str(tmp_path / "other.mp4"), DRIFT, subtitles="both")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".mpg"])
def test_styled_subtitles_and_their_font_are_kept_or_named(styled, tmp_path, ext):
    """.mkv holds all of it; .mp4 holds the text as mov_text but no attachment; .mpg holds neither,
    nor chapters. What is not carried is named, one line each, and the export still happens."""
    dst = tmp_path / f"out{ext}"
    result = export.export_synced(str(styled), str(dst), DRIFT)
    subs, files = streams(dst, "subtitle"), streams(dst, "attachment")
    if ext == ".mkv":
        assert [s["codec_name"] for s in subs] == ["ass"]
        assert [f["tags"]["filename"] for f in files] == ["font.ttf"]
        assert result["dropped"] == []
    elif ext == ".mp4":
        assert [s["codec_name"] for s in subs] == ["mov_text"] and files == []
        [dropped] = result["dropped"]
        assert "font.ttf" in dropped and "attachment" in dropped
    else:
        assert subs == [] and files == []
        dropped = result["dropped"]
        assert len(dropped) == 3 and all("\n" not in line for line in dropped)
        assert any('subtitle, ass, "captions"' in d and "cannot carry subtitles" in d for d in dropped)
        assert any("1 chapter: .mpg cannot carry chapters" == d for d in dropped)
    if subs:
        np.testing.assert_allclose(cues(dst), np.array(cues(styled)) - DRIFT, atol=0.002)
    shift = mediagen.measured_shift_s(media.read_audio(str(styled)), media.read_audio(str(dst)))
    assert shift == pytest.approx(DRIFT, abs=1e-3)


def test_srt_becomes_webvtt_in_webm_and_is_named_in_avi(folder, grid_clip, tmp_path):
    vp9, mpeg4 = folder / "vp9.mkv", folder / "mpeg4.mkv"
    for out, codecs in ((vp9, ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"]),
                        (mpeg4, ["-c:v", "mpeg4", "-c:a", "libmp3lame"])):
        ffmpeg("-i", grid_clip, "-i", folder / "cues.srt", "-map", "0:v", "-map", "0:a", "-map", "1", *codecs,
               "-c:s", "srt", out)
    webm = export.export_synced(str(vp9), str(tmp_path / "out.webm"), DRIFT)
    assert [s["codec_name"] for s in streams(tmp_path / "out.webm", "subtitle")] == ["webvtt"]
    np.testing.assert_allclose(cues(tmp_path / "out.webm"), np.array(cues(vp9)) - DRIFT, atol=0.002)
    assert webm["dropped"] == []
    avi = export.export_synced(str(mpeg4), str(tmp_path / "out.avi"), DRIFT)
    assert streams(tmp_path / "out.avi", "subtitle") == []
    assert avi["dropped"] == ["stream #2 (subtitle, subrip): .avi cannot carry subtitles"]


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv"])
def test_a_phone_clip_keeps_its_rotation_and_its_tags(long_source, tmp_path, ext):
    tags = {"title": "Phone", "creation_time": "2026-11-30T10:00:00.000000Z", "comment": "at the park"}
    src = mediagen.write_clip(tmp_path / "phone.mp4", *long_source, rotation=90, audio_codec="aac", audio_rate=48000,
                              channels=2, video_options=mediagen.RECORDERS["x264_bframes"], tags=tags)
    dst = tmp_path / f"out{ext}"
    export.export_synced(str(src), str(dst), DRIFT)
    [video] = streams(dst, "video")
    assert [d.get("rotation") for d in video.get("side_data_list", [])] == [90]
    with av.open(str(dst)) as c:
        assert next(c.decode(video=0)).rotation == 90
    kept = {k.lower(): v for k, v in probe(dst)["format"]["tags"].items()}  # Matroska's are upper case
    assert {k: kept.get(k) for k in tags} == tags


def test_a_stream_the_muxer_lost_is_caught_before_the_rename(obs, tmp_path):
    """The file is read back before it takes its name: it must hold every stream given packets."""
    path = tmp_path / "written.mp4"
    n = export.export_synced(str(obs), str(path), 0.0)["video_packets"]
    export._check_written(str(path), "out.mp4", export._Written(n, {"video": 1, "audio": 2, "subtitle": 1}, []))
    for lost in ({"audio": 3}, {"subtitle": 2}):
        expected = export._Written(n, {"video": 1, "audio": 2, "subtitle": 1, **lost}, [])
        with pytest.raises(ExportError, match=f"a {next(iter(lost))} stream was lost"):
            export._check_written(str(path), "out.mp4", expected)
