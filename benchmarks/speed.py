"""How fast, and in how much memory: one analysis stage by stage, the command from its start to its
exit, a long recording, a batch. Prints tables.

    .venv/bin/python -m benchmarks.speed stages CLIP [--method M] [--code DIR ...] [--env NAME=VALUE ...] [--repeats 3]
    .venv/bin/python -m benchmarks.speed stages --warm CLIP_DIR [--method M] [--code DIR ...] [--env NAME=VALUE ...]
    .venv/bin/python -m benchmarks.speed stages --make OUT.mp4 [--source SRC] [--seconds 60] [--size 720x576]
    .venv/bin/python -m benchmarks.speed cold CLIP [CLIP ...] [--repeats 3] [--code DIR ...]
    .venv/bin/python -m benchmarks.speed long [--minutes 10] [--join] [--keep FILE] [--window] [--audio 48000x2]
    .venv/bin/python -m benchmarks.speed batch [--folder DIR] [--clips 100] [--jobs 1 2]

- stages: where one analysis spends its time, against a plain threaded decode of the same video,
  each run a fresh process as `wlos-app analyze` is; --warm: short clips one after another in one
  process (the 3 s GRID figure of the README);
- cold: `wlos-app analyze CLIP --json` as a user runs it, with the extraction forked beside the
  networks' loading (core/overlap.py) and without it;
- long: a long recording end to end, its peak memory and speed (`analyze`, and the window);
- batch: `wlos-app analyze FOLDER --jobs N` throughput.

--code DIR (repeatable; stages, cold) runs another checkout too (a `git worktree` of an older
commit, say), so that before and after are measured in one table, their runs alternated.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import psutil

from benchmarks import common

from wlos_app.core import batch, media

ROOT = common.ROOT
SPEAKERS_ANCHOR = common.SPEAKERS / "cnn_anchor" / "cnn_anchor.mp4"
STAGES = ("load_models", "decode_audio", "decode_video", "face", "features")  # then the estimate

CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from wlos_app.core import analysis
t1 = time.perf_counter()
cfg = analysis.AnalysisConfig(method=sys.argv[3], keep_audio=False, keep_face_frames=False)
r = analysis.analyze(sys.argv[2], cfg)
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
cfg = analysis.AnalysisConfig(method=sys.argv[3], keep_audio=False, keep_face_frames=False)
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


def estimate_s(timings: dict) -> float:
    """The estimate's stages: whatever the analysis timed after the features (the method's name)."""
    return sum(v for k, v in timings.items() if k not in STAGES)


def variants_of(a) -> list[tuple[str, dict]]:
    out = [(str(Path(code).resolve()), {}) for code in (a.code or [str(ROOT)])]
    for item in a.env:
        name, _, value = item.partition("=")
        out.append((str(ROOT), {name: value}))
    return out


def _child_json(cmd: list[str], env: dict) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def warm(a, variants) -> int:
    print(f"{common.machine()}; the clips of {a.warm} one after another in one process, warm, method {a.method}; "
          f"mean per clip, each row the median of {a.repeats} processes\n")
    rows = {i: [] for i in range(len(variants))}
    for _ in range(a.repeats):
        for i, (code, env) in enumerate(variants):
            rows[i].append(_child_json([sys.executable, "-c", WARM, code, a.warm, a.method], env))
    t = common.Table("code", "env", *STAGES[1:], "estimate", "seconds per clip", "x real time")
    for i, (code, env) in enumerate(variants):
        r = sorted(rows[i], key=lambda x: x["per_clip"])[len(rows[i]) // 2]
        t.row(Path(code).name, " ".join(f"{k}={v}" for k, v in env.items()) or "-",
              *(f"{r['timings'].get(s, 0.0):.3f}" for s in STAGES[1:]), f"{estimate_s(r['timings']):.3f}",
              f"{r['per_clip']:.3f}", f"{r['x']:.1f}x")
    return 0


def plain_decode_s(path: str) -> float:
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


def add_stages(ap) -> None:
    ap.add_argument("clip", nargs="?")
    ap.add_argument("--method", default="auto", help="the estimator (default: the default one)")
    ap.add_argument("--code", action="append", help="a checkout to run the analysis from (default: this one)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for a run of its own")
    common.options(ap, "repeats")
    ap.add_argument("--make", metavar="OUT", help="write a test input instead (H.264 + AAC 48 kHz stereo)")
    ap.add_argument("--source", default=str(SPEAKERS_ANCHOR), help="--make's source (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="720x576")
    ap.add_argument("--warm", metavar="CLIP_DIR", help="the .mpg/.mp4 clips of a folder, warm, in one process")


def cmd_stages(a) -> int:
    """Where one analysis spends its time, stage by stage, against a plain decode.

    Each run is a fresh process, as `wlos-app analyze` is: it imports the libraries, loads the models
    and analyses CLIP. Printed per run: the analysis's own stage timings, its wall time (model load
    included), x real time, its peak memory (the child's getrusage), and the ratio to a plain
    threaded PyAV decode of the same video (`for f in c.decode(video=0)` with `thread_type="AUTO"`, the
    best of --repeats). --env NAME=VALUE (repeatable, each its own row) sets an environment
    variable, e.g. OMP_WAIT_POLICY=ACTIVE. --warm CLIP_DIR: short clips analysed one after another
    in one process, after a warm-up clip: mean stages and seconds per clip, x real time. --make writes
    a test input: SRC (default: the speakers set's CNN anchor) scaled into SIZE, cut or looped to
    --seconds, H.264 (x264 medium) + AAC 48 kHz stereo, with ffmpeg."""
    if a.make:
        make(a.make, a.source, a.seconds, a.size)
        return 0
    variants = variants_of(a)
    if a.warm:
        return warm(a, variants)
    if not a.clip:
        raise SystemExit("give a CLIP (or --make one, or --warm a folder)")
    decode = min(plain_decode_s(a.clip) for _ in range(a.repeats))
    rows = {i: [] for i in range(len(variants))}
    for _ in range(a.repeats):  # alternated, so that a slow minute hits every variant alike
        for i, (code, env) in enumerate(variants):
            t0 = time.perf_counter()
            out = _child_json([sys.executable, "-c", CHILD, code, a.clip, a.method], env)
            out["wall"] = time.perf_counter() - t0
            rows[i].append(out)
    print(f"{common.machine()}; {Path(a.clip).name}, method {a.method}; plain threaded decode {decode:.2f} s "
          f"(best of {a.repeats}); each row the median run of {a.repeats} by wall time\n")
    t = common.Table("code", "env", *STAGES, "estimate", "wall (process)", "x real time", "/ plain decode", "peak MB",
                     "offset ms", "confidence")
    for i, (code, env) in enumerate(variants):
        runs = sorted(rows[i], key=lambda r: r["wall"])
        r = runs[len(runs) // 2]
        t.row(Path(code).name, " ".join(f"{k}={v}" for k, v in env.items()) or "-",
              *(f"{r['timings'].get(s, 0.0):.2f}" for s in STAGES), f"{estimate_s(r['timings']):.2f}",
              f"{r['wall']:.2f}", f"{r['duration_s'] / r['wall']:.1f}x", f"{r['wall'] / decode:.2f}",
              f"{max(x['peak_mb'] for x in runs):.0f}", f"{r['offset_ms']:+.1f}", f"{r['confidence']:.3f}")
    return 0


WAYS = (("in one process", "0"), ("extraction forked", "1"))


def cold_run(code: str, clip: str, overlap: str) -> dict:
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


def _framed(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The 360x288 picture scaled to the height of `size` (w, h) and centred on grey."""
    import cv2
    w, h = size
    if (w, h) == (360, 288):
        return img[:288, :360]
    sw = int(round(img.shape[1] * h / img.shape[0])) // 2 * 2
    big = cv2.resize(img, (sw, h), interpolation=cv2.INTER_CUBIC)
    out = np.full((h, w, 3), 128, np.uint8)
    x0 = (w - sw) // 2
    out[:, max(0, x0):x0 + sw] = big[:, max(0, -x0):max(0, -x0) + min(w, sw)]
    return out


def write_long(out: Path, clips: list[Path], minutes: float, size: tuple[int, int] = (360, 288),
               preset: str = "ultrafast", rate: int = 16000, channels: int = 1) -> float:
    """Returns the written duration (s). size: (width, height); other sizes than GRID's 360x288
    scale the picture to that height (the face grows with it) and centre it. preset: x264's (its
    "medium" default is what most files have; "ultrafast" decodes faster and writes faster).
    rate, channels: the sound's (48000 and 2 are what cameras and phones record; the sound is
    GRID's, resampled, the same in every channel)."""
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(out), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": preset}
        a_s = c.add_stream("aac", rate=rate)
        a_s.layout = layout
        k, n_audio, done = 0, 0, False
        fs = 1024
        pending = np.zeros(0, np.float32)
        while not done:
            for clip in clips:
                frames = list(media.iter_video_frames(str(clip), "rgb24"))
                sound = media.read_audio(str(clip))
                mono = media.resample(sound.mono(), sound.rate, rate)[:int(len(frames) / 25 * rate)]
                for f in frames:
                    img = _framed(f.image, size)
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    vf.pts, vf.time_base = k, Fraction(1, 25)
                    for p in vs.encode(vf):
                        c.mux(p)
                    k += 1
                pending = np.concatenate([pending, mono, np.zeros(max(0, int(len(frames) / 25 * rate) - len(mono)),
                                                                  np.float32)])
                while len(pending) >= fs:
                    af = av.AudioFrame.from_ndarray(np.repeat(pending[None, :fs], channels, 0), format="fltp",
                                                    layout=layout)
                    af.sample_rate, af.pts, af.time_base = rate, n_audio, Fraction(1, rate)
                    for p in a_s.encode(af):
                        c.mux(p)
                    n_audio += fs
                    pending = pending[fs:]
                if k / 25 >= minutes * 60:
                    done = True
                    break
        for p in vs.encode():
            c.mux(p)
        for p in a_s.encode():
            c.mux(p)
    return k / 25


def join_copies(one: Path, out: Path, copies: int) -> float:
    """`copies` of clip `one` end to end, packets copied (no re-encoding), each copy's timestamps
    moved on by the video's length; returns the written duration (s)."""
    info = media.probe(str(one))
    with av.open(str(one)) as src:
        frames = sum(1 for pkt in src.demux(video=0) if pkt.dts is not None)
    span = frames / info.video.fps  # the picture's length: each copy starts on the next frame
    with av.open(str(out), "w") as dst:
        with av.open(str(one)) as src:
            outs = {s.index: dst.add_stream_from_template(s) for s in (src.streams.video[0], src.streams.audio[0])}
        for k in range(copies):
            with av.open(str(one)) as src:
                ins = (src.streams.video[0], src.streams.audio[0])
                for pkt in src.demux(*ins):
                    if pkt.dts is None:  # the demuxer's flush packet
                        continue
                    shift = int(round(k * span / pkt.time_base))
                    pkt.pts, pkt.dts = pkt.pts + shift, pkt.dts + shift
                    pkt.stream = outs[pkt.stream.index]
                    dst.mux(pkt)
    return copies * span


def _child(cmd: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `cmd` from the repository root; (process, wall s, its peak resident MB from getrusage).
    Children are run one at a time, so RUSAGE_CHILDREN's maximum is this one's only if it is the
    largest so far: each is run in its own grandchild to read its own."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "p = subprocess.run(sys.argv[1:]); w = time.perf_counter() - t; "
             "print(f'@@ {p.returncode} {w} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', "
             "file=sys.stderr); sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, cwd=ROOT, env=env)
    tail = [ln for ln in proc.stderr.splitlines() if ln.startswith("@@ ")][-1].split()
    return proc, float(tail[2]), int(tail[3]) / 1024


def add_cold(ap) -> None:
    ap.add_argument("clips", nargs="+")
    common.options(ap, "repeats")
    ap.add_argument("--code", action="append", default=[], help="a checkout to run the command from too")


def cmd_cold(args) -> int:
    """`wlos-app analyze CLIP --json` as a user runs it: a fresh process each time, start to exit.

    With the clip's extraction in a forked process beside the networks' loading (core/overlap.py)
    and without it (WLOS_OVERLAP=0), the runs alternated. Per clip and way: the wall time of the
    command (median and range), its peak memory, and the answer (the runs must agree, or the script
    says so). The memory is the largest sum over the command's processes, sampled every 20 ms with
    psutil, so the extracting process counts too: of resident memory (RSS, which counts the pages a
    forked process still shares with its parent twice) and of proportional memory (PSS, which shares
    them out)."""
    codes = [os.path.abspath(c) for c in args.code] or [str(ROOT)]
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
                    runs.setdefault((clip, code, name), []).append(cold_run(code, clip, flag))
    print(f"{common.machine()}; `wlos-app analyze CLIP --json --summary-only`, {args.repeats} runs each way, "
          f"alternated\n")
    t = common.Table("clip", "code", "way", "wall s (median)", "wall s (range)", "peak RSS MB", "peak PSS MB",
                     "offset ms", "confidence")
    for (clip, code, name), rs in runs.items():
        walls = [r["wall"] for r in rs]
        answers = {(round(r["offset_ms"], 3), round(r["confidence"], 4)) for r in rs}
        ans = rs[0]
        t.row(os.path.basename(clip), os.path.basename(code), name, f"{statistics.median(walls):.2f}",
              f"{min(walls):.2f}-{max(walls):.2f}", f"{max(r['peak_mb'] for r in rs):.0f}",
              f"{max(r['peak_pss_mb'] for r in rs):.0f}", f"{ans['offset_ms']:+.1f}", f"{ans['confidence']:.3f}")
        if len(answers) > 1:
            t.row("", "", f"answers differ between runs: {sorted(answers)}", "", "", "", "", "", "")
    for clip in clips:
        first = [rs[0] for (c, _, _), rs in runs.items() if c == clip]
        if any(abs(a["offset_ms"] - first[0]["offset_ms"]) > 1e-3
               or abs(a["confidence"] - first[0]["confidence"]) > 1e-4 for a in first):
            print(f"\n{os.path.basename(clip)}: the codes or ways disagree")
    return 0


def add_long(ap) -> None:
    ap.add_argument("--minutes", type=float, default=10.0)
    common.options(ap, "sample")
    ap.add_argument("--keep", help="write the clip here and keep it (an existing file is reused)")
    ap.add_argument("--join", action="store_true",
                    help="one round of the sample (60 s) joined --minutes times by stream copy")
    ap.add_argument("--audio", default="16000x1", metavar="RATExCHANNELS",
                    help="the sound's sample rate and channels (default 16000x1; cameras: 48000x2)")
    ap.add_argument("--window", action="store_true", help="also measure the window (wlos-app --smoke-test)")
    ap.add_argument("--no-analyze", action="store_true", help="measure the window only")
    ap.add_argument("--sparse", action="store_true",
                    help="let `analyze` read a recording over 2 minutes in windows (its default; "
                         "without this the full pass, `--full`, is measured)")


def cmd_long(a) -> int:
    """A long recording end to end: peak memory and speed of `wlos-app analyze` (and of the window).

    The clip is written first (H.264 + AAC, 360x288, 25 fps): the sample clips one after another,
    round after round, until it lasts --minutes; frames are encoded as they are decoded, so making it
    needs little memory. --join writes one round (60 s) and copies it --minutes times end to end
    without re-encoding (an hour in seconds instead of many minutes). `analyze --json --summary-only
    --full` (every frame; --sparse: the windows `analyze` reads by default over 2 minutes,
    benchmarks/long_recordings.py measures those) then runs in a child process, and its peak resident memory is read from the kernel (getrusage of
    the finished child); --window also runs the window on it (`wlos-app --smoke-test`, offscreen: it
    analyses the clip, shows the result and quits), in another child."""
    rate, channels = (int(v) for v in a.audio.split("x"))
    clips = common.clips(a.sample, ".mpg")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(a.keep) if a.keep else Path(tmp) / "long.mp4"
        made = not path.exists()
        if made:
            if a.join:
                one = Path(tmp) / "round.mp4"
                write_long(one, clips, len(clips) * 3 / 60, rate=rate, channels=channels)
                join_copies(one, path, max(1, int(round(a.minutes * 60 / media.probe(str(one)).duration_s))))
            else:
                write_long(path, clips, a.minutes, rate=rate, channels=channels)
        duration = media.probe(str(path)).duration_s
        if not a.no_analyze:
            proc, wall, peak_mb = _child([sys.executable, "-m", "wlos_app", "analyze", str(path), "--json",
                                          "--summary-only", *([] if a.sparse else ["--full"])])
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            res = json.loads(proc.stdout.splitlines()[-1])
            rows.append(("`analyze --json --summary-only" + ("`" if a.sparse else " --full`"), wall, peak_mb,
                         f"{res['offset_ms']:+.0f} ms, confidence {res['confidence']:.3f}, "
                         f"track {res['track_model']}"))
        if a.window:
            env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
            proc, wall, peak_mb = _child([sys.executable, "-m", "wlos_app", "--smoke-test", str(path)], env)
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return 1
            # its line is "<path>: <summary>"
            rows.append(("window (`--smoke-test`)", wall, peak_mb,
                         proc.stdout.strip().splitlines()[-1][len(str(path)) + 2:].replace("|", "/")))
    kind = (f"{len(clips)} sample clips " + ("joined by stream copy" if a.join else "looped, re-encoded")
            + f", H.264 360x288, AAC {a.audio}") if made else f"{path.name} (as kept)"
    print(f"{common.machine()}; default estimator; {kind}, {duration / 60:.1f} min\n")
    common.table(["run", "wall", "x real time", "peak memory", "result"],
                 [(what, f"{wall:.0f} s", f"{duration / wall:.1f}x", f"{peak_mb:.0f} MB", tail)
                  for what, wall, peak_mb, tail in rows])
    return 0


def add_batch(ap) -> None:
    ap.add_argument("--folder", default=str(common.SAMPLE))
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])


def cmd_batch(a) -> int:
    """Batch throughput: `wlos-app analyze FOLDER --jobs N --out FILE` over a folder of clips.

    The first --clips clips of the folder (by name) are linked into a scratch folder; each --jobs
    value analyses all of them into a fresh JSONL in a child process (whose wall time includes
    starting the worker processes and loading the networks in each), with the default estimator."""
    clips = common.clips(a.folder)[:a.clips]
    cli = [sys.executable, "-m", "wlos_app.cli"] if not (ROOT / ".venv/bin/wlos-app").exists() \
        else [str(ROOT / ".venv/bin/wlos-app")]
    print(f"{common.machine()}; {len(clips)} clips from {a.folder}, "
          f"`wlos-app analyze DIR --jobs N --out FILE --summary-only`, default estimator\n")
    t = common.Table("jobs", "wall", "clips/s", "clip seconds per second", "outcomes")
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
            t.row(jobs, f"{wall:.0f} s", f"{len(recs) / wall:.2f}", f"{seconds / wall:.1f}",
                  ", ".join(f"{k} {kinds[k]}" for k in batch.KINDS if kinds[k]))
    return 0


COMMANDS = {"stages": (cmd_stages, add_stages), "cold": (cmd_cold, add_cold), "long": (cmd_long, add_long),
            "batch": (cmd_batch, add_batch)}

if __name__ == "__main__":
    sys.exit(common.main(__doc__, COMMANDS))
