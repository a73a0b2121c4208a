"""Where one analysis spends its time, stage by stage, against a plain decode. Prints one table.

    .venv/bin/python benchmarks/stages.py CLIP [--code DIR ...] [--repeats 3] [--env NAME=VALUE ...]
    .venv/bin/python benchmarks/stages.py --make OUT.mp4 [--source SRC] [--seconds 60] [--size 720x576]
    .venv/bin/python benchmarks/stages.py --warm CLIP_DIR [--code DIR ...] [--env NAME=VALUE ...]

Each run is a fresh process, as `wlos-app analyze` is: it imports the libraries, loads the models
and analyses CLIP with the default estimator. Printed per run: the analysis's own stage timings,
its wall time (model load included), x real time, its peak memory (the child's getrusage), and
the ratio to a plain threaded PyAV decode of the same video (`for f in c.decode(video=0)` with
`thread_type="AUTO"`, the best of --repeats).

--code DIR (repeatable) runs the analysis from another checkout (a `git worktree` of an older
commit, say), so that before and after are measured in one table, their runs alternated. --env
NAME=VALUE (repeatable, each its own row, with this checkout) sets an environment variable, e.g.
OMP_WAIT_POLICY=ACTIVE (OpenMP's threads spinning, as before wlos_app set it passive).

--warm CLIP_DIR: short clips analysed one after another in one process, after a warm-up clip
(models loaded, caches warm): mean stages and seconds per clip, x real time (the 3 s GRID aim).

--make writes a test input: SRC (default: the speakers set's CNN anchor, one shot of one person)
scaled into SIZE, cut or looped to --seconds, H.264 (x264 medium) + AAC 48 kHz stereo, with
ffmpeg.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEAKERS_ANCHOR = ROOT.parent / "data" / "speakers" / "cnn_anchor" / "cnn_anchor.mp4"
STAGES = ("load_models", "decode_audio", "decode_video", "face", "features", "fusion")

CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from wlos_app.core import analysis
t1 = time.perf_counter()
r = analysis.analyze(sys.argv[2], analysis.AnalysisConfig(keep_audio=False, keep_face_frames=False))
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "analyze": t2 - t1, "timings": r.timings, "offset_ms": r.offset_ms,
                  "confidence": r.confidence, "duration_s": r.duration_s,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

WARM = r"""
import glob, json, os, sys, time
sys.path.insert(0, sys.argv[1])
from wlos_app.core import analysis
clips = sorted(glob.glob(os.path.join(sys.argv[2], "*.mpg")) + glob.glob(os.path.join(sys.argv[2], "*.mp4")))
cfg = analysis.AnalysisConfig(keep_audio=False, keep_face_frames=False)
analysis.analyze(clips[0], cfg)
walls, dur, stages = [], 0.0, {}
for c in clips:
    t0 = time.perf_counter()
    r = analysis.analyze(c, cfg)
    walls.append(time.perf_counter() - t0)
    dur += r.duration_s
    for k, v in r.timings.items():
        stages[k] = stages.get(k, 0.0) + v / len(clips)
print(json.dumps({"per_clip": sum(walls) / len(walls), "x": dur / sum(walls), "timings": stages, "n": len(clips)}))
"""


def warm(a, variants) -> int:
    print(f"{platform.machine()}, {os.cpu_count()} cores; the clips of {a.warm} one after another in one "
          f"process, warm; mean per clip, each row the median of {a.repeats} processes\n")
    print("| code | env | " + " | ".join(STAGES[1:]) + " | seconds per clip | x real time |")
    print("|---|---|" + "---|" * (len(STAGES) + 1))
    rows = {i: [] for i in range(len(variants))}
    for _ in range(a.repeats):
        for i, (code, env) in enumerate(variants):
            proc = subprocess.run([sys.executable, "-c", WARM, code, a.warm], capture_output=True, text=True,
                                  env={**os.environ, **env})
            if proc.returncode != 0:
                raise SystemExit(proc.stderr.strip().splitlines()[-1])
            rows[i].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for i, (code, env) in enumerate(variants):
        r = sorted(rows[i], key=lambda x: x["per_clip"])[len(rows[i]) // 2]
        envs = " ".join(f"{k}={v}" for k, v in env.items()) or "-"
        stages = " | ".join(f"{r['timings'].get(s, 0.0):.3f}" for s in STAGES[1:])
        print(f"| {Path(code).name} | {envs} | {stages} | {r['per_clip']:.3f} | {r['x']:.1f}x |")
    return 0


def plain_decode_s(path: str) -> float:
    import av
    t0 = time.perf_counter()
    with av.open(path) as c:
        c.streams.video[0].thread_type = "AUTO"
        for _ in c.decode(video=0):
            pass
    return time.perf_counter() - t0


def make(out: str, source: str, seconds: float, size: str) -> None:
    w, h = (int(v) for v in size.split("x"))
    vf = f"scale=-2:{h},pad={w}:{h}:(ow-iw)/2:0,fps=25"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", source, "-t", str(seconds),
                    "-vf", vf, "-c:v", "libx264", "-preset", "medium", "-c:a", "aac", "-ar", "48000", "-ac", "2",
                    out], check=True)


def run_child(code: str, clip: str, env: dict) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, code, clip], capture_output=True, text=True,
                          env={**os.environ, **env})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip().splitlines()[-1])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?")
    ap.add_argument("--code", action="append", help="a checkout to run the analysis from (default: this one)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for a run of its own")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--make", metavar="OUT")
    ap.add_argument("--source", default=str(SPEAKERS_ANCHOR))
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="720x576")
    ap.add_argument("--warm", metavar="CLIP_DIR")
    a = ap.parse_args()
    if a.make:
        make(a.make, a.source, a.seconds, a.size)
        return 0
    variants = [(code, {}) for code in (a.code or [str(ROOT)])]
    for item in a.env:
        name, _, value = item.partition("=")
        variants += [(str(ROOT), {name: value})]
    if a.warm:
        return warm(a, variants)
    if not a.clip:
        ap.error("give a CLIP (or --make one, or --warm a folder)")
    decode = min(plain_decode_s(a.clip) for _ in range(a.repeats))
    rows = {i: [] for i in range(len(variants))}
    for _ in range(a.repeats):  # alternated, so that a slow minute hits every variant alike
        for i, (code, env) in enumerate(variants):
            rows[i].append(run_child(code, a.clip, env))
    print(f"{platform.machine()}, {os.cpu_count()} cores; {Path(a.clip).name}; plain threaded decode "
          f"{decode:.2f} s (best of {a.repeats}); each row the median run of {a.repeats} by wall time\n")
    print("| code | env | " + " | ".join(STAGES) + " | wall (process) | x real time | / plain decode | peak MB | "
          "offset ms | confidence |")
    print("|---|---|" + "---|" * (len(STAGES) + 7))
    for i, (code, env) in enumerate(variants):
        runs = sorted(rows[i], key=lambda r: r["wall"])
        r = runs[len(runs) // 2]
        stages = " | ".join(f"{r['timings'].get(s, 0.0):.2f}" for s in STAGES)
        envs = " ".join(f"{k}={v}" for k, v in env.items()) or "-"
        print(f"| {Path(code).name} | {envs} | {stages} | {r['wall']:.2f} | {r['duration_s'] / r['wall']:.1f}x | "
              f"{r['wall'] / decode:.2f} | {max(x['peak_mb'] for x in runs):.0f} | {r['offset_ms']:+.1f} | "
              f"{r['confidence']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
