"""Is the drift right on faces the models never saw? Prints one table: each estimator on
GRID s1's held-out clips, on "other speaker" copies of them, and on folders of unseen speakers.

    .venv/bin/python benchmarks/unseen.py --s1 S1_FOLDER --split-file ../shared/data/grid_s1_split.tsv \\
        [--unseen ../shared/data/unseen_dev] [--unseen MORE_DIR ...] [--model DIR] [--max-clips N] \\
        [--json OUT] [--plot docs/reliability.png]

Every clip is analysed with its audio moved by -6, -3, 0, +3, +6 frames (40 ms each, the 25 fps
analysis grid). Scores:
- relative: |offset at shift s - offset at shift 0 - s| <= 1 frame. Fair where a source may itself
  be off (the unseen clips are not known to be in sync);
- absolute: |offset - s| <= 1 frame, for clips known to be in sync (GRID).
"other speaker": every held-out s1 clip with every augmentation of trainer.augment at once (another
camera, resolution, frame rate, codec, voice, room, line and noise), the strongest this project has.
Reliability: of the answers with confidence >= 0.8 ("reliable"), the share that is right (absolute
where the truth is known, relative elsewhere).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import dataset  # noqa: E402
from trainer.evaluate import CLIP_SHIFTS, shift_scores  # noqa: E402
from wlos_app.core import calibration  # noqa: E402
from wlos_app.core.analysis import NETWORKS_OF  # noqa: E402
from wlos_app.core.models import load  # noqa: E402

DEFAULT_UNSEEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "unseen_dev"
LABELS = {"fusion": "fusion (default)", "wlos": "WLOS (paper)", "c3": "C3 sliding window (paper)",
          "qmi": "QMI (Liu & Sato)"}


def reliability(cases, use_absolute: bool) -> tuple[int, int, float]:
    """(answers, reliable answers, share of those that are right)."""
    conf = np.array([c[2] for c in cases])
    right = np.array([c[4] if use_absolute else c[3] for c in cases], bool)
    high = conf >= calibration.RELIABLE
    return len(cases), int(high.sum()), float(right[high].mean()) if high.any() else float("nan")


def reliability_diagram(path: str, series: dict[str, tuple[np.ndarray, np.ndarray]], title: str,
                        bins: int = 5, legend: str = "lower right") -> None:
    """Confidence bins (with 3 answers or more) against the share of right answers, one line per
    series (label -> (confidences, right)), the number of answers beside each point."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=110)
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfect calibration")
    edges = np.linspace(0, 1, bins + 1)
    for label, (conf, right) in series.items():
        conf, right = np.asarray(conf, float), np.asarray(right, float)
        xs, ys = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
            if m.sum() >= 3:
                xs.append(conf[m].mean())
                ys.append(right[m].mean())
                ax.annotate(str(int(m.sum())), (xs[-1], ys[-1]), fontsize=6, xytext=(3, -8), textcoords="offset points")
        ax.plot(xs, ys, marker="o", label=f"{label} ({len(conf)} answers)")
    ax.axvline(calibration.RELIABLE, color="#c66", lw=1, ls=":", label="called reliable from here")
    ax.set_xlabel("confidence (mean of the bin; the number of answers beside it)")
    ax.set_ylabel("share of answers within one frame")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc=legend)
    fig.tight_layout()
    fig.savefig(path)


def plot(path: str, sets: dict, results: dict, method: str) -> None:
    """Reliability diagram of `method` on every set."""
    series = {}
    for name, (_, absolute) in sets.items():
        cases = results[name][method]["cases_detail"]
        series[name] = (np.array([c[2] for c in cases]), np.array([c[4] if absolute else c[3] for c in cases]))
    reliability_diagram(path, series, f"Reliability of {method} on clips it never trained on\n"
                                      f"(audio moved by -6..+6 frames)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--s1", help="folder of GRID s1 clips")
    ap.add_argument("--split-file", help="s1 split (its val clips are used)")
    ap.add_argument("--unseen", action="append", default=[], help="folder of unseen speakers (repeatable)")
    ap.add_argument("--model", help="model folder (default: the shipped resources/)")
    ap.add_argument("--methods", default="fusion,c3,wlos,qmi")
    ap.add_argument("--max-clips", type=int, default=0, help="at most this many s1 val clips (0: all)")
    ap.add_argument("--cache")
    ap.add_argument("--device")
    ap.add_argument("--json", help="also write the full results here")
    ap.add_argument("--plot", help="write the default's reliability diagram (PNG) here")
    a = ap.parse_args()

    sets: dict[str, tuple[dataset.ClipSet, bool]] = {}  # name -> (clips, truth known)
    if a.s1:
        s1 = dataset.build(a.s1, cache_dir=a.cache)
        _, val = dataset.split_clips(s1, a.split_file) if a.split_file else (None, s1)
        if a.max_clips:
            val = dataset.ClipSet(val.clips[:a.max_clips])
        sets["s1 val"] = (val, True)
        paths = sorted({c.path for c in val.clips})
        sets["s1 val, other speaker"] = (dataset.build(paths, cache_dir=a.cache, augmented=1, every_part=True,
                                                       include_clean=False), True)
    for folder in a.unseen or [str(DEFAULT_UNSEEN)]:
        sets[Path(folder).name] = (dataset.build(folder, cache_dir=a.cache), False)

    methods = [m for m in a.methods.split(",") if m]
    kinds = {k for m in methods for k in NETWORKS_OF[m]}
    nets = {k: load(k, a.model, a.device) for k in kinds}
    cals = calibration.load(a.model)
    engine = {m: (m, {k: nets[k] for k in NETWORKS_OF[m]}) for m in methods}
    results = {}
    for name, (clips, _) in sets.items():
        print(f"{name}: {len(clips.clips)} clips ...", file=sys.stderr, flush=True)
        results[name] = shift_scores(clips, engine, CLIP_SHIFTS, calibrations=cals)

    def f(x):
        return "—" if x is None or not np.isfinite(x) else f"{x:.3f}"

    print(f"model: {a.model or 'shipped'}; shifts {list(CLIP_SHIFTS)} frames (40 ms); "
          f"machine: {platform.machine()}, {a.device or 'default device'}")
    print()
    head = " | ".join(f"{n} rel | {n} abs" if known else f"{n} rel" for n, (_, known) in sets.items())
    print(f"| estimator | {head} | ms per block |")
    print("|---|" + "---|" * (sum(2 if k else 1 for _, k in sets.values()) + 1))
    for m in methods:
        cells = []
        for n, (_, known) in sets.items():
            r = results[n][m]
            cells += [f(r["relative"]), f(r["absolute"])] if known else [f(r["relative"])]
        ms = results[next(iter(sets))][m]["ms_per_block"]
        print(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + f" | {ms:.2f} |")
    print()
    print("answers (clips x shifts) per set: " + ", ".join(
        f"{n} {results[n][methods[0]]['cases']} ({results[n][methods[0]]['clips']} clips)" for n in sets))
    print()
    print(f"reliable answers (confidence >= {calibration.RELIABLE}): share of all answers, and share of those "
          "that are right")
    print()
    print("| estimator | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for m in methods:
        cells = []
        for n, (_, known) in sets.items():
            total, high, right = reliability(results[n][m]["cases_detail"], known)
            cells.append(f"{high}/{total} reliable, {f(right)} right")
        print(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, default=str))
    if a.plot and "fusion" in methods:
        plot(a.plot, sets, results, "fusion")
    return 0


if __name__ == "__main__":
    sys.exit(main())
