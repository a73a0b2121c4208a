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

from wlos_app.core.paths import resources_dir

from . import dataset
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
    emit = on_event or (lambda kind, info: None)
    clips = dataset.build(job.source, cache_dir=job.cache_dir, workers=job.workers, cancel=cancel,
                          progress=lambda done, total, msg: emit("dataset", {"done": done, "total": total,
                                                                            "message": msg}))
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
    emit("log", {"message": f"{len(clips.clips)} clips ({len(clips.skipped)} skipped): "
                            f"{len(train_set.clips)} train, {len(val_set.clips) if val_set else 0} val, "
                            f"protocol {protocol}"})
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
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
        res = train(cfg, train_set, val_set, out, init=stage_init, resume=resume, cancel=cancel,
                    progress=lambda info: emit("step", info), log=lambda s: emit("log", {"message": s}),
                    on_validation=lambda row: emit("validation", row))
        summary["stages"][cfg.kind] = {"finished": res.finished, "final": res.final}
        if not res.finished:
            break
    with open(out / "summary.json", "w") as fh:
        json.dump({**summary, "job": {k: v for k, v in asdict(job).items() if k not in ("c3", "wlos")}}, fh,
                  indent=1, default=str)
    return summary


def _finished(ckpt: Path) -> bool:
    import torch
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception:
        return False
    return bool(state.get("finished"))
