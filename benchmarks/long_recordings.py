"""Long recordings with a known drift: the sparse pass against the truth and against the full pass,
its time from the command's start to its exit, and its peak memory. Prints tables.

    .venv/bin/python -m benchmarks.long_recordings --minutes 60 --kinds linear,two_jumps
    .venv/bin/python -m benchmarks.long_recordings --minutes 10 --full      # also the full pass
    .venv/bin/python -m benchmarks.long_recordings --minutes 60 --size 1280x720 --kinds constant
    .venv/bin/python -m benchmarks.long_recordings --minutes 60 --size 1080x1920 --codec libx265 --kinds constant

Each recording is the 20 GRID sample clips (60 s, GRID s1 speakers) scaled to --size, encoded once
(H.264 or HEVC as a phone writes it, a keyframe every 2 s) and joined end to end without
re-encoding until it lasts --minutes; its sound is the same 60 s, round after round, heard with a
known drift d(t) (positive = audio late): the picture's time t is heard at t + d(t). The kinds:
constant, linear (a clock drift), two_jumps, jump_near_start, jump_near_end, starts_mid (in sync,
then drifting), no_speech (a tenth of it silent, with two jumps), no_face (a tenth of it black, two
jumps). `wlos-app analyze --json --summary-only` runs in a child process; its wall time is from its
start to its exit and its peak memory is the child's maximum resident set (getrusage).

Scores: the track within one frame (40 ms) of the truth at every 5 s point, leaving out points within
3 s of a jump; each jump's place against the truth's (and the full pass's, with --full).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from benchmarks.common import ROOT, SAMPLE, machine
from wlos_app.core import media

RATE = 48000  # what cameras and phones record
F = 0.04  # one grid frame, s


def kinds(T: float) -> dict:
    """name -> (drift in s as a function of picture time, jumps' times, silent span, black span)."""
    def steps(*pairs):  # (from_s, drift_frames) ...
        def d(t):
            t = np.asarray(t, float)
            out = np.zeros_like(t)
            for start, v in pairs:
                out = np.where(t >= start, v * F, out)
            return out
        return d
    third = T / 3
    return {
        "constant": (steps((0, 3.0)), [], None, None),
        "linear": (lambda t: np.asarray(t, float) / T * 8 * F, [], None, None),
        "two_jumps": (steps((0, 1.0), (third, 6.0), (2 * third, -2.0)), [third, 2 * third], None, None),
        "jump_near_start": (steps((0, 0.0), (40.0, 5.0)), [40.0], None, None),
        "jump_near_end": (steps((0, 2.0), (T - 40.0, -4.0)), [T - 40.0], None, None),
        "starts_mid": (lambda t: np.clip(np.asarray(t, float) - T / 2, 0, None) / (T / 2) * 8 * F, [], None, None),
        "no_speech": (steps((0, 1.0), (third, 6.0), (2 * third, -2.0)), [third, 2 * third],
                      (0.45 * T, 0.55 * T), None),
        "no_face": (steps((0, 1.0), (third, 6.0), (2 * third, -2.0)), [third, 2 * third], None,
                    (0.45 * T, 0.55 * T)),
    }


def _scaled(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The 360x288 picture scaled to fit (w, h) and centred on grey."""
    import cv2
    w, h = size
    s = min(w / img.shape[1], h / img.shape[0])
    sw, sh = int(img.shape[1] * s) // 2 * 2, int(img.shape[0] * s) // 2 * 2
    out = np.full((h, w, 3), 128, np.uint8)
    x0, y0 = (w - sw) // 2, (h - sh) // 2
    out[y0:y0 + sh, x0:x0 + sw] = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_CUBIC)
    return out


def _round(folder: Path, size, codec: str, black: bool = False) -> Path:
    """One 60 s round of picture, encoded once."""
    out = folder / f"round_{size[0]}x{size[1]}_{codec}{'_black' if black else ''}.mp4"
    if out.exists():
        return out
    clips = sorted(SAMPLE.glob("*.mpg"))[:20]
    with av.open(str(out), "w") as c:
        vs = c.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": "ultrafast", **({"x265-params": "log-level=error:keyint=50"} if codec == "libx265"
                                                 else {"x264-params": "keyint=50"})}
        k = 0
        for clip in clips:
            for f in media.iter_video_frames(str(clip), fmt="rgb24"):
                img = np.zeros((size[1], size[0], 3), np.uint8) if black else _scaled(f.image, size)
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts, vf.time_base = k, Fraction(1, 25)
                k += 1
                for p in vs.encode(vf):
                    c.mux(p)
                if k >= 1500:
                    break
            if k >= 1500:
                break
        for p in vs.encode():
            c.mux(p)
    return out


def _sound_round() -> np.ndarray:
    clips = sorted(SAMPLE.glob("*.mpg"))[:20]
    parts = []
    for clip in clips:
        a = media.read_audio(str(clip))
        n = int(round(3.0 * a.rate))
        m = media.resample(a.mono(), a.rate, RATE)
        n = int(round(3.0 * RATE))
        parts.append(np.pad(m, (0, max(0, n - len(m))))[:n])
    return np.concatenate(parts).astype(np.float32)


def make(folder: Path, kind: str, minutes: float, size, codec: str) -> tuple[Path, dict]:
    T = minutes * 60.0
    fn, jumps, silent, black = kinds(T)[kind]
    out = folder / f"{kind}_{minutes:g}min_{size[0]}x{size[1]}_{codec}.mp4"
    truth = {"jumps": jumps, "T": T}
    if out.exists():
        return out, truth
    rounds = int(np.ceil(T / 60.0))
    plain, dark = _round(folder, size, codec), _round(folder, size, codec, black=True)
    listing = folder / f"{out.stem}.txt"
    names = []
    for i in range(rounds):
        t = i * 60.0
        names.append(dark if black and black[0] <= t + 30 < black[1] else plain)
    listing.write_text("".join(f"file '{p}'\n" for p in names))
    video = folder / f"{out.stem}.video.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                    str(video)], check=True)
    base = _sound_round()
    sound = folder / f"{out.stem}.m4a"
    with av.open(str(sound), "w") as c:
        st = c.add_stream("aac", rate=RATE)
        st.layout = "mono"
        chunk = 60 * RATE
        for i0 in range(0, int(T * RATE), chunk):
            tau = (i0 + np.arange(chunk)) / RATE
            t = tau.copy()
            for _ in range(30):  # t = tau - d(t)
                t = tau - fn(t)
            hit = np.abs(t + fn(t) - tau) < 0.5 / RATE
            pos = (t * RATE) % len(base)
            y = np.where(hit & (t >= 0), np.interp(pos, np.arange(len(base)), base), 0.0).astype(np.float32)
            if silent is not None:
                y[(tau >= silent[0]) & (tau < silent[1])] = 0.0
            fs = st.codec_context.frame_size or 1024
            for j in range(0, len(y), fs):
                piece = y[j:j + fs]
                af = av.AudioFrame.from_ndarray(np.pad(piece, (0, fs - len(piece)))[None], format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = RATE, i0 + j, Fraction(1, RATE)
                for p in st.encode(af):
                    c.mux(p)
        for p in st.encode():
            c.mux(p)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-i", str(sound), "-map", "0:v", "-map", "1:a",
                    "-c", "copy", "-t", f"{T:.3f}", str(out)], check=True)
    video.unlink()
    sound.unlink()
    listing.unlink()
    return out, truth


def run(path: Path, *extra: str) -> tuple[dict, float, float]:
    """The command as a user runs it: (its JSON, wall s, peak MB of the child)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        child = subprocess.Popen([str(ROOT / ".venv" / "bin" / "wlos-app"), "analyze", "--json", "--summary-only",
                                  str(path), *extra], stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not every child's
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{path}: {err.read().decode()[-400:]}")
        return json.loads(out.read()), wall, usage.ru_maxrss / 1024.0


def drift_at(rec: dict, t: np.ndarray) -> np.ndarray:
    """The record's track (ms) at times t."""
    out = np.full(len(t), np.nan)
    for s in rec["segments"]:
        m = (t >= s["start_s"]) & (t <= s["end_s"] + 1e-6)
        span = max(s["end_s"] - s["start_s"], 1e-9)
        out[m] = s["drift_ms_start"] + (t[m] - s["start_s"]) * (s["drift_ms_end"] - s["drift_ms_start"]) / span
    return out


def jump_times(rec: dict) -> list[float]:
    segs = rec["segments"]
    return [b["start_s"] for a, b in zip(segs, segs[1:]) if abs(b["drift_ms_start"] - a["drift_ms_end"]) >= 40.0]


def score(rec: dict, want_ms: np.ndarray, t: np.ndarray, jumps: list[float]) -> tuple[float, float]:
    """(share of points within a frame, away from jumps and where `want_ms` is defined (a full
    pass's track runs from its first block to its last); share of the clip the track covers)."""
    keep = np.isfinite(want_ms)
    for j in jumps:
        keep &= np.abs(t - j) > 3.0
    got = drift_at(rec, t)
    ok = np.abs(got - want_ms) <= 40.0
    return float(ok[keep].mean()), float(np.isfinite(got).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--kinds", default="linear,two_jumps")
    ap.add_argument("--size", default="720x576")
    ap.add_argument("--codec", default="libx264", choices=["libx264", "libx265"])
    ap.add_argument("--full", action="store_true", help="also run the full pass (--full) and compare")
    ap.add_argument("--keep", metavar="DIR", help="make (and keep) the recordings here")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    folder = Path(args.keep or tempfile.mkdtemp(prefix="wlos_long_"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{args.minutes:g} min at {args.size} {args.codec}; {machine()}\n")
    rows = ["| recording | wall s | peak MB | read s | windows | within a frame (truth) | covered | jumps "
            "(truth -> found) | full pass: wall s, within a frame of it, jumps |", "|---" * 9 + "|"]
    for kind in args.kinds.split(","):
        path, truth = make(folder, kind, args.minutes, size, args.codec)
        rec, wall, peak = run(path)
        t = np.arange(0.0, truth["T"], 5.0)
        fn = kinds(truth["T"])[kind][0]
        within, covered = score(rec, fn(t) * 1000.0, t, truth["jumps"])
        found = jump_times(rec)
        jumps = ", ".join(f"{j:.0f}" for j in truth["jumps"]) + " -> " + ", ".join(f"{j:.1f}" for j in found)
        full = ""
        if args.full:
            frec, fwall, _ = run(path, "--full")
            fwithin, _ = score(rec, drift_at(frec, t), t, jump_times(frec))
            full = f"{fwall:.0f}, {fwithin:.3f}, " + ", ".join(f"{j:.1f}" for j in jump_times(frec))
        rows.append(f"| {kind} | {wall:.1f} | {peak:.0f} | {rec['seconds_read']:.0f} | {len(rec.get('windows', []))} "
                    f"| {within:.3f} | {covered:.3f} | {jumps} | {full} |")
        print(rows[-1], flush=True)
    print()
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
