"""Batches on a Dask cluster: the clips of core.batch as Dask tasks, the records in the same JSONL.

Why Dask (distributed) and not Ray: the work is independent tasks over files, which Dask's
futures API covers as it is; it is pure Python (25 MB installed, against Ray's 78 MB wheel with
its own object store and dashboard processes), its local cluster starts in seconds (the tests
start one), and it deploys on what such users have: `dask scheduler` / `dask worker` over SSH,
dask-jobqueue on SLURM/PBS, dask-kubernetes, each worker declaring `--resources GPU=1` if it has one.

On a cluster whose workers declare a GPU resource, each clip is two tasks: the CPU stages
(decoding, face, features: `analysis.extract`) anywhere, and the networks (`analysis.conclude`)
on a GPU worker; the extraction travels between them (a 3 s clip's, pickled: ~0.45 MB). Without GPUs a clip
is one task (`batch.analyze_clip`). A task that kills its worker is retried by Dask on another
(distributed.scheduler.allowed-failures, 3 by default); one Dask gives up on runs again alone at the
end and is recorded as failed only if it kills its worker there too. A rerun resumes from the JSONL
as a local batch does.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace

from ..errors import WlosError
from . import sparse
from .batch import BatchReport, Sink, analyze_clip, error_reason, record_of, worker_init


def _client(address: str | None):
    try:
        from distributed import Client
    except ImportError:
        raise WlosError("--cluster needs Dask distributed: pip install -c constraints.txt -e '.[cluster]'") from None
    try:
        return Client(address, timeout="20s") if address else Client(timeout="20s")  # DASK_SCHEDULER_ADDRESS
    except (OSError, TimeoutError, ValueError) as exc:
        raise WlosError(f"cannot reach the Dask scheduler {address or os.environ.get('DASK_SCHEDULER_ADDRESS')}: "
                        f"{exc.__class__.__name__}: {exc}") from None


def _use_worker_threads() -> None:
    """torch and OpenCV take the threads the worker was started with, not every core of its machine."""
    from distributed import get_worker
    import torch
    n = max(1, int(get_worker().state.nthreads))
    if torch.get_num_threads() != n:
        worker_init(n)


def clip_task(path: str, cfg, summary_only: bool, block_curves: bool, fn: Callable[..., dict] = analyze_clip) -> dict:
    _use_worker_threads()
    return fn(path, cfg, summary_only, block_curves)


def extract_task(path: str, cfg):
    """The CPU stages; a clip that cannot be analysed raises its WlosError (the task errs)."""
    from .analysis import extract
    _use_worker_threads()
    return extract(path, cfg)  # run_cluster_batch's cfg: keep_audio off


def conclude_task(ex, cfg, summary_only: bool, block_curves: bool) -> dict:
    from .analysis import conclude
    _use_worker_threads()
    return record_of(conclude(ex, cfg), summary_only, block_curves)


def _gpu_workers(client) -> int:
    return sum(1 for w in client.scheduler_info(n_workers=-1)["workers"].values() if w.get("resources", {}).get("GPU"))


def run_cluster_batch(paths: list[str], cfg=None, out_path=None, address: str | None = None,
                      summary_only: bool = True, block_curves: bool = False, retry_failed: bool = False,
                      on_record: Callable[[dict], None] | None = None, client=None,
                      fn: Callable[..., dict] = analyze_clip) -> BatchReport:
    """As batch.run_batch, on the Dask cluster at `address` (or DASK_SCHEDULER_ADDRESS, or `client`).
    fn: the per-clip function where the cluster has no GPU workers (as in batch.run_batch)."""
    from distributed import as_completed

    from .analysis import AnalysisConfig
    cfg = replace(cfg or AnalysisConfig(), keep_audio=False, keep_face_frames=False)
    own = client is None
    client = client or _client(address)
    sink = Sink(paths, out_path, retry_failed, on_record)
    try:
        gpus = _gpu_workers(client)
        # In flight: one clip per worker thread. Dask places each on an idle thread, so a worker
        # that dies held only the clips it was running (more queued there would share the blame).
        slots = max(1, sum(client.nthreads().values()))
        todo = iter(sink.todo)

        def submit(path: str, again: bool = False):
            key = hashlib.sha1(path.encode()).hexdigest()[:16] + ("-again" if again else "")
            if gpus and not sparse.wanted_for(path, cfg):  # a long recording's windows run as one task
                ex = client.submit(extract_task, path, cfg, key=f"extract-{key}", pure=False)
                fut = client.submit(conclude_task, ex, cfg, summary_only, block_curves, key=f"conclude-{key}",
                                    resources={"GPU": 1}, pure=False)
            else:
                fut = client.submit(clip_task, path, cfg, summary_only, block_curves, fn, key=f"clip-{key}",
                                    pure=False)
            paths_of[fut.key] = path
            return fut

        paths_of: dict[str, str] = {}
        # Dask blames every clip on a worker that died, a bystander too (one running there when
        # a retry of the culprit killed it, or twice unlucky). So a clip killed beside others is
        # a suspect: it runs again at the end, alone on the cluster, and is recorded as having
        # killed its worker only if it does so there (as batch.run_batch does with its pool).
        suspects: list[str] = []
        alone: set[str] = set()  # keys of the suspects' lone runs
        pending = as_completed([submit(p) for _, p in zip(range(slots), todo)])
        for fut in pending:
            path = paths_of.pop(fut.key)
            if fut.status == "finished":
                sink.finish(fut.result())
            else:
                exc = fut.exception()
                if exc.__class__.__name__ != "KilledWorker":
                    sink.finish({"path": path, "error": error_reason(path, exc)})
                elif fut.key in alone:
                    sink.finish({"path": path, "error": f"{path}: the analysis process died on this clip "
                                                        f"(on every worker that tried it)"})
                else:
                    suspects.append(path)
            fut.release()
            nxt = next(todo, None)
            if nxt is not None:
                pending.add(submit(nxt))
            elif suspects and not paths_of:  # nothing else in flight: the next suspect, alone
                lone = submit(suspects.pop(0), again=True)
                alone.add(lone.key)
                pending.add(lone)
    finally:
        sink.close()
        if own:
            client.close()
    return sink.report
