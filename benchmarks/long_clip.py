"""A long recording end to end: peak memory and speed of `wlos-app analyze` (and of the window) on
it. Prints a table.

    .venv/bin/python benchmarks/long_clip.py [--minutes 10] [--sample ../shared/data/grid_s1_sample]
    .venv/bin/python benchmarks/long_clip.py --minutes 60 --join --keep /work/data/long/hour.mp4 --window

The clip is written first (H.264 + AAC, 360x288, 25 fps): the sample clips one after another,
round after round, until it lasts --minutes; frames are encoded as they are decoded, so making
it needs little memory. --join writes one round (60 s) and copies it --minutes times end to end
without re-encoding (an hour in seconds instead of many minutes). `analyze --json --summary-only`
then runs in a child process, and its peak resident memory is read from the kernel (getrusage of
the finished child); --window also runs the window on it (`wlos-app --smoke-test`, offscreen:
it analyses the clip, shows the result and quits), in another child.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wlos_app.core import media  # noqa: E402

DEFAULT_SAMPLE = ROOT.parent / "shared" / "data" / "grid_s1_sample"


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--sample", default=str(DEFAULT_SAMPLE))
    ap.add_argument("--keep", help="write the clip here and keep it (an existing file is reused)")
    ap.add_argument("--join", action="store_true",
                    help="one round of the sample (60 s) joined --minutes times by stream copy")
    ap.add_argument("--audio", default="16000x1", metavar="RATExCHANNELS",
                    help="the sound's sample rate and channels (default 16000x1; cameras: 48000x2)")
    ap.add_argument("--window", action="store_true", help="also measure the window (wlos-app --smoke-test)")
    ap.add_argument("--no-analyze", action="store_true", help="measure the window only")
    a = ap.parse_args()
    rate, channels = (int(v) for v in a.audio.split("x"))
    clips = sorted(Path(a.sample).glob("*.mpg"))
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
                                          "--summary-only"])
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            res = json.loads(proc.stdout.splitlines()[-1])
            rows.append(("`analyze --json --summary-only`", wall, peak_mb,
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
    print(f"machine: {platform.machine()}, CPU; default estimator; {kind}, {duration / 60:.1f} min\n")
    print("| run | wall | x real time | peak memory | result |")
    print("|---|---|---|---|---|")
    for what, wall, peak_mb, tail in rows:
        print(f"| {what} | {wall:.0f} s | {duration / wall:.1f}x | {peak_mb:.0f} MB | {tail} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
