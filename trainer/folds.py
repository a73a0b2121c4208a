"""Speaker-disjoint training and measurement: k folds over people, and the model trained on all.

    python -m trainer.folds --s1 S1 --split-file SPLIT --speakers SETTLED --raw RAW --init V2 \\
        --out runs/folds [--folds 0,1,2] [--final]

For each fold k (trainer.speakers.folds: people, not clips, are split):
1. C3 and then WLOS are fine-tuned from --init, a model that never saw any of the people (the
   shipped models since v3 saw them all: start from v2, which learned GRID s1 alone), on GRID
   s1's training clips and the settled clips (trainer.speakers.settle) of every person outside
   fold k, all with their augmented copies, each person capped per epoch (TrainConfig.per_speaker);
2. the fold's model answers for fold k's people, who it never saw: their clips as recorded with
   the sound moved by -6..+6 frames, scored relative to the unmoved copy; the settled copies,
   scored absolutely; the calibration's cases (trainer.calibrate.cases: shifts, drift beyond the
   range, another clip's sound); and a tenth of s1's validation clips. Each weighting of the
   default's parts in WEIGHTINGS is asked, so the weighting is chosen on people the model never saw.
Everything is written to OUT/fold<k>/eval.json, with the estimators' quality, so the calibration
can be fitted and checked across folds without running the networks again
(benchmarks.accuracy folds). `--final` trains the shipped model the same way on every person.
The settings are fixed here before any fold is measured; none is chosen on s1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wlos_app.core.methods import DEFAULT, METHODS
from wlos_app.core.methods.c3_track import WEIGHTS

from . import dataset
from .calibrate import cases
from .dataset import ClipSet
from .evaluate import shift_scores
from .speakers import folds, of_fold
from .train import TrainConfig, speaker_of, train

# Weightings of the default's parts asked on every fold's held-out people besides the shipped one
# (AnalysisConfig.weights, c3_track.WEIGHTS: C3 alone): C3 + WLOS, WLOS weighted as C3.
WEIGHTINGS = {
    "c3": {"c3": 1.0},
    "c3+wlos": {"c3": 1.0, "wlos": 1.0},
}


@dataclass
class Plan:
    s1: str
    split_file: str
    speakers: str  # the settled copies, one folder a person
    raw: str  # the clips as recorded, one folder a person
    out: str
    init: str  # the model every fold starts from: it must not have seen any of the people
    k: int = 5
    c3_epochs: float = 3.0
    wlos_epochs: float = 2.0
    per_speaker: int = 24  # segments of 100 frames (4 s) per person per epoch
    mismatched: int = 0  # C3's pairs per block with another clip's sound (TrainConfig.mismatched)
    augment: int = 1
    threads: int = 0
    s1_val_share: int = 20  # each fold's cases use every s1_val_share-th s1 validation clip
    weightings: dict = field(default_factory=lambda: dict(WEIGHTINGS))


def data(plan: Plan) -> dict[str, ClipSet]:
    # s1 with its augmented copies too: the model shipped before learned from them, and a recipe
    # without them forgot it (docs/accuracy.md: through another camera and voice 0.916 -> 0.797)
    s1 = dataset.build(plan.s1, augmented=plan.augment)
    s1_train, s1_val = dataset.split_clips(s1, plan.split_file)
    return {"s1_train": s1_train, "s1_val": s1_val.versions([0]),
            "settled": dataset.build(plan.speakers, augmented=plan.augment),
            "raw": dataset.build(plan.raw)}


def train_model(plan: Plan, train_set: ClipSet, out: Path, log=print, val_set: ClipSet | None = None) -> None:
    """Both networks fine-tuned from the shipped ones; `val_set` is reported at the end, never
    used to choose (the schedule is fixed)."""
    init = plan.init
    for kind, epochs in (("c3", plan.c3_epochs), ("wlos", plan.wlos_epochs)):
        if (out / f"{kind}.pt").exists():
            continue
        cfg = TrainConfig.fine_tune(kind=kind, epochs=epochs, per_speaker=plan.per_speaker, threads=plan.threads,
                                    mismatched=plan.mismatched,
                                    val_every=1e9, checkpoint_every_s=1e9)
        train(cfg, train_set, val_set, out, init=init, log=log)


def _jsonable(rows):
    return [[r[0], r[1], r[2], r[3], r[4], r[5]] for r in rows]


def measure(plan: Plan, model_dir: Path, held_raw: ClipSet, held_settled: ClipSet, s1_val: ClipSet,
            log=print) -> dict:
    """The fold model's answers (trainer.evaluate.shift_scores) and the calibration's cases
    (trainer.calibrate.cases), each set once:
    - every estimator answers on the settled copies (relative and absolute) and on the clips that
      could not be settled (relative), and the default's other weightings on the settled copies;
    - the default's cases on people: the shifts beyond the answers' +-6 (the answers' own rows are
      cases too), short cuts, drift beyond the range, another clip's sound;
    - every estimator's cases on a slice of s1's validation clips."""
    from wlos_app.core.models import load
    from .calibrate import WIDE_SHIFTS
    nets = {k: load(k, str(model_dir)) for k in ("c3", "wlos")}
    methods = {m: (m, {k: nets[k] for k in METHODS[m].networks}) for m in METHODS}
    settled_names = {c.name for c in held_settled.clips}
    unsettled = ClipSet([c for c in held_raw.clips if c.name not in settled_names])
    res = {"raw": {}, "settled": {}, "cases": {}}
    for part, clips in (("raw", unsettled), ("settled", held_settled)):
        t0 = time.monotonic()
        found = dict(shift_scores(clips, methods))
        if part == "settled":
            for wname, w in plan.weightings.items():
                if w != WEIGHTS:
                    found[f"{DEFAULT} {wname}"] = shift_scores(clips, {DEFAULT: methods[DEFAULT]}, weights=w)[DEFAULT]
        res[part] = {m: {"relative": r["relative"], "absolute": r["absolute"], "cases": r["cases"],
                         "rows": _jsonable(r["cases_detail"])} for m, r in found.items()}
        log(f"  answers on {part}: {len(clips.clips)} clips, {time.monotonic() - t0:.0f} s")
    for part, clips, engine, shifts in (("settled", held_settled, {DEFAULT: methods[DEFAULT]}, WIDE_SHIFTS),
                                        ("s1_val", s1_val, methods, None)):
        t0 = time.monotonic()
        kw = {"shifts": shifts} if shifts else {}
        res["cases"][part] = {m: [list(r) for r in rows] for m, rows in cases(clips, engine, join_k=1, **kw).items()}
        log(f"  calibration cases on {part}: {time.monotonic() - t0:.0f} s")
    return res


def run_fold(plan: Plan, sets: dict[str, ClipSet], fold: int, log=print) -> Path:
    assign = folds(sets["settled"], plan.k)
    # People with no settled clip are measured in the fold of their name's place among the others.
    raw_people = sorted({speaker_of(c.path) for c in sets["raw"].clips})
    for i, p in enumerate(p for p in raw_people if p not in assign):
        assign[p] = i % plan.k
    out = Path(plan.out) / f"fold{fold}"
    out.mkdir(parents=True, exist_ok=True)
    train_set = ClipSet(sets["s1_train"].clips + of_fold(sets["settled"], assign, fold, inside=False).clips)
    people = sorted(p for p, f in assign.items() if f == fold)
    log(f"fold {fold}: held out {', '.join(people)}; training on {len(train_set.clips)} clips")
    t0 = time.monotonic()
    train_model(plan, train_set, out, log)
    minutes = (time.monotonic() - t0) / 60
    s1_val = ClipSet(sets["s1_val"].clips[fold::plan.s1_val_share])
    res = measure(plan, out, of_fold(sets["raw"], assign, fold, True),
                  of_fold(sets["settled"], assign, fold, True).versions([0]), s1_val, log)
    res.update(fold=fold, people=people, train_minutes=round(minutes, 2), assignment=assign,
               weights=dict(WEIGHTS), init=plan.init, mismatched=plan.mismatched,
               train_people=sorted({speaker_of(c.path) for c in train_set.clips}))
    (out / "eval.json").write_text(json.dumps(res, default=float))
    return out


def add_weighting(plan: Plan, sets: dict[str, ClipSet], fold: int, wname: str, log=print) -> None:
    """Measure a fold's default again under weighting `wname`: its answers and its calibration
    cases, so the confidence can be fitted for it (and with the estimators' quality as the
    analysis now computes it)."""
    from wlos_app.core.models import load
    from .calibrate import WIDE_SHIFTS
    out = Path(plan.out) / f"fold{fold}"
    res = json.loads((out / "eval.json").read_text())
    assign = res["assignment"]
    nets = {k: load(k, str(out)) for k in ("c3", "wlos")}
    key, engine, w = f"{DEFAULT} {wname}", {DEFAULT: (DEFAULT, nets)}, plan.weightings[wname]
    settled = of_fold(sets["settled"], assign, fold, True).versions([0])
    names = {c.name for c in settled.clips}
    unsettled = ClipSet([c for c in of_fold(sets["raw"], assign, fold, True).clips if c.name not in names])
    t0 = time.monotonic()
    for part, clips in (("raw", unsettled), ("settled", settled)):
        r = shift_scores(clips, engine, weights=w)[DEFAULT]
        res[part][key] = {"relative": r["relative"], "absolute": r["absolute"], "cases": r["cases"],
                          "rows": _jsonable(r["cases_detail"])}
    for part, clips, kw in (("settled", settled, {"shifts": WIDE_SHIFTS}),
                            ("s1_val", ClipSet(sets["s1_val"].clips[fold::plan.s1_val_share]), {})):
        res["cases"][part][key] = [list(x) for x in cases(clips, engine, join_k=1, weights=w, **kw)[DEFAULT]]
    (out / "eval.json").write_text(json.dumps(res, default=float))
    log(f"fold {fold}: weighting {wname} measured in {time.monotonic() - t0:.0f} s")


def run_final(plan: Plan, sets: dict[str, ClipSet], log=print) -> Path:
    out = Path(plan.out) / "final"
    train_set = ClipSet(sets["s1_train"].clips + sets["settled"].clips)
    log(f"final: training on {len(train_set.clips)} clips of {len({speaker_of(c.path) for c in train_set.clips})} people")
    t0 = time.monotonic()
    train_model(plan, train_set, out, log, val_set=sets["s1_val"])
    (out / "train.json").write_text(json.dumps({"minutes": round((time.monotonic() - t0) / 60, 2),
                                                "clips": len(train_set.clips)}))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("s1", "split-file", "speakers", "raw", "out"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--init", required=True,
                    help="the model folder the folds start from; one that never saw any of the people "
                         "(v2: git show 3c36f49:resources/c3.pt, wlos.pt)")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--folds", default="", help="comma-separated folds to run (default: all)")
    ap.add_argument("--final", action="store_true", help="also train the model on every person")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mismatched", type=int, default=0,
                    help="C3 learns this many pairs per block with another clip's sound (TrainConfig.mismatched)")
    ap.add_argument("--weighting", help="add this weighting of the default's parts to the measured folds")
    a = ap.parse_args(argv)
    plan = Plan(a.s1, a.split_file, a.speakers, a.raw, a.out, a.init, a.k, threads=a.threads, mismatched=a.mismatched)
    sets = data(plan)
    todo = [int(x) for x in a.folds.split(",") if x] if a.folds else list(range(plan.k))
    for k in todo:
        if not (Path(plan.out) / f"fold{k}" / "eval.json").exists():
            run_fold(plan, sets, k)
    if a.weighting:
        for k in todo:
            add_weighting(plan, sets, k, a.weighting)
    if a.final:
        run_final(plan, sets)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
