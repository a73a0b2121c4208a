"""Training: the paper's Table 1 as reproduced, learning a new speaker, and the feature cache's costs.
Prints tables.

    .venv/bin/python -m benchmarks.training table1 S1 --split-file SPLIT --clip MODELS/clip [--clip-scratch DIR]
        [--pairs MODELS/pairs] [--pairs-scratch DIR] [--cache DIR] [--device cuda] [--json OUT]
    .venv/bin/python -m benchmarks.training finetune --s1 S1 --split-file SPLIT [--speaker FOLDER]
        [--unseen DIR ...] [--epochs-c3 6] [--epochs 10] [--work DIR]
    .venv/bin/python -m benchmarks.training cache-keys FOLDER [--repeats 3]
    .venv/bin/python -m benchmarks.training lazy-cache --s1 S1 --split-file SPLIT [--steps 60] [--fraction 0.1]
        [--repeats 2] [--copies 1 10] [--threads 2]

- table1: the paper's Table 1 on GRID s1, on both protocols, plus clip accuracy and speed
  (docs/training.md, the model card);
- finetune: fine-tune the shipped model on ~20 in-sync clips of a new speaker, and the default
  estimator before and after, on that speaker's held-out clips and on the speakers it must not forget;
- cache-keys: finding the cache files of a folder (every video hashed, against keys remembered);
- lazy-cache: training from a feature cache read lazily, speed and peak memory, against all in memory.
How to train: docs/training.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import common

from trainer import dataset
from trainer.augment import Augmentation, render
from trainer.evaluate import CLIP_SHIFTS, shift_scores
from trainer.recipe import TrainJob, run
from trainer.report import evaluate_clips
from trainer.train import TrainConfig
from wlos_app.core import calibration
from wlos_app.core.analysis import AnalysisConfig, resolve_method
from wlos_app.core.methods import METHODS
from wlos_app.core.models import load
from wlos_app.core.paths import resources_dir


ROWS = [("qmi", "QMI (Liu & Sato)", 6.305), ("c3", "C3 (sliding window)", 1.352),
        ("wlos-scratch", "WLOS (scratch)", 0.937), ("wlos", "WLOS (fine-tuned from C3)", 0.907)]


def nets_from(ft: str, scratch: str | None, device: str | None) -> dict:
    nets = {"c3": load("c3", ft, device), "wlos": load("wlos", ft, device)}
    if scratch:
        nets["wlos-scratch"] = load("wlos", scratch, device)
    return nets


def stand_in_speaker(s1: str, split_file: str, out: Path, n: int = 30, seed: int = 7) -> Path:
    """n held-out s1 clips (the last n of the split's val clips by name, so they can be kept apart
    from the s1 set scored below), all through one fixed augmentation."""
    val = sorted(line.split("\t")[0] for line in Path(split_file).read_text().splitlines()[1:]
                 if line.split("\t")[1:2] == ["val"])
    aug = Augmentation.draw(np.random.default_rng(seed), 1.0, every_part=True)
    out.mkdir(parents=True, exist_ok=True)
    for name in val[-n:]:
        dst = out / f"{name}.mp4"
        if not dst.exists():
            render(str(Path(s1) / f"{name}.mpg"), str(dst), aug)
    (out / "augmentation.txt").write_text(repr(aug) + "\n")
    return out


def score(model_dir: str, sets: dict) -> dict:
    method = resolve_method(AnalysisConfig(model_dir=model_dir))
    nets = {k: load(k, model_dir) for k in METHODS[method].networks}
    cals = calibration.load(model_dir)
    return {name: shift_scores(clips, {method: (method, nets)}, CLIP_SHIFTS, calibrations=cals)[method]
            for name, (clips, _) in sets.items()}


MODES = {"all": "all in memory", "budget": "budget"}


def _link(target: str, link: Path) -> str:
    os.symlink(target, link)
    return str(link)


def child(a) -> dict:
    from trainer import dataset, store
    from trainer import train as T
    t0 = time.perf_counter()
    clips = dataset.build(a.s1, workers=1)
    build_s = time.perf_counter() - t0
    train_set, _ = dataset.split_clips(clips, a.split_file)
    links, copies = tempfile.TemporaryDirectory(), a.copies[0]
    if copies > 1:  # a cache `copies` times larger: each training clip again, under other names
        folder = Path(links.name)
        train_set = dataset.ClipSet([
            dataclasses.replace(c, name=f"{c.name}~{k}", source=_link(c.source, folder / f"{k}-{Path(c.source).name}"))
            for k in range(copies) for c in train_set.clips])
    need = train_set.feature_bytes()
    store.STORE.clear()
    budget = store.STORE.set_budget(2 * need if a.child == "all" else int(a.fraction * need))
    t0 = time.perf_counter()
    for i in np.random.default_rng(1).permutation(len(train_set.clips)):  # all, or the budget's fill
        if store.STORE.resident + train_set.clips[i].nbytes > budget:
            break
        train_set.clips[i].feats
    load_s = time.perf_counter() - t0
    store.STORE.reset_stats()
    steps_per_epoch = len(T.segments(train_set, 100, None))
    cfg = T.TrainConfig(kind="c3", epochs=a.steps / steps_per_epoch, val_every=1e9, threads=a.threads,
                        checkpoint_every_s=1e9)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = T.train(cfg, train_set, None, tmp, log=None)
        train_s = time.perf_counter() - t0
    links.cleanup()
    st = store.STORE.stats()
    hours = sum(c.n_frames for c in train_set.clips) / 25.0 / 3600
    return {"mode": a.child, "copies": copies, "clips": len(train_set.clips), "hours": hours,
            "need_mb": need / store.MB,
            "budget_mb": st["budget_mb"], "peak_store_mb": st["peak_mb"], "reads": st["reads"], "hits": st["hits"],
            "read_s": st["read_s"], "steps": res.history[-1]["step"], "pairs_per_s": res.history[-1]["pairs_per_s"],
            "train_s": train_s, "build_s": build_s, "load_s": load_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def metadata(s1: str) -> tuple[float, float]:
    """KB of memory per built clip (features not read), and MB per hour of video, by tracemalloc."""
    import tracemalloc
    from trainer import dataset
    dataset.build(s1, workers=1)  # imports and the index, untraced
    tracemalloc.start()
    clips = dataset.build(s1, workers=1)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hours = sum(c.n_frames for c in clips.clips) / 25.0 / 3600
    return held / len(clips.clips) / 1024, held / hours / 1e6


# ---- table1 ---------------------------------------------------------------------------------------

def add_table1(ap) -> None:
    ap.add_argument("folder", help="GRID s1 clips")
    common.options(ap, "split-file", "json")
    ap.add_argument("--clip", required=True, help="c3.pt and a fine-tuned wlos.pt trained with --protocol clip")
    ap.add_argument("--clip-scratch", help="wlos.pt trained from scratch the same way")
    ap.add_argument("--pairs", help="c3.pt and wlos.pt trained with --protocol pairs")
    ap.add_argument("--pairs-scratch")
    ap.add_argument("--cache")
    ap.add_argument("--device")


def cmd_table1(a) -> int:
    """The paper's Table 1 on GRID s1, on both protocols, plus clip accuracy and speed.

    --clip / --pairs: folders with c3.pt and a fine-tuned wlos.pt trained with `--protocol clip` (on
    the split file's train clips) and `--protocol pairs` (on 80% of all pairs); --*-scratch: wlos.pt
    trained from scratch the same way (`--stage wlos-scratch`). The clip columns use the held-out clips
    only; the pairs column the held-out 20% of pairs. Speed is measured in the clip run, on this
    machine's CPU unless --device cuda."""
    clips = dataset.build(a.folder, cache_dir=a.cache)
    _, val = dataset.split_clips(clips, a.split_file)
    names = [r[0] for r in ROWS if r[0] != "wlos-scratch" or a.clip_scratch]
    print(f"clip protocol: {len(val.clips)} held-out clips ...", file=sys.stderr, flush=True)
    res_clip = evaluate_clips(val, nets_from(a.clip, a.clip_scratch, a.device), "clip", names)
    res_pairs = {}
    if a.pairs:
        names_p = [r[0] for r in ROWS if r[0] != "wlos-scratch" or a.pairs_scratch]
        print(f"paper protocol: held-out pairs of {len(clips.clips)} clips ...", file=sys.stderr, flush=True)
        res_pairs = evaluate_clips(clips, nets_from(a.pairs, a.pairs_scratch, a.device), "pairs", names_p,
                                   clip_level=False)

    def f(x, nd=3):
        return "—" if x is None else f"{x:.{nd}f}"

    print(f"GRID s1, {len(clips.clips)} clips; clip-disjoint split: {len(val.clips)} val clips; "
          f"{common.machine()}, device {a.device or 'default'}\n")
    t = common.Table("method", "paper MAE (S1)", "MAE, paper protocol", "MAE, clip-disjoint", "clip exact",
                     "clip within ±1", "ms per block")
    for key, label, paper in ROWS:
        if key not in res_clip:
            continue
        rc, rp = res_clip[key], res_pairs.get(key, {})
        t.row(label, f"{paper:.3f}", f(rp.get("mae")), f(rc["mae"]), f(rc["clip"]["exact"]), f(rc["clip"]["within1"]),
              f(rc["ms_per_block"], 2))
    print("\nMAE: mean |estimated - true drift| in frames over validation pairs (blocks x 19 drifts).")
    print("clip exact / within ±1: held-out clips with audio moved by -6, -3, 0, +3, +6 frames, "
          "the engine's clip offset rounded to the frame / within one frame.")
    common.write_json(a.json, {"clip": res_clip, "pairs": res_pairs})
    return 0


# ---- finetune -------------------------------------------------------------------------------------

def add_finetune(ap) -> None:
    common.options(ap, "s1", "split-file", "unseen")
    ap.add_argument("--speaker", help="folder of a new speaker's in-sync clips (default: a stand-in)")
    ap.add_argument("--stand-in-clips", type=int, default=30, help="s1 val clips that make the stand-in")
    ap.add_argument("--s1-clips", type=int, default=100, help="s1 val clips scored for forgetting")
    ap.add_argument("--work", default="/tmp/wlos-finetune-bench", help="where the clips and the model go")
    ap.add_argument("--epochs-c3", type=float, default=6)
    ap.add_argument("--epochs", type=float, default=10, help="WLOS epochs")


def cmd_finetune(a) -> int:
    """Learning a new speaker from their footage: the default before and after a fine-tune.

    Fine-tune the shipped model on ~20 in-sync clips, then measure the default estimator before and
    after, on that speaker's held-out clips and on the speakers it must not forget. --speaker: a
    folder of one new speaker's in-sync clips (the first 2/3 by name train, the rest are held out).
    Without it, a stand-in speaker is made from 30 held-out s1 clips, each recorded again through one
    fixed "other camera and voice" (trainer.augment, every part)."""
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    speaker = Path(a.speaker) if a.speaker else stand_in_speaker(a.s1, a.split_file, work / "speaker",
                                                                 a.stand_in_clips)
    clips = sorted(p.stem for p in dataset.find_clips(speaker))
    n_train = round(len(clips) * 2 / 3)
    split = work / "speaker_split.tsv"
    split.write_text("clip\tsplit\n" + "".join(f"{c}\t{'train' if i < n_train else 'val'}\n"
                                               for i, c in enumerate(clips)))
    out = work / "model"
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    run(TrainJob(str(speaker), str(out), stage="both", init="default", split_file=str(split),
                 c3=TrainConfig.fine_tune(kind="c3", epochs=a.epochs_c3),
                 wlos=TrainConfig.fine_tune(kind="wlos", epochs=a.epochs)))
    minutes = (time.perf_counter() - t0) / 60

    s1 = dataset.build(a.s1)
    _, s1_val = dataset.split_clips(s1, a.split_file)
    s1_val = dataset.ClipSet([c for c in s1_val.clips if c.name not in set(clips)][:a.s1_clips])
    spk = dataset.build(speaker)
    sets = {"new speaker, held out": (spk.subset(clips[n_train:]), True),
            f"s1 val ({len(s1_val.clips)} clips)": (s1_val, True)}
    for folder in common.unseen_folders(a):
        sets[Path(folder).name] = (dataset.build(folder), False)
    before, after = score(str(resources_dir()), sets), score(str(out), sets)

    print(f"new speaker: {speaker} ({n_train} clips fine-tuned on, {len(clips) - n_train} held out); "
          f"fine-tune (C3 {a.epochs_c3:g} + WLOS {a.epochs:g} epochs, features read from the cache when a run "
          f"before made them) took {minutes:.1f} min; {common.machine()}\n")
    t = common.Table("set", "truth", "default before", "default after", "answers")
    for name, (_, known) in sets.items():
        key = "absolute" if known else "relative"
        t.row(name, key, f"{before[name][key]:.3f}", f"{after[name][key]:.3f}", after[name]["cases"])
    return 0


# ---- cache-keys -----------------------------------------------------------------------------------

def add_cache_keys(ap) -> None:
    ap.add_argument("folder")
    common.options(ap, "repeats")


def cmd_cache_keys(args) -> int:
    """Finding the cache files of a folder of videos: every video hashed, against keys remembered.

    trainer.dataset.ContentKeys: each repeat hashes the folder with a new, empty keys.jsonl ("first
    build"), then finds the keys again from it ("rebuild"), checked with a stat. The videos are read
    from the page cache after the first repeat, so the hashing times are a lower bound for a folder
    on disk."""
    paths = dataset.find_clips(args.folder)
    size = sum(p.stat().st_size for p in paths)
    rows = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as root:
            times = []
            for _run in ("first build", "rebuild"):
                keys = dataset.ContentKeys(Path(root))  # read from keys.jsonl, as a build does
                t = time.perf_counter()
                found = [keys(p) for p in paths]
                keys.save()
                times.append(time.perf_counter() - t)
            assert found[0] == dataset.content_key(paths[0])  # the remembered key is the content key
            rows.append(times)
    print(f"{len(paths)} videos, {size / 1e6:.0f} MB, in {args.folder}; {common.machine()}\n")
    t = common.Table("keys found by", "time, each repeat", "per video")
    for i, name in enumerate(("reading and hashing every video", "keys.jsonl and a stat")):
        ts = [r[i] for r in rows]
        t.row(name, " / ".join(f"{x:.3f} s" for x in ts), f"{min(ts) / len(paths) * 1e3:.2f} ms")
    return 0


# ---- lazy-cache -----------------------------------------------------------------------------------

def add_lazy_cache(ap) -> None:
    common.options(ap, "s1", "split-file")
    ap.add_argument("--steps", type=int, default=60, help="C3 steps per run (one clip segment each)")
    ap.add_argument("--fraction", type=float, default=0.1, help="the budget, as a share of the features")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 10],
                    help="cache sizes, in copies of the training clips (symlinked cache files)")
    ap.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)


def cmd_lazy_cache(a) -> int:
    """Training from a feature cache read lazily: C3 pairs/s and peak memory, all in memory or a budget.

    Each run is a child process (so its peak RSS is its own) that builds the s1 clips from the v2
    cache, keeps the split file's training clips (with --copies K > 1, each of them K times under
    other names and cache files symlinked to its own: a cache K times larger, read from the page
    cache) and trains C3 on them for --steps steps (one clip segment per step, --threads threads, no
    validation): "all in memory" (every training clip's features read before the clock starts, the
    load time reported apart) against "budget" (--fraction of those bytes, filled with random clips
    before the clock starts, so about 1 - fraction of the steps read their clip from the cache again
    and drop the least recently used). Peak RSS is the child's. The runs alternate (A B A B ...)."""
    if a.child:
        print(json.dumps(child(a)))
        return 0
    meta_kb, per_hour = metadata(a.s1)
    base = [sys.executable, "-m", "benchmarks.training", "lazy-cache", "--s1", a.s1, "--split-file", a.split_file,
            "--steps", str(a.steps), "--fraction", str(a.fraction), "--threads", str(a.threads)]
    rows = []
    for copies in a.copies:
        for r in range(a.repeats):
            for mode in MODES:
                out = subprocess.run(base + ["--child", mode, "--copies", str(copies)], capture_output=True, text=True,
                                     cwd=common.ROOT, check=True)
                rows.append({**json.loads(out.stdout.strip().splitlines()[-1]), "repeat": r + 1})
                print(f"copies {copies} run {r + 1} {mode}: {rows[-1]}", file=sys.stderr, flush=True)
    first = rows[0]
    print(f"{common.machine()} (shared); GRID s1, {first['clips']} training clips ({first['hours'] * 60:.0f} min of "
          f"video, {first['need_mb']:.1f} MB of features in memory), and the same clips repeated as a larger cache; "
          f"C3, {a.steps} steps of one clip segment, {a.threads} thread(s); runs alternated. A clip's metadata "
          f"(kept for every clip, whatever the budget): {meta_kb:.2f} KB, {per_hour:.1f} MB per hour of video\n")
    t = common.Table("cache (hours of video, features MB in memory)", "run", "features kept", "budget MB",
                     "peak kept MB", "reads (resident hits)", "read s", "load before s", "training s",
                     "C³ training pairs/s", "peak RSS MB")
    for row in rows:
        what = MODES[row["mode"]] + ("" if row["mode"] == "all" else f" ({a.fraction:.0%} of them)")
        t.row(f"{row['clips']} clips ({row['hours']:.1f} h, {row['need_mb']:.0f} MB)", row["repeat"], what,
              f"{row['budget_mb']:.1f}", f"{row['peak_store_mb']:.1f}", f"{row['reads']} ({row['hits']})",
              f"{row['read_s']:.2f}", f"{row['load_s']:.2f}", f"{row['train_s']:.1f}", f"{row['pairs_per_s']:,.0f}",
              f"{row['peak_rss_mb']:.0f}")
    return 0


COMMANDS = {"table1": (cmd_table1, add_table1), "finetune": (cmd_finetune, add_finetune),
            "cache-keys": (cmd_cache_keys, add_cache_keys), "lazy-cache": (cmd_lazy_cache, add_lazy_cache)}

if __name__ == "__main__":
    sys.exit(common.main(__doc__, COMMANDS))
