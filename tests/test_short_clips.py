"""Clips from 0.6 s: answered with the search they allow, and the search is said."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from wlos_app.core.analysis import AnalysisConfig, analyze
from wlos_app.core.estimators import reach_of
from wlos_app.core.grid import MAX_SHIFT
from wlos_app.errors import TooShortError


def test_reach_of_a_clip():
    assert [reach_of(n) for n in (14, 15, 18, 22, 28, 29, 500)] == [2, 2, 4, 6, 9, 9, 9]


def cut_from(long_source, start: int, n: int, late_frames: int):
    """n frames from `start` of the 12 s recording, with the sound heard there `late_frames` late,
    as a short clip cut from a longer broadcast (its sound runs on beyond the cut's picture)."""
    frames, audio, rate = long_source
    part = [(t - frames[start][0], im) for t, im in frames[start:start + n]]
    a = int(round((frames[start][0] - late_frames / 25.0) * rate))
    return part, audio[:, a:a + int(round(n / 25.0 * rate))], rate


@pytest.mark.parametrize("n", [15, 22])
def test_short_clips_are_answered_within_the_search_they_allow(long_source, tmp_path, n):
    """4 cuts across the recording x the sound moved across the whole search. Measured on this
    CPU with the shipped model: 16 of 20 within a frame at 0.6 s (+-2 searched), 14 of 20 at
    0.88 s (+-6); benchmarks.accuracy short has the rates on 40 clips (0.95 and 0.89)."""
    import mediagen
    reach = reach_of(n)
    right, results = 0, []
    for k, start in enumerate((40, 115, 190, 265)):
        for late in (-reach, -(reach // 2), 0, reach // 2, reach):
            clip = mediagen.write_clip(tmp_path / f"cut{n}_{k}_{late:+d}.mp4", *cut_from(long_source, start, n, late))
            res = analyze(str(clip), AnalysisConfig())
            results.append((late, round(res.offset_ms / 40.0, 2), res.confidence))
            assert res.search_frames == reach
            assert res.to_json()["search_range_ms"] == [-40.0 * reach, 40.0 * reach]
            assert abs(res.offset_ms) <= 40.0 * reach + 20  # never beyond what was searched
            assert any("searched +-" in w for w in res.warnings)
            right += abs(res.offset_ms / 40.0 - late) <= 1.0
    assert right >= 13, results


def test_shorter_than_0_6_s_is_refused_with_the_reason(long_source, tmp_path):
    import mediagen
    clip = mediagen.write_clip(tmp_path / "tiny.mp4", *cut_from(long_source, 100, 14, 0))
    with pytest.raises(TooShortError, match="0.56 s.*at least 0.60 s"):
        analyze(str(clip), AnalysisConfig())
    r = subprocess.run([sys.executable, "-m", "wlos_app", "analyze", "--json", str(clip)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "at least 0.60 s" in json.loads(r.stdout.splitlines()[0])["error"]


def test_the_paper_methods_search_no_further_than_a_short_clip_allows(long_source, tmp_path):
    import mediagen
    clip = mediagen.write_clip(tmp_path / "c.mp4", *cut_from(long_source, 115, 18, 0))
    for method in ("c3", "wlos", "qmi"):
        res = analyze(str(clip), AnalysisConfig(method=method))
        assert res.search_frames == reach_of(18) < MAX_SHIFT
        assert not np.isfinite(res.offset_ms) or abs(res.offset_ms) <= 40.0 * reach_of(18) + 20
