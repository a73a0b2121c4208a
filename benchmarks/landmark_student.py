"""Would a smaller landmark model do? A 13-point model distilled from dlib's 68-point one, against it
on people it never saw. Prints one table.

    .venv/bin/python benchmarks/landmark_student.py --s1 ../data/data/s1 --speakers ../data/speakers \
        [--unseen ../shared/data/unseen_dev] [--cascade 10 --trees 300 --oversampling 5]

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
shift, and that shift's constant part (the length of its median over the frames).
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


def crop_matrix(pts: np.ndarray) -> np.ndarray:
    return face._crop_matrix(face._fit_similarity(pts, face.RIGID_TEMPLATE), face.CROP)


def displacement(teacher_pts: np.ndarray, student_pts: np.ndarray) -> np.ndarray:
    """(5, 2): where the teacher's crop corners and centre land in the student's crop, less where
    they are in the teacher's (crop pixels)."""
    inv = np.linalg.inv(np.vstack([crop_matrix(teacher_pts), [0, 0, 1]]))[:2]
    img = CORNERS @ inv[:, :2].T + inv[:, 2]
    ms = crop_matrix(student_pts)
    return img @ ms[:, :2].T + ms[:, 2] - CORNERS


def train(samples: list, args) -> str:
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
    path = os.path.join(tempfile.mkdtemp(prefix="wlos-student-"), "student.dat")
    model.save(path)
    print(f"trained on {len(images)} images (mirrored included) in {time.perf_counter() - t0:.0f} s; "
          f"{os.path.getsize(path) / 1e6:.1f} MB", flush=True)
    return path


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
    args = ap.parse_args()
    import dlib
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
    student = dlib.shape_predictor(train(training, args))
    _, teacher = face._dlib_models()
    print("\n| person | frames | 68-point ms a call | student ms a call | crop displacement, median | 90th percentile "
          "| frame-to-frame change, median | constant part |\n|---|---|---|---|---|---|---|---|")
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
        print(f"| {who} | {len(xs)} | {cost['teacher']:.2f} | {cost['student']:.2f} | {np.median(n):.2f} | "
              f"{np.percentile(n, 90):.2f} | {np.median(change):.2f} | {np.linalg.norm(np.median(v, 0)):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
