"""`wlos-app analyze CLIP --json` as a user runs it, a fresh process each time, with the clip's
extraction in a forked process beside the networks' loading (core/overlap.py) and without it
(WLOS_OVERLAP=0), the runs alternated. Prints one table.

    .venv/bin/python benchmarks/cold_start.py CLIP [CLIP ...] [--repeats 3] [--code DIR ...]

--code DIR (repeatable) runs the command from another checkout too (a `git worktree` of an older
commit, say), so that before and after are measured in one table, their runs alternated.

Per clip and way: the wall time of the command (median and range), its peak memory, and the answer
(the runs must agree, or the script says so). The memory is the largest sum over the command's
processes, sampled every 20 ms with psutil, so the extracting process counts too: of resident
memory (RSS, which counts the pages a forked process still shares with its parent twice) and of
proportional memory (PSS, which shares them out).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAYS = (("in one process", "0"), ("extraction forked", "1"))


def run(code: str, clip: str, overlap: str) -> dict:
    env = dict(os.environ, WLOS_OVERLAP=overlap, PYTHONPATH=code)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "wlos_app", "analyze", clip, "--json", "--summary-only"],
                            env=env, cwd=code, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    top, peak, peak_pss = psutil.Process(proc.pid), 0, 0
    while proc.poll() is None:
        try:
            mem = [p.memory_full_info() for p in (top, *top.children(recursive=True))]
            peak = max(peak, sum(m.rss for m in mem))
            peak_pss = max(peak_pss, sum(m.pss for m in mem))
        except psutil.Error:  # a process ended while it was read
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"{clip}: wlos-app analyze exited {proc.returncode}")
    rec = json.loads(out.splitlines()[-1])
    return {"wall": wall, "peak_mb": peak / 2**20, "peak_pss_mb": peak_pss / 2**20,
            "offset_ms": rec["offset_ms"], "confidence": rec["confidence"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--code", action="append", default=[])
    args = ap.parse_args()
    codes = [os.path.abspath(c) for c in args.code] or [ROOT]
    for c in args.clips:
        if not os.path.isfile(c):
            print(f"error: {c}: no such file", file=sys.stderr)
            return 2
    clips = [os.path.abspath(c) for c in args.clips]
    runs: dict = {}
    for _ in range(args.repeats):
        for clip in clips:
            for code in codes:
                for name, flag in WAYS:
                    runs.setdefault((clip, code, name), []).append(run(code, clip, flag))
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"`wlos-app analyze CLIP --json --summary-only`, {args.repeats} runs each way, alternated\n")
    print("| clip | code | way | wall s (median) | wall s (range) | peak RSS MB | peak PSS MB | offset ms "
          "| confidence |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (clip, code, name), rs in runs.items():
        walls = [r["wall"] for r in rs]
        answers = {(round(r["offset_ms"], 3), round(r["confidence"], 4)) for r in rs}
        ans = rs[0]
        print(f"| {os.path.basename(clip)} | {os.path.basename(code)} | {name} | {statistics.median(walls):.2f} "
              f"| {min(walls):.2f}-{max(walls):.2f} | {max(r['peak_mb'] for r in rs):.0f} "
              f"| {max(r['peak_pss_mb'] for r in rs):.0f} | {ans['offset_ms']:+.1f} | {ans['confidence']:.3f} |")
        if len(answers) > 1:
            print(f"|  | | answers differ between runs: {sorted(answers)} | | | | | | |")
    for clip in clips:
        first = [rs[0] for (c, _, _), rs in runs.items() if c == clip]
        if any(abs(a["offset_ms"] - first[0]["offset_ms"]) > 1e-3
               or abs(a["confidence"] - first[0]["confidence"]) > 1e-4 for a in first):
            print(f"\n{os.path.basename(clip)}: the codes or ways disagree")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
