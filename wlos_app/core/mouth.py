"""One face, for its mouth: dlib HOG detection, tracking, 68-point landmarks, and the aligned 32x32
mouth crop (core.faces follows every face, each with one of these).

The mouth is aligned with a similarity transform fitted to the rigid landmarks (eye corners and
nose), smoothed over time, and never to the lip points: aligning on the lips would cancel the very
motion the optical flow has to see.

Tracking, between detections, has two modes (`FaceConfig.tracker`):
- "landmarks" (default): each frame's box is derived from the previous frame's landmarks, with an
  HOG check around it every `verify_every` frames. No tracker cost at all.
- "kcf": the paper's KCF correlation tracker (OpenCV contrib) gives each frame's box.
Both were measured (docs/performance.md; the script, benchmarks/bench_analysis.py, is in git history).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import cv2
import numpy as np

from ..errors import WlosError

CROP = 32

# Rigid landmarks (nose 27-35, eye corners 36/39/42/45) and where they sit on a frontal face, in units
# of the distance between the two eye centres, origin between the eyes, y down. Procrustes mean of
# the GRID sample clips, made left-right symmetric so no speaker's asymmetry is baked in.
RIGID_IDX = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])
RIGID_TEMPLATE = np.array([
    [0.0, -0.10], [0.0, 0.115], [0.0, 0.32], [0.0, 0.54],
    [-0.245, 0.775], [-0.125, 0.80], [0.0, 0.82], [0.125, 0.80], [0.245, 0.775],
    [-0.708, -0.012], [-0.292, 0.012], [0.292, 0.012], [0.708, -0.012],
], np.float64)
# The mouth square in the same units: the lips of GRID s1 span x -0.46..0.56, y 1.07..1.65 with
# the mouth open; the square leaves a margin for wider mouths and a dropping jaw.
MOUTH_CENTER = np.array([0.0, 1.32])
MOUTH_SIDE = 1.15
# dlib's detector box relative to the eyes (measured on the sample clips): the landmark predictor
# expects boxes like the detector's, so boxes derived from landmarks imitate them.
BOX_CENTER_DOWN = 0.55
BOX_SIDE = 2.5


def model_dir() -> str:
    """Folder holding dlib's landmark model (face-recognition-models), also inside a bundle."""
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        path = os.path.join(sys._MEIPASS, "face_recognition_models", "models")
        if os.path.isdir(path):
            return path
    # Importing the package needs pkg_resources; finding it does not.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise WlosError("the face landmark model is not installed (pip install face-recognition-models)")
    return os.path.join(os.path.dirname(spec.origin), "models")


_models_lock = threading.Lock()
_models: dict[str, object] = {}


def _dlib_models():
    """Detector and 68-point predictor, loaded once per process (the predictor file is ~100 MB)."""
    import dlib
    with _models_lock:
        if not _models:
            path = os.path.join(model_dir(), "shape_predictor_68_face_landmarks.dat")
            if not os.path.exists(path):
                raise WlosError(f"the face landmark model is missing: {path}")
            _models["detector"] = dlib.get_frontal_face_detector()
            _models["predictor"] = dlib.shape_predictor(path)
        return _models["detector"], _models["predictor"]


@dataclass
class FaceConfig:
    tracker: str = "landmarks"  # "landmarks" or "kcf"
    verify_every: int = 50  # frames between HOG checks of a landmark-tracked face
    detect_max_side: int = 640  # frames are shrunk to this for HOG detection
    # The check of a tracked face shrinks its search area so that the face is about this wide
    # (HOG's window is 80 px): on a 720p clip it cost 49 ms a check at 640 px, most of it wasted.
    check_face_px: int = 110
    smooth_radius: int = 2  # rigid transform averaged over +-this many frames
    # The landmark predictor is most of the face stage's cost (2.2-2.6 ms a call here). With the
    # "landmarks" tracker it runs on every `landmark_every`-th frame; the frames between take
    # their alignment interpolated from those two frames where the face barely moved between them
    # (the mouth crop's content moves by at most `still_px` crop pixels). Where it moved more they
    # are followed (`follow`): "lk", the rigid points carried by pyramidal Lucas-Kanade flow from
    # the landmark frame before and corrected to the one after (0.4-0.9 ms a frame), or
    # "landmarks", the predictor on each. Flow falls back to the predictor when it loses a point
    # or ends more than `follow_px` crop pixels from the next landmark frame's alignment.
    # landmark_every 1: every frame, as the paper (and the "kcf" tracker) does.
    landmark_every: int = 3
    still_px: float = 1.0
    follow: str = "lk"
    follow_px: float = 2.0


@dataclass
class FaceTrack:
    """Per-frame face results on the analysis grid; NaN / False where no usable face was found."""

    boxes: np.ndarray  # (n, 4) float32 x0, y0, x1, y1
    # (n, 68, 2) float32, image pixels, and (n, 32, 32) uint8 aligned mouth crops; both empty (0
    # rows) once an analysis that keeps no face frames has made its features (analysis._drop_frames)
    landmarks: np.ndarray
    crops: np.ndarray
    crop_to_image: np.ndarray  # (n, 2, 3) float32 maps crop pixels to image pixels (for overlays)
    valid: np.ndarray  # (n,) bool
    interpolated: np.ndarray | None = None  # (n,) bool: landmarks and box interpolated (FaceConfig.landmark_every)
    faces_seen: int = 0  # most faces found by one detection
    detections: int = 0  # how many full or local HOG detections ran
    selection: str = ""  # which face was picked, in words
    timings: dict = field(default_factory=dict)  # seconds in detect / track / landmarks / crop

    @property
    def n(self) -> int:
        return len(self.valid)


def _fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping src points onto dst; returns a, b, tx, ty
    with x' = a*x - b*y + tx, y' = b*x + a*y + ty."""
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    var = (s0 ** 2).sum()
    if var < 1e-9:
        return np.array([np.nan] * 4)
    a = (s0[:, 0] * d0[:, 0] + s0[:, 1] * d0[:, 1]).sum() / var
    b = (s0[:, 0] * d0[:, 1] - s0[:, 1] * d0[:, 0]).sum() / var
    tx = md[0] - (a * ms[0] - b * ms[1])
    ty = md[1] - (b * ms[0] + a * ms[1])
    return np.array([a, b, tx, ty])


def _crop_matrix(p: np.ndarray, size: int) -> np.ndarray:
    """Affine (2x3) mapping image pixels to crop pixels for image->template params p."""
    a, b, tx, ty = p
    k = size / MOUTH_SIDE
    c0 = MOUTH_CENTER - MOUTH_SIDE / 2
    return np.array([[k * a, -k * b, k * (tx - c0[0])],
                     [k * b, k * a, k * (ty - c0[1])]], np.float64)


def _box_from_landmarks(pts: np.ndarray) -> np.ndarray:
    le, re = pts[[36, 39]].mean(0), pts[[42, 45]].mean(0)
    iod = np.linalg.norm(re - le)
    down = np.array([-(re - le)[1], (re - le)[0]]) / max(iod, 1e-6)
    c = (le + re) / 2 + BOX_CENTER_DOWN * iod * down
    h = BOX_SIDE * iod / 2
    return np.array([c[0] - h, c[1] - h, c[0] + h, c[1] + h])


def _plausible(pts: np.ndarray, box: np.ndarray, shape) -> bool:
    """Reject landmark sets that cannot be a face in this box (the tracker drifted off it)."""
    if not np.all(np.isfinite(pts)):
        return False
    iod = np.linalg.norm(pts[[42, 45]].mean(0) - pts[[36, 39]].mean(0))
    side = box[2] - box[0]
    if side <= 0 or not (0.25 < iod / side < 0.6):
        return False
    h, w = shape[:2]
    inside = (pts[:, 0] > -0.1 * w) & (pts[:, 0] < 1.1 * w) & (pts[:, 1] > -0.1 * h) & (pts[:, 1] < 1.1 * h)
    return bool(inside.mean() > 0.9)


def detect_all(detector, img: np.ndarray, cfg: FaceConfig, roi: np.ndarray | None = None,
               face_side: float | None = None) -> np.ndarray:
    """(k, 4) boxes of every face HOG finds in `img` (within `roi`, when given, where a face about
    `face_side` px wide is expected), in image pixels."""
    h, w = img.shape[:2]
    x0 = y0 = 0
    if roi is not None:
        x0, y0 = int(max(0, roi[0])), int(max(0, roi[1]))
        x1, y1 = int(min(w, roi[2])), int(min(h, roi[3]))
        if x1 - x0 < 40 or y1 - y0 < 40:
            return np.zeros((0, 4))
        img = img[y0:y1, x0:x1]
    scale = min(1.0, cfg.detect_max_side / max(img.shape[:2]),
                cfg.check_face_px / face_side if face_side else 1.0)
    small = img if scale == 1.0 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rects = detector(np.ascontiguousarray(small), 0)
    boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], float).reshape(-1, 4) / scale
    return boxes + [x0, y0, x0, y0]


class FaceTracker:
    """Finds one face per frame: detect, then track; re-detect when the track is lost.

    seed: start from this face box instead of detecting the largest face; local_only: once the
    face is lost, stay lost (core.faces follows each of several faces with one tracker and finds
    faces itself, so a lost tracker must not jump to another face)."""

    def __init__(self, cfg: FaceConfig | None = None, seed: np.ndarray | None = None, local_only: bool = False):
        self.cfg = cfg or FaceConfig()
        self.seed, self.local_only, self.lost = seed, local_only, False
        if self.cfg.tracker not in ("landmarks", "kcf"):
            raise ValueError(f"unknown tracker {self.cfg.tracker!r} (use 'landmarks' or 'kcf')")
        if self.cfg.follow not in ("lk", "landmarks"):
            raise ValueError(f"unknown follow {self.cfg.follow!r} (use 'lk' or 'landmarks')")
        self.detector, self.predictor = _dlib_models()
        self.box: np.ndarray | None = None
        self.kcf = None
        self.since_check = 0
        self.faces_seen = 0
        self.detections = 0
        self.selection = ""
        self.timings = {"detect": 0.0, "track": 0.0, "landmarks": 0.0}

    def _timed(self, stage: str, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.timings[stage] += time.perf_counter() - t0

    def _detect(self, img: np.ndarray, roi: np.ndarray | None = None,
                face_side: float | None = None) -> np.ndarray | None:
        """The largest face's box in `img` (within `roi`, when given, where a face about
        `face_side` px wide is expected), or None."""
        boxes = detect_all(self.detector, img, self.cfg, roi, face_side)
        self.detections += 1
        if not len(boxes):
            return None
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        if roi is None:
            self.faces_seen = max(self.faces_seen, len(boxes))
            if len(boxes) > 1:
                b = boxes[int(np.argmax(areas))]
                self.selection = (f"largest of {len(boxes)} faces (box at x={b[0]:.0f}, y={b[1]:.0f}, "
                                  f"{b[2] - b[0]:.0f} px wide)")
            elif not self.selection:
                self.selection = "the only face found"
        return boxes[int(np.argmax(areas))]

    def _landmarks(self, img: np.ndarray, box: np.ndarray) -> np.ndarray:
        import dlib
        r = dlib.rectangle(*(int(round(v)) for v in box))
        s = self.predictor(img, r)
        return np.array([(p.x, p.y) for p in s.parts()], np.float32)  # tuples: 20 % faster than lists

    def _start_kcf(self, img, box):
        self.kcf = cv2.TrackerKCF_create()
        x0, y0, x1, y1 = box
        # OpenCV's KCF wants three channels.
        self.kcf.init(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), (int(x0), int(y0), int(x1 - x0), int(y1 - y0)))

    def landmarks_in(self, img: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """Landmarks found in `box` (no detection, tracker state untouched), or None if implausible."""
        pts = self._timed("landmarks", self._landmarks, img, box)
        return pts if _plausible(pts, box, img.shape) else None

    def update(self, img: np.ndarray, frames: int = 1) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Box and landmarks for this frame, or (None, None) when no face is usable.
        frames: how many frames on from the last call (the landmark tracker skips some)."""
        box = None
        if self.box is not None:
            if self.cfg.tracker == "kcf":
                ok, bb = self._timed("track", self.kcf.update, cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
                box = np.array([bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3]], float) if ok else None
            else:
                box = self.box
                self.since_check += frames
                if self.since_check >= self.cfg.verify_every:
                    # Cheap local HOG check: is there still a face around the tracked box?
                    self.since_check = 0
                    side = box[2] - box[0]
                    found = self._timed("detect", self._detect, img, box + [-side, -side, side, side], side)
                    box = found if found is not None else None
        if box is None:
            if self.seed is not None:
                box, self.seed = np.asarray(self.seed, float), None
            elif self.local_only:
                self.box, self.lost = None, True  # followed, then lost: the caller finds it again
                return None, None
            else:
                box = self._timed("detect", self._detect, img)
            if box is None:
                self.box = None
                return None, None
            if self.cfg.tracker == "kcf":
                self._start_kcf(img, box)
            self.since_check = 0
        pts = self.landmarks_in(img, box)
        if pts is None:
            self.box = None  # lost: detect afresh on the next frame
            self.lost = self.local_only
            return None, None
        # The next frame's search box follows the face through its landmarks.
        self.box = _box_from_landmarks(pts) if self.cfg.tracker == "landmarks" else box
        return box.astype(np.float32), pts


def _smoothed(params: list[np.ndarray], i: int, radius: int) -> np.ndarray:
    """Mean of the finite transforms within +-radius of i (i itself must be finite)."""
    win = [p for p in params[max(0, i - radius): i + radius + 1] if np.all(np.isfinite(p))]
    return np.mean(win, axis=0)


def crop_mouth(img: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """32x32 grayscale mouth crop for image->template params p, and its crop->image affine."""
    m = _crop_matrix(p, CROP)
    # A big face would alias when sampled straight to 32 px: render larger, then area-average down.
    zoom = int(np.clip(round(1.0 / max(np.hypot(m[0, 0], m[0, 1]), 1e-6)), 1, 4))
    if zoom > 1:
        big = cv2.warpAffine(img, _crop_matrix(p, CROP * zoom), (CROP * zoom, CROP * zoom),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        crop = cv2.resize(big, (CROP, CROP), interpolation=cv2.INTER_AREA)
    else:
        crop = cv2.warpAffine(img, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inv = cv2.invertAffineTransform(m)
    return crop, inv.astype(np.float32)


def crop_motion(p: np.ndarray, q: np.ndarray) -> float:
    """How far (crop pixels, the most of the crop's corners) the mouth crop's content moves between
    image->template params p and q."""
    mp, mq = _crop_matrix(p, CROP), _crop_matrix(q, CROP)
    corners = np.array([[0, 0], [CROP, 0], [0, CROP], [CROP, CROP]], np.float64)
    inv = cv2.invertAffineTransform(mp)
    img_pts = corners @ inv[:, :2].T + inv[:, 2]
    moved = img_pts @ mq[:, :2].T + mq[:, 2]
    return float(np.abs(moved - corners).max())


class _Frame:
    """One frame's face result: box, landmarks, alignment params (NaN without a face)."""
    __slots__ = ("box", "pts", "params", "interpolated")

    def __init__(self, box=None, pts=None):
        self.interpolated = False
        if pts is None:
            self.box = np.full(4, np.nan, np.float32)
            self.pts = np.full((68, 2), np.nan, np.float32)
            self.params = np.full(4, np.nan)
        else:
            self.box, self.pts = np.asarray(box, np.float32), pts
            self.params = _fit_similarity(pts[RIGID_IDX].astype(np.float64), RIGID_TEMPLATE)

    @property
    def ok(self) -> bool:
        return bool(np.all(np.isfinite(self.params)))

    @staticmethod
    def between(a: "_Frame", b: "_Frame", u: float) -> "_Frame":
        f = _Frame.__new__(_Frame)
        f.interpolated = True
        f.box = ((1 - u) * a.box + u * b.box).astype(np.float32)
        f.pts = ((1 - u) * a.pts + u * b.pts).astype(np.float32)
        f.params = (1 - u) * a.params + u * b.params
        return f


FOLLOW_SIDE = 64.0  # px: the rigid points' extent (about 1.4 eye distances) in the flow's window
_LK = dict(winSize=(21, 21), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))


def _followed(a: _Frame, a_img: np.ndarray, held: list, b: _Frame, b_img: np.ndarray,
              limit_px: float) -> list | None:
    """The frames `held` between landmark frames a and b, their rigid points followed from a by
    Lucas-Kanade flow and the flow's error at b spread back over them linearly (so both ends are
    the predictor's); the other landmarks moved with the rigid points' mean. None when a point is
    lost or the flow ends more than limit_px crop pixels from b's alignment."""
    ra = a.pts[RIGID_IDX]
    lo, hi = ra.min(0), ra.max(0)
    m = float((hi - lo).max())  # the flow sees a window around the face, not the whole frame,
    k = min(1.0, FOLLOW_SIDE / max(m, 1.0))  # at a face size of its own (a big face costs as a small one)
    h, w = a_img.shape[:2]
    x0, y0 = int(max(0, lo[0] - m)), int(max(0, lo[1] - m))
    x1, y1 = int(min(w, hi[0] + m)), int(min(h, hi[1] + m))
    if x1 - x0 < 16 or y1 - y0 < 16:  # a face (nearly) off the picture (and no negative bound to slice with)
        return None
    off = np.array([x0, y0], np.float32)

    def window(img):  # bilinear: 0.1 ms a window where area-averaging took 0.4 (answers within 0.002 frames)
        win = img[y0:y1, x0:x1]
        return win if k == 1.0 else cv2.resize(win, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)

    p = ((ra - off) * k).reshape(-1, 1, 2).astype(np.float32)
    prev, chain = window(a_img), []
    for img in held + [b_img]:
        cur = window(img)
        p, st, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p, None, **_LK)
        if p is None or not st.all():
            return None
        chain.append(p.reshape(-1, 2) / k + off)
        prev = cur
    n = len(chain)
    end = _fit_similarity(chain[-1].astype(np.float64), RIGID_TEMPLATE)
    if not np.all(np.isfinite(end)) or crop_motion(end, b.params) > limit_px:
        return None
    miss = b.pts[RIGID_IDX] - chain[-1]
    out = []
    for i, c in enumerate(chain[:-1], 1):
        u = i / n
        rigid = c + u * miss
        f = _Frame.between(a, b, u)
        f.pts = (f.pts + (rigid - f.pts[RIGID_IDX]).mean(0)).astype(np.float32)
        f.params = _fit_similarity(rigid.astype(np.float64), RIGID_TEMPLATE)
        out.append(f)
    return out


def _fill_between(tracker: FaceTracker, cfg: FaceConfig, a: _Frame, held: list, b: _Frame | None,
                  a_img: np.ndarray | None = None, b_img: np.ndarray | None = None) -> list:
    """Face results of the frames `held` between landmark frames a (with a face, its image a_img)
    and b (None at the end of the clip; its image b_img): interpolated when the crop barely moves
    from a to b, else followed by flow from a to b (FaceConfig.follow), else each frame's own
    landmarks, searched in the box of the frame before it."""
    n = len(held) + 1
    if b is not None and b.ok and crop_motion(a.params, b.params) <= cfg.still_px:
        return [_Frame.between(a, b, (i + 1) / n) for i in range(len(held))]
    if cfg.follow == "lk" and b is not None and b.ok and a_img is not None and b_img is not None:
        followed = _followed(a, a_img, held, b, b_img, cfg.follow_px)
        if followed is not None:
            return followed
    out, prev = [], a
    for img in held:
        pts = tracker.landmarks_in(img, _box_from_landmarks(prev.pts)) if prev.ok else None
        f = _Frame(_box_from_landmarks(prev.pts), pts) if pts is not None else _Frame()
        out.append(f)
        prev = f
    return out


class MouthCropper:
    """One face's way through the clip: tracker, landmark frames (every `landmark_every`-th,
    the frames between interpolated or searched, see _fill_between), smoothed alignment, crops.

    Crops are produced `smooth_radius` frames behind the tracker (and up to `landmark_every` - 1
    frames more, held until the next landmark frame), so only that many frames are in memory,
    whatever the clip's length. push() one grid frame at a time, then finish()."""

    def __init__(self, tracker: FaceTracker, cfg: FaceConfig):
        self.tracker, self.cfg = tracker, cfg
        self.R = cfg.smooth_radius
        self.every = max(1, int(cfg.landmark_every)) if cfg.tracker == "landmarks" else 1
        self.results: list[_Frame] = []
        self.params: list[np.ndarray] = []
        self.crops, self.inv, self.valid = [], [], []
        self.pending: deque[tuple[int, np.ndarray]] = deque()  # frames waiting for their crop
        self.held: list[np.ndarray] = []  # frames waiting for the next landmark frame
        self.key: _Frame | None = None  # the last landmark frame's result, while it has a face
        self.key_img: np.ndarray | None = None  # and its image (the flow between starts there)
        self.since_key = 0
        self.crop_time = 0.0
        self.last_ok: tuple[np.ndarray, np.ndarray] | None = None  # a frame with its landmarks (for re-identification)

    def _emit(self, i: int, img: np.ndarray) -> None:
        if np.all(np.isfinite(self.params[i])):
            t0 = time.perf_counter()
            c, m = crop_mouth(img, _smoothed(self.params, i, self.R))
            self.crop_time += time.perf_counter() - t0
            self.crops.append(c)
            self.inv.append(m)
            self.valid.append(True)
        else:
            self.crops.append(np.zeros((CROP, CROP), np.uint8))
            self.inv.append(np.full((2, 3), np.nan, np.float32))
            self.valid.append(False)

    def _settle(self, new: list[_Frame]) -> None:
        self.results.extend(new)
        self.params.extend(f.params for f in new)
        while self.pending and self.pending[0][0] + self.R < len(self.params):
            self._emit(*self.pending.popleft())

    def push(self, img: np.ndarray) -> None:
        self.pending.append((len(self.results) + len(self.held), img))
        self.since_key += 1
        if self.key is not None and self.since_key < self.every:
            self.held.append(img)
            return
        box, pts = self.tracker.update(img, self.since_key if self.key is not None else 1)
        f = _Frame(box, pts)
        between = _fill_between(self.tracker, self.cfg, self.key, self.held, f, self.key_img, img) if self.held else []
        self._settle(between + [f])
        self.held, self.since_key = [], 0
        self.key, self.key_img = (f, img) if f.ok else (None, None)
        if f.ok:
            self.last_ok = (img, f.pts)

    @property
    def lost(self) -> bool:
        """The tracker lost the face (only trackers that stay lost: FaceTracker.local_only)."""
        return self.tracker.lost

    @property
    def box(self) -> np.ndarray | None:
        """Where the face was last seen (image pixels), or None."""
        return self.key.box if self.key is not None else None

    def finish(self) -> FaceTrack:
        if self.held:
            self._settle(_fill_between(self.tracker, self.cfg, self.key, self.held, None))
            self.held = []
        while self.pending:
            self._emit(*self.pending.popleft())
        n = len(self.valid)
        tr = self.tracker
        # Each list let go as soon as it is an array: a long shot's lists of small arrays take
        # more memory than the arrays do, and all of them beside all the arrays held the track twice.
        crops = np.array(self.crops, np.uint8).reshape(n, CROP, CROP)
        self.crops = []
        inv = np.array(self.inv, np.float32).reshape(n, 2, 3)
        self.inv = []
        boxes = np.array([f.box for f in self.results], np.float32).reshape(n, 4)
        landmarks = np.array([f.pts for f in self.results], np.float32).reshape(n, 68, 2)
        interpolated = np.array([f.interpolated for f in self.results], bool).reshape(n)
        self.results, self.params = [], []
        return FaceTrack(
            boxes=boxes, landmarks=landmarks, crops=crops, crop_to_image=inv,
            valid=np.array(self.valid, bool), interpolated=interpolated,
            faces_seen=tr.faces_seen, detections=tr.detections, selection=tr.selection,
            timings={**tr.timings, "crop": self.crop_time},
        )


def track_face(frames: Iterable[np.ndarray], cfg: FaceConfig | None = None,
               on_frame: Callable[[int], None] | None = None) -> FaceTrack:
    """Run detection, tracking, landmarks and mouth cropping over grid frames (grayscale uint8),
    following the largest face (core.faces follows every face)."""
    cfg = cfg or FaceConfig()
    cropper = MouthCropper(FaceTracker(cfg), cfg)
    for k, img in enumerate(frames):
        cropper.push(img)
        if on_frame:
            on_frame(k)
    return cropper.finish()
