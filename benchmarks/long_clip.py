"""A long recording end to end: peak memory and speed of `wlos-app analyze` on it. Prints a table.

    .venv/bin/python benchmarks/long_clip.py [--minutes 10] [--sample ../shared/data/grid_s1_sample]

The clip is written first (H.264 + AAC, 360x288, 25 fps): the sample clips one after another,
round after round, until it lasts --minutes; frames are encoded as they are decoded, so making
it needs little memory. `analyze --json --summary-only` then runs in a child process, and its
peak resident memory is read from the kernel (getrusage of the finished child).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
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
               preset: str = "ultrafast") -> float:
    """Returns the written duration (s). size: (width, height); other sizes than GRID's 360x288
    scale the picture to that height (the face grows with it) and centre it. preset: x264's (its
    "medium" default is what most files have; "ultrafast" decodes faster and writes faster)."""
    rate = 16000
    with av.open(str(out), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": preset}
        a_s = c.add_stream("aac", rate=rate)
        a_s.layout = "mono"
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
                    af = av.AudioFrame.from_ndarray(pending[None, :fs].astype(np.float32), format="flt",
                                                    layout="mono")
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--sample", default=str(DEFAULT_SAMPLE))
    ap.add_argument("--keep", help="write the clip here and keep it")
    a = ap.parse_args()
    clips = sorted(Path(a.sample).glob("*.mpg"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(a.keep) if a.keep else Path(tmp) / "long.mp4"
        if not path.exists():
            duration = write_long(path, clips, a.minutes)
        else:
            duration = media.probe(str(path)).duration_s
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "wlos_app", "analyze", str(path), "--json", "--summary-only"],
                              capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        res = json.loads(proc.stdout.splitlines()[-1])
    print(f"machine: {platform.machine()}, CPU; `wlos-app analyze --json --summary-only`, default estimator\n")
    print("| clip | duration | wall | x real time | peak memory | track model | offset |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(clips)} sample clips looped, H.264 360x288 | {duration / 60:.1f} min | {wall:.0f} s | "
          f"{duration / wall:.1f}x | {peak_mb:.0f} MB | {res['track_model']} | {res['offset_ms']:+.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
