"""Long recordings read sparsely: windows spread over the clip, refined where the drift moves.

A drift is smooth almost everywhere (a constant offset, two clocks that disagree, a few jumps where
an edit lost sound), so a few well-chosen stretches pin it; reading every frame of an hour costs
minutes in the face stage alone. Above AnalysisConfig.sparse_from_s (2 minutes) `analyze` reads:

1. first pass: WINDOW_S windows spread evenly over the clip (one every SPACING_S, at least
   MIN_FIRST). Each is decoded alone (a seek to the keyframe before it), its face found afresh,
   and analysed as a clip of its own (analysis.analyze_window): a drift, its confidence, and its
   own drift track, so a window that straddles a jump says where;
2. the drift track of the whole clip is fitted to the windows' readings (`fit`: segments,
   constant or linear, joined by jumps; each reading weighted by its confidence; a reading off
   by more than CAP_FRAMES costs no more than that, so one wrong window cannot make a segment);
3. refinement, until nothing is left or MAX_WINDOWS / MAX_READ_SHARE is reached:
   - a jump whose neighbouring readings are more than a window apart gets a window between them
     (bisection); once they are a window apart, one window spanning both (LOCATE) puts the jump
     where its own track puts it, as the full pass would on the same evidence;
   - a reliable reading more than AGREE_FRAMES off the track gets a window on either side;
   - a first-pass window with no face, no speech or no reliable answer is tried again a window
     later and earlier (and said so when still skipped).
The answer is an AnalysisResult like the full pass's: the track covers the whole clip; its blocks
are the windows' blocks; `reading` is "sparse" and `windows` says what was read and where.

Its confidence is not calibrated (the calibration knows clips, not windows): the median confidence
of the reliable windows, times the share of them that agree with the track, and at most 0.79 (not
reliable) unless two reliable windows agree with it (docs/drift.md).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..errors import Cancelled, NoFaceError, WlosError
from . import grid, media
from .calibration import RELIABLE
from .drift_track import DriftTrack, Segment
from .mouth import FaceTrack
from .result import AnalysisResult

WINDOW_S = 8.0  # long enough for a +-2 s search (a third of it) and a jump seen on both sides
SPACING_S = 120.0  # first pass: a window every this many seconds
MIN_FIRST = 6
MAX_WINDOWS = 96
MAX_READ_SHARE = 0.3  # of the clip's length, read at most (beyond that the full pass is as cheap)
LOCATE_SPANS = 3  # a jump between readings this many windows apart is located, not bisected
MAX_LOCATE_S = 60.0  # the longest stretch read to locate one
AGREE_FRAMES = 1.0  # a reading this close to the track agrees with it
CAP_FRAMES = 2.0  # a reading further off costs as if it were this far (one outlier is not a segment)
JUMP_PENALTY = 4.0  # weighted squared frames a jump must explain before it is believed
SLOPE_PENALTY = 2.0  # and a slope
MIN_SLOPE_S = 60.0  # a slope over less than this is not believed (windows' noise)


@dataclass
class Window:
    """One stretch read: its answer (grid frames, positive = audio late) or why it has none."""

    start_s: float
    end_s: float
    why: str  # "first pass", "between ...", "locate", "again"
    result: AnalysisResult | None = None
    skipped: str = ""  # the reason it gave no answer

    @property
    def centre(self) -> float:
        return 0.5 * (self.start_s + self.end_s)

    @property
    def drift(self) -> float:
        return self.result.offset_grid if self.result is not None else math.nan

    @property
    def confidence(self) -> float:
        return self.result.confidence if self.result is not None else 0.0

    @property
    def reliable(self) -> bool:
        return self.result is not None and self.result.reliable

    def readings(self) -> list[tuple[float, float, float]]:
        """(t_s, drift, weight) in clip time: one for a constant window, one per segment of a
        window whose own track moves (a window across a jump reads both sides)."""
        if self.result is None or not math.isfinite(self.drift):
            return []
        tr, w = self.result.track, self.confidence
        if tr is None or tr.model == "constant":
            return [(self.centre, self.drift, w)]
        mids = [0.5 * (s.start_s + s.end_s) for s in tr.segments]
        return [(self.start_s + m, float(tr.at(m)[0]), w / len(mids)) for m in mids]

    def jumps(self) -> list[float]:
        """Where the window's own track jumps, in clip time."""
        tr = self.result.track if self.result is not None else None
        if tr is None or tr.model != "piecewise":
            return []
        return [self.start_s + s.start_s for s in tr.segments[1:]]

    def to_json(self) -> dict:
        out = {"start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2), "why": self.why}
        if self.result is None:
            return {**out, "skipped": self.skipped}
        return {**out, "drift_ms": round(self.drift * grid.FRAME_MS, 1), "confidence": round(self.confidence, 3),
                "reliable": self.reliable, "track_model": self.result.track_model}


def wanted(cfg, info: media.MediaInfo) -> bool:
    """Whether `analyze` reads this clip sparsely."""
    return (not cfg.full and info.video is not None and info.audio is not None
            and info.duration_s > cfg.sparse_from_s and cfg.face_id is None and cfg.face_at is None)


def wanted_for(path: str, cfg) -> bool:
    """`wanted`, from the file (False when it cannot be read: the analysis then says why)."""
    try:
        return wanted(cfg, media.probe(path))
    except WlosError:
        return False


def first_pass(duration_s: float) -> list[tuple[float, float]]:
    """Windows spread evenly from the very start to the very end (a jump near either end is
    between two of them, not before the first)."""
    n = max(MIN_FIRST, int(math.ceil(duration_s / SPACING_S)) + 1)
    centres = np.linspace(WINDOW_S / 2, duration_s - WINDOW_S / 2, n)
    return [_span(c, duration_s) for c in centres]


def _span(centre: float, duration_s: float, length: float = WINDOW_S) -> tuple[float, float]:
    start = min(max(0.0, centre - length / 2), max(0.0, duration_s - length))
    return float(start), float(min(duration_s, start + length))


# --- the fit ------------------------------------------------------------------------------------

@dataclass
class Piece:
    first: int  # readings first..last (inclusive), in time order
    last: int
    a: float  # drift = a + b (t - t0)
    b: float
    t0: float


def _robust(r: np.ndarray, w: np.ndarray) -> float:
    return float((w * np.minimum(r * r, CAP_FRAMES ** 2)).sum())


def _piece(t, d, w, i, j, slopes: bool = True) -> tuple[float, Piece]:
    """The cheaper of a constant and (over MIN_SLOPE_S) a sloped fit of readings i..j."""
    tt, dd, ww = t[i:j + 1], d[i:j + 1], w[i:j + 1]
    order = np.argsort(dd)
    cum = np.cumsum(ww[order])
    c = float(dd[order][np.searchsorted(cum, cum[-1] / 2)])  # weighted median: one outlier moves it little
    best = (_robust(dd - c, ww), Piece(i, j, c, 0.0, float(tt[0])))
    if slopes and j - i >= 2 and tt[-1] - tt[0] >= MIN_SLOPE_S:
        keep = np.abs(dd - c) <= 3 * CAP_FRAMES  # far outliers would tilt the line
        if keep.sum() >= 3:
            b, a = np.polyfit(tt[keep] - tt[0], dd[keep], 1, w=np.sqrt(ww[keep]))
            cost = _robust(dd - (a + b * (tt - tt[0])), ww) + SLOPE_PENALTY
            if cost < best[0]:
                best = (cost, Piece(i, j, float(a), float(b), float(tt[0])))
    return best


def fit(readings: list[tuple[float, float, float]], jumps: bool = True, slopes: bool = True) -> list[Piece]:
    """Segments (constant or, with `slopes`, sloped) joined by jumps with the least robust cost
    plus penalties, by dynamic programming over the readings in time order (one segment without
    `jumps`)."""
    t, d, w = (np.array(x, float) for x in zip(*sorted(readings)))
    n = len(t)
    if not jumps:
        return [_piece(t, d, w, 0, n - 1, slopes)[1]]
    best = np.full(n + 1, np.inf)
    best[0] = -JUMP_PENALTY  # the first segment pays no jump
    back: list[Piece | None] = [None] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            if not math.isfinite(best[i]):
                continue
            cost, piece = _piece(t, d, w, i, j - 1, slopes)
            total = best[i] + JUMP_PENALTY + cost
            if total < best[j]:
                best[j], back[j] = total, piece
    pieces, j = [], n
    while j > 0:
        pieces.append(back[j])
        j = back[j].first
    return pieces[::-1]


def _value(p: Piece, t: float) -> float:
    return p.a + p.b * (t - p.t0)


def to_track(pieces: list[Piece], readings, windows: list[Window], duration_s: float) -> DriftTrack:
    """The pieces as a drift track over the whole clip: each jump where a window's own track put
    it (if one did between the readings either side), else halfway between them."""
    t = np.array(sorted(r[0] for r in readings))
    inside = sorted(j for win in windows for j in win.jumps())
    bounds = [0.0]
    for p, q in zip(pieces, pieces[1:]):
        lo, hi = t[p.last], t[q.first]
        mid = 0.5 * (lo + hi)
        seen = [j for j in inside if lo - WINDOW_S <= j <= hi + WINDOW_S and bounds[-1] < j < t[q.last] + 1e-6]
        bounds.append(min(seen, key=lambda j: abs(j - mid)) if seen else mid)
    bounds.append(duration_s)
    segs = [Segment(s, e, _value(p, s), _value(p, e)) for p, s, e in zip(pieces, bounds, bounds[1:])]
    model = "piecewise" if len(segs) > 1 else "linear" if pieces[0].b else "constant"
    return DriftTrack(model, segs, 0.0)


# --- the reading --------------------------------------------------------------------------------

class _Reader:
    """Reads windows of one clip, each once; keeps them in time order."""

    def __init__(self, path: str, info: media.MediaInfo, cfg, cancel):
        self.path, self.info, self.cancel = path, info, cancel
        self.cfg = replace(cfg, keep_audio=False, keep_face_frames=False, full=True)
        self.windows: list[Window] = []
        self.seconds = 0.0

    def read(self, span: tuple[float, float], why: str) -> Window | None:
        from .analysis import analyze_window
        start, end = span
        if end - start < 1.0 or _was_read(self.windows, span):
            return None
        if self.cancel and self.cancel():
            raise Cancelled("analysis cancelled")
        win = Window(start, end, why)
        # A stretch read to locate a jump is fitted with jumps only: across a jump of a few frames
        # in 20 s a slope can score nearly as well, and would say nothing of where the jump is.
        cfg = replace(self.cfg, track_models=("constant", "piecewise")) if why == "locate" else self.cfg
        try:
            win.result = analyze_window(self.path, self.info.window(start, end), cfg, self.cancel)
        except Cancelled:
            raise
        except WlosError as exc:
            text = str(exc)
            win.skipped = text.split(": ", 1)[1] if text.startswith(self.path) else text
        self.windows.append(win)
        self.windows.sort(key=lambda w: w.start_s)
        self.seconds += end - start
        return win


def analyze(path: str, cfg, info: media.MediaInfo, progress: Callable[[float, str], None] | None = None,
            cancel: Callable[[], bool] | None = None,
            on_partial: Callable[[AnalysisResult], None] | None = None) -> AnalysisResult:
    """The sparse pass over a long clip (see the module's docstring)."""
    t0 = time.perf_counter()
    duration = info.duration_s
    reader = _Reader(path, info, cfg, cancel)
    spans = first_pass(duration)
    say = progress or (lambda f, m: None)
    for i, k in enumerate(coarse_to_fine(len(spans))):
        say(0.6 * i / len(spans), f"reading window {i + 1} of {len(spans)} (at {_clock(spans[k][0])})")
        reader.read(spans[k], "first pass")
        if on_partial and i + 1 in (3, 6, 12, 24) and i + 1 < len(spans):
            _partial(path, info, cfg, reader, t0, on_partial)  # a first answer within seconds
    budget = min(MAX_WINDOWS, len(spans) + int(MAX_READ_SHARE * duration / WINDOW_S))
    result = _result(path, info, cfg, reader, t0)
    for round_ in range(1, 12):
        if on_partial:
            on_partial(result)
        todo = _refinements(reader, result)
        todo = todo[:max(0, budget - len(reader.windows))]
        if not todo:
            break
        for k, (span, why) in enumerate(todo):
            say(min(0.95, 0.6 + 0.05 * round_), f"refining: window {k + 1} of {len(todo)} (at {_clock(span[0])}, "
                                                 f"{why})")
            reader.read(span, why)
        result = _result(path, info, cfg, reader, t0)
    say(1.0, "done")
    return result


def coarse_to_fine(n: int) -> list[int]:
    """0..n-1 in the order that covers the clip soonest: both ends, the middle, the quarters, ...
    so that the answer so far spans the whole recording after a few windows."""
    order, seen = [], set()
    step = n - 1
    while len(order) < n:
        for k in range(0, n, max(1, step)):
            if k not in seen:
                seen.add(k)
                order.append(k)
        if step <= 1:
            order += [k for k in range(n) if k not in seen]
            break
        step = max(1, step // 2)
    return order


def _partial(path, info, cfg, reader: _Reader, t0: float, on_partial) -> None:
    try:
        on_partial(_result(path, info, cfg, reader, t0))
    except WlosError:  # no window has an answer yet
        pass


def _clock(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _refinements(reader: _Reader, res: AnalysisResult) -> list[tuple[tuple[float, float], str]]:
    """The windows the next round reads (see the module's docstring)."""
    duration = reader.info.duration_s
    todo: list[tuple[tuple[float, float], str]] = []
    wins = reader.windows
    # first-pass windows without an answer: a window later, then a window earlier
    for w in wins:
        if w.why == "first pass" and not w.reliable:
            for shift in (WINDOW_S, -WINDOW_S):
                span = _span(w.centre + shift, duration)
                if not _was_read(wins, span):
                    todo.append((span, "again"))
                    break
    tr = res.track
    if tr is None or not math.isfinite(res.offset_grid):
        return todo
    points = sorted((r[0], r[1]) for w in wins if w.reliable for r in w.readings())
    # jumps: bisect until the readings either side are a window apart, then locate
    for seg in tr.segments[1:]:
        before = float(tr.at(seg.start_s - 1e-3)[0])
        if abs(seg.drift_start - before) < AGREE_FRAMES:
            continue  # a change of slope, not a jump
        lo = max((t for t, _ in points if t < seg.start_s), default=0.0)
        hi = min((t for t, _ in points if t > seg.start_s), default=duration)
        bisect = None
        if hi - lo > LOCATE_SPANS * WINDOW_S:
            # the middle; if that was read and gave no reliable answer (it may straddle the jump),
            # the windows either side of it, which cannot both straddle it
            mid = 0.5 * (lo + hi)
            for centre in (mid, mid - WINDOW_S, mid + WINDOW_S):
                span = _span(centre, duration)
                if lo < 0.5 * (span[0] + span[1]) < hi and not _was_read(wins, span):
                    bisect = span
                    break
        if bisect is not None:
            todo.append((bisect, f"between {_clock(lo)} and {_clock(hi)}"))
        elif hi - lo <= MAX_LOCATE_S and not any(w.why == "locate" and w.start_s <= lo and w.end_s >= hi
                                                 for w in wins) and not _located(wins, lo, hi):
            # one stretch from the last reading before to the first after: its own track puts the
            # jump where the full pass would on the same evidence
            mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) + WINDOW_S  # a whole window of each side
            todo.append(((max(0.0, mid - half), min(duration, mid + half)), "locate"))
    # reliable readings off the track: look either side
    for w in wins:
        if w.reliable and w.why != "locate" and any(abs(d - float(tr.at(t)[0])) > AGREE_FRAMES
                                                    for t, d, _ in w.readings()):
            for side in (-1, 1):
                span = _span(w.centre + side * WINDOW_S, duration)
                if not _was_read(wins, span):
                    todo.append((span, "a reading off the track"))
    out: list[tuple[tuple[float, float], str]] = []
    for span, why in todo:
        if not _was_read(wins, span) and not any(abs(o[0][0] - span[0]) < 0.5 for o in out):
            out.append((span, why))
    return out


def _located(wins: list[Window], lo: float, hi: float) -> bool:
    return any(lo - WINDOW_S <= j <= hi + WINDOW_S for w in wins if w.why == "locate" for j in w.jumps())


def _was_read(wins: list[Window], span: tuple[float, float]) -> bool:
    """A stretch is read once, answer or not."""
    return any(abs(w.start_s - span[0]) < 0.5 and abs(w.end_s - span[1]) < 0.5 for w in wins)


def _result(path: str, info: media.MediaInfo, cfg, reader: _Reader, t0: float) -> AnalysisResult:
    wins = [w for w in reader.windows if w.result is not None]
    if not wins:
        reasons = sorted({w.skipped for w in reader.windows})
        raise NoFaceError(f"{path}: none of the {len(reader.windows)} stretches read had a face and speech "
                          f"({'; '.join(reasons)[:200]}); --full reads every frame")
    good = [w for w in wins if w.reliable] or wins  # with no reliable window, the best guesses
    # A window across a jump that a stretch read to locate it found reads a mixture of both sides.
    found = [j for w in wins if w.why == "locate" for j in w.jumps()]
    good = [w for w in good if w.why == "locate" or not any(w.start_s + 0.5 < j < w.end_s - 0.5 for j in found)] or good
    readings = [r for w in good for r in w.readings()]
    models = cfg.track_models  # --constant: one constant piece
    pieces = fit(readings, jumps="piecewise" in models, slopes="linear" in models or "piecewise" in models)
    tr = to_track(pieces, readings, wins, info.duration_s)
    every_s = np.arange(0.0, info.duration_s, 1.0)
    offset = float(np.median(tr.at(every_s))) if len(every_s) else float(tr.at(0.0)[0])
    reliable = [w for w in wins if w.reliable]
    agree = [w for w in reliable if all(abs(d - float(tr.at(t)[0])) <= AGREE_FRAMES for t, d, _ in w.readings())]
    conf = float(np.median([w.confidence for w in reliable])) * len(agree) / len(reliable) if reliable else \
        float(np.median([w.confidence for w in wins]))
    if len(agree) < 2:
        conf = min(conf, RELIABLE - 0.01)
    unsure = ""
    if reliable and conf < RELIABLE:  # the windows' lips and sound match; they disagree on the drift
        unsure = (f"only {len(agree)} of the {len(reliable)} stretches read agree with one drift track"
                  if len(reliable) > 1 else "only one stretch read matches lips and sound")
    res = _assemble(path, info, cfg, reader, wins, tr, offset, conf, t0)
    res.unsure = unsure
    return res


def _assemble(path, info, cfg, reader: _Reader, wins: list[Window], tr: DriftTrack, offset: float, conf: float,
              t0: float) -> AnalysisResult:
    """The windows' blocks on the clip's grid, and the clip's answer."""
    n = int(round(info.duration_s * grid.FPS))
    starts, status, drift, curves = [], [], [], {}
    valid = np.zeros(n, bool)
    timings: dict[str, float] = {}
    for w in wins:
        r, k0 = w.result, grid.frame_at(w.start_s)
        starts.append(r.starts + k0)
        status += r.status
        drift.append(r.drift)
        for m, c in r.curves.items():
            curves.setdefault(m, []).append(c)
        k1 = min(n, k0 + r.face.n)
        valid[k0:k1] |= r.face.valid[:k1 - k0]
        for k, v in r.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    timings["sparse"] = time.perf_counter() - t0
    first = wins[0].result
    face = FaceTrack(boxes=np.zeros((0, 4), np.float32), landmarks=np.zeros((0, 68, 2), np.float32),
                     crops=np.zeros((0, 32, 32), np.uint8), crop_to_image=np.zeros((0, 2, 3), np.float32),
                     valid=valid, faces_seen=max(w.result.face.faces_seen for w in wins),
                     selection=first.face.selection)
    skipped = [w for w in reader.windows if w.result is None]
    warnings = [f"read {len(reader.windows)} stretches of {WINDOW_S:.0f} s ({reader.seconds:.0f} s of "
                f"{info.duration_s:.0f} s); --full reads every frame"]
    if skipped:
        warnings.append(f"{len(skipped)} stretch(es) gave no answer: " + "; ".join(
            f"{_clock(w.start_s)} {w.skipped}" for w in skipped[:5]))
    res = AnalysisResult(
        path=path, info=info, method=first.method, offset_grid=offset, confidence=round(conf, 3),
        starts=np.concatenate(starts), status=status, drift=np.concatenate(drift),
        curves={m: np.concatenate(c) for m, c in curves.items() if len(c) == len(wins)},
        clip_curves={}, face=face, features=None, timings=timings, warnings=warnings, calibrated=False,
        audio=None, track=tr, search_frames=min(w.result.search_frames for w in wins))
    res.reading, res.windows = "sparse", list(reader.windows)
    return res
