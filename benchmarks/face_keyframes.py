"""Does running dlib's landmarks on fewer frames (FaceConfig.landmark_every / still_px) change what
the shipped models measure? Prints one table: per face setting, the block MAEs and clip scores on
GRID s1's validation clips and the relative score on unseen speakers, from features extracted
with that setting (each setting has its own feature cache folder).

    .venv/bin/python benchmarks/face_keyframes.py --s1 S1_FOLDER \\
        --split-file ../shared/data/grid_s1_split.tsv [--unseen ../shared/data/unseen_dev] \\
        [--settings 1:0,3:1.0:landmarks,3:1.0:lk]

A setting EVERY:STILL_PX[:FOLLOW] runs the predictor on every EVERY-th frame and interpolates the
frames between where the mouth crop moves by at most STILL_PX crop pixels (1:0 is every frame, the
pipeline before); where it moves more, FOLLOW (FaceConfig.follow, default its default) says how
the frames between are aligned: "lk", the rigid points followed by flow, or "landmarks", the
predictor on each. The share of frames without a predictor call of their own is measured on the
unseen clips and on the first 20 validation clips.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import dataset  # noqa: E402
from trainer import train as T  # noqa: E402
from trainer.evaluate import qmi_block_mae, shift_scores  # noqa: E402
from wlos_app.core import calibration, face, media  # noqa: E402
from wlos_app.core.analysis import NETWORKS_OF, AnalysisConfig  # noqa: E402
from wlos_app.core.models import load  # noqa: E402

DEFAULT_UNSEEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "unseen_dev"


def interpolated_share(paths, cfg: face.FaceConfig) -> float:
    n = k = 0
    for p in paths:
        imgs = (f.image for _, f in media.sample_on_grid(media.iter_video_frames(str(p))))
        tr = face.track_face(imgs, cfg)
        n += tr.n
        k += int(tr.interpolated.sum())
    return k / max(1, n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--s1", required=True)
    ap.add_argument("--split-file", required=True)
    ap.add_argument("--unseen", default=str(DEFAULT_UNSEEN))
    ap.add_argument("--settings", default="1:0,3:1.0:landmarks,3:1.0:lk")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()

    split = dataset.read_split_file(a.split_file)
    val_paths = [p for p in dataset.find_clips(a.s1) if split.get(p.stem) == "val"]
    unseen_paths = dataset.find_clips(a.unseen)
    nets = {k: load(k, None) for k in ("c3", "wlos")}
    cals = calibration.load()
    methods = {m: (m, {k: nets[k] for k in NETWORKS_OF[m]}) for m in ("fusion", "wlos")}
    print(f"machine: {platform.machine()}, CPU; GRID s1, {len(val_paths)} validation clips; "
          f"{len(unseen_paths)} unseen clips from {a.unseen}; shipped models\n")
    print("| landmark_every : still_px : follow | interpolated frames, s1 / unseen | C3 MAE | WLOS MAE | QMI MAE "
          "| fusion within ±1 (s1) | WLOS within ±1 (s1) | fusion relative (unseen) |")
    print("|---|---|---|---|---|---|---|---|")
    for setting in a.settings.split(","):
        every, still, *follow = setting.split(":")
        fc = face.FaceConfig(landmark_every=int(every), still_px=float(still),
                             follow=follow[0] if follow else face.FaceConfig.follow)
        cfg = AnalysisConfig(face=fc)
        va = dataset.build(val_paths, cfg, workers=a.workers)
        un = dataset.build(unseen_paths, cfg, workers=a.workers)
        mae = {k: T.evaluate(nets[k], va, "clip")["mae"] for k in ("c3", "wlos")}
        qmi = qmi_block_mae(va, "clip")["mae"]
        acc = shift_scores(va, methods, calibrations=cals)
        rel = shift_scores(un, {"fusion": methods["fusion"]}, calibrations=cals)["fusion"]["relative"]
        share = (interpolated_share(val_paths[:20], fc), interpolated_share(unseen_paths, fc))
        print(f"| {every} : {still} : {fc.follow} | {share[0]:.2f} / {share[1]:.2f} | {mae['c3']:.4f} | {mae['wlos']:.4f} | "
              f"{qmi:.4f} | {acc['fusion']['absolute']:.3f} | {acc['wlos']['absolute']:.3f} | {rel:.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
