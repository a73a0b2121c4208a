"""Finding the cache files of a folder of videos (trainer.dataset.ContentKeys): every video read in
full and hashed, against keys remembered in keys.jsonl and checked with a stat. Prints a table.

    .venv/bin/python benchmarks/content_keys.py /work/cache/grid/data/s1 [--repeats 3]

Each repeat hashes the folder with a new, empty keys.jsonl ("first build"), then finds the keys
again from it ("rebuild"). The videos are read from the page cache after the first repeat, so the
hashing times are a lower bound for a folder on disk.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from trainer import dataset
    paths = dataset.find_clips(args.folder)
    size = sum(p.stat().st_size for p in paths)
    rows = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as root:
            times = []
            for _run in ("first build", "rebuild"):
                keys = dataset.ContentKeys(Path(root))  # read from keys.jsonl, as a build does
                t = time.perf_counter()
                found = [keys(p) for p in paths]
                keys.save()
                times.append(time.perf_counter() - t)
            assert found[0] == dataset.content_key(paths[0])  # the remembered key is the content key
            rows.append(times)
    print(f"{len(paths)} videos, {size / 1e6:.0f} MB, in {args.folder}")
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| keys found by | time, each repeat | per video |")
    print("|---|---|---|")
    for i, name in enumerate(("reading and hashing every video", "keys.jsonl and a stat")):
        ts = [r[i] for r in rows]
        print(f"| {name} | {' / '.join(f'{t:.3f} s' for t in ts)} | {min(ts) / len(paths) * 1e3:.2f} ms |")


if __name__ == "__main__":
    main()
