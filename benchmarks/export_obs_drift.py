"""A 60 s OBS-style recording with a known drift, found, exported and analysed again. Prints a table.

    .venv/bin/python benchmarks/export_obs_drift.py [--sample ../shared/data/grid_s1_sample]

The 20 sample clips back to back, written as OBS writes them (.mkv, x264 with B-frames, so the
first pictures have no decode time; AAC at 48 kHz), with the sound drifting linearly (0 to +320 ms)
or jumping by +320 ms at 30 s. The fitted track is exported to .mkv and .mp4, and the copy analysed
again should read flat at 0.
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

import mediagen  # noqa: E402
from wlos_app import analyze  # noqa: E402
from wlos_app.core.export import export_synced  # noqa: E402

DRIFTS = {"linear": lambda t: 0.32 * np.asarray(t) / 60.0,
          "jump": lambda t: np.where(np.asarray(t) >= 30.0, 0.32, 0.0)}


def within(res, truth) -> tuple[float, int]:
    pts = np.array(res.to_json()["track"], float)
    return float(np.mean(np.abs(pts[:, 1] - 1000 * truth(pts[:, 0])) <= 40.0)), len(pts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", default=str(ROOT.parent / "shared/data/grid_s1_sample"))
    args = ap.parse_args()
    minute = mediagen.concat(sorted(Path(args.sample).glob("*.mpg"))[:20])
    print("| drift | track found | its points within a frame | export to | copy reads | its points within a frame of 0 |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, truth in DRIFTS.items():
            src = mediagen.write_clip(Path(tmp) / f"{name}.mkv", *minute, drift_s=truth, audio_rate=48000,
                                      video_options=mediagen.RECORDERS["x264_bframes"])
            res = analyze(str(src))
            share, n = within(res, truth)
            for ext in (".mkv", ".mp4"):
                out = export_synced(str(src), str(Path(tmp) / f"{name}.synced{ext}"), res.track, audio=res.audio)
                again = analyze(out["path"])
                flat, m = within(again, lambda t: np.zeros_like(np.asarray(t, float)))
                print(f"| {name} | {res.track_model} | {share:.3f} of {n} | {ext} | {again.track_model}, "
                      f"{again.offset_ms:+.0f} ms | {flat:.3f} of {m} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
