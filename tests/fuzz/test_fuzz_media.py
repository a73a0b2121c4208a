"""Property-based runs over generated media (Hypothesis): whatever the file, `analyze` gives finite
numbers or one line of reason, and `export` gives a faithful copy or refuses and leaves nothing.

Inputs (drawn): container and codecs as recorders write them (B-frames, open GOPs, HEVC, VP9, AV1,
fragmented MP4, Opus, FLAC, PCM), frame rate (variable too), picture size, rotation tag,
channel layout, sample rate, duration, audio offset, and damage (a truncated file, random bytes
overwritten). The clips are made from the GRID sample, so a face is there to find.

CI runs a bounded profile (WLOS_FUZZ_EXAMPLES, default 12: about a minute here); a longer one:
    WLOS_FUZZ_EXAMPLES=300 .venv/bin/python -m pytest tests/fuzz -q
Runs are derandomized (the same examples every time) unless WLOS_FUZZ_RANDOM=1.
"""
from __future__ import annotations

import io
import json
import os
import time
from contextlib import redirect_stderr, redirect_stdout

import av
import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ffref
import mediagen
from wlos_app.cli import main
from wlos_app.core import export
from wlos_app.errors import WlosError

pytestmark = pytest.mark.fuzz

PROFILE = settings(max_examples=int(os.environ.get("WLOS_FUZZ_EXAMPLES", "12")), deadline=None,
                   derandomize=os.environ.get("WLOS_FUZZ_RANDOM") != "1", print_blob=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large])

# container -> recipes: (video codec, encoder settings from mediagen.RECORDERS or None, audio
# codec, sample rates it takes, rotation tags kept, muxer options). Beside the plain encodes, what
# recorders write: x264 with B-frames and open GOPs (Matroska keeps no decode times for them, MP4
# and MOV an edit list), HEVC, VP9 and AV1, fragmented MP4, Opus, FLAC and PCM.
_AAC = (8000, 16000, 22050, 44100, 48000)
_FRAG = mediagen.FRAGMENTED
CONTAINERS = {
    ".mp4": [("libx264", None, "aac", _AAC, True, None),
             ("libx264", "x264_bframes", "aac", (16000, 44100, 48000), True, None),
             ("libx264", "x264_open_gop", "aac", (44100, 48000), False, _FRAG),
             ("libx265", "x265", "aac", (16000, 48000), False, None)],
    ".mkv": [("libx264", None, "aac", _AAC, True, None),
             ("libx264", "x264_bframes", "aac", (16000, 44100, 48000), True, None),
             ("libx264", "x264_open_gop", "flac", (16000, 44100, 48000), False, None),
             ("libx264", "x264_bframes", "pcm_s16le", (16000, 44100, 48000), False, None),
             ("libsvtav1", "svtav1", "libopus", (48000,), False, None)],
    ".mov": [("mpeg4", None, "aac", (16000, 44100, 48000), True, None),
             ("libx265", "x265", "pcm_s16le", (16000, 44100, 48000), True, None)],
    ".avi": [("mpeg4", None, "libmp3lame", (8000, 22050, 44100), False, None)],
    ".webm": [("libvpx", None, "libopus", (48000,), False, None),
              ("libvpx-vp9", "vp9", "libopus", (48000,), False, None)],
    ".mpg": [("mpeg1video", None, "mp2", (16000, 44100, 48000), False, None)],
}
FPS = {".mpg": (25.0, 30000 / 1001, 30.0, 50.0)}


@st.composite
def clips(draw):
    ext = draw(st.sampled_from(sorted(CONTAINERS)))
    vcodec, options, acodec, rates, rotates, muxer = draw(st.sampled_from(CONTAINERS[ext]))
    return {
        "ext": ext, "video_codec": vcodec, "video_options": options, "audio_codec": acodec, "muxer": muxer,
        "fps": draw(st.sampled_from(FPS.get(ext, (15.0, 24.0, 25.0, 30000 / 1001, 30.0, 50.0)))),
        "jitter_ms": draw(st.sampled_from((0.0, 0.0, 8.0))) if ext == ".mkv" else 0.0,
        "scale": draw(st.sampled_from((0.5, 1.0, 1.6))),
        "rotation": draw(st.sampled_from((0, 90, -90, 180))) if rotates else 0,
        "channels": draw(st.sampled_from((1, 2, 6) if acodec in ("aac", "flac", "pcm_s16le") else (1, 2))),
        "audio_rate": draw(st.sampled_from(rates)),
        "duration": draw(st.sampled_from((0.6, 1.5, 3.0, 4.0))),
        "delay": draw(st.floats(-0.3, 0.3)),
        "damage": draw(st.sampled_from(("none", "none", "truncate", "flip"))),
        "where": draw(st.floats(0.3, 0.9)),
        "seed": draw(st.integers(0, 2 ** 16)),
    }


def make(spec, long_source, folder):
    frames, audio, rate = long_source
    frames = [(t, _scaled(img, spec["scale"])) for t, img in frames if t < spec["duration"]]
    audio = audio[:, :int(spec["duration"] * rate)]
    path = mediagen.write_clip(folder / f"clip{spec['ext']}", frames, audio, rate, fps=spec["fps"],
                               audio_delay_s=spec["delay"], video_codec=spec["video_codec"],
                               audio_codec=spec["audio_codec"], rotation=spec["rotation"],
                               channels=spec["channels"], audio_rate=spec["audio_rate"],
                               jitter_ms=spec["jitter_ms"], seed=spec["seed"],
                               video_options=mediagen.RECORDERS.get(spec["video_options"]),
                               container_options=spec["muxer"])
    data = bytearray(path.read_bytes())
    cut = int(len(data) * spec["where"])
    if spec["damage"] == "truncate":
        data = data[:cut]
    elif spec["damage"] == "flip":
        rng = np.random.default_rng(spec["seed"])
        for i in rng.integers(min(cut, len(data) - 1), len(data), 64):
            data[i] = int(rng.integers(0, 256))
    path.write_bytes(bytes(data))
    return path


def _scaled(img, scale):
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2), interpolation=cv2.INTER_AREA)


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


@PROFILE
@given(spec=clips())
def test_analyze_gives_finite_numbers_or_one_line_of_reason(spec, long_source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    path = make(spec, long_source, folder)
    t0 = time.monotonic()
    rc, out, err = _run(["analyze", str(path), "--json", "--summary-only"])
    assert time.monotonic() - t0 < 60.0
    assert "Traceback" not in err and "internal error" not in out + err, (spec, err)
    assert rc in (0, 1), (spec, rc, err)
    res = json.loads(out.strip().splitlines()[-1])
    if rc == 0:
        for key in ("offset_ms", "offset_frames", "confidence", "fps", "duration_s"):
            assert res[key] is not None and np.isfinite(res[key]), (spec, key, res)
        assert 0.0 <= res["confidence"] <= 1.0
    else:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "\n" not in res["error"], (spec, err)


@PROFILE
@given(spec=clips(), offset=st.floats(-0.35, 0.35), pick=st.integers(0, 99))
def test_export_is_faithful_or_refuses_and_leaves_nothing(spec, offset, pick, long_source, tmp_path_factory):
    ffref.need_ffmpeg()
    # Three times in four a container that can carry the picture, else any (mostly refusals).
    fits = export.containers_for(av.Codec(spec["video_codec"], "w").canonical_name)
    target = fits[pick % len(fits)] if pick < 75 else export.supported_extensions()[pick % 8]
    folder = tmp_path_factory.mktemp("fuzz")
    src = make(spec, long_source, folder)
    before = sorted(p.name for p in folder.iterdir())
    dst = folder / f"out{target}"
    try:
        result = export.export_synced(str(src), str(dst), offset)
    except WlosError as exc:
        event("export refused")
        assert "\n" not in str(exc)
        assert sorted(p.name for p in folder.iterdir()) == before, (spec, target)  # nothing left behind
        return
    event(f"exported ({spec['damage']})")
    with av.open(str(src), metadata_errors="ignore") as a, av.open(str(dst)) as b:
        assert [bytes(p) for p in a.demux(video=0) if p.size] == [bytes(p) for p in b.demux(video=0) if p.size]
    assert result["video_packets"] > 0
    if spec["damage"] == "none":
        # As ffmpeg presents them (players do the same): the same pictures at the same times, and
        # the sound, measured from the first picture, moved by exactly the asked amount.
        before, after = ffref.frames(src), ffref.frames(dst)
        assert [h for _, h in after] == [h for _, h in before], (spec, target)
        assert np.allclose([t for t, _ in after], [t for t, _ in before], atol=1e-3), (spec, target)
        if spec["duration"] >= 1.5:
            shift = ffref.shift_s(ffref.sound(src), ffref.sound(dst), span_s=spec["duration"] - 0.6)
            assert shift == pytest.approx(offset, abs=1e-3), (spec, target)
