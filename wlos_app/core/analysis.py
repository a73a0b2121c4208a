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
from . import calibration, estimators, faces, features, fusion, media, memory, speaker, sync, track
from .face import FaceConfig, FaceTrack
from .features import BLOCK, ClipFeatures, FeatureConfig, clip_features
from .faces import TrackingConfig
from .result import GRID_MS, AnalysisResult

__all__ = ["AnalysisConfig", "AnalysisResult", "analyze", "estimate", "extract", "preload", "resolve_method"]

METHODS = ("fusion", "wlos", "c3", "qmi")
# The trained networks each method runs.
NETWORKS_OF = {"fusion": ("c3", "wlos"), "wlos": ("wlos",), "c3": ("c3",), "qmi": ()}
MIN_FRAMES = estimators.MIN_FRAMES  # one block and a +-2-frame search (estimators.reach_of)

Progress = Callable[[float, str], None]


@dataclass
class AnalysisConfig:
    """One run's settings. `method` "auto" is the default estimator (see resolve_method)."""

    method: str = "auto"
    curves: tuple[str, ...] = ()  # sliding-window methods whose per-block curves are also computed
    model_dir: str | None = None  # folder with wlos.pt / c3.pt; None = the shipped resources/
    device: str | None = None  # "cpu", "cuda"; None = CUDA when available
    face: FaceConfig = field(default_factory=FaceConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # every face, shot changes
    # Analyse this face only (a track id of the result's `faces`, or the face at this point of the
    # picture, source pixels); None: the face that is heard (core.speaker).
    face_id: int | None = None
    face_at: tuple[float, float] | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    audio_stream: int = 0  # the sound analysed, counted among the clip's audio tracks from 0
    seed: int = 0  # bootstrap seed of the confidence
    # The default estimator searches drifts up to this far (ms, either way; at most a third of
    # the clip) and fits a drift track of these models. The paper's methods search +-9 frames.
    max_offset_ms: float = 2000.0
    track_models: tuple[str, ...] = ("constant", "linear", "piecewise")
    # Recordings longer than this are read in windows spread over them and refined where the drift
    # moves (core.sparse); `full` reads every frame of any clip.
    sparse_from_s: float = 120.0
    full: bool = False
    # Keep the decoded sound in the result (AnalysisResult.audio) for preview and export; a batch
    # that only reads the numbers drops it at once (a 10-minute stereo clip is 200 MB of it).
    keep_audio: bool = True
    # Keep every frame's landmarks and mouth crop in the result, for a window to draw. Without
    # them (the CLI, batches) a clip with one face lets them go once its features are made, before
    # the networks run: an hour's are 140 MB. With several faces they are kept (core.speaker
    # reads the other faces' crops).
    keep_face_frames: bool = True


def resolve_method(cfg: AnalysisConfig) -> str:
    """"auto" is the estimator that is right most often on faces it never saw (fusion, see
    docs/accuracy.md), or what the model folder's weights allow."""
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
    """The networks an analysis loads: the fusion's parts only where sync.FUSION_WEIGHTS weighs
    them (the default leaves WLOS out, so WLOS is not loaded for it)."""
    return {k for m in (method, *curves) for k in NETWORKS_OF[m]
            if m != "fusion" or k == "c3" or sync.FUSION_WEIGHTS.get(k)}


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
    faces: faces.Faces | None = None  # every face's track; `face` is one of them (speaker.primary)


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

    expected = max(1.0, (info.duration_s or 1.0) * 25.0)
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
        if k % 25 == 0:
            st.report(TRACKED * min(1.0, k / expected), f"step 2 of 3: tracking the face, {k / 25:.0f} s{of} read")

    every = faces.track_faces(grid_images(), cfg.face, cfg.tracking, on_frame=on_frame)
    face = speaker.primary(every, cfg.face_id, cfg.face_at, path)
    st.done("video")
    st.timings["decode_video"] = decode_time[0]
    st.timings["face"] = st.timings.pop("video") - decode_time[0]

    if face.n < MIN_FRAMES:
        raise TooShortError(f"{path}: only {face.n / 25:.2f} s of video; at least {MIN_FRAMES / 25:.2f} s "
                            f"({MIN_FRAMES} frames at 25 fps) are needed for one block and a +-2-frame search")
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
        # `face` is a copy of the track's (speaker.primary): both let go of the arrays they share
        _drop_frames(face, every.tracks[0].face)
    warnings = list(report.messages)
    if report.bad_packets:
        warnings.append(f"{report.bad_packets} packet(s) could not be decoded and were skipped")
    return Extracted(path, info, face, feats, starts, status, warnings, audio, dict(st.timings), every)


def _drop_frames(face: FaceTrack, *copies: FaceTrack | None) -> None:
    """Let go of a face's per-frame landmarks and crops (AnalysisConfig.keep_face_frames): empty,
    so that a reader that still wants them fails at once rather than reading stand-ins. Copies of
    the face that share its arrays get the same empty ones (core.speaker tells a track's face by
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
    track: track.Track | None = None  # drift (grid frames) over grid time (s)
    search_frames: int = estimators.MAX_SHIFT
    centre: np.ndarray | None = None  # (n_blocks,) the window each block's curve is centred on (fusion)


def max_shift_frames(max_offset_ms: float) -> int:
    """The long-range search's reach in grid frames (never below the networks' +-9)."""
    if not math.isfinite(max_offset_ms) or max_offset_ms <= 0:
        raise ValueError(f"max_offset_ms must be a positive number, not {max_offset_ms!r}")
    return max(estimators.MAX_SHIFT, int(math.ceil(max_offset_ms / GRID_MS - 1e-9)))


DEFAULT_MAX_SHIFT = max_shift_frames(AnalysisConfig().max_offset_ms)


def estimate(feats: ClipFeatures, starts: np.ndarray, status: list[str], method: str, nets: dict,
             curves: tuple[str, ...] = (), seed: int = 0, on_done: Callable[[str], None] | None = None,
             calibrations: dict | None = None, max_shift: int = DEFAULT_MAX_SHIFT,
             track_models: tuple[str, ...] = ("constant", "linear", "piecewise"),
             windows: dict | None = None) -> Estimate:
    """Per-block evidence of `method` (and the extra `curves`) and the clip offset from it.
    nets: kind -> loaded network, for the methods that need one; calibrations: method ->
    calibration.Calibration, which turns the evidence into P(within one frame); max_shift and
    track_models: the default estimator's range (grid frames) and drift track (core.fusion);
    windows: the sound's network work kept for the other methods and the clip's other faces
    (estimators.Pairs)."""
    ok = np.array([s == "ok" for s in status], bool)
    used = starts[ok]
    short = estimators.reach_of(feats.n_frames)  # < MAX_SHIFT: a clip too short for the paper's +-9
    block_curves: dict[str, np.ndarray] = {}
    clip_curves: dict[str, np.ndarray] = {}
    result = None
    centre = np.zeros(len(starts), int)
    for m in dict.fromkeys([*curves, method]):  # each method once, the reported one last
        d = None
        fitted, reach = None, short
        if m == "qmi":
            c = np.full((len(starts), len(estimators.SHIFTS)), np.nan)
            c[ok] = estimators.qmi_block_curves(feats, used)
            block_curves["qmi"] = c = estimators.within_reach(c, short)
            est = sync.from_qmi(feats, used, seed, short)
        elif m == "c3":
            c = np.full((len(starts), len(estimators.SHIFTS)), np.nan, np.float32)
            c[ok] = estimators.c3_curves(nets["c3"], feats, used, windows=windows)
            block_curves["c3"] = c = estimators.within_reach(c, short)
            est = sync.from_curves(c[ok], used, seed, short)
        elif m == "wlos":
            d = np.full(len(starts), np.nan, np.float32)
            d[ok] = estimators.wlos_drifts(nets["wlos"], feats, used)
            if short < estimators.MAX_SHIFT:  # a regression beyond the search is not an answer
                d[np.abs(d) > short + 0.5] = np.nan
            est = sync.from_drifts(d[ok], used, seed, short)
        elif m == "fusion":
            fu = fusion.estimate(feats, used, nets, seed, max_shift, track_models, windows)
            est, fitted, reach = fu.estimate, fu.track, fu.reach
            c = np.full((len(starts), len(estimators.SHIFTS)), np.nan)
            c[ok] = fu.rows
            block_curves["fusion"] = c  # each row over the block's own centre + SHIFTS
            d = np.full(len(starts), np.nan, np.float32)
            d[ok] = fu.centre + sync.peaks(fu.rows)
            centre[ok] = fu.centre
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
            est.quality["short"] = calibration.shortness(short)
            conf = round(cal.probability(est.quality), 3) if cal and np.isfinite(est.offset) else est.confidence
            if fitted is None and len(used) and np.isfinite(est.offset):
                times = fusion.block_times(used)
                fitted = track.Track("constant", [track.Segment(float(times[0]), float(times[-1]), est.offset,
                                                                est.offset)], 0.0)
            result = Estimate(m, est.offset, conf, drift, block_curves, clip_curves, est.quality, cal is not None,
                              fitted, reach, centre)
    return result


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
    from .face import _dlib_models
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
    from . import sparse
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
    for k in needed_networks(resolve_method(cfg), cfg.curves):
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
    nets = {k: _network(k, cfg.model_dir, cfg.device) for k in needed_networks(method, cfg.curves)}
    st.report(ESTIMATING, f"step 3 of 3: estimating the drift ({method})")
    windows: dict = {}  # every face has the same sound

    def run(feats: ClipFeatures, status: list[str]) -> Estimate:
        return estimate(feats, ex.starts, status, method, nets, cfg.curves, cfg.seed, on_done=st.done,
                        calibrations=calibration.load(cfg.model_dir), max_shift=max_shift,
                        track_models=cfg.track_models, windows=windows)
    # One face (or one asked for): its estimate, as ever. Several: the one heard, span by span.
    forced = cfg.face_id is not None or cfg.face_at is not None
    heard = speaker.choose(ex, run, forced, on_track=lambda i, n: st.report(
        ESTIMATING, f"step 3 of 3: estimating the drift ({method}), face {i + 1} of {n}"))
    est, face, feats, status = heard.estimate, heard.face, heard.features, heard.status
    st.report(1.0, "done")
    res = AnalysisResult(ex.path, ex.info, method, est.offset_grid, est.confidence, ex.starts, status, est.drift,
                         est.curves, est.clip_curves, face, feats, st.timings, ex.warnings + heard.warnings,
                         est.calibrated, ex.audio, est.track, est.search_frames, ex.faces, heard)
    if est.search_frames < estimators.MAX_SHIFT:
        res.warnings.append(f"the clip is {feats.n_frames / 25:.2f} s long: searched +-{res.search_ms:.0f} ms only "
                            f"(a clip shorter than {(BLOCK + 2 * estimators.MAX_SHIFT) / 25:.2f} s cannot show a "
                            f"larger drift)")
    elif method == "fusion" and est.search_frames < max_shift and not res.reliable:
        # The answer is doubtful and the clip could not hold the range asked: the drift may be larger.
        res.warnings.append(f"searched +-{res.search_ms / 1000:.2f} s only: the clip is too short for the "
                            f"+-{cfg.max_offset_ms / 1000:.1f} s of --max-offset-ms (a drift needs a clip about 3 "
                            f"times as long)")
    return res
