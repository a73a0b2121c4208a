"""Long recordings read sparsely (core.sparse): windows spread over the clip, refined where the
drift moves; the same answer as the full pass; export applies the sparse track."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from wlos_app.core import sparse
from wlos_app.core.analysis import AnalysisConfig, analyze

# The tests' recordings are two minutes long (the 20 sample clips twice): read sparsely from 20 s on.
SPARSE = AnalysisConfig(sparse_from_s=20.0, keep_audio=False, keep_face_frames=False)
JUMP_S = 71.0
F = 0.04


def jump(t):
    return np.where(np.asarray(t, float) < JUMP_S, 1 * F, 6 * F)


@pytest.fixture(scope="module")
def minute(sample_clips):
    import mediagen
    return mediagen.concat(sample_clips[:20] * 2)


@pytest.fixture(scope="module")
def jumping(minute, tmp_path_factory):
    """Two minutes whose sound is 1 frame late, then 6 frames late from JUMP_S on."""
    import mediagen
    return str(mediagen.write_clip(tmp_path_factory.mktemp("sparse") / "jump.mp4", *minute, drift_s=jump))


@pytest.fixture(scope="module")
def both(jumping):
    return analyze(jumping, SPARSE), analyze(jumping, replace(SPARSE, full=True))


def test_fit_finds_jumps_and_slopes_and_ignores_one_wrong_window():
    rng = np.random.default_rng(0)
    t = np.arange(60.0, 3600.0, 120.0)
    steps = np.where(t < 1200, 1.0, np.where(t < 2400, 6.0, -2.0)) + rng.normal(0, 0.2, len(t))
    steps[7] += 5.0  # one window reads a wrong drift
    pieces = sparse.fit([(a, b, 0.95) for a, b in zip(t, steps)])
    assert len(pieces) == 3 and all(p.b == 0 for p in pieces)
    assert [round(p.a) for p in pieces] == [1, 6, -2]
    ramp = t / 3600 * 8 + rng.normal(0, 0.2, len(t))
    [p] = sparse.fit([(a, b, 0.95) for a, b in zip(t, ramp)])
    assert p.b * 3600 == pytest.approx(8, abs=0.5)
    flat = 3 + rng.normal(0, 0.2, len(t))
    [p] = sparse.fit([(a, b, 0.95) for a, b in zip(t, flat)])
    assert p.b == 0 and p.a == pytest.approx(3, abs=0.3)


def test_a_jump_is_found_where_the_full_pass_finds_it(both):
    sp, full = both
    assert sp.reading == "sparse" and full.reading == "full"
    assert sp.seconds_read < 0.9 * full.duration_s
    assert sp.track.model == full.track.model == "piecewise"
    [js], [jf] = ([s.start_s for s in r.track.segments[1:]] for r in (sp, full))
    assert abs(js - jf) <= 1.0 and abs(js - JUMP_S) <= 2.0  # the full pass itself puts it 1.6 s late
    t = np.arange(0.0, full.duration_s, 1.0)
    away = np.abs(t - jf) > 3.0
    assert np.mean(np.abs(sp.track.at(t[away]) - full.track.at(t[away])) <= 1.0) >= 0.99
    assert sp.track.segments[0].start_s == 0.0 and sp.track.segments[-1].end_s == pytest.approx(sp.duration_s)
    assert sp.reliable


def test_the_json_says_which_pass_ran_and_what_was_read(both):
    sp, full = both
    j = json.loads(json.dumps(sp.to_json()))
    assert j["pass"] == "sparse" and j["seconds_read"] == pytest.approx(sum(w["end_s"] - w["start_s"]
                                                                            for w in j["windows"]), abs=0.2)
    assert all("drift_ms" in w or "skipped" in w for w in j["windows"])
    assert {w["why"] for w in j["windows"]} >= {"first pass", "locate"}
    f = full.to_json()
    assert f["pass"] == "full" and "windows" not in f and f["seconds_read"] == pytest.approx(f["duration_s"])


def test_a_stretch_without_speech_is_skipped_and_said(minute, tmp_path):
    import mediagen
    frames, audio, rate = minute
    audio = audio.copy()
    audio[:, int(30 * rate):int(75 * rate)] = 0.0
    path = str(mediagen.write_clip(tmp_path / "quiet.mp4", frames, audio, rate, audio_delay_s=0.12))
    res = analyze(path, SPARSE)
    skipped = [w for w in res.windows if w.result is None]
    assert skipped and all("speech" in w.skipped for w in skipped)
    assert any("gave no answer" in w for w in res.warnings)
    assert abs(res.offset_ms - 120.0) <= 40.0 and res.track.model == "constant"


def test_the_answer_so_far_comes_before_the_last_and_cancel_is_honoured(jumping):
    seen = []
    res = analyze(jumping, SPARSE, on_partial=seen.append)
    assert seen and seen[0].reading == "sparse" and len(seen[0].windows) < len(res.windows)
    from wlos_app.errors import Cancelled
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        analyze(jumping, SPARSE, cancel=cancel)


def test_export_applies_the_sparse_track(both, jumping, tmp_path):
    from wlos_app.core.export import export_synced
    sp, _ = both
    out = str(tmp_path / "fixed.mp4")
    export_synced(jumping, out, sp.track)
    again = analyze(out, SPARSE)
    assert again.track.model == "constant" and abs(again.offset_ms) <= 40.0, again.summary()


def test_short_clips_and_full_are_read_whole(grid_clip):
    assert not sparse.wanted(AnalysisConfig(), __import__("wlos_app.core.media", fromlist=["probe"]).probe(
        str(grid_clip)))
    res = analyze(str(grid_clip), AnalysisConfig(keep_audio=False))
    assert res.reading == "full" and res.windows is None


def test_batches_and_the_cluster_read_long_recordings_sparsely(jumping, tmp_path):
    """A batch's worker and a Dask cluster with a GPU worker (which would split a clip into a
    features task and a networks task) both run the sparse pass, as one task per recording."""
    from wlos_app.core import batch
    out = tmp_path / "b.jsonl"
    batch.run_batch([jumping], SPARSE, out, jobs=1)
    [rec] = [json.loads(x) for x in out.read_text().splitlines()]
    assert rec["pass"] == "sparse" and rec["track_model"] == "piecewise"
    distributed = pytest.importorskip("distributed")
    from wlos_app.core.cluster import run_cluster_batch
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                  resources={"GPU": 1}) as lc, distributed.Client(lc) as client:
        report = run_cluster_batch([jumping], SPARSE, tmp_path / "c.jsonl", client=client)
    [rec] = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert report.counts["drifting"] == 1 and rec["pass"] == "sparse"


def test_an_answer_the_windows_disagree_on_says_so(jumping):
    """--constant on a recording that jumps: the windows match lips and sound, but no one drift fits
    them all; the words say that, not that the lips and the sound do not match."""
    res = analyze(jumping, replace(SPARSE, track_models=("constant",)))
    assert not res.reliable and "stretches read agree with one drift track" in res.summary()
