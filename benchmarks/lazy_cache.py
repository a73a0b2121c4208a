"""Training from a feature cache read lazily (trainer.store): C3 training pairs/s and peak memory with
every clip's features in memory, against a budget of a fraction of them. Prints a table.

    .venv/bin/python benchmarks/lazy_cache.py --s1 /work/cache/grid/data/s1 \
        --split-file ../shared/data/grid_s1_split.tsv [--steps 60] [--fraction 0.1] [--repeats 2] \
        [--copies 1 10] [--threads 1]

Each run is a child process (so its peak RSS is its own) that builds the s1 clips from the v2
cache (made by an earlier build), keeps the split file's training clips (with --copies K > 1,
each of them K times under other names and cache files symlinked to its own: a cache K times
larger, read from the page cache) and trains C3 on them for --steps steps (one clip segment per
step, --threads threads, no validation):
- "all in memory": every training clip's features read before the clock starts, as the build did
  before the store (the load time is reported apart), with a budget that holds them all;
- "budget": a budget of --fraction of those bytes, filled with random clips before the clock
  starts (as it is after the first steps of a run), so about 1 - fraction of the steps read their
  clip from the cache again and drop the least recently used (the reads' time is the store's read_s).
Peak RSS is the child's (resource.getrusage): torch and one step's activations, plus the features.
The runs alternate (A B A B ...): the machine may be shared and its speed drift.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = {"all": "all in memory", "budget": "budget"}


def _link(target: str, link: Path) -> str:
    os.symlink(target, link)
    return str(link)


def child(a) -> dict:
    from trainer import dataset, store
    from trainer import train as T
    t0 = time.perf_counter()
    clips = dataset.build(a.s1, workers=1)
    build_s = time.perf_counter() - t0
    train_set, _ = dataset.split_clips(clips, a.split_file)
    links, copies = tempfile.TemporaryDirectory(), a.copies[0]
    if copies > 1:  # a cache `copies` times larger: each training clip again, under other names
        folder = Path(links.name)
        train_set = dataset.ClipSet([
            dataclasses.replace(c, name=f"{c.name}~{k}", source=_link(c.source, folder / f"{k}-{Path(c.source).name}"))
            for k in range(copies) for c in train_set.clips])
    need = train_set.feature_bytes()
    store.STORE.clear()
    budget = store.STORE.set_budget(2 * need if a.child == "all" else int(a.fraction * need))
    t0 = time.perf_counter()
    for i in np.random.default_rng(1).permutation(len(train_set.clips)):  # all, or the budget's fill
        if store.STORE.resident + train_set.clips[i].nbytes > budget:
            break
        train_set.clips[i].feats
    load_s = time.perf_counter() - t0
    store.STORE.reset_stats()
    steps_per_epoch = len(T.segments(train_set, 100, None))
    cfg = T.TrainConfig(kind="c3", epochs=a.steps / steps_per_epoch, val_every=1e9, threads=a.threads,
                        checkpoint_every_s=1e9)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = T.train(cfg, train_set, None, tmp, log=None)
        train_s = time.perf_counter() - t0
    links.cleanup()
    st = store.STORE.stats()
    hours = sum(c.n_frames for c in train_set.clips) / 25.0 / 3600
    return {"mode": a.child, "copies": copies, "clips": len(train_set.clips), "hours": hours,
            "need_mb": need / store.MB,
            "budget_mb": st["budget_mb"], "peak_store_mb": st["peak_mb"], "reads": st["reads"], "hits": st["hits"],
            "read_s": st["read_s"], "steps": res.history[-1]["step"], "pairs_per_s": res.history[-1]["pairs_per_s"],
            "train_s": train_s, "build_s": build_s, "load_s": load_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def metadata(s1: str) -> tuple[float, float]:
    """KB of memory per built clip (features not read), and MB per hour of video, by tracemalloc."""
    import tracemalloc
    from trainer import dataset
    dataset.build(s1, workers=1)  # imports and the index, untraced
    tracemalloc.start()
    clips = dataset.build(s1, workers=1)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hours = sum(c.n_frames for c in clips.clips) / 25.0 / 3600
    return held / len(clips.clips) / 1024, held / hours / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--s1", required=True)
    ap.add_argument("--split-file", required=True)
    ap.add_argument("--steps", type=int, default=60, help="C3 steps per run (one clip segment each)")
    ap.add_argument("--fraction", type=float, default=0.1, help="the budget, as a share of the features")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 10],
                    help="cache sizes, in copies of the training clips (symlinked cache files)")
    ap.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a)))
        return 0
    meta_kb, per_hour = metadata(a.s1)
    base = [sys.executable, __file__, "--s1", a.s1, "--split-file", a.split_file, "--steps", str(a.steps),
            "--fraction", str(a.fraction), "--threads", str(a.threads)]
    rows = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for copies in a.copies:
        for r in range(a.repeats):
            for mode in MODES:
                out = subprocess.run(base + ["--child", mode, "--copies", str(copies)], capture_output=True, text=True,
                                     env=env, check=True)
                rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "repeat": r + 1})
                print(f"copies {copies} run {r + 1} {mode}: {rows[-1]}", file=sys.stderr, flush=True)
    first = rows[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPU (shared); GRID s1, {first['clips']} training "
          f"clips ({first['hours'] * 60:.0f} min of video, {first['need_mb']:.1f} MB of features in memory), and the "
          f"same clips repeated as a larger cache; "
          f"C3, {a.steps} steps of one clip segment, {a.threads} thread(s); runs alternated. A clip's metadata "
          f"(kept for every clip, whatever the budget): {meta_kb:.2f} KB, {per_hour:.1f} MB per hour of video\n")
    print("| cache (hours of video, features MB in memory) | run | features kept | budget MB | peak kept MB "
          "| reads (resident hits) | read s | load before s | training s | C³ training pairs/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        what = MODES[row["mode"]] + ("" if row["mode"] == "all" else f" ({a.fraction:.0%} of them)")
        cache = f"{row['clips']} clips ({row['hours']:.1f} h, {row['need_mb']:.0f} MB)"
        print(f"| {cache} | {row['repeat']} | {what} | {row['budget_mb']:.1f} | {row['peak_store_mb']:.1f} | "
              f"{row['reads']} ({row['hits']}) | {row['read_s']:.2f} | {row['load_s']:.2f} | {row['train_s']:.1f} | "
              f"{row['pairs_per_s']:,.0f} | {row['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
