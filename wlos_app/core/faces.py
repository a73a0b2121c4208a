"""Every face in a clip, tracked: found at intervals and at shot changes, each one followed with its
own landmarks and mouth crop (mouth.MouthCropper), linked into tracks by position and appearance.

- Detection (HOG, every face) runs on the first frame, every `scan_every` frames, on every frame
  while no face is followed (as the single-face tracker did), and at a cut.
- A cut is a frame whose 32x32 thumbnail differs from the last one by more than `cut_diff` grey
  levels on average and `cut_ratio` times the recent median difference (a face that speaks moves
  it by < 1 level; a cut between two GRID recordings of the same speaker, same studio, by 6). At a
  cut every face is let go and found again, so no crop and no flow crosses it.
- A face found again joins the track it came from: the same place with no cut between (a lost
  landmark frame), else dlib's face descriptor within `same_person` of the track's (computed only
  then: ~100 ms a face here). Two faces in view at once are never one track.
- Faces too small for the 32x32 mouth crop are listed, not followed.

With one face in the clip this is the single-face tracker plus a detection every `scan_every`
frames: the same boxes, landmarks and crops.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import cv2
import numpy as np

from .grid import FPS
from .mouth import CROP, FaceConfig, FaceTrack, FaceTracker, MouthCropper, _dlib_models, detect_all, model_dir


@dataclass
class TrackingConfig:
    scan_every: int = 100  # frames between detections of every face (4 s at 25 fps)
    cut_diff: float = 4.0  # mean grey-level change of the 32x32 thumbnail that can be a cut
    cut_ratio: float = 6.0  # ... and how many times the recent median change it must be
    same_person: float = 0.5  # dlib face-descriptor distance of one person (dlib's own rule: 0.6)
    # A face box narrower than this (source px) gives a mouth square under ~30 px: listed, not analysed.
    min_face_px: float = 64.0


@dataclass
class Track:
    """One face through the clip. `face` is on the full grid (n frames), invalid where unseen."""

    id: int
    first: int  # grid frame first seen
    box: np.ndarray  # (4,) x0, y0, x1, y1 at first sight, source pixels
    face: FaceTrack | None  # None when not analysed
    reason: str = ""  # why not analysed
    last: int = 0  # grid frame last seen

    @property
    def analysable(self) -> bool:
        return self.face is not None

    @property
    def frames_seen(self) -> int:
        return int(self.face.valid.sum()) if self.face is not None else self.last - self.first + 1


@dataclass
class Faces:
    n: int  # grid frames
    size: tuple[int, int]  # frame width, height
    tracks: list[Track]
    cuts: list[int]  # grid frames that start a new shot
    faces_seen: int = 0  # most faces one detection found
    detections: int = 0
    timings: dict = field(default_factory=dict)
    min_face_px: float = TrackingConfig.min_face_px

    @property
    def analysable(self) -> list[Track]:
        return [t for t in self.tracks if t.analysable]

    def place(self, t: Track) -> str:
        """Where a face is, in words: 'the only face', 'left', 'centre', 'right' (by its first box)."""
        if len(self.tracks) <= 1:
            return "the only face"
        x = (t.box[0] + t.box[2]) / 2 / max(1, self.size[0])
        return "left" if x < 0.4 else "right" if x > 0.6 else "centre"

    def person(self, tid: int) -> str:
        """'the person on the left', 'the person in the centre', 'the only person'."""
        p = self.place(self.by_id(tid))
        return "the only person" if p == "the only face" else \
            "the person in the centre" if p == "centre" else f"the person on the {p}"

    def by_id(self, tid: int) -> Track:
        return next(t for t in self.tracks if t.id == tid)

    def at(self, x: float, y: float, k: int | None = None) -> Track | None:
        """The analysable track whose box holds point (x, y) (source px) at grid frame k (None: at
        any frame; the nearest box centre wins)."""
        best, dist = None, np.inf
        for t in self.analysable:
            boxes = t.face.boxes[[k]] if k is not None else t.face.boxes[t.face.valid]
            inside = ((boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3]))
            if inside.any():
                c = boxes[inside]
                d = float(np.min(np.hypot((c[:, 0] + c[:, 2]) / 2 - x, (c[:, 1] + c[:, 3]) / 2 - y)))
                if d < dist:
                    best, dist = t, d
        return best


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


_recogniser = []


def descriptor(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """dlib's 128-d face descriptor of the face with 68 landmarks `pts` in grey `img`."""
    import dlib
    if not _recogniser:
        _recogniser.append(dlib.face_recognition_model_v1(
            os.path.join(model_dir(), "dlib_face_recognition_resnet_model_v1.dat")))
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                       [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
    rgb = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_GRAY2RGB))
    return np.array(_recogniser[0].compute_face_descriptor(rgb, shape))


class _Cuts:
    """Hard cuts from the change of a 32x32 thumbnail (see the module's docstring)."""

    def __init__(self, cfg: TrackingConfig):
        self.cfg, self.prev, self.recent = cfg, None, deque(maxlen=FPS)  # the last second's changes

    def __call__(self, img: np.ndarray) -> bool:
        # Every few pixels, then area-averaged: a direct area resize costs 0.25 ms a frame here.
        sy, sx = max(1, img.shape[0] // 64), max(1, img.shape[1] // 64)
        th = cv2.resize(np.ascontiguousarray(img[::sy, ::sx]), (32, 32), interpolation=cv2.INTER_AREA)
        prev, self.prev = self.prev, th
        if prev is None:
            return False
        d = cv2.norm(th, prev, cv2.NORM_L1) / th.size
        # The recent median only when it can matter (most frames change by under a grey level).
        cut = d > self.cfg.cut_diff and d > self.cfg.cut_ratio * (float(np.median(self.recent)) if self.recent else 0.0)
        if cut:
            self.recent.clear()
        else:
            self.recent.append(d)
        return cut


class _Follow:
    """A face being followed: its track id, its cropper, the grid frame it started on."""

    def __init__(self, tid: int, start: int, box: np.ndarray, cfg: FaceConfig):
        self.tid, self.start = tid, start
        self.cropper = MouthCropper(FaceTracker(cfg, seed=box, local_only=True), cfg)
        self.box = np.asarray(box, float)

    def where(self) -> np.ndarray:
        b = self.cropper.box
        return self.box if b is None else np.asarray(b, float)


def track_faces(frames: Iterable[np.ndarray], cfg: FaceConfig | None = None, tcfg: TrackingConfig | None = None,
                on_frame: Callable[[int], None] | None = None) -> Faces:
    """Every face over the grid frames (grayscale uint8); see the module's docstring."""
    cfg, tcfg = cfg or FaceConfig(), tcfg or TrackingConfig()
    detector, _ = _dlib_models()
    live: list[_Follow] = []
    parts: dict[int, list[tuple[int, FaceTrack]]] = {}  # track id -> (start frame, part)
    info: dict[int, dict] = {}  # track id -> first, box, last, last_box, last_ok, descriptor, small
    cuts: list[int] = []
    is_cut = _Cuts(tcfg)
    seen = detections = 0
    since_scan = 0
    t_detect = t_reid = 0.0
    size = (0, 0)
    shot = 0  # the frame the current shot started on

    def end(f: _Follow) -> None:
        part = f.cropper.finish()
        parts.setdefault(f.tid, []).append((f.start, part))
        inf = info[f.tid]
        if part.valid.any():
            last = int(np.flatnonzero(part.valid)[-1])
            inf["last"], inf["last_box"] = f.start + last, part.boxes[last]
        if f.cropper.last_ok is not None:
            inf["last_ok"] = f.cropper.last_ok

    def desc_of(tid: int):
        inf = info[tid]
        if inf.get("descriptor") is None and inf.get("last_ok") is not None:
            inf["descriptor"] = descriptor(*inf["last_ok"])
        return inf.get("descriptor")

    def relink(box: np.ndarray, img: np.ndarray, k: int) -> int | None:
        """The ended track this new face continues, if any (see the module's docstring)."""
        nonlocal t_reid
        busy = {f.tid for f in live}
        cands = [t for t, inf in info.items() if t not in busy and not inf["small"] and "last_box" in inf]
        for t in cands:  # the same place, no cut since: a face lost for a moment
            if info[t]["last"] >= shot and iou(box, info[t]["last_box"]) > 0.3:
                return t
        if not cands:
            return None
        t0 = time.perf_counter()
        try:
            tr = FaceTracker(cfg)
            pts = tr.landmarks_in(img, box)
            if pts is None:
                return None
            mine = descriptor(img, pts)
            dists = {t: float(np.linalg.norm(mine - d)) for t in cands if (d := desc_of(t)) is not None}
        finally:
            t_reid += time.perf_counter() - t0
        best = min(dists, key=dists.get, default=None)
        return best if best is not None and dists[best] <= tcfg.same_person else None

    def start(box: np.ndarray, img: np.ndarray, k: int) -> None:
        small = box[2] - box[0] < tcfg.min_face_px
        if small:  # listed, not followed: linked to an earlier small face at the same place
            for t, inf in info.items():
                if inf["small"] and iou(box, inf["last_box"]) > 0.3:
                    inf["last"], inf["last_box"] = k, box
                    return
            tid = None
        else:
            tid = relink(box, img, k)
        if tid is None:
            tid = len(info)
            info[tid] = {"first": k, "box": box.copy(), "last": k, "last_box": box, "small": small}
        if not small:
            live.append(_Follow(tid, k, box, cfg))

    for k, img in enumerate(frames):
        size = (img.shape[1], img.shape[0])
        if is_cut(img):
            cuts.append(k)
            shot = k
            for f in live:
                end(f)
            live = []
        for f in [f for f in live if f.cropper.lost]:
            end(f)
            live.remove(f)
        if k == 0 or not live or since_scan >= tcfg.scan_every or shot == k:
            t0 = time.perf_counter()
            boxes = detect_all(detector, img, cfg)
            t_detect += time.perf_counter() - t0
            detections += 1
            seen = max(seen, len(boxes))
            since_scan = 0
            # Largest first, so that with one face in view the first track is the single-face tracker's.
            for box in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
                if not any(iou(box, f.where()) > 0.3 for f in live):
                    start(box, img, k)
        for f in live:
            f.cropper.push(img)
        since_scan += 1
        if on_frame:
            on_frame(k)
    for f in live:
        end(f)
    n = k + 1 if "k" in locals() else 0
    timings = {"scan": t_detect, "reidentify": t_reid}
    for _, ps in parts.items():
        for _, p in ps:
            for key, v in p.timings.items():
                timings[key] = timings.get(key, 0.0) + v
            detections += p.detections
    tracks = [_assemble(t, info[t], parts.get(t, []), n) for t in sorted(info)]
    return Faces(n, size, tracks, cuts, seen, detections, timings, tcfg.min_face_px)


def _assemble(tid: int, inf: dict, parts: list[tuple[int, FaceTrack]], n: int) -> Track:
    """A track's parts placed on the full grid; each part is let go (taken from `parts`) once
    copied, so the track is not held twice (an hour's crops and landmarks are 140 MB)."""
    if inf["small"]:
        return Track(tid, inf["first"], inf["box"], None, "too small for a 32x32 mouth crop", inf["last"])
    ft = FaceTrack(boxes=np.full((n, 4), np.nan, np.float32), landmarks=np.full((n, 68, 2), np.nan, np.float32),
                   crops=np.zeros((n, CROP, CROP), np.uint8), crop_to_image=np.full((n, 2, 3), np.nan, np.float32),
                   valid=np.zeros(n, bool), interpolated=np.zeros(n, bool), faces_seen=1,
                   selection=f"face {tid}")
    while parts:
        s, p = parts.pop()
        e = s + p.n
        ft.boxes[s:e], ft.landmarks[s:e], ft.crops[s:e] = p.boxes, p.landmarks, p.crops
        ft.crop_to_image[s:e], ft.valid[s:e], ft.interpolated[s:e] = p.crop_to_image, p.valid, p.interpolated
        ft.detections += p.detections
    return Track(tid, inf["first"], inf["box"], ft, "", inf["last"])
