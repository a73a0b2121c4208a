"""Learning a new speaker from their footage: fine-tune the shipped model on ~20 in-sync clips, then
measure the default estimator before and after, on that speaker's held-out clips and on the
speakers it must not forget. Prints one table.

    .venv/bin/python benchmarks/finetune.py --s1 S1_FOLDER --split-file ../shared/data/grid_s1_split.tsv \\
        [--speaker FOLDER] [--unseen ../shared/data/unseen_dev] [--unseen MORE ...] [--work DIR]

--speaker: a folder of one new speaker's in-sync clips (the first 2/3 by name train, the rest are
held out). Without it, a stand-in speaker is made from 30 held-out s1 clips, each recorded again
through one fixed "other camera and voice" (`trainer.augment`, every part on: resolution, zoom,
rotation, frame rate, H.264, pitch and formants, room, telephone band, codec, noise). It has s1's
face, so it measures adapting to a camera, a voice and a room, not to a new mouth; no second real
speaker with 20 clips is available here (docs/accuracy.md).

Every set is scored as benchmarks/unseen.py scores it: audio moved by -6, -3, 0, +3, +6 frames;
absolute where the source is known to be in sync, relative (to the unshifted reading) elsewhere.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import dataset  # noqa: E402
from trainer.augment import Augmentation, render  # noqa: E402
from trainer.evaluate import CLIP_SHIFTS, shift_scores  # noqa: E402
from trainer.recipe import TrainJob, run  # noqa: E402
from trainer.train import TrainConfig  # noqa: E402
from wlos_app.core import calibration  # noqa: E402
from wlos_app.core.analysis import NETWORKS_OF, AnalysisConfig, resolve_method  # noqa: E402
from wlos_app.core.models import load  # noqa: E402
from wlos_app.core.paths import resources_dir  # noqa: E402

DEFAULT_UNSEEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "unseen_dev"


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
    nets = {k: load(k, model_dir) for k in NETWORKS_OF[method]}
    cals = calibration.load(model_dir)
    return {name: shift_scores(clips, {method: (method, nets)}, CLIP_SHIFTS, calibrations=cals)[method]
            for name, (clips, _) in sets.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--s1", required=True, help="folder of GRID s1 clips")
    ap.add_argument("--split-file", required=True)
    ap.add_argument("--speaker", help="folder of a new speaker's in-sync clips (default: a stand-in)")
    ap.add_argument("--unseen", action="append", default=[], help="folders of other unseen speakers")
    ap.add_argument("--s1-clips", type=int, default=100, help="s1 val clips scored for forgetting")
    ap.add_argument("--work", default="/tmp/wlos-finetune-bench", help="where the clips and the model go")
    ap.add_argument("--epochs-c3", type=float, default=6)
    ap.add_argument("--epochs", type=float, default=10, help="WLOS epochs")
    a = ap.parse_args()

    work = Path(a.work)
    speaker = Path(a.speaker) if a.speaker else stand_in_speaker(a.s1, a.split_file, work / "speaker")
    clips = sorted(p.stem for p in dataset.find_clips(speaker))
    n_train = round(len(clips) * 2 / 3)
    split = work / "speaker_split.tsv"
    split.write_text("clip\tsplit\n" + "".join(f"{c}\t{'train' if i < n_train else 'val'}\n"
                                               for i, c in enumerate(clips)))
    out = work / "model"
    if out.exists():
        import shutil
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
    for folder in a.unseen or [str(DEFAULT_UNSEEN)]:
        sets[Path(folder).name] = (dataset.build(folder), False)
    before, after = score(str(resources_dir()), sets), score(str(out), sets)

    print(f"new speaker: {speaker} ({n_train} clips fine-tuned on, {len(clips) - n_train} held out); "
          f"fine-tune (C3 {a.epochs_c3:g} + WLOS {a.epochs:g} epochs, features read from the cache when a run before made them) took {minutes:.1f} min; "
          f"machine: {platform.machine()}, CPU")
    print()
    print("| set | truth | default before | default after | answers |")
    print("|---|---|---|---|---|")
    for name, (_, known) in sets.items():
        key = "absolute" if known else "relative"
        print(f"| {name} | {key} | {before[name][key]:.3f} | {after[name][key]:.3f} | {after[name]['cases']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
