"""The whole analysis of one clip: decode, face, features, per-block estimates, clip offset.

`analyze()` is what the CLI, the GUI and the trainer call. Results are in grid frames (core.grid)
internally and reported in milliseconds and in the clip's own frames.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from ..errors import Cancelled, NoFaceError, NoSpeechError, TooShortError
from . import calibration, estimators, faces, features, heard, media, memory, sparse
from .drift_track import TRACK_MODELS
from .faces import TrackingConfig
from .features import ClipFeatures, FeatureConfig, clip_features
from .grid import BLOCK, FPS, MAX_SHIFT, seconds
from .methods import METHODS, Estimate, canonical, estimate, needed_networks
from .methods.c3_track import WEIGHTS
from .methods.search import MAX_OFFSET_MS, max_shift_frames
from .mouth import FaceConfig, FaceTrack
from .result import AnalysisResult

__all__ = ["AnalysisConfig", "AnalysisResult", "analyze", "extract", "preload", "resolve_method"]

MIN_FRAMES = estimators.MIN_FRAMES  # one block and a +-2-frame search (estimators.reach_of)

Progress = Callable[[float, str], None]


@dataclass
class AnalysisConfig:
    """One run's settings. `method` "auto" is the default estimator (see resolve_method); an old
    name (methods.ALIASES: "fusion") is taken as today's."""

    method: str = "auto"
    curves: tuple[str, ...] = ()  # sliding-window methods whose per-block curves are also computed
    model_dir: str | None = None  # folder with wlos.pt / c3.pt; None = the shipped resources/
    device: str | None = None  # "cpu", "cuda"; None = CUDA when available
    face: FaceConfig = field(default_factory=FaceConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # every face, shot changes
    # Analyse this face only (a track id of the result's `faces`, or the face at this point of the
    # picture, source pixels); None: the face that is heard (core.heard).
    face_id: int | None = None
    face_at: tuple[float, float] | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    audio_stream: int = 0  # the sound analysed, counted among the clip's audio tracks from 0
    seed: int = 0  # bootstrap seed of the confidence
    # The default estimator (c3-track) searches drifts up to this far (ms, either way; at most a
    # third of the clip), fits a drift track of these models and fuses these parts with these
    # weights (methods.c3_track). The paper's methods search +-9 frames.
    max_offset_ms: float = MAX_OFFSET_MS
    track_models: tuple[str, ...] = TRACK_MODELS
    weights: dict[str, float] = field(default_factory=lambda: dict(WEIGHTS))
    # Recordings longer than this are read in windows spread over them and refined where the drift
    # moves (core.sparse); `full` reads every frame of any clip.
    sparse_from_s: float = 120.0
    full: bool = False
    # Keep the decoded sound in the result (AnalysisResult.audio) for preview and export; a batch
    # that only reads the numbers drops it at once (a 10-minute stereo clip is 200 MB of it).
    keep_audio: bool = True
    # Keep every frame's landmarks and mouth crop in the result, for a window to draw. Without
    # them (the CLI, batches) a clip with one face lets them go once its features are made, before
    # the networks run: an hour's are 140 MB. With several faces they are kept (core.heard
    # reads the other faces' crops).
    keep_face_frames: bool = True

    def __post_init__(self):
        self.method = canonical(self.method)


def resolve_method(cfg: AnalysisConfig) -> str:
    """"auto" is the estimator that is right most often on faces it never saw (c3-track, see
    docs/accuracy.md), or what the model folder's weights allow."""
    if cfg.method == "auto":
        from .models import weights_path
        have = {k for k in ("c3", "wlos") if weights_path(k, cfg.model_dir).exists()}
        if cfg.model_dir is not None and not have:
            # A model folder that was asked for and holds nothing: never fall back in silence.
            from ..errors import WeightsError
            why = "no such folder" if not os.path.isdir(cfg.model_dir) else "holds no weights (wlos.pt, c3.pt)"
            raise WeightsError(f"model folder {cfg.model_dir}: {why}; train one with `wlos-app train`")
        return next(m for m in METHODS if set(METHODS[m].networks) <= have)
    if cfg.method not in METHODS:
        raise ValueError(f"unknown method {cfg.method!r}; use one of {', '.join(METHODS)}")
    return cfg.method


_networks: dict = {}


def _network(kind: str, model_dir: str | None, device: str | None):
    """Loaded networks are kept for the next clip; a weights file that changed is loaded again."""
    from .models import load, weights_path
    path = weights_path(kind, model_dir)
    key = (kind, str(path), device, path.stat().st_mtime_ns if path.exists() else None)
    if key not in _networks:
        _networks[key] = load(kind, model_dir, device)
    return _networks[key]


# Where the stages end on the progress bar, as the default estimator's time divides on long clips
# (an hour at 360x288: the face stage 56 % of the time, the estimate 38 %): the ETA is read from it.
TRACKED, ESTIMATING = 0.6, 0.65


def eta_words(seconds: float) -> str:
    """'about 40 s left', 'about 12 min left'."""
    if seconds < 90:
        return f"about {max(5, 5 * round(seconds / 5)):.0f} s left"
    return f"about {round(seconds / 60):.0f} min left"


class _Stages:
    """Times each stage and turns stage progress into overall progress; checks for cancel.
    Messages say how long is left once the estimate means something (ETA_AFTER_S, ETA_AFTER)."""

    ETA_AFTER_S, ETA_AFTER = 5.0, 0.02
    # A stage shorter than this freed too little to hand back (a trim costs about a millisecond,
    # and the next clip faults the pages it handed back in again)
    TRIM_AFTER_S = 0.5

    def __init__(self, progress: Progress | None, cancel: Callable[[], bool] | None):
        self.progress, self.cancel = progress, cancel
        self.timings: dict[str, float] = {}
        self._t = self._t0 = time.perf_counter()

    def report(self, fraction: float, message: str) -> None:
        if self.cancel and self.cancel():
            raise Cancelled("analysis cancelled")
        if self.progress:
            fraction = min(1.0, fraction)
            spent = time.perf_counter() - self._t0
            if spent >= self.ETA_AFTER_S and self.ETA_AFTER <= fraction < 1.0:
                message = f"{message}, {eta_words(spent * (1.0 - fraction) / fraction)}"
            self.progress(fraction, message)

    def done(self, name: str) -> None:
        if time.perf_counter() - self._t >= self.TRIM_AFTER_S:
            memory.trim()  # what the stage freed goes back now, not after the clip
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
    timings: dict = field(default_factory=dict)  # seconds per stage so far
    faces: faces.Faces | None = None  # every face followed; `face` is one of them (heard.primary)


class Transform(Protocol):
    """Changes a clip before the face stage and the features (the trainer's augmentations)."""

    def frames(self, frames: Iterator[media.Frame]) -> Iterator[media.Frame]: ...

    def audio(self, audio16k: np.ndarray) -> np.ndarray: ...


def _extract(path: str, cfg: AnalysisConfig, st: _Stages, transform: Transform | None = None,
             info: media.MediaInfo | None = None) -> Extracted:
    info = info or media.probe(path)
    if info.video is None:
        raise media.MediaError(f"{path}: has no video stream")
    if info.audio is None:
        raise media.MediaError(f"{path}: has no audio stream, so there is nothing to sync")
    report = media.DecodeReport()
    st.report(0.0, "step 1 of 3: decoding the sound")
    audio16k, audio = media.decode_audio(path, info, report, keep=cfg.keep_audio, audio_stream=cfg.audio_stream)
    if transform is not None:
        audio16k = transform.audio(audio16k)
    st.done("decode_audio")
    # What the features keep of the sound, now: the sound itself is not held through the face stage.
    sound = features.audio_features(audio16k, cfg.features)
    del audio16k
    st.done("features")

    expected = max(1.0, (info.duration_s or 1.0) * FPS)
    of = f" of {info.duration_s:.0f} s" if info.duration_s else ""
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
        if k % FPS == 0:
            st.report(TRACKED * min(1.0, k / expected), f"step 2 of 3: tracking the face, {seconds(k):.0f} s{of} read")

    every = faces.track_faces(grid_images(), cfg.face, cfg.tracking, on_frame=on_frame)
    face = heard.primary(every, cfg.face_id, cfg.face_at, path)
    st.done("video")
    st.timings["decode_video"] = decode_time[0]
    st.timings["face"] = st.timings.pop("video") - decode_time[0]

    if face.n < MIN_FRAMES:
        raise TooShortError(f"{path}: only {seconds(face.n):.2f} s of video; at least {seconds(MIN_FRAMES):.2f} s "
                            f"({MIN_FRAMES} frames at {FPS} fps) are needed for one block and a +-2-frame search")
    if not face.valid.any():
        raise NoFaceError(f"{path}: no face found in any of its {face.n} frames")

    st.report(TRACKED + 0.02, "step 2 of 3: computing the lips' motion")
    feats = clip_features(face.crops, face.valid, None, cfg.features, sound)
    feats.flow_valid[every.cuts] = False  # no flow, and so no block, across a shot change
    starts = feats.block_starts()
    status = [feats.block_status(int(t)) for t in starts]
    st.done("features")
    if "ok" not in status:
        faced = [s for s in status if s != "no face"]  # a shot change's block has no flow either
        if faced and all(s in ("silent", "no audio") for s in faced):
            raise NoSpeechError(f"{path}: no speech found (every block is below the speech level)")
        raise NoFaceError(f"{path}: no block has a face in all of its 10 frames "
                          f"(face found in {int(face.valid.sum())} of {face.n} frames)")

    if not cfg.keep_face_frames and len(every.tracks) == 1:
        # `face` is a copy of the track's (heard.primary): both let go of the arrays they share
        _drop_frames(face, every.tracks[0].face)
    warnings = list(report.messages)
    if report.bad_packets:
        warnings.append(f"{report.bad_packets} packet(s) could not be decoded and were skipped")
    return Extracted(path, info, face, feats, starts, status, warnings, audio, dict(st.timings), every)


def _drop_frames(face: FaceTrack, *copies: FaceTrack | None) -> None:
    """Let go of a face's per-frame landmarks and crops (AnalysisConfig.keep_face_frames): empty,
    so that a reader that still wants them fails at once rather than reading stand-ins. Copies of
    the face that share its arrays get the same empty ones (core.heard tells a track's face by
    its crops' identity)."""
    landmarks = np.zeros((0, *face.landmarks.shape[1:]), face.landmarks.dtype)
    crops = np.zeros((0, *face.crops.shape[1:]), face.crops.dtype)
    shared = face.crops
    for f in (face, *copies):
        if f is not None and f.crops is shared:
            f.landmarks, f.crops = landmarks, crops


def extract(path: str, cfg: AnalysisConfig | None = None, progress: Progress | None = None,
            cancel: Callable[[], bool] | None = None, transform: Transform | None = None) -> Extracted:
    """Decode, track and compute features; raises a WlosError subclass for unusable input.
    The trainer builds its dataset with this, so training sees exactly what analysis sees;
    `transform` (an augmentation) changes the decoded picture and sound before the face stage."""
    return _extract(path, cfg or AnalysisConfig(), _Stages(progress, cancel), transform)


def preload(cfg: AnalysisConfig | None = None) -> Iterator[str]:
    """Load what the first analysis would otherwise load: libraries, the landmark model and the
    networks. Yields a message before each step.

    The GUI runs this on its main thread behind a splash screen. Done inside a worker instead, the
    same steps hold Python's GIL in single calls of 0.1-0.8 s (dlib reading its 100 MB model,
    extension modules initialising), and the window would stall during the first analysis.
    """
    cfg = cfg or AnalysisConfig()
    yield "loading libraries"
    import numpy.ma  # noqa: F401  (np.percentile imports it on first use: 20 ms holding the GIL)
    import soxr  # noqa: F401
    from . import models  # noqa: F401  (torch)
    yield "loading the face landmark model"
    from .mouth import _dlib_models
    _dlib_models()
    yield "loading the networks"
    load_networks(cfg)


def analyze(path: str, cfg: AnalysisConfig | None = None, progress: Progress | None = None,
            cancel: Callable[[], bool] | None = None, on_partial: Callable[[AnalysisResult], None] | None = None
            ) -> AnalysisResult:
    """Analyse one clip. Raises a WlosError subclass with a one-line reason for unusable input.
    A recording longer than cfg.sparse_from_s is read in windows (core.sparse) unless cfg.full;
    on_partial then receives the answer so far after each round of windows."""
    cfg = cfg or AnalysisConfig()
    st = _Stages(progress, cancel)
    # Load networks first: a missing weights file should fail before minutes of decoding.
    load_networks(cfg)
    st.done("load_models")
    info = media.probe(path)
    if sparse.wanted(cfg, info):
        return sparse.analyze(path, cfg, info, progress, cancel, on_partial)
    return _conclude(_extract(path, cfg, st, info=info), cfg, st)


def analyze_window(path: str, info: media.MediaInfo, cfg: AnalysisConfig,
                   cancel: Callable[[], bool] | None = None) -> AnalysisResult:
    """One window of a clip (info.window(...)) analysed as a clip of its own: times from its start."""
    st = _Stages(None, cancel)
    return _conclude(_extract(path, cfg, st, info=info), cfg, st)


def load_networks(cfg: AnalysisConfig) -> None:
    """The networks an analysis with `cfg` needs, loaded now (and kept for the next clip)."""
    for k in needed_networks(resolve_method(cfg), cfg.curves, cfg.weights):
        _network(k, cfg.model_dir, cfg.device)


def conclude(ex: Extracted, cfg: AnalysisConfig | None = None, progress: Progress | None = None,
             cancel: Callable[[], bool] | None = None) -> AnalysisResult:
    """The estimation stage of `analyze` on a clip `extract` made: networks, drift, confidence.
    A batch on a cluster runs the two on different workers (the networks where the GPUs are), and
    the command line in two processes (core.overlap)."""
    st = _Stages(progress, cancel)
    st.timings.update(ex.timings)
    return _conclude(ex, cfg or AnalysisConfig(), st)


def _conclude(ex: Extracted, cfg: AnalysisConfig, st: _Stages) -> AnalysisResult:
    method = resolve_method(cfg)
    max_shift = max_shift_frames(cfg.max_offset_ms)
    nets = {k: _network(k, cfg.model_dir, cfg.device) for k in needed_networks(method, cfg.curves, cfg.weights)}
    st.report(ESTIMATING, f"step 3 of 3: estimating the drift ({method})")
    windows: dict = {}  # every face has the same sound

    def run(feats: ClipFeatures, status: list[str]) -> Estimate:
        return estimate(feats, ex.starts, status, method, nets, cfg.curves, cfg.seed, on_done=st.done,
                        calibrations=calibration.load(cfg.model_dir), max_shift=max_shift,
                        track_models=cfg.track_models, weights=cfg.weights, windows=windows)
    # One face (or one asked for): its estimate, as ever. Several: the one heard, span by span.
    forced = cfg.face_id is not None or cfg.face_at is not None
    chosen = heard.choose(ex, run, forced, on_track=lambda i, n: st.report(
        ESTIMATING, f"step 3 of 3: estimating the drift ({method}), face {i + 1} of {n}"))
    est = chosen.estimate
    st.report(1.0, "done")
    res = AnalysisResult(
        path=ex.path, info=ex.info, method=method, offset_grid=est.offset_grid, confidence=est.confidence,
        starts=ex.starts, status=chosen.status, drift=est.drift, curves=est.curves, clip_curves=est.clip_curves,
        face=chosen.face, features=chosen.features, timings=st.timings, warnings=ex.warnings + chosen.warnings,
        calibrated=est.calibrated, audio=ex.audio, track=est.track, search_frames=est.search_frames,
        faces=ex.faces, heard=chosen)
    if est.search_frames < MAX_SHIFT:
        res.warnings.append(f"the clip is {seconds(chosen.features.n_frames):.2f} s long: searched "
                            f"+-{res.search_ms:.0f} ms only "
                            f"(a clip shorter than {seconds(BLOCK + 2 * MAX_SHIFT):.2f} s cannot show a "
                            f"larger drift)")
    elif METHODS[method].long_range and est.search_frames < max_shift and not res.reliable:
        # The answer is doubtful and the clip could not hold the range asked: the drift may be larger.
        res.warnings.append(f"searched +-{res.search_ms / 1000:.2f} s only: the clip is too short for the "
                            f"+-{cfg.max_offset_ms / 1000:.1f} s of --max-offset-ms (a drift needs a clip about 3 "
                            f"times as long)")
    return res
