"""Batches: `wlos-app analyze FOLDER --jobs N --out FILE.jsonl` (core.batch)."""
from __future__ import annotations

import json
import shutil

import pytest

from wlos_app.core import batch


@pytest.fixture(autouse=True)
def _environment_kept():
    """Dask's LocalCluster sets OMP_NUM_THREADS=1 and more in this process's environment for its
    workers and leaves them: later tests' worker processes would compute with other thread counts."""
    import os
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def folder(sample_clips, tmp_path):
    """Four real clips (one 200 ms late, one in a subfolder), a text file named .mp4, a cut-off clip."""
    import mediagen
    d = tmp_path / "clips"
    (d / "sub").mkdir(parents=True)
    for c in sample_clips[:2]:
        shutil.copy(c, d / c.name)
    shutil.copy(sample_clips[2], d / "sub" / sample_clips[2].name)
    frames, audio, rate = mediagen.load_clip(sample_clips[3])
    mediagen.write_clip(d / "late.mp4", frames, audio, rate, audio_delay_s=0.2)
    (d / "notes.mp4").write_text("not a video")
    (d / "sub" / "cut.mpg").write_bytes(sample_clips[4].read_bytes()[:30000])
    (d / "readme.txt").write_text("ignored: not a video name")
    return d


def test_a_folder_in_two_processes_then_resumed(folder, tmp_path, capsys):
    from wlos_app.cli import main
    out = tmp_path / "results.jsonl"
    assert main(["analyze", str(folder), "--jobs", "2", "--out", str(out), "--summary-only"]) == 1  # 2 failed
    recs = {r["path"]: r for r in _lines(out)}
    assert len(recs) == 6 and len(_lines(out)) == 6  # every video once; readme.txt not taken
    assert all(p.startswith(str(folder)) for p in recs)
    late = recs[str(folder / "late.mp4")]
    assert abs(late["offset_ms"] - 200) <= 40 and "blocks" not in late
    assert "not a readable video" in recs[str(folder / "notes.mp4")]["error"]
    assert "error" in recs[str(folder / "sub" / "cut.mpg")]
    table = capsys.readouterr().out
    assert "6 clips: 6 analysed" in table and "| failed | 2 |" in table
    assert "| failed: not a readable video file" in table

    # A kill mid-write leaves half a line: that clip runs again, the others are skipped.
    text = out.read_text().splitlines(keepends=True)
    cut = next(i for i, r in enumerate(text) if "late.mp4" in r)
    out.write_text("".join(text[:cut] + text[cut + 1:]) + text[cut][:40])
    assert main(["analyze", str(folder), "--jobs", "2", "--out", str(out), "--summary-only"]) == 1
    assert "6 clips: 1 analysed" in capsys.readouterr().out
    recs = _lines_tolerant(out)
    assert sorted(r["path"] for r in recs) == sorted({r["path"] for r in recs})  # each clip once
    assert len(recs) == 6

    # --retry-failed runs the two failures again (and they fail again, with the same reasons); the
    # Parquet table holds the JSONL's latest record of each clip.
    pq = pytest.importorskip("pyarrow.parquet")
    table = tmp_path / "results.parquet"
    assert main(["analyze", str(folder), "--out", str(out), "--retry-failed", "--summary-only",
                 "--parquet", str(table)]) == 1
    assert "6 clips: 2 analysed" in capsys.readouterr().out
    t = pq.read_table(table).to_pylist()
    assert len(t) == 6 and {r["path"] for r in t} == set(recs_by_path(out))
    row = next(r for r in t if r["path"].endswith("late.mp4"))
    assert abs(row["offset_ms"] - 200) <= 40 and row["error"] is None and row["track"]


def recs_by_path(path):
    return {r["path"]: r for r in _lines_tolerant(path)}


def _lines_tolerant(path):
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def test_a_worker_that_crashes_or_hangs_costs_only_its_clip(tmp_path):
    """A clip that kills its process (a decoder bug) is found by running the clips it shared the
    pool with again one at a time; a clip over the time limit is stopped. All others finish."""
    from batchfns import scripted
    names = ["a.mp4", "b.mp4", "crash.mp4", "c.mp4", "d.mp4", "hang.mp4", "e.mp4", "f.mp4"]
    paths = [str(tmp_path / n) for n in names]
    out = tmp_path / "r.jsonl"
    seen = []
    report = batch.run_batch(paths, out_path=out, jobs=2, timeout_s=8.0, fn=scripted, on_record=seen.append)
    recs = {r["path"]: r for r in _lines(out)}
    assert sorted(recs) == sorted(paths) and len(seen) == len(paths)
    assert "died on this clip" in recs[str(tmp_path / "crash.mp4")]["error"]
    assert "no answer within 8 s" in recs[str(tmp_path / "hang.mp4")]["error"]
    assert all("error" not in r for p, r in recs.items() if "crash" not in p and "hang" not in p)
    assert report.counts["failed"] == 2 and report.counts["in sync"] == 6
    assert report.seconds < 60


class _BreaksOnce:
    """A real pool whose `n`-th submit raises BrokenProcessPool once: a process that died
    between the batch's last look at its futures and its next submit."""

    def __init__(self, pool, n: int, calls: list):
        self.pool, self.n, self.calls = pool, n, calls

    def submit(self, *args):
        self.calls.append(args[1])
        if len(self.calls) == self.n:
            from concurrent.futures.process import BrokenProcessPool
            raise BrokenProcessPool("a child process terminated abruptly")
        return self.pool.submit(*args)

    def __getattr__(self, name):
        return getattr(self.pool, name)


@pytest.mark.parametrize("nth", [1, 3])
def test_a_pool_that_breaks_between_two_looks_loses_no_clip(tmp_path, monkeypatch, nth):
    """Seen in the suite: the pool broke after the batch had read its futures, and the next submit
    raised out of run_batch. That clip goes back on the queue; every clip gets its record."""
    from batchfns import scripted
    real, calls = batch.process_pool, []
    monkeypatch.setattr(batch, "process_pool", lambda jobs: _BreaksOnce(real(jobs), nth, calls))
    paths = [str(tmp_path / f"{c}.mp4") for c in "abcde"]
    report = batch.run_batch(paths, out_path=tmp_path / "r.jsonl", jobs=2, fn=scripted)
    assert sorted(r["path"] for r in _lines(tmp_path / "r.jsonl")) == sorted(paths)
    assert report.counts["in sync"] == 5
    assert calls.count(calls[nth - 1]) == 2  # the refused clip was submitted again


def test_outcome_kinds():
    base = {"path": "x", "fps": 25.0, "reliable": True, "confidence": 0.9, "track_model": "constant"}
    seg = lambda a, b: [{"drift_ms_start": a, "drift_ms_end": b}]  # noqa: E731
    assert batch.kind_of({**base, "offset_ms": 19.0, "segments": seg(19.0, 19.0)}) == "in sync"
    # beyond half a frame is an offset, as the summary line says it ("audio is 28 ms early")
    assert batch.kind_of({**base, "offset_ms": -28.0, "segments": seg(-28.0, -28.0)}) == "offset"
    assert batch.kind_of({**base, "offset_ms": 45.0, "segments": seg(45.0, 45.0)}) == "offset"
    assert batch.kind_of({**base, "track_model": "linear", "offset_ms": 10.0, "segments": seg(0.0, 90.0)}) == "drifting"
    assert batch.kind_of({**base, "reliable": False, "offset_ms": 0.0}) == "unreliable"
    assert batch.kind_of({"path": "x", "error": "x: bad"}) == "failed"
    # 50 fps: half a frame is 10 ms
    assert batch.kind_of({**base, "fps": 50.0, "offset_ms": 12.0, "segments": seg(12.0, 12.0)}) == "offset"


def test_inputs_are_expanded_once_and_a_missing_one_is_reported(folder, tmp_path, capsys):
    from wlos_app.cli import main
    paths = batch.expand([str(folder), str(folder / "late.mp4"), str(folder / "sub")])
    assert len(paths) == 6 and len(set(paths)) == 6
    missing = tmp_path / "nowhere.mp4"
    assert main(["analyze", str(missing), "--jobs", "1", "--json", "--summary-only"]) == 1
    out = capsys.readouterr()
    rec = json.loads(out.out.strip())
    assert rec["path"] == str(missing) and "error" in rec and "Traceback" not in out.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["analyze", str(empty)]) == 2
    assert "no video files" in capsys.readouterr().err


def test_a_batch_on_a_local_dask_cluster_of_two_workers(folder, tmp_path, capsys):
    """The engine's own local cluster (2 worker processes, one thread each), reached by address
    as a real one would be; the same records as a local batch, in the same JSONL."""
    distributed = pytest.importorskip("distributed")
    from wlos_app.cli import main
    out = tmp_path / "cluster.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        assert main(["analyze", str(folder), "--cluster", lc.scheduler_address, "--out", str(out),
                     "--summary-only"]) == 1
        assert "6 clips: 6 analysed" in capsys.readouterr().out
        recs = {r["path"]: r for r in _lines(out)}
        assert len(recs) == 6 and len(_lines(out)) == 6
        assert abs(recs[str(folder / "late.mp4")]["offset_ms"] - 200) <= 40
        assert "not a readable video" in recs[str(folder / "notes.mp4")]["error"]
        # Resumed: nothing left to do.
        assert main(["analyze", str(folder), "--cluster", lc.scheduler_address, "--out", str(out)]) == 1
        assert "6 clips: 0 analysed" in capsys.readouterr().out


def test_the_gpu_split_runs_features_and_networks_as_two_tasks(folder, tmp_path):
    """Workers that declare a GPU take the networks (here a CPU worker declares one: the split,
    the features moving between workers and the records are what is tested, not the device)."""
    distributed = pytest.importorskip("distributed")
    from wlos_app.core.analysis import AnalysisConfig
    from wlos_app.core.cluster import run_cluster_batch
    paths = batch.expand([str(folder / "late.mp4"), str(folder / "notes.mp4")])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  resources={"GPU": 1}) as lc, distributed.Client(lc) as client:
        with distributed.get_task_stream(client) as ts:
            report = run_cluster_batch(paths, AnalysisConfig(device="cpu"), tmp_path / "r.jsonl", client=client)
        kinds = {str(t["key"]).split("-")[0] for t in ts.data}
    assert kinds == {"extract", "conclude"}, kinds
    recs = {r["path"]: r for r in _lines(tmp_path / "r.jsonl")}
    assert abs(recs[paths[0]]["offset_ms"] - 200) <= 40 and "timings_s" in recs[paths[0]]
    assert "features" in recs[paths[0]]["timings_s"]  # the extract task's timings came along
    assert "not a readable video" in recs[paths[1]]["error"]
    assert report.counts["failed"] == 1


def test_a_clip_that_kills_its_dask_worker_is_recorded_and_the_rest_finish(tmp_path):
    distributed = pytest.importorskip("distributed")
    import dask
    from batchfns import scripted
    from wlos_app.core.cluster import run_cluster_batch
    paths = [str(tmp_path / n) for n in ("a.mp4", "crash.mp4", "b.mp4", "c.mp4")]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as lc, distributed.Client(lc) as client:
        report = run_cluster_batch(paths, None, tmp_path / "r.jsonl", client=client, fn=scripted)
    recs = {r["path"]: r for r in _lines(tmp_path / "r.jsonl")}
    assert sorted(recs) == sorted(paths)
    assert "died on this clip" in recs[paths[1]]["error"]
    assert report.counts["in sync"] == 3 and report.counts["failed"] == 1


def test_a_clip_killed_beside_the_culprit_runs_again_alone_and_finishes(tmp_path):
    """Two clips on one worker process: the crash takes the slow clip down with it, and Dask
    (allowed-failures 0) blames both. Each runs again alone: only the culprit is recorded as dying."""
    distributed = pytest.importorskip("distributed")
    import dask
    from batchfns import scripted
    from wlos_app.core.cluster import run_cluster_batch
    paths = [str(tmp_path / n) for n in ("slow.mp4", "crash.mp4")]
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                     dashboard_address=None) as lc, distributed.Client(lc) as client:
        report = run_cluster_batch(paths, None, tmp_path / "r.jsonl", client=client, fn=scripted)
    recs = {r["path"]: r for r in _lines(tmp_path / "r.jsonl")}
    assert "error" not in recs[paths[0]], recs[paths[0]]
    assert "died on this clip" in recs[paths[1]]["error"]
    assert report.counts["in sync"] == 1 and report.counts["failed"] == 1
