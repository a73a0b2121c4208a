"""How a result is said. One function (`verdict`) words it for every surface: the command's
summary line, a batch's outcome table, the window's headline and the JSON `summary`, so that no
two of them can disagree about the same clip.

The rules:
- "in sync" only when the answer is reliable and the drift stays within half a frame of the clip
  (20 ms at 25 fps) everywhere: below that the estimate cannot tell the two apart;
- a reliable constant drift beyond that is an "offset" ("audio is 120 ms late"), a reliable
  track that moves is "drifting" ("audio drifts from +0 to +320 ms over 60 s");
- an unreliable answer says so first, gives its number as a best guess, and what to try.
Drift is positive when the audio is late.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import grid

# The outcome kinds, in the order a batch's table lists them.
KINDS = ("in sync", "offset", "drifting", "unreliable", "failed")

ADVICE = "try: is the speaking face in view? choose it (--face, or a click), or search further (--max-offset-ms)"


@dataclass(frozen=True)
class Verdict:
    kind: str  # one of KINDS
    words: str  # the answer in words: "audio is 120 ms late", "in sync", "unreliable: ..."
    numbers: str  # the number behind it: "+3.0 frames at 25 fps, confidence 0.91"
    advice: str = ""  # what to try, when the answer is not to be acted on

    def line(self, context: str = "") -> str:
        """'words (numbers) [context]; advice': the one-line form."""
        out = f"{self.words} ({self.numbers})" if self.numbers else self.words
        out += f" [{context}]" if context else ""
        return f"{out}; {self.advice}" if self.advice else out


def half_frame_ms(fps: float | None) -> float:
    return 500.0 / (fps or grid.FPS)


def signed(x: float, nd: int = 0) -> str:
    """'+3.0', '-12', never '-0' or '-0.0'."""
    r = round(float(x), nd) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{r:+.{nd}f}"


def late_or_early(ms: float) -> str:
    """'audio is 120 ms late', 'audio is 40 ms early'."""
    return f"audio is {abs(ms):.0f} ms {'late' if ms > 0 else 'early'}"


def moved(drift_s: float) -> str:
    """What undoing `drift_s` does to the sound: 'the sound moved 113 ms earlier'."""
    ms = drift_s * 1000.0
    if round(abs(ms), 1) == 0:
        return "the sound left where it was"
    return f"the sound moved {abs(ms):.0f} ms {'earlier' if ms > 0 else 'later'}"


def track_words(model: str, segments: list[tuple[float, float, float, float]]) -> str:
    """A track in words. segments: (start_s, end_s, drift_ms_start, drift_ms_end)."""
    if model == "linear":
        s0, s1, a, b = segments[0]
        return f"audio drifts from {signed(a)} to {signed(b)} ms over {s1 - s0:.0f} s"
    if model == "piecewise":
        if len(segments) == 2 and all(a == b for _, _, a, b in segments):
            return f"audio jumps from {signed(segments[0][2])} to {signed(segments[1][2])} ms at {segments[1][0]:.1f} s"
        parts = [(f"{signed(a)} ms" if a == b else f"{signed(a)} to {signed(b)} ms") + f" from {s0:.1f} s"
                 for s0, _, a, b in segments]
        return f"audio drift changes {len(segments) - 1} time(s): " + ", ".join(parts)
    return late_or_early(segments[0][2])


def verdict(offset_ms: float, confidence: float, reliable: bool, fps: float | None,
            model: str = "constant", segments: list[tuple[float, float, float, float]] | None = None,
            unsure: str = "") -> Verdict:
    """The words for an answer: `offset_ms` (the track's median), its confidence and whether it
    is reliable, the clip's frame rate, and the drift track (model, segments as in track_words);
    `unsure`: why an unreliable answer is unsure, when the analysis knows better than the default."""
    if offset_ms is None or not math.isfinite(offset_ms):
        return Verdict("unreliable", "no estimate", "", ADVICE)
    fps = fps or grid.FPS
    frames = f"{signed(offset_ms / 1000.0 * fps, 1)} frames at {fps:g} fps"
    ends = [abs(v) for s in segments or [] for v in (s[2], s[3])] or [abs(offset_ms)]
    moving = model != "constant" and bool(segments)
    if not reliable:
        guess = track_words(model, segments) if moving else late_or_early(offset_ms)
        return Verdict("unreliable", f"unreliable: {unsure or 'the lips and the sound do not clearly match'}",
                       f"best guess: {guess}, {frames}, confidence {confidence:.2f}", ADVICE)
    if max(ends) < half_frame_ms(fps):
        return Verdict("in sync", "in sync", f"{late_or_early(offset_ms)}, {frames}, confidence {confidence:.2f}"
                       if round(offset_ms) else f"{frames}, confidence {confidence:.2f}")
    if not moving:
        return Verdict("offset", late_or_early(offset_ms), f"{frames}, confidence {confidence:.2f}")
    return Verdict("drifting", track_words(model, segments),
                   f"median {signed(offset_ms)} ms, {frames}, confidence {confidence:.2f}")


def of_record(record: dict) -> Verdict:
    """The verdict of a JSON record (`analyze --json`, a batch's line), as its result said it."""
    if "error" in record:
        return Verdict("failed", "failed", "", record["error"])
    segs = [(s.get("start_s", 0.0), s.get("end_s", 0.0), s["drift_ms_start"], s["drift_ms_end"])
            for s in record.get("segments") or []
            if s.get("drift_ms_start") is not None and s.get("drift_ms_end") is not None]
    offset = record.get("offset_ms")
    return verdict(offset if offset is not None else math.nan, record.get("confidence") or 0.0,
                   bool(record.get("reliable")), record.get("fps"), record.get("track_model", "constant"), segs)
