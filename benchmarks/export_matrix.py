"""Export across containers, checked as players present the files. Prints a table.

    .venv/bin/python benchmarks/export_matrix.py [--clip CLIP.mpg] [--offset-ms 120] [--player]

Sources are made from a GRID clip with the ffmpeg command line, as recorders write them (OBS's
.mkv: x264 with B-frames and AAC or FLAC; a phone's .mp4; HEVC .mov; MPEG-4 .avi; VP9 + Opus
.webm; fragmented MP4). Each is exported with `wlos-app export --offset-ms` to every container the
export offers. A row is right when every video packet is the source's, in order; ffmpeg decodes
the same pictures at the same times; and the sound, measured from the first picture on ffmpeg's
clock, moved by the asked amount within 1 ms. --player also has mpv play each file (audio to a
WAV, video decoded and discarded) and reports the most its sound differs from ffmpeg's reading:
mpv starts the sound with the first picture, so this checks the reference itself (a few seconds
per file, played in real time). Needs Debian's ffmpeg (and mpv for --player).
"""
from __future__ import annotations

import argparse
from contextlib import redirect_stderr, redirect_stdout
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import ffref  # noqa: E402
from wlos_app.cli import main as cli  # noqa: E402
from wlos_app.core.export import supported_extensions  # noqa: E402

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(ROOT.parent / "shared/data/grid_s1_sample/bbaf4p.mpg"))
    ap.add_argument("--offset-ms", type=float, default=120.0)
    ap.add_argument("--player", action="store_true", help="also check ffmpeg's reading against mpv")
    args = ap.parse_args()
    for tool in ["ffmpeg"] + (["mpv"] if args.player else []):
        if not shutil.which(tool):
            print(f"error: {tool} not found (apt-get install {tool})", file=sys.stderr)
            return 1
    targets = [e for e in supported_extensions() if e not in (".m4v", ".mpeg")]  # same muxers as .mp4, .mpg
    print(f"Export matrix: {Path(args.clip).name}, offset {args.offset_ms:+.0f} ms, {platform.machine()}, "
          f"PyAV {av.__version__}, {subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.split()[2]}\n")
    print("| source | target | video packets | pictures and times | sound moved (ms) | mpv vs ffmpeg (ms) | right |")
    print("|---|---|---|---|---|---|---|")
    wrong = written = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, opts in SOURCES.items():
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
                    print(f"| {name} | {ext} | refused | | | | {'yes' if not left else 'NO: left ' + str(left)} |")
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
                print(f"| {name} | {ext} | {len(pk)} {'same' if same else 'DIFFER'} | "
                      f"{'same' if times else 'DIFFER'} | {moved:.2f} | {player} | {'yes' if ok else 'NO'} |")
    print(f"\n{written} written, {wrong} mishandled")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
