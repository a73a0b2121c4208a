"""Is a test clip's source itself in sync? A classic check that shares no learned part with the
analysis: the lips' opening against the loudness of the sound. Prints one table.

    .venv/bin/python benchmarks/source_sync.py CLIP_OR_DIR [...] [--max-lag 6] [--shift FRAMES]
        [--analysis] [--list SPLIT.tsv --split val]

Per clip: the inner-lip opening of every grid frame (dlib's 68 points on every frame, the mean
gap of the three inner-lip pairs over the eye distance) and the sound's power per 40 ms frame
(dB, features.frame_power_db), both standardised; their correlation at each lag of -max-lag ..
+max-lag frames (the sound moved), the best lag refined by a parabola. Positive = audio late, as
everywhere. A peak at the end of the range is no reading ("edge").

This is far noisier than the analysis (the opening lags the sound's onsets by varying amounts,
and a sentence's rhythm gives side peaks), so one clip's reading means little alone; a clip that
reads far from the others of the same recording set, as the analysis also reads it, is evidence
that its source is off. --analysis adds the analysis's own reading (default estimator) and, at the
end, how the two readings go together over the clips. --shift F also writes each clip with its
sound moved by F frames (tests/mediagen.py) and reads that copy: the difference should be about F.
--list/--split keep only the clips a split file names for that split (say s1's validation clips:
the networks were trained to read s1's training clips as in sync).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from wlos_app.core import faces, media  # noqa: E402
from wlos_app.core.batch import find_clips  # noqa: E402
from wlos_app.core.face import FaceConfig  # noqa: E402
from wlos_app.core.features import frame_power_db  # noqa: E402

INNER_LIPS = ((61, 67), (62, 66), (63, 65))


def opening(path: str) -> np.ndarray:
    """Inner-lip opening over eye distance on every grid frame of the longest-seen face (NaN unseen)."""
    frames = (f.image for _, f in media.sample_on_grid(media.iter_video_frames(path, "gray")))
    every = faces.track_faces(frames, FaceConfig(landmark_every=1))
    if not every.analysable:
        return np.zeros(0)
    face = max(every.analysable, key=lambda t: t.frames_seen).face
    p = face.landmarks.astype(np.float64)
    iod = np.linalg.norm(p[:, [42, 45]].mean(1) - p[:, [36, 39]].mean(1), axis=1)
    gap = np.mean([np.linalg.norm(p[:, a] - p[:, b], axis=1) for a, b in INNER_LIPS], axis=0)
    return np.where(face.valid, gap / np.maximum(iod, 1e-6), np.nan)


def loudness(path: str, n: int) -> np.ndarray:
    audio16k, _ = media.decode_audio(path, media.probe(path), keep=False)
    return frame_power_db(audio16k, n).astype(np.float64)


def best_lag(lips: np.ndarray, sound: np.ndarray, max_lag: int) -> tuple[float, float, bool]:
    """(lag in frames, correlation at the peak, peak at the end of the range)."""
    a, e, n = np.where(np.isfinite(lips), lips, np.nanmean(lips)), sound, len(lips)
    lags = np.arange(-max_lag, max_lag + 1)
    # lag L: Pearson's r of the opening at t and the sound at t + L, over the frames both have
    c = np.array([np.corrcoef(a[max(0, -L):n - max(0, L)], e[max(0, L):n - max(0, -L)])[0, 1] for L in lags])
    i = int(np.argmax(c))
    if i in (0, len(c) - 1):
        return float(lags[i]), float(c[i]), True
    den = c[i - 1] - 2 * c[i] + c[i + 1]
    return float(lags[i] + (0.5 * (c[i - 1] - c[i + 1]) / den if den else 0.0)), float(c[i]), False


def read(path: str, max_lag: int) -> tuple[float, float, bool]:
    lips = opening(path)
    if len(lips) < 4 * max_lag or not np.isfinite(lips).any():
        return float("nan"), float("nan"), True
    return best_lag(lips, loudness(path, len(lips)), max_lag)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="+", help="clips, or folders searched for clips")
    ap.add_argument("--max-lag", type=int, default=6)
    ap.add_argument("--shift", type=int, default=0, help="also read a copy with the sound moved by this many frames")
    ap.add_argument("--analysis", action="store_true", help="also print the analysis's reading")
    ap.add_argument("--list", help="a split file (clip<TAB>split...), to keep one split's clips")
    ap.add_argument("--split", default="val")
    args = ap.parse_args()
    paths = [p for c in args.clips for p in find_clips(c)]
    if args.list:
        from trainer.dataset import read_split_file
        side = read_split_file(args.list)
        paths = [p for p in paths if side.get(p.stem) == args.split]
    if not paths:
        print("no clips found", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="wlos-source-sync-"))
    if args.analysis:
        from wlos_app.core.analysis import AnalysisConfig, analyze
        cfg = AnalysisConfig(keep_audio=False)
    print("| clip | lag (frames, + = audio late) | peak correlation |"
          + (" the analysis: drift (frames), confidence |" if args.analysis else "")
          + (f" with the sound moved {args.shift:+d} |" if args.shift else ""))
    print("|---|---|---|" + ("---|" if args.analysis else "") + ("---|" if args.shift else ""))
    readings, pairs = [], []
    for p in paths:
        lag, peak, edge = read(str(p), args.max_lag)
        row = f"| {p.stem} | {'edge' if edge else f'{lag:+.2f}'} | {peak:.2f} |"
        if not edge:
            readings.append(lag)
        if args.analysis:
            res = analyze(str(p), cfg)
            row += f" {res.offset_grid:+.2f}, {res.confidence:.2f} |"
            if not edge and res.reliable:
                pairs.append((lag, res.offset_grid))
        if args.shift:
            import mediagen
            moved = mediagen.write_clip(tmp / f"{p.stem}.mp4", *mediagen.load_clip(p), audio_delay_s=args.shift * 0.04)
            lag2, _, edge2 = read(str(moved), args.max_lag)
            row += f" {'edge' if edge2 else f'{lag2:+.2f} (difference {lag2 - lag:+.2f})'} |"
        print(row, flush=True)
    if readings:
        q = np.percentile(readings, [25, 50, 75])
        rest = f" (the rest peak at the end of +-{args.max_lag})" if len(readings) < len(paths) else ""
        print(f"\n{len(readings)} of {len(paths)} clips read{rest}; "
              f"lag quartiles {q[0]:+.2f} / {q[1]:+.2f} / {q[2]:+.2f} frames")
    if len(pairs) > 2:
        x, y = np.array(pairs).T
        print(f"{len(pairs)} clips with a lag and a reliable analysis: Pearson r {np.corrcoef(x, y)[0, 1]:+.2f}, "
              f"Spearman {np.corrcoef(np.argsort(np.argsort(x)), np.argsort(np.argsort(y)))[0, 1]:+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
