"""Export: is the sound moved by what was asked, and the picture untouched? Prints tables.

    .venv/bin/python -m benchmarks.export matrix [--clip CLIP.mpg] [--offset-ms 120] [--player]
    .venv/bin/python -m benchmarks.export drift [--sample SAMPLE] [--clips 20]

- matrix: every recorder's kind of file exported to every container the export offers, checked as
  players present the files (docs/export.md);
- drift: a 60 s OBS-style recording with a known drift (linear, or a jump), found, exported with
  the fitted track and analysed again.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import av
import numpy as np

from benchmarks import common

import ffref
import mediagen
from wlos_app import analyze
from wlos_app.cli import main as cli
from wlos_app.core.export import export_synced, supported_extensions


SOURCES = {  # name -> ffmpeg output arguments
    "obs_aac.mkv": "-c:v libx264 -preset veryfast -bf 2 -g 250 -c:a aac -ar 48000",
    "obs_flac.mkv": "-c:v libx264 -preset veryfast -bf 2 -g 250 -c:a flac -ar 44100",
    "phone.mp4": "-c:v libx264 -bf 3 -c:a aac -ar 48000 -ac 2",
    "fragmented.mp4": "-c:v libx264 -bf 3 -c:a aac -ar 44100 -movflags frag_keyframe+empty_moov",
    "hevc.mov": "-c:v libx265 -x265-params log-level=error -c:a aac -ar 44100",
    "pcm.mov": "-c:v libx264 -c:a pcm_s16le -ar 16000",
    "mpeg4.avi": "-c:v mpeg4 -c:a libmp3lame -ar 44100",
    "vp9_opus.webm": "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus",
}


def packets(path) -> list[bytes]:
    with av.open(str(path), metadata_errors="ignore") as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def mpv_sound(path, wav: Path) -> np.ndarray:
    subprocess.run(["mpv", "--no-config", "--really-quiet", "--vo=null", "--ao=pcm", f"--ao-pcm-file={wav}",
                    f"--audio-samplerate={ffref.RATE}", "--audio-channels=mono", "--audio-format=float", str(path)],
                   check=True, timeout=120)
    data = wav.read_bytes()
    return np.frombuffer(data[data.find(b"data") + 8:], np.float32)


def within(res, truth) -> tuple[float, int]:
    pts = np.array(res.to_json()["track"], float)
    return float(np.mean(np.abs(pts[:, 1] - 1000 * truth(pts[:, 0])) <= 40.0)), len(pts)


def add_matrix(ap) -> None:
    ap.add_argument("--clip", default=str(common.SAMPLE / "bbaf4p.mpg"))
    ap.add_argument("--offset-ms", type=float, default=120.0)
    ap.add_argument("--player", action="store_true", help="also check ffmpeg's reading against mpv")
    ap.add_argument("--sources", help="comma-separated names of SOURCES (default: all)")


def cmd_matrix(args) -> int:
    """Export across containers, checked as players present the files.

    Sources are made from a GRID clip with the ffmpeg command line, as recorders write them (OBS's
    .mkv: x264 with B-frames and AAC or FLAC; a phone's .mp4; HEVC .mov; MPEG-4 .avi; VP9 + Opus
    .webm; fragmented MP4). Each is exported with `wlos-app export --offset-ms` to every container the
    export offers. A row is right when every video packet is the source's, in order; ffmpeg decodes
    the same pictures at the same times; and the sound, measured from the first picture on ffmpeg's
    clock, moved by the asked amount within 1 ms. --player also has mpv play each file (audio to a
    WAV, video decoded and discarded) and reports the most its sound differs from ffmpeg's reading:
    mpv starts the sound with the first picture, so this checks the reference itself (a few seconds
    per file, played in real time). Needs Debian's ffmpeg (and mpv for --player)."""
    for tool in ["ffmpeg"] + (["mpv"] if args.player else []):
        if not shutil.which(tool):
            print(f"error: {tool} not found (apt-get install {tool})", file=sys.stderr)
            return 1
    sources = {k: v for k, v in SOURCES.items() if not args.sources or k in args.sources.split(",")}
    targets = [e for e in supported_extensions() if e not in (".m4v", ".mpeg")]  # same muxers as .mp4, .mpg
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split()[2]
    print(f"Export matrix: {Path(args.clip).name}, offset {args.offset_ms:+.0f} ms; {common.machine()}, "
          f"PyAV {av.__version__}, ffmpeg {ffmpeg}\n")
    t = common.Table("source", "target", "video packets", "pictures and times", "sound moved (ms)",
                     "mpv vs ffmpeg (ms)", "right")
    wrong = written = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, opts in sources.items():
            src = tmp / name
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", args.clip, *opts.split(), str(src)], check=True)
            pk, pics, snd = packets(src), ffref.frames(src), ffref.sound(src)
            for ext in targets:
                dst = tmp / f"out{ext}"
                dst.unlink(missing_ok=True)
                with open(tmp / "cli.log", "w") as log, redirect_stdout(log), redirect_stderr(log):
                    rc = cli(["export", str(src), "-o", str(dst), "--offset-ms", str(args.offset_ms)])
                if rc != 0:  # a refusal leaves neither the output nor its temporary file
                    left = sorted(p.name for p in tmp.iterdir() if p.name.startswith(".out") or p == dst)
                    t.row(name, ext, "refused", "", "", "", "yes" if not left else "NO: left " + str(left))
                    wrong += bool(left)
                    continue
                written += 1
                same = packets(dst) == pk
                got = ffref.frames(dst)
                times = len(got) == len(pics) and [h for _, h in got] == [h for _, h in pics] and \
                    np.abs(np.array([t for t, _ in got]) - [t for t, _ in pics]).max() <= 1e-3
                moved = ffref.shift_s(snd, ffref.sound(dst)) * 1000
                player = ""
                if args.player:
                    worst = max(abs(ffref.shift_s(ffref.sound(p), mpv_sound(p, tmp / "mpv.wav"))) for p in (src, dst))
                    player = f"{worst * 1000:.2f}"
                ok = same and times and abs(moved - args.offset_ms) <= 1.0
                wrong += not ok
                t.row(name, ext, f"{len(pk)} {'same' if same else 'DIFFER'}", "same" if times else "DIFFER",
                      f"{moved:.2f}", player, "yes" if ok else "NO")
    print(f"\n{written} written, {wrong} mishandled")
    return 1 if wrong else 0


def add_drift(ap) -> None:
    common.options(ap, "sample")
    ap.add_argument("--clips", type=int, default=20, help="sample clips joined (20: 60 s)")


def cmd_drift(args) -> int:
    """A 60 s OBS-style recording with a known drift, found, exported and analysed again.

    The 20 sample clips back to back, written as OBS writes them (.mkv, x264 with B-frames, so the
    first pictures have no decode time; AAC at 48 kHz), with the sound drifting linearly (0 to +320
    ms over the recording) or jumping by +320 ms half way. The fitted track is exported to .mkv and
    .mp4, and the copy analysed again should read flat at 0."""
    minute = mediagen.concat(common.clips(args.sample, ".mpg")[:args.clips])
    span = len(minute[0]) / 25.0
    drifts = {"linear": lambda t: 0.32 * np.asarray(t) / span,
              "jump": lambda t: np.where(np.asarray(t) >= span / 2, 0.32, 0.0)}
    print(f"{common.machine()}; {args.clips} sample clips, {span:.0f} s\n")
    t = common.Table("drift", "track found", "its points within a frame", "export to", "copy reads",
                     "its points within a frame of 0")
    with tempfile.TemporaryDirectory() as tmp:
        for name, truth in drifts.items():
            src = mediagen.write_clip(Path(tmp) / f"{name}.mkv", *minute, drift_s=truth, audio_rate=48000,
                                      video_options=mediagen.RECORDERS["x264_bframes"])
            res = analyze(str(src))
            share, n = within(res, truth)
            for ext in (".mkv", ".mp4"):
                out = export_synced(str(src), str(Path(tmp) / f"{name}.synced{ext}"), res.track, audio=res.audio)
                again = analyze(out["path"])
                flat, m = within(again, lambda t: np.zeros_like(np.asarray(t, float)))
                t.row(name, res.track_model, f"{share:.3f} of {n}", ext, f"{again.track_model}, {again.offset_ms:+.0f} ms",
                      f"{flat:.3f} of {m}")
    return 0


COMMANDS = {"matrix": (cmd_matrix, add_matrix), "drift": (cmd_drift, add_drift)}

if __name__ == "__main__":
    sys.exit(common.main(__doc__, COMMANDS))
