"""What `wlos-app train` and the GUI's trainer tab run: dataset, split, then the training stages.

Stages:
- "both" (default): C3 pre-training, then WLOS fine-tuned from the C3 branches (the paper's recipe);
- "c3", "wlos" (from `init`, or from out/c3.pt when it exists), "wlos-scratch".
Each stage writes out/<kind>.pt when its schedule completes and out/checkpoint-<kind>.pt while it
runs; with `resume`, finished stages are skipped and an interrupted one continues.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from wlos_app.core import outputs
from wlos_app.core.outputs import write_atomic
from wlos_app.core.paths import resources_dir

from . import dataset, distributed, store
from .train import TrainConfig, train

STAGES = ("both", "c3", "wlos", "wlos-scratch")

# (kind of event, details): "dataset" (done, total, message), "stage" (kind, init, resume),
# "step" (step, total, loss, ...), "validation" (a history row with kind and total), "log" (message)
Event = Callable[[str, dict], None]


@dataclass
class TrainJob:
    source: str  # folder of in-sync clips (or one file)
    out: str
    stage: str = "both"
    init: str | None = None  # "default" (the shipped model), a model folder, or None (from scratch)
    split_file: str | None = None  # TSV with clip/split columns; None = seeded 80/20 of clips
    cache_dir: str | None = None
    workers: int | None = None
    resume: bool = False  # continue an interrupted run in `out`; without it `out` must hold no run
    # Augmented copies of every training clip (trainer.augment: other cameras, voices, rooms),
    # cached beside the clips. With copies, each validation clip also gets one copy with every
    # augmentation at once ("other": the nearest to an unseen speaker that one speaker gives),
    # and each stage keeps the weights that validate best on it.
    augment: int = 0
    # Clip features kept in memory, MB per process (trainer.store): the rest is read from the
    # cache as needed, so a cache larger than memory trains. None or 0: as the store has it
    # (WLOS_FEATURE_RAM_MB, else a quarter of physical memory over the local processes).
    # Results do not depend on it.
    feature_ram_mb: float | None = None
    c3: TrainConfig = field(default_factory=lambda: TrainConfig(kind="c3", epochs=6))
    wlos: TrainConfig = field(default_factory=lambda: TrainConfig(kind="wlos", epochs=10))


def _init_dir(init: str | None) -> str | None:
    if init in (None, "", "scratch"):
        return None
    return str(resources_dir()) if init == "default" else init


def run(job: TrainJob, on_event: Event | None = None, cancel: Callable[[], bool] | None = None) -> dict:
    """Build (or reuse) the dataset, split it and train the requested stages. Returns a summary
    with the skipped clips and each stage's final validation metrics."""
    if job.stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}")
    outputs.check_model_folder(job.out)  # before minutes of feature extraction
    emit = on_event or (lambda kind, info: None)
    if job.feature_ram_mb:
        store.set_budget_mb(job.feature_ram_mb)
    rank, nproc = distributed.setup(job.c3.device or job.wlos.device)
    if rank:  # under torchrun one process reports (trainer.distributed)
        emit = lambda kind, info: None  # noqa: E731
    if rank:
        distributed.barrier()  # rank 0 extracts the features; the others then read its cache

    def progress(done, total, msg):
        emit("dataset", {"done": done, "total": total, "message": msg})

    clips = dataset.build(job.source, cache_dir=job.cache_dir, workers=job.workers, cancel=cancel,
                          progress=progress, augmented=job.augment)
    for path, why in clips.skipped:
        emit("log", {"message": f"skipped {path}: {why}"})
    if not clips.clips:
        raise ValueError(f"{job.source}: no usable clip (every clip lacked a face or speech)")
    protocol = job.wlos.protocol if job.stage != "c3" else job.c3.protocol
    if protocol == "pairs":
        train_set, val_set = clips, None
    else:
        train_set, val_set = dataset.split_clips(clips, job.split_file)
    if not train_set.clips or (val_set is not None and not val_set.clips):
        raise ValueError(f"{job.source}: {len(clips.clips)} usable clip(s); at least two are needed, "
                         f"one to train on and one to validate with")
    extra_val = {}
    if val_set is not None:
        val_set = val_set.versions([0])
        if job.augment:
            paths = sorted({c.path for c in val_set.clips})
            extra_val["other"] = dataset.build(paths, cache_dir=job.cache_dir, workers=job.workers, cancel=cancel,
                                               progress=progress, augmented=1, every_part=True,
                                               include_clean=False)
    if nproc > 1 and not rank:
        distributed.barrier()
    emit("log", {"message": f"{len({c.name for c in clips.clips})} clips ({len(clips.skipped)} skipped), "
                            f"{len(clips.clips)} with augmented copies: {len(train_set.clips)} train, "
                            f"{len(val_set.clips) if val_set else 0} val, protocol {protocol}"})
    out = Path(job.out)
    out.mkdir(exist_ok=True)  # its folder must exist (core.outputs: a missing one is refused)
    init = _init_dir(job.init)
    plan = []
    if job.stage in ("both", "c3"):
        plan.append((job.c3, init))
    if job.stage == "both":
        plan.append((job.wlos, str(out) if init is None else init))  # WLOS from the fresh C3, or fine-tune
    elif job.stage == "wlos":
        plan.append((job.wlos, init or (str(out) if (out / "c3.pt").exists() else None)))
    elif job.stage == "wlos-scratch":
        plan.append((job.wlos, None))

    summary = {"clips": len(clips.clips), "skipped": clips.skipped, "train_clips": len(train_set.clips),
               "val_clips": len(val_set.clips) if val_set else 0, "stages": {}}
    if not job.resume:
        for cfg, _ in plan:
            for name in (f"checkpoint-{cfg.kind}.pt", f"{cfg.kind}.pt"):
                if (out / name).exists():
                    raise FileExistsError(f"{out / name} exists: pass --resume to continue that run, "
                                          f"or choose another --out")
    for cfg, stage_init in plan:
        ckpt = out / f"checkpoint-{cfg.kind}.pt"
        if job.resume and ckpt.exists() and _finished(ckpt) and (out / f"{cfg.kind}.pt").exists():
            emit("log", {"message": f"{out / (cfg.kind + '.pt')} is already trained; skipping"})
            continue
        resume = job.resume and ckpt.exists()
        emit("stage", {"kind": cfg.kind, "init": stage_init, "resume": resume})
        if extra_val and not cfg.select_by:
            cfg.select_by = "other_mae"
        res = train(cfg, train_set, val_set, out, init=stage_init, resume=resume, cancel=cancel,
                    progress=lambda info: emit("step", info), log=lambda s: emit("log", {"message": s}),
                    on_validation=lambda row: emit("validation", row), extra_val=extra_val)
        summary["stages"][cfg.kind] = {"finished": res.finished, "final": res.final}
        if not res.finished:
            break
    if rank:
        return summary  # calibration, the gain and summary.json are rank 0's
    if all(st["finished"] for st in summary["stages"].values()) and summary["stages"]:
        summary["calibration"] = _calibrate(out, val_set, extra_val, init, job, emit)
        if val_set is not None and val_set.clips:
            summary["gain"] = gain(val_set, init or str(resources_dir()), str(out))
            g = summary["gain"]
            emit("gain", g)
            emit("log", {"message": f"held-out clips, audio moved -6..+6 frames, answers within a frame: "
                                    f"{g['before']['absolute']:.2f} before ({g['before']['method']}), "
                                    f"{g['after']['absolute']:.2f} after ({g['after']['method']})"})
    write_atomic(out / "summary.json", json.dumps(
        {**summary, "job": {k: v for k, v in asdict(job).items() if k not in ("c3", "wlos")}}, indent=1, default=str))
    return summary


def gain(clips, before_dir: str, after_dir: str) -> dict:
    """What a training run changed where it counts: each model's default estimator on the run's
    held-out clips with their audio moved by -6..+6 frames (trainer.evaluate.shift_scores)."""
    from wlos_app.core import calibration
    from wlos_app.core.analysis import AnalysisConfig, resolve_method
    from wlos_app.core.methods import METHODS
    from wlos_app.core.models import load
    from .evaluate import shift_scores

    def score(model_dir: str) -> dict:
        method = resolve_method(AnalysisConfig(model_dir=model_dir))
        nets = {k: load(k, model_dir) for k in METHODS[method].networks}
        r = shift_scores(clips, {method: (method, nets)}, calibrations=calibration.load(model_dir))[method]
        return {"model": model_dir, "method": method, "absolute": r["absolute"], "relative": r["relative"],
                "cases": r["cases"]}

    return {"clips": len(clips.clips), "before": score(before_dir), "after": score(after_dir)}


# Fewer held-out clips than this give too few cases for a fit of their own; the run then keeps
# the calibration of the model it started from.
MIN_CALIBRATION_CLIPS = 20


def _calibrate(out: Path, val_set, extra_val: dict, init: str | None, job: TrainJob, emit: Event) -> dict:
    """Fit the new model's confidence on its held-out clips (trainer.calibrate)."""
    import shutil
    from wlos_app.core import calibration
    from .calibrate import calibrate_model
    sets = {"held-out": val_set, **extra_val} if val_set is not None else {}
    n = sum(len(s.clips) for s in sets.values())
    if n >= MIN_CALIBRATION_CLIPS:
        emit("log", {"message": f"calibrating the confidence on {n} held-out clips"})
        rel = calibrate_model(str(out), sets, job.c3.device or job.wlos.device,
                              progress=lambda d, t: emit("dataset", {"done": d, "total": t,
                                                                     "message": "calibrating"}))
        return {"fitted": True, "check": rel}
    src = Path(init or "") / calibration.FILENAME
    if init and src.exists():
        shutil.copyfile(src, out / calibration.FILENAME)
        emit("log", {"message": f"{n} held-out clips are too few to calibrate on; kept {src}"})
        return {"fitted": False, "copied_from": str(src)}
    return {"fitted": False}


def _finished(ckpt: Path) -> bool:
    import torch
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception:
        return False
    return bool(state.get("finished"))
