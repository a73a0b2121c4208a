"""What an analysis found, and how it reads: in words, in ms, in the clip's frames, as JSON.

Inside, drift is in grid frames (core.grid) over grid time (s from the start of the video stream),
positive = audio late; outside, in ms and in the clip's own frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import calibration, media, verdict
from .drift_track import DriftTrack
from .faces import Faces
from .features import ClipFeatures
from .grid import BLOCK, FPS, FRAME_MS, MAX_SHIFT, SHIFTS, seconds
from .heard import Heard, faces_json, json_number
from .mouth import FaceTrack


def describe_track(tr: DriftTrack) -> str:
    """A drifting or jumping track in words: 'audio drifts from +0 to +320 ms over 60 s',
    'audio jumps from +0 to +320 ms at 30.1 s' (core.verdict words it)."""
    return verdict.track_words(tr.model, _segments_ms(tr))


def _segments_ms(tr: DriftTrack) -> list[tuple[float, float, float, float]]:
    return [(s.start_s, s.end_s, s.drift_start * FRAME_MS, s.drift_end * FRAME_MS) for s in tr.segments]


@dataclass
class AnalysisResult:
    path: str
    info: media.MediaInfo
    method: str
    offset_grid: float  # grid frames, positive = audio late; the median of the track
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
    track: DriftTrack | None = None  # drift over time, grid frames over grid seconds
    search_frames: int = MAX_SHIFT  # the drift range searched, +- grid frames
    faces: Faces | None = None  # every face followed
    heard: Heard | None = None  # which face was heard where
    reading: str = "full"  # "full": every frame read; "sparse": windows of a long clip (core.sparse)
    windows: list | None = None  # the sparse pass's core.sparse.Window list: what was read, and where
    unsure: str = ""  # why an unreliable answer is unsure, where the analysis knows (core.verdict)

    @property
    def reliable(self) -> bool:
        """Worth acting on: confidence (P(within one frame)) at or above calibration.RELIABLE."""
        return math.isfinite(self.offset_ms) and self.confidence >= calibration.RELIABLE

    @property
    def track_model(self) -> str:
        return self.track.model if self.track is not None else "constant"

    @property
    def fps(self) -> float:
        return self.info.video.fps if self.info.video and self.info.video.fps else float(FPS)

    @property
    def offset_ms(self) -> float:
        return self.offset_grid * FRAME_MS

    @property
    def offset_frames(self) -> float:
        """Offset in the clip's own frames."""
        return self.offset_ms / 1000.0 * self.fps

    @property
    def duration_s(self) -> float:
        return seconds(self.face.n)  # a sparse pass's face covers the whole clip's grid too

    def drift_ms_at(self, t_s) -> np.ndarray:
        """The fitted drift (ms) at times t_s; the offset everywhere without a track."""
        if self.track is None or not math.isfinite(self.offset_ms):
            return np.full(np.shape(np.atleast_1d(t_s)), self.offset_ms)
        return self.track.at(t_s) * FRAME_MS

    def verdict(self) -> verdict.Verdict:
        """The answer in words (core.verdict: the same words on every surface)."""
        segs = _segments_ms(self.track) if self.track is not None and math.isfinite(self.offset_ms) else None
        return verdict.verdict(self.offset_ms, self.confidence, self.reliable, self.fps, self.track_model, segs,
                               self.unsure)

    def summary(self) -> str:
        """One line for people: 'audio is 120 ms late (+3.0 frames at 25 fps, confidence 0.91)
        [c3-track, speech read in 2.8 of 3.0 s]'."""
        v = self.verdict()
        if not math.isfinite(self.offset_ms):
            return v.line()
        return v.line(f"{self.method}, {self.coverage_words()}{self.face_words(', ')}")

    def coverage_words(self) -> str:
        """How much of the clip the answer rests on, in seconds (blocks overlap, so their count
        says little to a reader): 'speech read in 2.8 of 3.0 s'."""
        return f"speech read in {self.seconds_used:.1f} of {self.duration_s:.1f} s"

    @property
    def seconds_read(self) -> float:
        """Seconds of the clip decoded and analysed: all of it, or the sparse pass's windows."""
        if self.windows is None:
            return self.duration_s
        return sum(w.end_s - w.start_s for w in self.windows)

    @property
    def seconds_used(self) -> float:
        """Seconds of the clip inside at least one block the estimate used."""
        covered = np.zeros(self.face.n + BLOCK, bool)
        for t, s in zip(self.starts, self.status):
            if s == "ok":
                covered[int(t):int(t) + BLOCK] = True
        return seconds(float(covered.sum()))

    def block_weights(self) -> np.ndarray | None:
        """How clearly each block reads its drift, 0..1 (core.block_weight), for the drift plot;
        None for WLOS, which reads a block's drift without a curve."""
        from .block_weight import block_weights
        return block_weights(self.curves[self.method]) if self.method in self.curves else None

    def face_words(self, lead: str = "") -> str:
        """Whose lips, with several faces in view (core.heard words them); '' with one face."""
        return self.heard.words(self.faces, lead) if self.heard is not None else ""

    @property
    def search_ms(self) -> float:
        return self.search_frames * FRAME_MS

    @property
    def n_used(self) -> int:
        return sum(s == "ok" for s in self.status)

    def track_json(self) -> dict:
        """track_model, track ([t_s, drift_ms] at least every 0.5 s) and segments."""
        if self.track is None or not math.isfinite(self.offset_ms):
            return {"track_model": "constant", "track": [], "segments": []}
        return {
            "track_model": self.track.model,
            "track": [[round(t, 3), json_number(d * FRAME_MS, 1)] for t, d in self.track.samples(0.5)],
            "segments": [{"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3),
                          "drift_ms_start": json_number(s.drift_start * FRAME_MS, 1),
                          "drift_ms_end": json_number(s.drift_end * FRAME_MS, 1)} for s in self.track.segments],
        }

    def to_json(self, per_block_curves: bool = False) -> dict:
        num = json_number
        fps = self.fps
        blocks = []
        for i, t in enumerate(self.starts):
            b = {"start_s": round(seconds(t), 3), "start_frame": round(seconds(t) * fps, 2),
                 "drift_frames": num(seconds(self.drift[i]) * fps), "drift_ms": num(self.drift[i] * FRAME_MS, 1),
                 "valid": self.status[i] == "ok"}
            if self.heard is not None and self.heard.block_face[i] >= 0:
                b["face"] = int(self.heard.block_face[i])
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
            "outcome": self.verdict().kind,
            "pass": self.reading,
            "seconds_read": round(self.seconds_read, 1),
            **self.track_json(),
            "search_range_ms": [-self.search_ms, self.search_ms],
            "n_blocks": len(self.starts),
            "n_valid_blocks": self.n_used,
            "seconds_used": round(self.seconds_used, 2),
            "face": {"frames_with_face": int(self.face.valid.sum()), "frames": self.face.n,
                     "faces_seen": self.face.faces_seen, "selection": self.face.selection},
            **faces_json(self.heard, self.faces, self.starts, self.n_used, fps),
            "shifts_frames": [num(seconds(d) * fps) for d in SHIFTS],
            "clip_curves": {m: [num(v, 5) for v in c] for m, c in self.clip_curves.items()},
            "blocks": blocks,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if per_block_curves:
            out["block_curves"] = {m: [[num(v, 5) for v in row] for row in c] for m, c in self.curves.items()}
        if self.windows is not None:
            out["windows"] = [w.to_json() for w in self.windows]
        if self.warnings:
            out["warnings"] = self.warnings
        return out
