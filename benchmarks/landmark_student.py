"""Would a smaller landmark model do? A 13-point model distilled from dlib's 68-point one, against it
on people it never saw. Prints a table (two with --folds).

    .venv/bin/python benchmarks/landmark_student.py --s1 ../data/data/s1 --speakers ../data/speakers \
        [--unseen ../shared/data/unseen_dev] [--cascade 10 --trees 300 --oversampling 5] \
        [--folds ../runs/folds_lk --settled ../data/speakers_settled]

The face stage's crop rests on 13 rigid points of the 68 (face.RIGID_IDX), and dlib's predictor
costs 1.3-2.5 ms a call here because each call reads leaves of 136 values spread over ~95 MB
(docs/performance.md). A model of those 13 points alone, trained with dlib's own trainer
(`dlib.train_shape_predictor`) on the 68-point model's answers, keeps 26 values a leaf.

Training frames: every 7th of every 6th GRID s1 training clip (--split-file) and every 3rd of the
speakers set's people but the held-out ones (--held), each also mirrored; the box is the one the
tracker gives (the detector's on a track's first frame and every second, else the one derived
from the last landmarks, face._box_from_landmarks). Measured on the held-out people and unseen_dev
(consecutive frames; never trained on), per person: ms a call, and how far the 32x32 mouth crop
made from the student's points sits from the one made from the 68-point model's (the mean distance
of the crop's corners and centre, in crop pixels), the median frame-to-frame change of their mean
shift, and that shift's constant part (the length of its median over the frames). Beside it, the
displacement of a crop from dlib's ready-made 5-point model (fitted to where its points sit under
the 13-point alignment, on every 5th training frame).

With --folds, a second table: the student put in the predictor's place in the analysis itself
(StudentAs68), the networks unchanged, on the held-out people's clips (each by the fold model that
never saw them), unseen_dev and six GRID s1 sample clips, their sound moved by -6..+6 frames.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wlos_app.core import face, media  # noqa: E402

HELD = ("grid_e", "lrs3_w2", "obama", "ted_lieu", "theresa_may")
MIRROR = [0, 1, 2, 3, 8, 7, 6, 5, 4, 12, 11, 10, 9]  # RIGID_IDX's order, left and right swapped
CORNERS = np.array([[0, 0], [31, 0], [0, 31], [31, 31], [15.5, 15.5]], float)


def rect(box):
    import dlib
    return dlib.rectangle(*(int(round(v)) for v in box))


def points(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], np.float64)


def five_point_model():
    import dlib
    return dlib.shape_predictor(os.path.join(face.model_dir(), "shape_predictor_5_face_landmarks.dat"))


def frames_of(path: str, every: int, limit: int) -> list:
    """(image, box, the 68-point model's rigid points) on every `every`-th frame the tracker would
    give a box for, up to `limit` of them."""
    detector, teacher = face._dlib_models()
    out, prev = [], None
    for k, f in enumerate(media.iter_video_frames(path, "gray")):
        img = np.ascontiguousarray(f.image)
        if prev is None or k % 25 == 0:
            found = detector(img, 0)
            if not found:
                prev = None
                continue
            d = max(found, key=lambda d: d.area())
            box = np.array([d.left(), d.top(), d.right(), d.bottom()], float)
        else:
            box = face._box_from_landmarks(prev)
        pts = points(teacher(img, rect(box)))
        if not face._plausible(pts, box, img.shape):
            prev = None
            continue
        prev = pts
        if k % every == 0:
            out.append((img, box, pts[face.RIGID_IDX]))
        if len(out) >= limit:
            break
    return out


def crop_matrix(pts: np.ndarray, template: np.ndarray = face.RIGID_TEMPLATE) -> np.ndarray:
    return face._crop_matrix(face._fit_similarity(pts, template), face.CROP)


def five_point_template(samples: list, model) -> np.ndarray:
    """Where the 5-point model's points sit under the 13-point alignment (the mean over the
    training frames): the template a crop from those 5 points would be fitted to."""
    placed = []
    for img, box, pts in samples:
        a, b, tx, ty = face._fit_similarity(pts, face.RIGID_TEMPLATE)
        q = points(model(img, rect(box)))
        placed.append(np.stack([a * q[:, 0] - b * q[:, 1] + tx, b * q[:, 0] + a * q[:, 1] + ty], 1))
    return np.mean(placed, 0)


def displacement(teacher_pts: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(5, 2): where the teacher's crop corners and centre land in another crop (a 2x3 matrix, or
    the student's 13 points), less where they are in the teacher's (crop pixels)."""
    inv = np.linalg.inv(np.vstack([crop_matrix(teacher_pts), [0, 0, 1]]))[:2]
    img = CORNERS @ inv[:, :2].T + inv[:, 2]
    ms = other if other.shape == (2, 3) else crop_matrix(other)
    return img @ ms[:, :2].T + ms[:, 2] - CORNERS


def train(samples: list, args):
    import dlib

    def obj(box, pts):
        return [dlib.full_object_detection(rect(box), [dlib.point(int(round(x)), int(round(y))) for x, y in pts])]
    images, objects = [], []
    for img, box, pts in samples:
        w = img.shape[1]
        mirrored = pts[MIRROR].copy()
        mirrored[:, 0] = w - 1 - mirrored[:, 0]
        images += [img, np.ascontiguousarray(img[:, ::-1])]
        objects += [obj(box, pts), obj([w - 1 - box[2], box[1], w - 1 - box[0], box[3]], mirrored)]
    o = dlib.shape_predictor_training_options()
    o.cascade_depth, o.num_trees_per_cascade_level, o.tree_depth = args.cascade, args.trees, 4
    o.oversampling_amount, o.oversampling_translation_jitter = args.oversampling, args.jitter
    o.num_threads, o.be_verbose = os.cpu_count() or 1, False
    t0 = time.perf_counter()
    model = dlib.train_shape_predictor(images, objects, o)
    with tempfile.TemporaryDirectory() as tmp:  # saved only to tell its size
        model.save(os.path.join(tmp, "student.dat"))
        size = os.path.getsize(os.path.join(tmp, "student.dat"))
    print(f"trained on {len(images)} images (mirrored included) in {time.perf_counter() - t0:.0f} s; "
          f"{size / 1e6:.1f} MB", flush=True)
    return model


class _Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y


class _Shape:
    def __init__(self, pts):
        self._pts = pts

    def parts(self):
        return self._pts


class StudentAs68:
    """The student where the analysis calls dlib's 68-point predictor: its 13 points at RIGID_IDX
    (all the crop reads), the other 55 at their centre (read only by the plausibility test's
    inside-the-picture check and the window's drawing)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, img, box):
        pts = [(p.x, p.y) for p in self.model(img, box).parts()]
        c = (sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts))
        full = [_Point(*c) for _ in range(68)]
        for i, k in enumerate(face.RIGID_IDX):
            full[k] = _Point(*pts[i])
        return _Shape(full)


class _Moved:
    """The sound moved by k grid frames (positive: later), as analysis.extract's transform."""

    def __init__(self, k: int):
        self.k = k

    def frames(self, frames):
        return frames

    def audio(self, x):
        n = self.k * 640  # 16 kHz, 25 fps
        if n > 0:
            return np.concatenate([np.zeros(n, x.dtype), x[:-n]])
        return np.concatenate([x[-n:], np.zeros(-n, x.dtype)]) if n < 0 else x


def in_the_analysis(student, clips: list) -> None:
    """Each clip (path, model folder or None, truth known: settled or GRID) analysed with its sound
    moved by -6, -3, 0, +3, +6 frames, once with dlib's 68-point predictor and once with the
    student in its place, the networks unchanged. Right: within a frame of the truth (the move),
    or of the reading at 0 plus the move where the truth is not known."""
    from wlos_app.core import analysis
    from wlos_app.core.analysis import AnalysisConfig
    _, teacher = face._dlib_models()
    moves = (-6, -3, 0, 3, 6)
    print("\n| clip | model | landmarks | answers (frames) | confidences | right | face stage, s |\n|---|---|---|---|---|---|---|")
    try:
        for path, model, known in clips:
            cfg = AnalysisConfig(model_dir=model, keep_audio=False, keep_face_frames=False)
            for way, predictor in (("68-point", teacher), ("student", StudentAs68(student))):
                face._models["predictor"] = predictor
                got, conf, t_face = [], [], 0.0
                for k in moves:
                    ex = analysis.extract(path, cfg, transform=_Moved(k))
                    t_face += ex.timings["face"]
                    r = analysis.conclude(ex, cfg)
                    got.append(r.offset_grid)
                    conf.append(r.confidence)
                base = 0.0 if known else got[moves.index(0)]
                right = sum(abs(g - base - k) <= 1.0 for g, k in zip(got, moves))
                print(f"| {Path(path).parent.name}/{Path(path).name} | {Path(model).name if model else 'shipped'} | "
                      f"{way} | {' '.join(f'{g:+.2f}' for g in got)} | {' '.join(f'{c:.2f}' for c in conf)} | "
                      f"{right}/{len(moves)}{'' if known else ' (relative)'} | {t_face / len(moves):.3f} |", flush=True)
    finally:
        face._models["predictor"] = teacher


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--s1", required=True, help="GRID s1 clips (data/s1)")
    ap.add_argument("--split-file", default=str(ROOT.parent / "shared" / "data" / "grid_s1_split.tsv"))
    ap.add_argument("--speakers", required=True, help="the speakers set, one folder a person")
    ap.add_argument("--unseen", default=str(ROOT.parent / "shared" / "data" / "unseen_dev"))
    ap.add_argument("--held", default=",".join(HELD), help="people measured, never trained on")
    ap.add_argument("--cascade", type=int, default=10)
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--oversampling", type=int, default=5)
    ap.add_argument("--jitter", type=float, default=0.1)
    ap.add_argument("--folds", help="also analyse the held-out people's clips (settled copies from --settled where "
                                    "there are) with the student in the analysis, each by the fold model of this "
                                    "folder that never saw them (trainer.folds' output), and unseen_dev and six "
                                    "GRID s1 sample clips by the shipped model")
    ap.add_argument("--settled", default=str(ROOT.parent / "data" / "speakers_settled"))
    ap.add_argument("--sample", default=str(ROOT.parent / "shared" / "data" / "grid_s1_sample"))
    args = ap.parse_args()
    held = set(args.held.split(","))
    with open(args.split_file) as f:
        split = {r["clip"]: r["split"] for r in csv.DictReader(f, delimiter="\t")}
    s1 = [p for p in sorted(Path(args.s1).glob("*.mpg")) if split.get(p.stem) == "train"][::6]
    training, measured = [], {}
    for p in s1:
        training += frames_of(str(p), 7, 12)
    for person in sorted(d for d in Path(args.speakers).iterdir() if d.is_dir()):
        for p in sorted(person.glob("*.m*")):
            if person.name in held:
                measured.setdefault(person.name, []).extend(frames_of(str(p), 1, 250))
            else:
                training += frames_of(str(p), 3, 400)
    for p in sorted(Path(args.unseen).glob("*")) if Path(args.unseen).is_dir() else []:
        measured.setdefault(f"unseen_dev {p.stem[:4]}", []).extend(frames_of(str(p), 1, 120))
    print(f"{platform.machine()}, {os.cpu_count()} cores; {len(training)} training frames "
          f"({len(s1)} s1 clips, people but {', '.join(sorted(held))}); cascades {args.cascade}, "
          f"trees {args.trees}, oversampling {args.oversampling}", flush=True)
    student = train(training, args)
    _, teacher = face._dlib_models()
    five = five_point_model()
    template5 = five_point_template(training[::5], five)
    print("\n| person | frames | 68-point ms a call | student ms a call | crop displacement, median | 90th percentile "
          "| frame-to-frame change, median | constant part | dlib's 5-point model: displacement, median |"
          "\n|---|---|---|---|---|---|---|---|---|")
    for who, xs in measured.items():
        cost = {}
        for name, model in (("teacher", teacher), ("student", student)):
            t0 = time.perf_counter()
            outs = [points(model(img, rect(box))) for img, box, _ in xs]
            cost[name] = (time.perf_counter() - t0) / len(xs) * 1e3
        d = np.array([displacement(t, s) for (_, _, t), s in zip(xs, outs)])
        n = np.linalg.norm(d, axis=2).mean(1)  # per frame: the corners' and centre's mean distance
        v = d.mean(1)  # per frame: their mean shift
        change = np.linalg.norm(np.diff(v, axis=0), axis=1)
        n5 = [np.linalg.norm(displacement(t, crop_matrix(points(five(img, rect(box))), template5)), axis=1).mean()
              for img, box, t in xs]
        print(f"| {who} | {len(xs)} | {cost['teacher']:.2f} | {cost['student']:.2f} | {np.median(n):.2f} | "
              f"{np.percentile(n, 90):.2f} | {np.median(change):.2f} | {np.linalg.norm(np.median(v, 0)):.2f} "
              f"| {np.median(n5):.2f} |")
    if args.folds:
        import json
        assignment = json.loads((Path(args.folds) / "fold0" / "eval.json").read_text())["assignment"]
        clips = []
        for who in sorted(held):
            settled = sorted((Path(args.settled) / who).glob("*.mkv"))
            paths = settled or sorted((Path(args.speakers) / who).glob("*.m*"))
            clips += [(str(p), str(Path(args.folds) / f"fold{assignment[who]}"), bool(settled)) for p in paths]
        clips += [(str(p), None, False) for p in sorted(Path(args.unseen).glob("*"))]
        clips += [(str(p), None, True) for p in sorted(Path(args.sample).glob("*.mpg"))[:6]]
        in_the_analysis(student, clips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
