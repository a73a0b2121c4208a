"""Files as the ffmpeg command line presents them: the independent reference for export tests.

Players time sound against picture: mpv and ffplay play each decoded audio sample at its
timestamp on the clock that also times the pictures. So both readings here keep the container's
clock (-copyts) and measure from the first picture shown; measured from the file's own start
instead, a container whose audio starts before its picture (AAC's priming kept in Matroska, Opus's
pre-skip) would look shifted by that codec delay, though it plays in sync.

Gaps in the audio's timestamps are kept as players keep them: ffmpeg's aresample smooths over gaps
shorter than 0.1 s unless told otherwise, mpv leaves them silent (a fragmented MP4 whose first AAC
packet is stamped 16 ms early plays 16 ms later in mpv). min_hard_comp=0.002 fills any gap over
2 ms, the container rounding the reader also snaps over (core/media.py).
"""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

import mediagen

RATE = 16000


def need_ffmpeg() -> None:
    """Skip without the Debian ffmpeg (scripts/setup.sh --test installs it); fail in CI."""
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return
    msg = "ffmpeg/ffprobe not found (scripts/setup.sh --test installs Debian's ffmpeg)"
    if os.environ.get("WLOS_REQUIRE_SHARED") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def _run(cmd: list[str]) -> bytes:
    return subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout


def frames(path) -> list[tuple[float, str]]:
    """(presentation time in s from the first picture, md5 of the decoded picture), in the order
    shown; nothing duplicated or dropped (-fps_mode passthrough)."""
    out = _run(["ffmpeg", "-v", "error", "-copyts", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                "-f", "framemd5", "-"]).decode()
    tb, rows = {}, []
    for line in out.splitlines():
        if line.startswith("#tb"):
            idx, frac = line[3:].split(":")
            num, den = frac.strip().split("/")
            tb[int(idx)] = int(num) / int(den)
        elif line and not line.startswith("#"):
            stream, _dts, pts, _dur, _size, md5 = (x.strip() for x in line.split(","))
            rows.append((int(pts) * tb[int(stream)], md5))
    rows.sort()
    t0 = rows[0][0] if rows else 0.0
    return [(t - t0, h) for t, h in rows]


def first_picture_s(path) -> float:
    """The first picture's presentation time on the container's clock."""
    out = _run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                "frame=pts_time,best_effort_timestamp_time", "-of", "csv=p=0", str(path)]).decode()
    firsts = (line.split(",")[0] for line in out.splitlines())
    return min(float(t) for t in firsts if t not in ("", "N/A"))


def sound(path) -> np.ndarray:
    """Mono float32 at RATE, sample 0 at the first picture (zeros where the sound starts later)."""
    raw = _run(["ffmpeg", "-v", "error", "-copyts", "-i", str(path), "-map", "0:a:0",
                "-af", "aresample=async=1:min_hard_comp=0.002:first_pts=0", "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"])
    a = np.frombuffer(raw, np.float32)
    k = int(round(first_picture_s(path) * RATE))
    return a[k:] if k >= 0 else np.concatenate([np.zeros(-k, np.float32), a])


def shift_s(before: np.ndarray, after: np.ndarray, span_s: float = 2.4, reach_s: float = 0.5) -> float:
    """How much earlier `after` runs than `before` (s; mono at RATE): mediagen.shift_s."""
    return mediagen.shift_s(before, after, RATE, span_s, reach_s)
