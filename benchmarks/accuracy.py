"""Accuracy on faces the models never saw: is the drift right, and is "reliable" true? Prints tables.

    .venv/bin/python -m benchmarks.accuracy unseen [--s1 S1 --split-file SPLIT] [--unseen DIR ...]
        [--model DIR] [--methods c3-track,c3,wlos,qmi] [--max-clips N] [--json OUT] [--plot PNG]
    .venv/bin/python -m benchmarks.accuracy folds RUN [--choose] [--write-calibration DIR]
        [--write-held-out] [--weighting NAME] [--plot PNG]
    .venv/bin/python -m benchmarks.accuracy short --s1 S1 --split-file SPLIT [--people SETTLED]
        [--model DIR] [--max-clips 40]
    .venv/bin/python -m benchmarks.accuracy source-sync CLIP_OR_DIR ... [--max-lag 6] [--shift F]
        [--analysis] [--list SPLIT --split val]

- unseen: every estimator on GRID s1's held-out clips, on "other speaker" copies of them and on
  folders of unseen speakers, each clip's sound moved by -6, -3, 0, +3, +6 frames (the README's
  table, with `folds`).
- folds: the speaker-disjoint table from a trainer.folds output (people never seen, fold by fold),
  and the confidence fitted on some folds and checked on the one left out; it also fits and writes
  the shipped calibration.
- short: clips of 0.6 s and up, cut from longer recordings.
- source-sync: is a test clip's source itself in sync? The lips' opening against the sound's
  loudness, a check that shares no learned part with the analysis.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import common

from trainer import dataset
from trainer.calibrate import GRID_NAME, fit_methods
from trainer.evaluate import CLIP_SHIFTS, cut, estimate_clip, shift_audio, shift_scores
from wlos_app.core import calibration, faces, media
from wlos_app.core.estimators import reach_of
from wlos_app.core.mouth import FaceConfig
from wlos_app.core.features import frame_power_db
from wlos_app.core.methods import DEFAULT, METHODS as ESTIMATORS, canonical
from wlos_app.core.models import load

METHODS = tuple(ESTIMATORS)
LABELS = {DEFAULT: f"{DEFAULT} (default)", "wlos": "WLOS (paper)", "c3": "C3 sliding window (paper)",
          "qmi": "QMI (Liu & Sato)"}


def reliable_share(cases, use_absolute: bool) -> tuple[int, int, float]:
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


def unseen_plot(path: str, sets: dict, results: dict, method: str) -> None:
    """Reliability diagram of `method` on every set."""
    series = {}
    for name, (_, absolute) in sets.items():
        cases = results[name][method]["cases_detail"]
        series[name] = (np.array([c[2] for c in cases]), np.array([c[4] if absolute else c[3] for c in cases]))
    reliability_diagram(path, series, f"Reliability of {method} on clips it never trained on\n"
                                      f"(audio moved by -6..+6 frames)")


def load_folds(root: Path) -> list[dict]:
    folds = [json.loads(p.read_text()) for p in sorted(root.glob("fold*/eval.json"))]
    if not folds:
        raise SystemExit(f"{root}: no fold*/eval.json (run python -m trainer.folds first)")
    for f in folds:
        f["raw"], f["settled"] = _renamed(f["raw"]), _renamed(f["settled"])
        f["cases"] = {part: _renamed(c) for part, c in f["cases"].items()}
    return folds


def _renamed(d: dict) -> dict:
    """Keys that name a method by an old name ("fusion", "fusion c3+wlos": folds measured before
    issue 36) under today's."""
    return {" ".join([canonical(k.split(" ")[0]), *k.split(" ")[1:]]): v for k, v in d.items()}


def share(rows: list, col: int) -> tuple[int, int]:
    return sum(bool(r[col]) for r in rows), len(rows)


def fmt(hit: int, n: int) -> str:
    return f"{hit / n:.3f}" if n else "—"


def people_rows(f: dict, method: str) -> list:
    """A fold's answers on its people: the settled copies, and the clips as recorded that could
    not be settled (the settled copies' relative score is the recorded clip's)."""
    settled = f["settled"][method]["rows"]
    names = {r[0] for r in settled}
    return settled + [r for r in f["raw"][method]["rows"] if r[0] not in names]


def accuracy_table(folds: list[dict], keys: dict[str, str]) -> list[str]:
    head = ["estimator"] + [f"fold {f['fold']} ({', '.join(f['people'])})" for f in folds] + ["all folds"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for m in METHODS:
        cells, tot = [], np.zeros((2, 2), int)
        for f in folds:
            # relative: the moved copies only (at 0 the relative score is right by definition)
            rel = share([r for r in people_rows(f, keys[m]) if r[1] != 0], 3)
            ab = share(f["settled"][keys[m]]["rows"], 4)
            tot += (rel, ab)
            cells.append(f"{fmt(*rel)} / {fmt(*ab)}")
        lines.append(f"| {m} | " + " | ".join(cells) + " | " + " / ".join(f"{fmt(*t)} ({t[0]}/{t[1]})" for t in tot)
                     + " |")
    return lines


def weights_label(w: dict) -> str:
    return " + ".join(k if v == 1 else f"{k}*{v:g}" for k, v in w.items())


def weighting_table(folds: list[dict]) -> list[str]:
    """The default's weightings on the settled copies of held-out people (absolute)."""
    names = [k for k in folds[0]["settled"] if k.startswith(f"{DEFAULT} ") and all(k in f["settled"] for f in folds)]
    lines = ["| weighting | " + " | ".join(f"fold {f['fold']}" for f in folds) + " | all folds |",
             "|---" * (len(folds) + 2) + "|"]
    for key in [DEFAULT, *names]:
        cells, tot = [], np.zeros(2, int)
        for f in folds:
            h, n = share(f["settled"][key]["rows"], 4)
            tot += (h, n)
            cells.append(fmt(h, n))
        if key != DEFAULT:
            label = key[len(DEFAULT) + 1:]
        else:  # folds measured before eval.json recorded the weighting do not name it
            label = f"{weights_label(f['weights'])} (the default when measured)" if "weights" in f \
                else "the default when measured"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {fmt(*tot)} ({tot[0]}/{tot[1]}) |")
    return lines


def negative(case: str) -> bool:
    return "beyond" in case or case == "mismatched audio"


def with_short(case: str, q: dict) -> dict:
    """The `short` feature of a case cut short ("short 15 ..."), for cases measured before the
    analysis computed it (it is the clip length's alone: calibration.shortness)."""
    if case.startswith("short ") and "short" not in q:
        return {**q, "short": calibration.shortness(reach_of(int(case.split()[1])))}
    return q


def fit_rows(folds: list[dict], method: str) -> list[tuple]:
    """(clip, case, quality, right) of `method` in these folds: the calibration's cases (people's
    for the default, s1's for all) and the answers on the settled copies (right = absolute)."""
    rows = [(r[0], r[1], with_short(r[1], r[2]), r[3]) for f in folds for part in ("settled", "s1_val")
            for r in f["cases"][part].get(method, [])]
    rows += [(r[0], f"shift {r[1]:+d}", r[5], r[4]) for f in folds for r in f["settled"][method]["rows"]]
    return rows


# Many people's cases: a tenth of the ridge a one-speaker fit needs (calibration.fit). s1's cases
# (its clips are named by their sentence: GRID_NAME) weigh S1_WEIGHT times the people's together:
# s1 is a face every fold model learned, the face that can fool the confidence (another sentence's
# sound read confidently). Both chosen by the leave-one-fold-out check below (--choose;
# docs/accuracy.md), which also measures the choice itself, nested.
RIDGE = 1e-3
S1_WEIGHT = 4.0


def s1_weights(rows: list[tuple], s1_weight: float | None = S1_WEIGHT) -> np.ndarray:
    s1 = np.array([bool(GRID_NAME.match(r[0])) for r in rows])
    w = np.ones(len(rows))
    if s1_weight is not None and s1.any() and (~s1).any():
        w[s1] = s1_weight * (~s1).sum() / s1.sum()
    return w


def _fit(rows: list[tuple], method: str, ridge: float = RIDGE,
         s1_weight: float | None = S1_WEIGHT) -> calibration.Calibration | None:
    return fit_methods({method: rows}, "cross-fold", select=None, ridge_per_case=ridge,
                       weigh=lambda r: s1_weights(r, s1_weight)).get(method)


def held_out(f: dict, cal: calibration.Calibration, method: str) -> tuple[np.ndarray, list]:
    """A fold's row under a calibration fitted without it: answers, right, right called reliable,
    called reliable; cases that can only be wrong called reliable and in all, on its people and on
    its s1 clips. And (confidence, right) of each answer and case."""
    settled = {r[0] for r in f["settled"][method]["rows"]}
    answers = [(r[5], r[4]) for r in f["settled"][method]["rows"]] + \
              [(r[5], r[3]) for r in f["raw"][method]["rows"] if r[0] not in settled and r[1] != 0]
    p = np.array([cal.probability(q) for q, _ in answers])
    y = np.array([ok for _, ok in answers], bool)
    rel = p >= calibration.RELIABLE
    row, pooled = [len(y), y.sum(), (rel & y).sum(), rel.sum()], []
    for part in ("settled", "s1_val"):
        neg = [r for r in f["cases"][part].get(method, []) if negative(r[1])]
        pn = np.array([cal.probability(with_short(r[1], r[2])) for r in neg])
        row += [(pn >= calibration.RELIABLE).sum(), len(neg)]
        pooled += [(x, False) for x in pn.tolist()]
    return np.array(row), pooled + list(zip(p.tolist(), y.tolist()))


def leave_one_out(folds: list[dict], method: str, **fit) -> np.ndarray:
    """The folds' rows summed, each fold under a calibration fitted on the others (`fit`: _fit's)."""
    return sum(held_out(f, _fit(fit_rows([g for g in folds if g is not f], method), method, **fit), method)[0]
               for f in folds)


def fold_reliability(folds: list[dict], method: str) -> tuple[list[str], list]:
    """Leave-one-fold-out check of the calibration of `method`: fitted on the other folds, applied
    to the held-out fold's answers (as recorded: relative; settled copies: absolute) and to its
    cases that can only be wrong."""
    lines = ["| held-out fold | answers | right | right called reliable | reliable that are right | "
             "cases that can only be wrong called reliable: people (held out) | s1 (a face the models learned) |",
             "|---|---|---|---|---|---|---|"]
    pooled = []  # (confidence, right) of every held-out answer and case that can only be wrong
    tot = np.zeros(8, int)
    for f in folds:
        row, got = held_out(f, _fit(fit_rows([g for g in folds if g is not f], method), method), method)
        tot += row
        pooled += got
        lines.append(f"| {f['fold']} | {row[0]} | {row[1]} | {row[2]}/{row[1]} = {fmt(row[2], row[1])} | "
                     f"{row[2]}/{row[3]} = {fmt(row[2], row[3])} | {row[4]}/{row[5]} | {row[6]}/{row[7]} |")
    lines.append(f"| all | {tot[0]} | {tot[1]} | {tot[2]}/{tot[1]} = {fmt(tot[2], tot[1])} | "
                 f"{tot[2]}/{tot[3]} = {fmt(tot[2], tot[3])} | {tot[4]}/{tot[5]} = {fmt(tot[4], tot[5])} | "
                 f"{tot[6]}/{tot[7]} = {fmt(tot[6], tot[7])} |")
    lines.append(f"\ncases that can only be wrong called reliable, both: {tot[4] + tot[6]}/{tot[5] + tot[7]} = "
                 f"{fmt(tot[4] + tot[6], tot[5] + tot[7])}")
    return lines, pooled


# The fits --choose compares: s1's weight (None: each case weighs 1) and the ridge per case.
CHOICES = [(w, r) for w in (None, 2.0, 4.0, 8.0, 16.0) for r in (1e-2, 3e-3, 1e-3, 3e-4)]


def _rank(t: np.ndarray) -> tuple:
    """The aims first (>= 70 % of the right answers called reliable, >= 97 % of those called
    reliable right), then the fewest cases that can only be wrong called reliable, then the most
    right answers called reliable; ties go to the earlier choice (less weight, more ridge)."""
    return (not (t[2] >= 0.70 * t[1] and t[2] >= 0.97 * max(t[3], 1)), t[4] + t[6], -t[2])


def choose(folds: list[dict], method: str) -> tuple[float | None, float]:
    return min(CHOICES, key=lambda c: _rank(leave_one_out(folds, method, s1_weight=c[0], ridge=c[1])))


def choice_table(folds: list[dict], method: str) -> list[str]:
    """Every choice's leave-one-fold-out totals, and the choice itself measured nested: for each
    fold, chosen on the other four (each left out in turn), fitted on them, checked on the fold."""
    lines = ["| s1 weight | ridge | right called reliable | reliable right | can only be wrong, reliable (people, s1) |",
             "|---|---|---|---|---|"]
    for w, r in CHOICES:
        t = leave_one_out(folds, method, s1_weight=w, ridge=r)
        lines.append(f"| {w or '1 per case'} | {r:g} | {t[2]}/{t[1]} | {t[2]}/{t[3]} | "
                     f"{t[4] + t[6]}/{t[5] + t[7]} ({t[4]}, {t[6]}) |")
    tot, picked = np.zeros(8, int), []
    for f in folds:
        inner = [g for g in folds if g is not f]
        w, r = choose(inner, method)
        picked.append(f"fold {f['fold']}: {w or 1}, {r:g}")
        tot += held_out(f, _fit(fit_rows(inner, method), method, s1_weight=w, ridge=r), method)[0]
    lines.append(f"\nchosen on all folds: {choose(folds, method)}; nested ({'; '.join(picked)}): right called "
                 f"reliable {tot[2]}/{tot[1]}, reliable right {tot[2]}/{tot[3]}, can only be wrong called reliable "
                 f"{tot[4] + tot[6]}/{tot[5] + tot[7]} (people {tot[4]}, s1 {tot[6]})")
    return lines


def fold_plot(path: str, pooled: list, title: str) -> None:
    reliability_diagram(path, {"held-out answers and cases that can only be wrong":
                               (np.array([x for x, _ in pooled]), np.array([v for _, v in pooled]))},
                        title, bins=10, legend="upper left")


def fitted(folds: list[dict], keys: dict[str, str]) -> dict[str, calibration.Calibration]:
    """Each method's calibration fitted on these folds' cases and answers."""
    people = sum(len(f["people"]) for f in folds)
    cals = {}
    for m in METHODS:
        c = _fit(fit_rows(folds, keys[m]), keys[m])
        if c is not None:
            c.method = m
            c.fitted_on = (f"out-of-fold answers and cases of {len(folds)} speaker folds ({people} people) and "
                           f"their s1 validation clips: shifts, short cuts, drift beyond the range, another clip's sound; "
                           f"s1's cases weigh {S1_WEIGHT:g}x the people's, ridge {RIDGE:g} a case")
            cals[m] = c
    return cals


LENGTHS = (15, 18, 22, 29)  # 0.6, 0.72, 0.88 and 1.16 s


def cuts(f, n: int, every: int = 50) -> list[int]:
    """Cut starts every `every` frames, away from the ends by the search's length."""
    return list(range(10, max(11, f.n_frames - n - 10), every))


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


def source_lag(path: str, max_lag: int) -> tuple[float, float, bool]:
    lips = opening(path)
    if len(lips) < 4 * max_lag or not np.isfinite(lips).any():
        return float("nan"), float("nan"), True
    return best_lag(lips, loudness(path, len(lips)), max_lag)


# ---- unseen ---------------------------------------------------------------------------------------

def add_unseen(ap) -> None:
    common.options(ap, "s1", "split-file", "unseen", "model", "max-clips", "json", s1=None)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--cache", help="feature cache folder (default: trainer.dataset's)")
    ap.add_argument("--device")
    ap.add_argument("--plot", metavar="PNG", help="write the default's reliability diagram here")


def cmd_unseen(a) -> int:
    """Each estimator on s1's held-out clips (with --s1), their "other speaker" copies and unseen speakers.

    Every clip is analysed with its sound moved by -6, -3, 0, +3, +6 frames (40 ms each, the 25 fps
    grid). relative: |offset at shift s - offset at shift 0 - s| <= 1 frame, fair where a source may
    itself be off (the unseen clips are not known to be in sync); absolute: |offset - s| <= 1 frame,
    for clips known to be in sync (GRID). "other speaker": every held-out s1 clip with every
    augmentation of trainer.augment at once (camera, resolution, frame rate, codec, voice, room, line,
    noise). Reliability: of the answers with confidence >= 0.8, the share that is right (absolute
    where the truth is known, relative elsewhere)."""
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
    for folder in common.unseen_folders(a):
        sets[Path(folder).name] = (dataset.build(folder, cache_dir=a.cache), False)

    methods = [canonical(m) for m in a.methods.split(",") if m]
    kinds = {k for m in methods for k in ESTIMATORS[m].networks}
    nets = {k: load(k, a.model, a.device) for k in kinds}
    cals = calibration.load(a.model)
    engine = {m: (m, {k: nets[k] for k in ESTIMATORS[m].networks}) for m in methods}
    results = {}
    for name, (clips, _) in sets.items():
        print(f"{name}: {len(clips.clips)} clips ...", file=sys.stderr, flush=True)
        results[name] = shift_scores(clips, engine, CLIP_SHIFTS, calibrations=cals)

    def f(x):
        return "—" if x is None or not np.isfinite(x) else f"{x:.3f}"

    print(f"model: {a.model or 'shipped'}; shifts {list(CLIP_SHIFTS)} frames (40 ms); {common.machine()}\n")
    head = [c for n, (_, known) in sets.items() for c in ((f"{n} rel", f"{n} abs") if known else (f"{n} rel",))]
    t = common.Table("estimator", *head, "ms per block")
    for m in methods:
        cells = []
        for n, (_, known) in sets.items():
            r = results[n][m]
            cells += [f(r["relative"]), f(r["absolute"])] if known else [f(r["relative"])]
        t.row(LABELS.get(m, m), *cells, f"{results[next(iter(sets))][m]['ms_per_block']:.2f}")
    print("\nanswers (clips x shifts) per set: " + ", ".join(
        f"{n} {results[n][methods[0]]['cases']} ({results[n][methods[0]]['clips']} clips)" for n in sets))
    print(f"\nreliable answers (confidence >= {calibration.RELIABLE}): share of all answers, and share of those "
          "that are right\n")
    t = common.Table("estimator", *sets)
    for m in methods:
        cells = []
        for n, (_, known) in sets.items():
            total, high, right = reliable_share(results[n][m]["cases_detail"], known)
            cells.append(f"{high}/{total} reliable, {f(right)} right")
        t.row(LABELS.get(m, m), *cells)
    common.write_json(a.json, results)
    if a.plot and DEFAULT in methods:
        unseen_plot(a.plot, sets, results, DEFAULT)
    return 0


# ---- folds ----------------------------------------------------------------------------------------

def add_folds(ap) -> None:
    ap.add_argument("root", help="a trainer.folds output (RUN/fold<k>/eval.json)")
    ap.add_argument("--write-calibration", metavar="DIR", help="fit on every fold and write DIR/calibration.json")
    ap.add_argument("--write-held-out", action="store_true",
                    help="write each fold<k>/calibration.json, fitted on the other folds (for its model's own use)")
    ap.add_argument("--weighting", help="the default's weighting whose confidence is checked and written "
                                        "(a name of trainer.folds.WEIGHTINGS measured with --weighting; "
                                        "default: the shipped one)")
    ap.add_argument("--plot", metavar="PNG")
    ap.add_argument("--choose", action="store_true", help="compare the fits of CHOICES for the default "
                                                          "(and the choice, nested)")


def cmd_folds(a) -> int:
    """The speaker-disjoint table: every estimator on people its model never saw, fold by fold.

    Reads RUN/fold<k>/eval.json (python -m trainer.folds). Scores, sound moved by -6..+6 frames:
    people relative (each person's clips moved by -6, -3, +3, +6, |offset(s) - offset(0) - s| <= 1
    frame) and people absolute (their settled copies, trainer.speakers, |offset(s) - s| <= 1 frame).
    Confidence, per fold k: the calibration is fitted on the cases of the other folds (their people's
    and their s1 clips' shifts, drift beyond the range, another clip's sound) and applied to fold k's
    answers: of the right answers, how many it calls reliable; of the reliable ones, how many are
    right; of the cases that can only be wrong, how many it calls reliable. --write-calibration fits
    on every fold's cases and writes DIR/calibration.json (the shipped one); --write-held-out writes
    each fold's model the calibration of the other folds (active_speaker ... --folds)."""
    folds = load_folds(Path(a.root))
    print(f"{len(folds)} folds; cells: people relative / people absolute (settled copies), within one frame, "
          f"audio moved by -6..+6 frames\n")
    keys = {m: (f"{DEFAULT} {a.weighting}" if m == DEFAULT and a.weighting else m) for m in METHODS}
    print("\n".join(accuracy_table(folds, keys)))
    print(f"\n{DEFAULT} weightings, held-out people's settled copies, absolute\n")
    print("\n".join(weighting_table(folds)))
    for m in METHODS:
        print(f"\nconfidence of {keys[m]}, calibration fitted on the other folds (reliable: >= {calibration.RELIABLE})\n")
        lines, pooled = fold_reliability(folds, keys[m])
        print("\n".join(lines))
        if a.plot and m == DEFAULT:
            fold_plot(a.plot, pooled, f"Reliability of the default estimator on people it never saw\n"
                                      f"({len(folds)} speaker folds, calibration fitted on the other folds)")
    if a.choose:
        print(f"\nthe calibration's fit for {keys[DEFAULT]}, each checked leaving one fold out\n")
        print("\n".join(choice_table(folds, keys[DEFAULT])))
    if a.write_calibration:
        print(f"wrote {calibration.save(fitted(folds, keys), a.write_calibration)}")
    if a.write_held_out:
        for f in folds:  # each fold's model gets the calibration of the other folds: it never saw its own
            out = Path(a.root) / f"fold{f['fold']}"
            print(f"wrote {calibration.save(fitted([g for g in folds if g is not f], keys), out)}")
    print(f"\n{common.machine()}")
    return 0


# ---- short ----------------------------------------------------------------------------------------

def add_short(ap) -> None:
    common.options(ap, "s1", "split-file", "model")
    ap.add_argument("--people", help="settled clips of real people, one folder a person")
    ap.add_argument("--max-clips", type=int, default=40, help="s1 val clips (default: %(default)s)")


def cmd_short(a) -> int:
    """How right the answer is on short clips (0.6 s and up), cut from longer recordings.

    Each clip (s1 validation clips; with --people, settled copies of real people, docs/data.md) is
    cut to n frames at several places, its sound moved across the whole search such a clip allows
    (estimators.reach_of: +-2 frames at 0.6 s, +-6 at 0.88 s) before the cut, as a clip cut from a
    broadcast would hold it. Per estimator and length: the share within one frame, and the share
    called reliable. The cut is made on cached features (trainer.evaluate.cut), so only the
    estimators run; tests/test_short_clips.py does the same through whole files."""
    np.seterr(all="ignore")
    _, val = dataset.split_clips(dataset.build(a.s1), a.split_file)
    sets = {"s1 val": val.clips[:a.max_clips]}
    if a.people:
        sets["people"] = dataset.build(a.people).clips
    nets = {k: load(k, a.model) for k in ("c3", "wlos")}
    cals = calibration.load(a.model)
    print(f"model: {a.model or 'shipped'}; {common.machine()}; cells: within one frame / called reliable "
          f"(answers)\n")
    t = common.Table("set", "length", "searched", *METHODS)
    for name, clips in sets.items():
        for n in LENGTHS:
            r = reach_of(n)
            got = {m: [] for m in METHODS}
            for c in clips:
                f = c.feats
                for start in cuts(f, n):
                    for s in sorted({-r, -(r // 2), 0, r // 2, r}):
                        g = cut(shift_audio(f, s), start, n)
                        for m in METHODS:
                            est = estimate_clip(g, m, {k: nets[k] for k in ESTIMATORS[m].networks}, calibrations=cals)
                            if est is not None:
                                ok = np.isfinite(est.offset_grid) and abs(est.offset_grid - s) <= 1.0
                                got[m].append((ok, est.confidence >= calibration.RELIABLE))
            cells = []
            for m in METHODS:
                x = np.array(got[m], bool).reshape(-1, 2)
                cells.append(f"{x[:, 0].mean():.3f} / {x[:, 1].mean():.3f} ({len(x)})" if len(x) else "—")
            t.row(name, f"{n / 25:.2f} s", f"+-{40 * r} ms", *cells)
    return 0


# ---- source-sync ----------------------------------------------------------------------------------

def add_source_sync(ap) -> None:
    ap.add_argument("clips", nargs="+", help="clips, or folders searched for clips")
    ap.add_argument("--max-lag", type=int, default=6)
    ap.add_argument("--shift", type=int, default=0, help="also read a copy with the sound moved by this many frames")
    ap.add_argument("--analysis", action="store_true", help="also print the analysis's reading")
    ap.add_argument("--list", help="a split file (clip<TAB>split...), to keep one split's clips")
    ap.add_argument("--split", default="val")


def cmd_source_sync(a) -> int:
    """Is a clip's source itself in sync? The lips' opening against the sound's loudness.

    Per clip: the inner-lip opening of every grid frame (dlib's 68 points on every frame, the mean
    gap of the three inner-lip pairs over the eye distance) and the sound's power per 40 ms frame
    (dB, features.frame_power_db), both standardised; their correlation at each lag of -max-lag ..
    +max-lag frames (the sound moved), the best lag refined by a parabola. Positive = audio late. A
    peak at the end of the range is no reading ("edge"). Far noisier than the analysis (the opening
    lags the sound's onsets by varying amounts, a sentence's rhythm gives side peaks): one clip's
    reading means little alone, but a clip that reads far from the others of its recording set, as
    the analysis also reads it, is evidence that its source is off. --analysis adds the analysis's
    reading; --shift F also reads a copy with the sound moved by F frames (the difference should be
    about F); --list/--split keep the clips a split file names for that split."""
    paths = [p for c in a.clips for p in common.clips(c)]
    if a.list:
        side = dataset.read_split_file(a.list)
        paths = [p for p in paths if side.get(p.stem) == a.split]
    if not paths:
        print("no clips found", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="wlos-source-sync-"))
    if a.analysis:
        from wlos_app.core.analysis import AnalysisConfig, analyze
        cfg = AnalysisConfig(keep_audio=False)
    head = ["clip", "lag (frames, + = audio late)", "peak correlation"]
    head += ["the analysis: drift (frames), confidence"] if a.analysis else []
    head += [f"with the sound moved {a.shift:+d}"] if a.shift else []
    t = common.Table(*head)
    readings, pairs = [], []
    for p in paths:
        lag, peak, edge = source_lag(str(p), a.max_lag)
        row = [p.stem, "edge" if edge else f"{lag:+.2f}", f"{peak:.2f}"]
        if not edge:
            readings.append(lag)
        if a.analysis:
            res = analyze(str(p), cfg)
            row.append(f"{res.offset_grid:+.2f}, {res.confidence:.2f}")
            if not edge and res.reliable:
                pairs.append((lag, res.offset_grid))
        if a.shift:
            import mediagen
            moved = mediagen.write_clip(tmp / f"{p.stem}.mp4", *mediagen.load_clip(p), audio_delay_s=a.shift * 0.04)
            lag2, _, edge2 = source_lag(str(moved), a.max_lag)
            row.append("edge" if edge2 else f"{lag2:+.2f} (difference {lag2 - lag:+.2f})")
        t.row(*row)
    if readings:
        q = np.percentile(readings, [25, 50, 75])
        rest = f" (the rest peak at the end of +-{a.max_lag})" if len(readings) < len(paths) else ""
        print(f"\n{len(readings)} of {len(paths)} clips read{rest}; "
              f"lag quartiles {q[0]:+.2f} / {q[1]:+.2f} / {q[2]:+.2f} frames")
    if len(pairs) > 2:
        x, y = np.array(pairs).T
        print(f"{len(pairs)} clips with a lag and a reliable analysis: Pearson r {np.corrcoef(x, y)[0, 1]:+.2f}, "
              f"Spearman {np.corrcoef(np.argsort(np.argsort(x)), np.argsort(np.argsort(y)))[0, 1]:+.2f}")
    return 0


COMMANDS = {"unseen": (cmd_unseen, add_unseen), "folds": (cmd_folds, add_folds), "short": (cmd_short, add_short),
            "source-sync": (cmd_source_sync, add_source_sync)}

if __name__ == "__main__":
    sys.exit(common.main(__doc__, COMMANDS))
