"""The speaker-disjoint table: every estimator on people its model never saw, fold by fold, and
the confidence fitted on some folds and checked on the one left out.

    .venv/bin/python benchmarks/speaker_folds.py runs/folds [--weighting NAME] [--write-calibration DIR]
        [--write-held-out]
        [--plot docs/reliability.png] [--json OUT]

Reads runs/folds/fold<k>/eval.json (python -m trainer.folds). Scores, audio moved by -6..+6 frames:
- people, relative: each person's clips moved by -6, -3, +3, +6, |offset(s) - offset(0) - s| <= 1 frame;
- people, absolute: their settled copies (trainer.speakers), |offset(s) - s| <= 1 frame.
Confidence, per fold k (the answers: settled copies absolute, the others relative at the four
moved copies): the calibration (wlos_app.core.calibration) is fitted on the cases of the other folds (their people's and their s1 clips' shifts, drift beyond the range, another clip's
sound) and applied to fold k's answers: of the right answers, how many it calls reliable; of the
reliable ones, how many are right; of the cases that can only be wrong, how many it calls reliable.
--write-calibration fits on every fold's cases and writes DIR/calibration.json (the shipped one);
--write-held-out writes each fold's model the calibration of the other folds (benchmarks/two_people.py --folds).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wlos_app.core import calibration  # noqa: E402
from wlos_app.core.estimators import reach_of  # noqa: E402
from trainer.calibrate import GRID_NAME, fit_methods  # noqa: E402

def load(root: Path) -> list[dict]:
    folds = [json.loads(p.read_text()) for p in sorted(root.glob("fold*/eval.json"))]
    if not folds:
        raise SystemExit(f"{root}: no fold*/eval.json (run python -m trainer.folds first)")
    return folds


def share(rows: list, col: int) -> tuple[int, int]:
    return sum(bool(r[col]) for r in rows), len(rows)


def fmt(hit: int, n: int) -> str:
    return f"{hit / n:.3f}" if n else "—"


METHODS = ("fusion", "c3", "wlos", "qmi")


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
    """The fusion weightings on the settled copies of held-out people (absolute)."""
    names = [k for k in folds[0]["settled"] if k.startswith("fusion ") and all(k in f["settled"] for f in folds)]
    lines = ["| weighting | " + " | ".join(f"fold {f['fold']}" for f in folds) + " | all folds |",
             "|---" * (len(folds) + 2) + "|"]
    for key in ["fusion", *names]:
        cells, tot = [], np.zeros(2, int)
        for f in folds:
            h, n = share(f["settled"][key]["rows"], 4)
            tot += (h, n)
            cells.append(fmt(h, n))
        if key != "fusion":
            label = key[len("fusion "):]
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


def reliability(folds: list[dict], method: str) -> tuple[list[str], list]:
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


def plot(path: str, pooled: list, title: str) -> None:
    from benchmarks.unseen import reliability_diagram
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--write-calibration", help="fit on every fold and write DIR/calibration.json")
    ap.add_argument("--write-held-out", action="store_true",
                    help="write each fold<k>/calibration.json, fitted on the other folds (for its model's own use)")
    ap.add_argument("--weighting", help="the fusion weighting whose confidence is checked and written "
                                        "(a name of trainer.folds.WEIGHTINGS measured with --weighting; "
                                        "default: the shipped one)")
    ap.add_argument("--plot")
    ap.add_argument("--choose", action="store_true", help="compare the fits of CHOICES for the default "
                                                          "(and the choice, nested)")
    a = ap.parse_args()
    folds = load(Path(a.root))
    print(f"{len(folds)} folds; cells: people relative / people absolute (settled copies), within one frame, "
          f"audio moved by -6..+6 frames")
    print()
    keys = {m: (f"fusion {a.weighting}" if m == "fusion" and a.weighting else m) for m in METHODS}
    print("\n".join(accuracy_table(folds, keys)))
    print()
    print("fusion weightings, held-out people's settled copies, absolute")
    print()
    print("\n".join(weighting_table(folds)))
    for m in METHODS:
        print()
        print(f"confidence of {keys[m]}, calibration fitted on the other folds (reliable: >= {calibration.RELIABLE})")
        print()
        lines, pooled = reliability(folds, keys[m])
        print("\n".join(lines))
        if a.plot and m == "fusion":
            plot(a.plot, pooled, f"Reliability of the default estimator on people it never saw\n"
                                 f"({len(folds)} speaker folds, calibration fitted on the other folds)")
    if a.choose:
        print(f"\nthe calibration's fit for {keys['fusion']}, each checked leaving one fold out\n")
        print("\n".join(choice_table(folds, keys["fusion"])))
    if a.write_calibration:
        print(f"wrote {calibration.save(fitted(folds, keys), a.write_calibration)}")
    if a.write_held_out:
        for f in folds:  # each fold's model gets the calibration of the other folds: it never saw its own
            out = Path(a.root) / f"fold{f['fold']}"
            print(f"wrote {calibration.save(fitted([g for g in folds if g is not f], keys), out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
