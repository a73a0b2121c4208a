"""The training feature cache, v1 (float16 flow on disk, float32 in memory) against v2 (int8 flow,
compressed; int8 in memory): size per hour of video, load time, what the shipped models measure on
the 200 s1 validation clips from each, and C3 training speed from each. Prints a table.

    .venv/bin/python benchmarks/feature_cache.py --s1 /work/cache/grid/data/s1 \
        --split-file ../shared/data/grid_s1_split.tsv

v1 is read from its own cache folder (CACHE_VERSION 1, made by an earlier build; the reader of v1
is kept here), v2 is built (or read) as `wlos-app train` would. v2's flows are the v1 flows
quantised as the v2 writer does, so the comparison isolates the storage.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainer import dataset, store  # noqa: E402
from trainer import train as T  # noqa: E402
from trainer.evaluate import qmi_block_mae, shift_scores  # noqa: E402
from wlos_app.core import calibration  # noqa: E402
from wlos_app.core.analysis import NETWORKS_OF, AnalysisConfig  # noqa: E402
from wlos_app.core.features import ClipFeatures  # noqa: E402
from wlos_app.core.models import load  # noqa: E402


def _load_v1(npz, cfg):
    with np.load(npz) as z:
        return ClipFeatures(z["flow"].astype(np.float32), z["flow_valid"], float(z["flow_scale"]),
                            z["mfcc"].astype(np.float32), z["power_db"].astype(np.float32),
                            float(z["speech_level_db"]), cfg)


def _cache_mb(folder: Path, clips) -> float:
    """The clips' own cache files (the folder may hold other clips and augmented copies)."""
    return sum((folder / f"{dataset.content_key(c.path)}.npz").stat().st_size for c in clips) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--s1", required=True)
    ap.add_argument("--split-file", required=True)
    ap.add_argument("--train-epochs", type=float, default=0.25, help="C3 epochs timed per cache")
    a = ap.parse_args()

    v2_now, v2_loader = dataset.CACHE_VERSION, dataset._load_features
    dataset.CACHE_VERSION, dataset._load_features = 1, _load_v1
    t0 = time.perf_counter()
    all_v1 = dataset.build(a.s1, workers=1)
    # The clips read lazily (trainer.store) through the loader of their time: v1's is read now.
    all_v1 = dataset.ClipSet([dataclasses.replace(c, held=_load_v1(Path(c.source), c.cfg)) for c in all_v1.clips])
    load_v1 = time.perf_counter() - t0
    folder_v1 = dataset.default_cache_dir() / dataset.settings_key(AnalysisConfig())
    dataset.CACHE_VERSION, dataset._load_features = v2_now, v2_loader
    dataset.build(a.s1)  # extracts what is not cached yet
    store.STORE.clear()
    t0 = time.perf_counter()
    for c in dataset.build(a.s1, workers=1).clips:
        c.feats  # every clip read once, as v1's above
    load_v2 = time.perf_counter() - t0
    folder_v2 = dataset.default_cache_dir() / dataset.settings_key(AnalysisConfig())
    hours = sum(c.feats.n_frames for c in all_v1.clips) / 25.0 / 3600

    def v2_of(cs):
        return dataset.ClipSet([dataclasses.replace(c, held=dataclasses.replace(
            c.feats, flow=dataset.quantize_flow(c.feats.flow, c.feats.flow_scale), flow_scale=dataset.FLOW_UNITS))
            for c in cs.clips])

    train1, val1 = dataset.split_clips(all_v1, a.split_file)
    sets = {"v1: float16 on disk, float32 in memory": (folder_v1, load_v1, train1, val1),
            "v2: int8, compressed on disk, int8 in memory": (folder_v2, load_v2, v2_of(train1), v2_of(val1))}
    nets = {k: load(k, None) for k in ("c3", "wlos")}
    cals = calibration.load()
    print(f"machine: {platform.machine()}, CPU; GRID s1, {len(all_v1.clips)} clips, {hours * 60:.1f} min of video; "
          f"{len(val1.clips)} validation clips; shipped models\n")
    print("| cache | disk MB per hour | flow MB per hour in memory | load s (all clips) | C3 MAE | WLOS MAE | QMI MAE "
          "| fusion within ±1 | WLOS within ±1 | C3 training pairs/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (folder, load_s, tr, va) in sets.items():
        mae = {k: T.evaluate(nets[k], va, "clip")["mae"] for k in ("c3", "wlos")}
        qmi = qmi_block_mae(va, "clip")["mae"]
        acc = shift_scores(va, {m: (m, {k: nets[k] for k in NETWORKS_OF[m]}) for m in ("fusion", "wlos")},
                           calibrations=cals)
        with tempfile.TemporaryDirectory() as tmp:
            res = T.train(T.TrainConfig(kind="c3", epochs=a.train_epochs, val_every=10.0, threads=2), tr, None, tmp,
                          log=None)
        pairs_s = res.history[-1]["pairs_per_s"] if res.history else float("nan")
        ram = sum(c.feats.flow.nbytes for c in tr.clips + va.clips) / 1e6
        print(f"| {name} | {_cache_mb(folder, all_v1.clips) / hours:.0f} | {ram / hours:.0f} | {load_s:.1f} | {mae['c3']:.4f} | "
              f"{mae['wlos']:.4f} | {qmi:.4f} | {acc['fusion']['absolute']:.3f} | {acc['wlos']['absolute']:.3f} | "
              f"{pairs_s:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
