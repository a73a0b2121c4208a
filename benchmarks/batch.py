"""Batch throughput: `wlos-app analyze FOLDER --jobs N --out FILE` over a folder of clips. Prints a table.

    .venv/bin/python benchmarks/batch.py [--folder /work/cache/grid/data/s1] [--clips 100] [--jobs 1 2]

The first --clips clips of the folder (by name) are linked into a scratch folder; each --jobs
value analyses all of them into a fresh JSONL in a child process (whose wall time includes
starting the worker processes and loading the networks in each), with the default estimator.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wlos_app.core import batch  # noqa: E402

DEFAULT_FOLDER = ROOT.parent / "shared" / "data" / "grid_s1_sample"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", default=str(DEFAULT_FOLDER))
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    clips = batch.find_clips(a.folder)[:a.clips]
    cli = [sys.executable, "-m", "wlos_app.cli"] if not (ROOT / ".venv/bin/wlos-app").exists() \
        else [str(ROOT / ".venv/bin/wlos-app")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPU; {len(clips)} clips from {a.folder}, "
          f"`wlos-app analyze DIR --jobs N --out FILE --summary-only`, default estimator\n")
    print("| jobs | wall | clips/s | clip seconds per second | outcomes |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "clips"
        d.mkdir()
        for c in clips:
            os.symlink(c, d / c.name)
        for jobs in a.jobs:
            out = Path(tmp) / f"r{jobs}.jsonl"
            t0 = time.perf_counter()
            subprocess.run(cli + ["analyze", str(d), "--jobs", str(jobs), "--out", str(out), "--summary-only"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            recs = [json.loads(line) for line in out.read_text().splitlines()]
            seconds = sum(r.get("duration_s") or 0.0 for r in recs)
            kinds = Counter(batch.kind_of(r) for r in recs)
            print(f"| {jobs} | {wall:.0f} s | {len(recs) / wall:.2f} | {seconds / wall:.1f} | "
                  + ", ".join(f"{k} {kinds[k]}" for k in batch.KINDS if kinds[k]) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
