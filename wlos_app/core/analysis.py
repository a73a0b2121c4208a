"""The whole analysis of one clip: decode, face, features, per-block estimates, clip offset.

`analyze()` is what the CLI, the GUI and the trainer call. Results are in grid frames (25 fps)
internally and reported in milliseconds and in the clip's own frames.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from ..errors import Cancelled, NoFaceError, NoSpeechError, TooShortError
from . import calibration, estimators, media, sync
from .face import FaceConfig, FaceTrack, track_face
from .features import BLOCK, ClipFeatures, FeatureConfig, clip_features

METHODS = ("fusion", "wlos", "c3", "qmi")
# The trained networks each method runs.
NETWORKS_OF = {"fusion": ("c3", "wlos"), "wlos": ("wlos",), "c3": ("c3",), "qmi": ()}
MIN_FRAMES = BLOCK + 2 * estimators.MAX_SHIFT + 1  # one block with all 19 shifts inside the clip

Progress = Callable[[float, str], None]


@dataclass
class AnalysisConfig:
    """One run's settings. `method` "auto" means WLOS when its weights are installed, else QMI."""

    method: str = "auto"
    curves: tuple[str, ...] = ()  # sliding-window methods whose per-block curves are also computed
    model_dir: str | None = None  # folder with wlos.pt / c3.pt; None = the shipped resources/
    device: str | None = None  # "cpu", "cuda"; None = CUDA when available
    face: FaceConfig = field(default_factory=FaceConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    seed: int = 0  # bootstrap seed of the confidence
    # Keep the decoded sound in the result (AnalysisResult.audio) for preview and export; a batch
    # that only reads the numbers drops it at once (a 10-minute stereo clip is 200 MB of it).
    keep_audio: bool = True


@dataclass
class AnalysisResult:
    path: str
    info: media.MediaInfo
    method: str
    offset_grid: float  # grid frames (1/25 s), positive = audio late
    confidence: float
    starts: np.ndarray  # (n_blocks,) grid frame of each block's start
    status: list[str]  # per block: "ok" or why it was skipped
    drift: np.ndarray  # (n_blocks,) the method's per-block drift in grid frames, NaN if skipped
    curves: dict[str, np.ndarray]  # method -> (n_blocks, 19) per-block curves
    clip_curves: dict[str, np.ndarray]  # method -> (19,) the clip's curve
    face: FaceTrack
    features: ClipFeatures
    timings: dict[str, float]
    warnings: list[str]
    calibrated: bool = False  # confidence is a calibrated P(within one frame)
    audio: media.Audio | None = None  # the decoded sound (preview and export need not decode it again)

    @property
    def reliable(self) -> bool:
        """Worth acting on: confidence (P(within one frame)) at or above calibration.RELIABLE."""
        return math.isfinite(self.offset_ms) and self.confidence >= calibration.RELIABLE

    @property
    def fps(self) -> float:
        return self.info.video.fps if self.info.video and self.info.video.fps else 25.0

    @property
    def offset_ms(self) -> float:
        return self.offset_grid * 40.0

    @property
    def offset_frames(self) -> float:
        """Offset in the clip's own frames."""
        return self.offset_ms / 1000.0 * self.fps

    @property
    def duration_s(self) -> float:
        return self.face.n / 25.0

    def summary(self) -> str:
        """One line for people: 'audio is 120 ms late (3.0 frames at 25 fps), confidence 0.91'."""
        if not math.isfinite(self.offset_ms):
            return "no estimate"
        return (f"{self.verdict()} ({self.offset_frames:+.1f} frames at {self.fps:g} fps), "
                f"confidence {self.confidence:.2f}{'' if self.reliable else ' - UNRELIABLE'} "
                f"[{self.method}, {self.n_used}/{len(self.starts)} blocks]")

    def verdict(self) -> str:
        """The offset in words: 'audio is 120 ms late', 'audio is 40 ms early', 'in sync (+8 ms)'."""
        ms = self.offset_ms
        if not math.isfinite(ms):
            return "no estimate"
        if abs(ms) < 20:  # half a frame at 25 fps: below what the estimate resolves
            return f"in sync ({ms:+.0f} ms)"
        return f"audio is {abs(ms):.0f} ms {'late' if ms > 0 else 'early'}"

    @property
    def n_used(self) -> int:
        return sum(s == "ok" for s in self.status)

    def to_json(self, per_block_curves: bool = False) -> dict:
        def num(x, nd=3):
            return round(float(x), nd) if x is not None and math.isfinite(x) else None

        fps = self.fps
        blocks = []
        for i, t in enumerate(self.starts):
            b = {"start_s": round(t / 25.0, 3), "start_frame": round(t / 25.0 * fps, 2),
                 "drift_frames": num(self.drift[i] / 25.0 * fps), "drift_ms": num(self.drift[i] * 40.0, 1),
                 "valid": self.status[i] == "ok"}
            if self.status[i] != "ok":
                b["reason"] = self.status[i]
            blocks.append(b)
        out = {
            "path": self.path,
            "fps": num(fps),
            "duration_s": num(self.duration_s),
            "method": self.method,
            "offset_frames": num(self.offset_frames),
            "offset_ms": num(self.offset_ms, 1),
            "confidence": num(self.confidence),
            "confidence_calibrated": self.calibrated,
            "reliable": self.reliable,
            "summary": self.summary(),
            "n_blocks": len(self.starts),
            "n_valid_blocks": self.n_used,
            "face": {"frames_with_face": int(self.face.valid.sum()), "frames": self.face.n,
                     "faces_seen": self.face.faces_seen, "selection": self.face.selection},
            "shifts_frames": [num(d / 25.0 * fps) for d in estimators.SHIFTS],
            "clip_curves": {m: [num(v, 5) for v in c] for m, c in self.clip_curves.items()},
            "blocks": blocks,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if per_block_curves:
            out["block_curves"] = {m: [[num(v, 5) for v in row] for row in c] for m, c in self.curves.items()}
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def resolve_method(cfg: AnalysisConfig) -> str:
    """"auto" is the estimator that is right most often on faces it never saw (fusion, see
    README), or what the model folder's weights allow."""
    if cfg.method == "auto":
        from .models import weights_path
        have = {k for k in ("c3", "wlos") if weights_path(k, cfg.model_dir).exists()}
        if cfg.model_dir is not None and not have:
            # A model folder that was asked for and holds nothing: never fall back in silence.
            from ..errors import WeightsError
            why = "no such folder" if not os.path.isdir(cfg.model_dir) else "holds no weights (wlos.pt, c3.pt)"
            raise WeightsError(f"model folder {cfg.model_dir}: {why}; train one with `wlos-app train`")
        return next(m for m in ("fusion", "wlos", "c3", "qmi") if set(NETWORKS_OF[m]) <= have)
    if cfg.method not in METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; use one of {', '.join(METHODS)}")
    return cfg.method


def needed_networks(method: str, curves: tuple[str, ...] = ()) -> set[str]:
    return {k for m in (method, *curves) for k in NETWORKS_OF[m]}


_networks: dict = {}


def _network(kind: str, model_dir: str | None, device: str | None):
    """Loaded networks are kept for the next clip; a weights file that changed is loaded again."""
    from .models import load, weights_path
    path = weights_path(kind, model_dir)
    key = (kind, str(path), device, path.stat().st_mtime_ns if path.exists() else None)
    if key not in _networks:
        _networks[key] = load(kind, model_dir, device)
    return _networks[key]


class _Stages:
    """Times each stage and turns stage progress into overall progress; checks for cancel."""

    def __init__(self, progress: Progress | None, cancel: Callable[[], bool] | None):
        self.progress, self.cancel = progress, cancel
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def report(self, fraction: float, message: str) -> None:
        if self.cancel and self.cancel():
            raise Cancelled("analysis cancelled")
        if self.progress:
            self.progress(min(1.0, fraction), message)

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._t
        self._t = now


@dataclass
class Extracted:
    """A clip decoded, its face tracked and its features computed: everything before estimation."""

    path: str
    info: media.MediaInfo
    face: FaceTrack
    features: ClipFeatures
    starts: np.ndarray
    status: list[str]
    warnings: list[str]
    audio: media.Audio | None  # as decoded, at its own rate and channels; None unless cfg.keep_audio


class Transform(Protocol):
    """Changes a clip before the face stage and the features (the trainer's augmentations)."""

    def frames(self, frames: Iterator[media.Frame]) -> Iterator[media.Frame]: ...

    def audio(self, audio16k: np.ndarray) -> np.ndarray: ...


def _extract(path: str, cfg: AnalysisConfig, st: _Stages, transform: Transform | None = None) -> Extracted:
    info = media.probe(path)
    if info.video is None:
        raise media.MediaError(f"{path}: has no video stream")
    if info.audio is None:
        raise media.MediaError(f"{path}: has no audio stream, so there is nothing to sync")
    report = media.DecodeReport()
    st.report(0.0, "decoding audio")
    audio = media.read_audio(path, info, report)
    audio16k = media.resample(audio.mono(), audio.rate)
    if not cfg.keep_audio:
        audio = None
    if transform is not None:
        audio16k = transform.audio(audio16k)
    st.done("decode_audio")

    expected = max(1.0, (info.duration_s or 1.0) * 25.0)
    decode_time = [0.0]

    def grid_images():
        frames = media.iter_video_frames(path, "gray", report, info)
        it = media.sample_on_grid(frames if transform is None else transform.frames(frames))
        while True:
            t0 = time.perf_counter()
            try:
                k, frame = next(it)
            except StopIteration:
                decode_time[0] += time.perf_counter() - t0
                return
            decode_time[0] += time.perf_counter() - t0
            yield frame.image

    def on_frame(k: int) -> None:
        if k % 25 == 0:
            st.report(0.8 * min(1.0, k / expected), f"tracking the face: {k / 25:.0f} s")

    face = track_face(grid_images(), cfg.face, on_frame=on_frame)
    st.done("video")
    st.timings["decode_video"] = decode_time[0]
    st.timings["face"] = st.timings.pop("video") - decode_time[0]

    if face.n < MIN_FRAMES:
        raise TooShortError(f"{path}: only {face.n / 25:.2f} s of video; at least {MIN_FRAMES / 25:.2f} s "
                            f"({MIN_FRAMES} frames at 25 fps) are needed for one block and its +-9-frame search")
    if not face.valid.any():
        raise NoFaceError(f"{path}: no face found in any of its {face.n} frames")

    st.report(0.85, "computing features")
    feats = clip_features(face.crops, face.valid, audio16k, cfg.features)
    starts = feats.block_starts()
    status = [feats.block_status(int(t)) for t in starts]
    st.done("features")
    if "ok" not in status:
        if all(s in ("silent", "no audio") for s in status):
            raise NoSpeechError(f"{path}: no speech found (every block is below the speech level)")
        raise NoFaceError(f"{path}: no block has a face in all of its 10 frames "
                          f"(face found in {int(face.valid.sum())} of {face.n} frames)")

    warnings = list(report.messages)
    if report.bad_packets:
        warnings.append(f"{report.bad_packets} packet(s) could not be decoded and were skipped")
    if face.faces_seen > 1:
        warnings.append(f"{face.faces_seen} faces in view; analysed the {face.selection}")
    return Extracted(path, info, face, feats, starts, status, warnings, audio)


def extract(path: str, cfg: AnalysisConfig | None = None, progress: Progress | None = None,
            cancel: Callable[[], bool] | None = None, transform: Transform | None = None) -> Extracted:
    """Decode, track and compute features; raises a WlosError subclass for unusable input.
    The trainer builds its dataset with this, so training sees exactly what analysis sees;
    `transform` (an augmentation) changes the decoded picture and sound before the face stage."""
    return _extract(path, cfg or AnalysisConfig(), _Stages(progress, cancel), transform)


@dataclass
class Estimate:
    method: str
    offset_grid: float
    confidence: float
    drift: np.ndarray  # (n_blocks,) per-block drift of `method`, NaN where skipped
    curves: dict[str, np.ndarray]
    clip_curves: dict[str, np.ndarray]
    quality: dict = field(default_factory=dict)  # what the calibration reads (sync.quality)
    calibrated: bool = False  # confidence from a fitted calibration (else bootstrap agreement)


def estimate(feats: ClipFeatures, starts: np.ndarray, status: list[str], method: str, nets: dict,
             curves: tuple[str, ...] = (), seed: int = 0, on_done: Callable[[str], None] | None = None,
             calibrations: dict | None = None) -> Estimate:
    """Per-block evidence of `method` (and the extra `curves`) and the clip offset from it.
    nets: kind -> loaded network, for the methods that need one; calibrations: method ->
    calibration.Calibration, which turns the evidence into P(within one frame)."""
    ok = np.array([s == "ok" for s in status], bool)
    used = starts[ok]
    block_curves: dict[str, np.ndarray] = {}
    clip_curves: dict[str, np.ndarray] = {}
    result = None
    for m in dict.fromkeys([*curves, method]):  # each method once, the reported one last
        d = None
        if m == "qmi":
            c = np.full((len(starts), len(estimators.SHIFTS)), np.nan)
            c[ok] = estimators.qmi_block_curves(feats, used)
            block_curves["qmi"] = c
            est = sync.from_qmi(feats, used, seed)
        elif m == "c3":
            c = np.full((len(starts), len(estimators.SHIFTS)), np.nan, np.float32)
            c[ok] = estimators.c3_curves(nets["c3"], feats, used)
            block_curves["c3"] = c
            est = sync.from_curves(c[ok], used, seed)
        elif m == "wlos":
            d = np.full(len(starts), np.nan, np.float32)
            d[ok] = estimators.wlos_drifts(nets["wlos"], feats, used)
            est = sync.from_drifts(d[ok], used, seed)
        elif m == "fusion":
            if "c3" not in block_curves:
                block_curves["c3"] = np.full((len(starts), len(estimators.SHIFTS)), np.nan, np.float32)
                block_curves["c3"][ok] = estimators.c3_curves(nets["c3"], feats, used)
            est, fused_rows = _fusion(feats, used, block_curves["c3"][ok], nets, seed)
            c = np.full((len(starts), len(estimators.SHIFTS)), np.nan)
            c[ok] = fused_rows
            block_curves["fusion"] = c
        else:
            raise ValueError(f"unknown method {m!r}")
        if est.curve is not None:
            clip_curves[m] = est.curve
        if on_done:
            on_done(m)
        if m == method:
            drift = d if d is not None else np.array(
                [sync.peak(row) if s == "ok" else np.nan for row, s in zip(block_curves[m], status)], np.float32)
            cal = (calibrations or {}).get(m)
            conf = round(cal.probability(est.quality), 3) if cal and np.isfinite(est.offset) else est.confidence
            result = Estimate(m, est.offset, conf, drift, block_curves, clip_curves, est.quality, cal is not None)
    return result


def _fusion(feats: ClipFeatures, used: np.ndarray, c3_curves: np.ndarray, nets: dict, seed: int):
    """The default estimator: the C3 sliding window and WLOS asked with every window (and QMI
    over the clip, if given a weight), each standardised and weighted by sync.FUSION_WEIGHTS.
    Returns the clip estimate and per-block fused curves."""
    w = sync.FUSION_WEIGHTS
    counts, n_units = sync.boot_counts(used, seed)
    rows = {"c3": sync.c3_rows(c3_curves)}
    if w.get("wlos"):
        rows["wlos"] = sync.wlos_rows(estimators.wlos_posteriors(nets["wlos"], feats, used))
    parts = {k: sync.block_mean(r, counts) for k, r in rows.items()}
    if w.get("qmi"):
        parts["qmi"] = sync.Evidence(*estimators.qmi_pooled(feats, used, boot_counts=counts))
    est = sync.from_evidence(sync.fuse(parts), n_units, len(used))
    # Do the parts agree on the answer? (calibration: independent estimators rarely share an error)
    est.quality["parts_agree"] = float(np.mean([abs(sync.peak(p.curve) - est.offset) <= 1.0 for p in parts.values()]))
    return est, sum(w[k] * sync.standardise(r) for k, r in rows.items())


def preload(cfg: AnalysisConfig | None = None) -> Iterator[str]:
    """Load what the first analysis would otherwise load: libraries, the landmark model, the
    networks, and librosa's compiled MFCC code. Yields a message before each step.

    The GUI runs this on its main thread behind a splash screen. Done inside a worker instead, the
    same steps hold Python's GIL in single calls of 0.1-0.8 s (dlib reading its 100 MB model,
    extension modules initialising), and the window would stall during the first analysis.
    """
    cfg = cfg or AnalysisConfig()
    yield "loading libraries"
    import librosa.feature  # noqa: F401  (librosa loads its submodules lazily)
    import soxr  # noqa: F401
    from . import models  # noqa: F401  (torch)
    yield "loading the face landmark model"
    from .face import _dlib_models
    _dlib_models()
    yield "loading the networks"
    method = resolve_method(cfg)
    for kind in needed_networks(method, cfg.curves):
        _network(kind, cfg.model_dir, cfg.device)
    yield "preparing the audio features"
    from .features import mfcc
    mfcc(np.zeros(1600, np.float32), cfg.features)


def analyze(path: str, cfg: AnalysisConfig | None = None, progress: Progress | None = None,
            cancel: Callable[[], bool] | None = None) -> AnalysisResult:
    """Analyse one clip. Raises a WlosError subclass with a one-line reason for unusable input."""
    cfg = cfg or AnalysisConfig()
    method = resolve_method(cfg)
    st = _Stages(progress, cancel)
    # Load networks first: a missing weights file should fail before minutes of decoding.
    nets = {k: _network(k, cfg.model_dir, cfg.device) for k in needed_networks(method, cfg.curves)}
    st.done("load_models")
    ex = _extract(path, cfg, st)
    st.report(0.9, f"estimating drift ({method})")
    est = estimate(ex.features, ex.starts, ex.status, method, nets, cfg.curves, cfg.seed, on_done=st.done,
                   calibrations=calibration.load(cfg.model_dir))
    st.report(1.0, "done")
    return AnalysisResult(path, ex.info, method, est.offset_grid, est.confidence, ex.starts, ex.status, est.drift,
                          est.curves, est.clip_curves, ex.face, ex.features, st.timings, ex.warnings,
                          est.calibrated, ex.audio)
