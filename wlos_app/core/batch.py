"""Many clips at once: parallel worker processes, results appended to a JSONL file as they finish.

The per-clip function (`analyze_clip`) never raises: a clip that cannot be analysed gives a record
with its one-line reason, so a bad clip never stops a batch. `run_batch` keeps at most `jobs`
clips in flight in a process pool (each process loads the networks once and keeps them for its
next clips), appends each record to the output as it arrives (flushed and synced, so a killed run
loses at most the clips in flight) and, when the output already holds records, skips those clips:
a rerun resumes. A worker that dies (a crash inside a decoder, a kill) is replaced; the clips it
held run again one at a time, so the clip that killed it is found and recorded as failed and the
others are not blamed. A clip over `timeout_s` is recorded as failed and its process replaced.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import WlosError
from . import outputs, verdict
from .verdict import KINDS

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
              ".flv", ".wmv", ".3gp", ".ogv", ".dv"}


def find_clips(root: str | os.PathLike) -> list[Path]:
    """Video files under `root` (recursively, sorted), or `root` itself if it is a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise PermissionError(f"{root}: folder cannot be read")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found += [Path(dirpath) / f for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_EXTS]
    return found


def expand(inputs: Iterable[str]) -> list[str]:
    """Files as given and the video files under each folder, as absolute paths, each once.
    A file is taken whatever its name, and a missing one too: its analysis gives the reason."""
    seen, out = set(), []
    for item in inputs:
        p = Path(item)
        for clip in (find_clips(p) if p.is_dir() else [p]):
            key = str(clip.resolve())
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out


def error_reason(path: str, exc: BaseException) -> str:
    """The one line a failed clip is reported with."""
    if isinstance(exc, WlosError):
        msg = str(exc)
        return msg if msg.startswith(path) else f"{path}: {msg}"
    return f"{path}: internal error: {exc.__class__.__name__}: {exc}"


def analyze_clip(path: str, cfg=None, summary_only: bool = True, block_curves: bool = False) -> dict:
    """One clip's JSON record, or {"path", "error"} with the reason. Never raises."""
    from .analysis import AnalysisConfig, analyze
    cfg = replace(cfg or AnalysisConfig(), keep_audio=False, keep_face_frames=False)
    try:
        res = analyze(path, cfg)
    except Exception as exc:  # one bad clip must not stop the others
        return {"path": path, "error": error_reason(path, exc)}
    return record_of(res, summary_only, block_curves)


def record_of(res, summary_only: bool = False, block_curves: bool = False) -> dict:
    """A result's JSON line: `analyze --json`, a batch's JSONL and a cluster task all write this."""
    out = res.to_json(per_block_curves=block_curves and not summary_only)
    if summary_only:
        out.pop("blocks", None)
    return out


MAX_REASONS = 10  # failure reasons listed in the table, most frequent first

def kind_of(record: dict) -> str:
    """The outcome a record counts as in the table: its verdict's kind (core.verdict, the same
    words as its summary line), or "failed"."""
    return verdict.of_record(record).kind


def read_done(out_path: str | os.PathLike, retry_failed: bool = False) -> dict[str, dict]:
    """The records already in an output file, by path. A line cut short by a kill is ignored
    (that clip runs again); with retry_failed, failed clips run again too."""
    done: dict[str, dict] = {}
    p = Path(out_path)
    if not p.exists():
        return done
    with open(p, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("path"), str):
                if retry_failed and "error" in rec:
                    done.pop(rec["path"], None)
                else:
                    done[rec["path"]] = rec
    return done


class _Appender:
    """Appends one JSON line per record; each is flushed and synced before the next clip counts.
    The file must already have passed outputs.check_results_file (Sink checks)."""

    def __init__(self, out_path: str | os.PathLike | None):
        self.f = None
        if out_path is not None:
            self.f = open(out_path, "a+b")
            _drop_cut_line(self.f)

    def write(self, record: dict) -> None:
        if self.f is not None:
            self.f.write((json.dumps(record) + "\n").encode())
            self.f.flush()
            os.fsync(self.f.fileno())

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def _drop_cut_line(f) -> None:
    """A kill may have cut the last line in half: it is removed (its clip runs again), so the file
    stays whole lines of JSON."""
    end = f.seek(0, os.SEEK_END)
    if not end:
        return
    f.seek(end - 1)
    if f.read(1) == b"\n":
        return
    f.seek(0)  # read_done has just read the whole file too
    f.truncate(f.read().rfind(b"\n") + 1)
    f.seek(0, os.SEEK_END)


@dataclass
class BatchReport:
    total: int  # clips asked for
    skipped: int  # already in the output
    counts: Counter = field(default_factory=Counter)  # kind -> clips (this run and the skipped)
    reasons: Counter = field(default_factory=Counter)  # failure reason (path removed) -> clips
    seconds: float = 0.0

    def add(self, record: dict) -> None:
        kind = kind_of(record)
        self.counts[kind] += 1
        if kind == "failed":
            reason = record["error"]
            self.reasons[reason[len(record["path"]) + 2:] if reason.startswith(record["path"] + ": ") else reason] += 1

    def table(self) -> str:
        rows = ["| outcome | clips |", "|---|---|"]
        rows += [f"| {k} | {self.counts.get(k, 0)} |" for k in KINDS]
        for reason, n in self.reasons.most_common(MAX_REASONS):
            rows.append(f"| failed: {reason} | {n} |")
        if len(self.reasons) > MAX_REASONS:
            rest = sum(n for _, n in self.reasons.most_common()[MAX_REASONS:])
            rows.append(f"| failed: {len(self.reasons) - MAX_REASONS} other reasons | {rest} |")
        return "\n".join(rows)


class Sink:
    """Where a batch's records go: the output file, the report, the caller. Knows what is done."""

    def __init__(self, paths: list[str], out_path, retry_failed: bool = False,
                 on_record: Callable[[dict], None] | None = None):
        if out_path is not None:
            outputs.check_results_file(str(out_path), paths)
        done = read_done(out_path, retry_failed) if out_path is not None else {}
        self.todo = [p for p in paths if p not in done]
        self.report = BatchReport(total=len(paths), skipped=len(paths) - len(self.todo))
        for p in paths:
            if p in done:
                self.report.add(done[p])
        self.on_record, self.t0 = on_record, time.monotonic()
        self.out = _Appender(out_path)

    def finish(self, record: dict) -> None:
        self.out.write(record)
        self.report.add(record)
        if self.on_record:
            self.on_record(record)

    def close(self) -> None:
        self.out.close()
        self.report.seconds = time.monotonic() - self.t0


def worker_init(threads: int) -> None:
    """A worker process computes on its share of the cores: torch, OpenCV and numpy's BLAS alike.
    Left alone, OpenBLAS starts a thread per core in every worker; two workers on two cores then
    spun for minutes in one small matrix product (the MFCC filter bank), each waiting for a helper
    thread that did not get to run (seen in the test suite: 434 s for a 10 s batch)."""
    import cv2
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    threadpool_limits(threads)  # every BLAS and OpenMP pool loaded so far: numpy's OpenBLAS


def process_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` spawned processes (the caller may be a Qt process with threads, where fork is
    unsafe), each computing on its share of the cores (worker_init)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_init, initargs=(threads,))


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stops a pool's processes now (a clip over its time); the pool is then broken and replaced."""
    for proc in list(getattr(pool, "_processes", {}).values()):
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def run_batch(paths: list[str], cfg=None, out_path: str | os.PathLike | None = None, jobs: int = 1,
              summary_only: bool = True, block_curves: bool = False, retry_failed: bool = False,
              timeout_s: float = 0.0, on_record: Callable[[dict], None] | None = None,
              fn: Callable[..., dict] = analyze_clip) -> BatchReport:
    """Analyses `paths` in `jobs` processes; each record goes to `out_path` (JSONL, appended) and
    to `on_record` as it arrives. Clips already in `out_path` are skipped (counted in the report).
    fn(path, cfg, summary_only, block_curves) -> record is the per-clip function (a module-level
    one: it is sent to the worker processes by name)."""
    sink = Sink(paths, out_path, retry_failed, on_record)
    finish = sink.finish
    jobs = max(1, int(jobs))
    queue = list(reversed(sink.todo))  # popped from the end
    suspects: set[str] = set()  # in a process that died beside others: each runs again alone

    pool = process_pool(jobs)
    running: dict = {}  # future -> (path, started)
    try:
        while queue or running:
            while queue and len(running) < jobs:  # fill the free processes; a suspect runs alone
                if running and (queue[-1] in suspects or any(p in suspects for p, _ in running.values())):
                    break
                path = queue.pop()
                try:
                    fut = pool.submit(fn, path, cfg, summary_only, block_curves)
                except BrokenProcessPool:
                    # A process died since the last look; its clip's future says so below.
                    queue.append(path)
                    if not running:  # none will: start a new pool
                        _kill(pool)
                        pool = process_pool(jobs)
                    break
                running[fut] = (path, time.monotonic())
                if path in suspects:
                    break
            ready, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
            lost = []  # clips whose process died under them
            for fut in ready:
                path, _ = running.pop(fut)
                try:
                    finish(fut.result())
                except BrokenProcessPool:
                    lost.append(path)
            now = time.monotonic()
            late = [f for f, (_, t) in running.items() if timeout_s and now - t > timeout_s]
            for fut in late:
                path, _ = running.pop(fut)
                finish({"path": path, "error": f"{path}: gave no answer within {timeout_s:g} s"})
            if not (lost or late):
                continue
            # The pool is gone, or must go for the late clip: what it still held runs again.
            held = lost + [path for path, _ in running.values()]
            running.clear()
            _kill(pool)
            if lost and len(held) == 1 and not late:
                finish({"path": held[0], "error": f"{held[0]}: the analysis process died on this clip"})
                held = []
            for path in held:
                if lost:
                    suspects.add(path)
                queue.append(path)
            pool = process_pool(jobs)
    finally:  # done, or interrupted: no process is left analysing
        _kill(pool)
        sink.close()
    return sink.report


def write_parquet(jsonl_path: str | os.PathLike, parquet_path: str | os.PathLike) -> int:
    """Every record of a batch's JSONL as one Parquet table (nested fields as Arrow lists and
    structs; a failed clip has only path and error). Written to a temporary file, then renamed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise WlosError("--parquet needs pyarrow: pip install -c constraints.txt -e '.[cluster]'") from None
    records = list(read_done(jsonl_path).values())
    columns = dict.fromkeys(k for r in records for k in r)  # Arrow would take the first record's alone
    records = [{k: r.get(k) for k in columns} for r in records]
    tmp = outputs.temporary_beside(parquet_path)
    try:
        pq.write_table(pa.Table.from_pylist(records), tmp)
        os.replace(tmp, parquet_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return len(records)

