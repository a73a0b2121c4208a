"""Whose lips: the face that is heard, chosen by sync (active-speaker detection), span by span. (Who
the person is, their identity across clips, is trainer/speakers.py's concern, not this one's.)

Every face followed long enough (core.faces) gets the same evidence as a single face: its own
flow against the clip's sound, its own estimate (`run`, from core.analysis). The sound is cut into
spans of speech (runs of blocks with speech, split at silences and at shot changes). In each span
a face's evidence is scored: the mean of its blocks' standardised curves, on one drift axis,
at the face's own drift (within a frame), less its best value two or more frames away. A face
whose lips made the sound has a clear peak there; a face that did not has noise, and its own
drift sits on the biggest bump of that noise. The span goes to the face with the highest score,
if that is at least CLEAR; else no face matches it (a voice-over, a speaker out of view).
When no span has a clear face (or the one heard is not clear over the whole clip), the faces'
whole-clip evidence may still name one and trust it (`whole_clip`): each face's own calibrated
confidence, against the others'.

The clip's answer: one face chosen for every matched span is that face's own estimate, as if it
were alone (with one face, exactly today's single-face analysis). Different faces in different
spans: each span's blocks read that face's mouth, and one estimate runs on them together (blocks
across a cut or a change of face are invalid; the drift track may jump where the evidence says).
No span matched, or two faces matched one span with different drifts: the answer says so and its
confidence is capped below calibration.RELIABLE. Faces never in view together (shots cut between)
share one estimate on a composite of their mouths (_one_at_a_time); there a face with no clear span
is still heard in its spans when its own reading is reliable, as a single face would be. A face
asked for (--face) is analysed alone; with other faces in view, its answer is capped too when its
lips do not match.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..errors import WlosError
from . import sync
from .calibration import RELIABLE
from .faces import Faces, Track
from .features import ClipFeatures, with_face
from .grid import BLOCK, FRAME_MS, SHIFTS, block_times, on_one_axis, seconds
from .methods import Estimate
from .mouth import FaceTrack

# A span's evidence for a face (standardised units, see the module's docstring): at or above this it
# is the face heard. Whole sample clips (benchmarks.active_speaker scores): with their own sound 19 of 20
# score 1.15-1.54 on model v3, 1.16-1.53 on v4 (its 20th 0.83); with another sample clip's sound
# 19 of 20 score -0.55-0.78 on v3, -0.01-0.92 on v4 (the 20th 1.05 on both). 0.9 was chosen on v2; v3
# scores a silent face up to 0.94 (the cutaway test), so 1.0.
# Single faces are not held to it (their answer is as before); the score is their Own.score, and
# each face's `sync_score` in the JSON.
CLEAR = 1.0
MIN_SPAN_BLOCKS = 10  # a span needs one 10-frame unit of a face's usable blocks to be scored
OWN_BLOCKS = 25  # a face's own offset is reported from 1 s of its usable speech
# Each face analysed costs about what the first one does (its landmarks, flow and network passes):
# in a crowd, only the faces seen longest (ties: the larger) are analysed; the others are listed.
MAX_FACES = 4
NOT_RELIABLE = 0.5  # the confidence cap when no face matches the sound


class FaceChoiceError(WlosError):
    """--face / --face-at names no face of the clip."""


def _empty(n: int) -> FaceTrack:
    return FaceTrack(np.full((n, 4), np.nan, np.float32), np.full((n, 68, 2), np.nan, np.float32),
                     np.zeros((n, 32, 32), np.uint8), np.full((n, 2, 3), np.nan, np.float32), np.zeros(n, bool))


def primary(every: Faces, face_id: int | None, face_at, path: str) -> FaceTrack:
    """The face whose features the extraction computes: the one asked for, else the one seen in
    the most frames (the answer's face when only one is followed)."""
    tracks = every.analysable
    if face_id is not None:
        t = next((t for t in tracks if t.id == face_id), None)
        if t is None:
            ids = ", ".join(str(t.id) for t in tracks) or "none"
            raise FaceChoiceError(f"{path}: no face {face_id}; its analysable faces are {ids}")
        why = f"face {t.id}, as asked"
    elif face_at is not None:
        t = every.at(*face_at)
        if t is None:
            raise FaceChoiceError(f"{path}: no face at x={face_at[0]:g}, y={face_at[1]:g} "
                                  f"(the picture is {every.size[0]}x{every.size[1]})")
        why = f"face {t.id}, at the point asked"
    elif tracks:
        t = max(tracks, key=lambda t: (t.frames_seen, -t.id))
        why = "the only face found" if len(every.tracks) == 1 else f"face {t.id}, seen longest"
    elif every.tracks:
        from ..errors import NoFaceError
        raise NoFaceError(f"{path}: {len(every.tracks)} face(s) found, all too small for a 32x32 mouth crop "
                          f"(under {every.min_face_px:g} px wide)")
    else:
        return _empty(every.n)
    face = replace(t.face, faces_seen=every.faces_seen, selection=why, detections=every.detections)
    return face


@dataclass
class Own:
    """One face's own analysis."""

    track: Track
    features: ClipFeatures
    status: list[str]
    estimate: Estimate | None  # None without a usable block
    score: float = float("nan")  # its evidence over all its speech (see the module's docstring)
    uncapped: Estimate | None = None  # the estimate before any cap for an unclear face (`whole_clip`)


@dataclass
class Span:
    first: int  # block indices, inclusive
    last: int
    face: int | None  # the face heard, or None
    scores: dict = field(default_factory=dict)  # face id -> score


@dataclass
class Heard:
    """The face heard, span by span, and the clip's answer read from it."""

    estimate: Estimate  # the answer's
    face: FaceTrack  # the mouth the answer read (several faces' where each was heard)
    features: ClipFeatures
    status: list[str]
    face_id: int | None  # the face heard most (None: none matched)
    block_face: np.ndarray  # (n_blocks,) the face each block's evidence came from, -1: none
    spans: list[Span] = field(default_factory=list)
    own: dict[int, Own] = field(default_factory=dict)  # face id -> its own analysis
    matched: bool = True
    warnings: list[str] = field(default_factory=list)

    def words(self, every: Faces | None, lead: str = "") -> str:
        """Whose lips, with several faces in view: 'face 1, the person on the right', 'no face
        clearly matches the sound'; '' with one face."""
        if every is None or len(every.tracks) <= 1:
            return ""
        if not self.matched:
            return f"{lead}no face clearly matches the sound"
        if self.face_id is None:
            return ""
        return f"{lead}face {self.face_id}, {every.person(self.face_id)}"


def speech(feats: ClipFeatures, starts: np.ndarray) -> np.ndarray:
    """Blocks with speech (FeatureConfig's test, whatever the face)."""
    c = feats.cfg
    floor = max(feats.speech_level_db - c.speech_db, c.floor_db)
    return np.array([t < feats.n_windows and feats.power_db[t:t + BLOCK].max() >= floor for t in starts], bool)


def spans_of(talk: np.ndarray, starts: np.ndarray, cuts) -> list[tuple[int, int]]:
    """Runs of speech blocks, split where a block crosses a cut."""
    cuts = np.asarray(cuts, int)
    crosses = np.array([((cuts > t) & (cuts < t + BLOCK)).any() for t in starts], bool) if len(cuts) else \
        np.zeros(len(starts), bool)
    out, a = [], None
    for i, ok in enumerate(talk & ~crosses):
        if ok and a is None:
            a = i
        if not ok and a is not None:
            out.append((a, i - 1))
            a = None
    if a is not None:
        out.append((a, len(talk) - 1))
    return out


def _rows(est) -> tuple[np.ndarray, np.ndarray]:
    """Each block's curve over centre + SHIFTS (NaN where skipped), and the centres."""
    centre = est.centre if est.centre is not None else np.zeros(len(est.drift), int)
    if est.method in est.curves:
        return est.curves[est.method], centre
    # WLOS has per-block drifts only: a bump at each (as methods.wlos reads them).
    d = est.drift[:, None]
    return np.where(np.isfinite(d), np.exp(-0.5 * ((SHIFTS[None] - d) / 0.5) ** 2), np.nan), centre


def score(est, idx: np.ndarray, times: np.ndarray) -> float:
    """The evidence of blocks `idx` for their face at its own drift (see the module's docstring)."""
    rows, centre = _rows(est)
    rows, centre = rows[idx], centre[idx]
    keep = np.isfinite(rows).any(1)
    if keep.sum() == 0 or est.track is None or not np.isfinite(est.offset_grid):
        return float("nan")
    z, centre = sync.standardise(rows[keep], "nan"), centre[keep]
    axis, A = on_one_axis(z, centre)
    n = np.isfinite(A).sum(0)  # a drift no block was asked about (a short clip's) stays NaN
    C = np.where(n > 0, np.where(np.isfinite(A), A, 0.0).sum(0) / np.maximum(n, 1), np.nan)
    d = float(np.median(est.track.at(times[idx][keep])))
    near, far = np.abs(axis - d) <= 1.0, np.abs(axis - d) >= 2.0
    if not np.isfinite(C[near]).any() or not np.isfinite(C[far]).any():
        return float("nan")
    return float(np.nanmax(C[near]) - np.nanmax(C[far]))


def _own(ex, t: Track, run, alone: bool = True) -> Own:
    if t.face is ex.face or (ex.face is not None and t.face.crops is ex.face.crops):
        feats, status = ex.features, ex.status
    else:
        feats = with_face(ex.features, t.face.crops, t.face.valid)
        feats.flow_valid[ex.faces.cuts] = False
        status = [feats.block_status(int(s)) for s in ex.starts]
    est = run(feats, status) if alone and "ok" in status else None
    o = Own(t, feats, status, est)
    if est is not None:
        o.uncapped = est
        o.score = score(est, np.flatnonzero(np.array(status) == "ok"), block_times(ex.starts))
        if not o.score >= CLEAR:  # its lips do not clearly match the sound: its own reading is not trusted
            o.estimate = _capped(est, "")[0]
    return o


def _capped(est, why: str):
    """The estimate with its confidence below calibration.RELIABLE, and why (a warning's words)."""
    return replace(est, confidence=min(est.confidence, NOT_RELIABLE)), why


def choose(ex, run: Callable, forced: bool, on_track: Callable[[int, int], None] | None = None) -> Heard:
    """The face heard and the clip's answer from it (see the module's docstring). ex: an
    analysis.Extracted; run(features, status) -> methods.Estimate; forced: ex.face was asked for."""
    starts = ex.starts
    every: Faces | None = ex.faces
    tracks = [t for t in every.analysable if int(t.face.valid.sum()) >= BLOCK + 1] if every else []
    skipped = []
    if len(tracks) > MAX_FACES and not forced:
        keep = sorted(tracks, key=lambda t: (t.frames_seen, t.box[2] - t.box[0]), reverse=True)[:MAX_FACES]
        skipped = [t.id for t in tracks if t not in keep]
        tracks = [t for t in tracks if t in keep]
    main = next((t for t in tracks if t.face.crops is ex.face.crops), None)
    if forced or len(tracks) <= 1:
        est = run(ex.features, ex.status)
        tid = main.id if main is not None else None
        ok = np.array([s == "ok" for s in ex.status])
        alone = Heard(est, ex.face, ex.features, ex.status, tid, np.where(ok, -1 if tid is None else tid, -1))
        if main is not None:
            o = Own(main, ex.features, ex.status, est, score(est, np.flatnonzero(ok), block_times(starts)))
            alone.own = {main.id: o}
            if forced and len(every.analysable) > 1 and not o.score >= CLEAR:
                alone.estimate, why = _capped(est, f"face {main.id}, as asked: its lips do not clearly match "
                                                   f"the sound, so its drift is not reliable")
                alone.warnings.append(why)
        return alone

    warnings: list[str] = []
    if skipped:
        warnings.append(f"{len(skipped)} more face(s) not analysed (faces {', '.join(map(str, skipped))}): "
                        f"only the {MAX_FACES} seen longest are")
    if not _together(tracks):
        return _one_at_a_time(ex, tracks, run, warnings)
    own: dict[int, Own] = {}
    for i, t in enumerate(tracks):
        if on_track:
            on_track(i, len(tracks))
        own[t.id] = _own(ex, t, run)
    talk = speech(ex.features, starts)
    times = block_times(starts)
    spans: list[Span] = []
    ambiguous = False
    for a, b in spans_of(talk, starts, every.cuts):
        sp = Span(a, b, None)
        for tid, o in own.items():
            idx = np.arange(a, b + 1)
            idx = idx[np.array(o.status)[idx] == "ok"]
            if o.estimate is not None and len(idx) >= MIN_SPAN_BLOCKS:
                s = score(o.estimate, idx, times)
                if np.isfinite(s):
                    sp.scores[tid] = round(s, 3)
        ranked = sorted(sp.scores, key=sp.scores.get, reverse=True)
        if ranked and sp.scores[ranked[0]] >= CLEAR:
            sp.face = ranked[0]
            if len(ranked) > 1 and sp.scores[ranked[1]] >= CLEAR:
                d = [float(np.median(own[r].estimate.track.at(times[a:b + 1]))) for r in ranked[:2]]
                ambiguous |= abs(d[0] - d[1]) > 1.0
        spans.append(sp)

    chosen = [sp.face for sp in spans if sp.face is not None]
    heard = {tid: sum(sp.last - sp.first + 1 for sp in spans if sp.face == tid) for tid in set(chosen)}
    whole = whole_clip(own)
    if not heard and whole is not None and any(_leads(sp, whole[0].track.id) for sp in spans):
        o = whole[0]
        for sp in spans:  # the spans it leads are its; the others stay unmatched
            if _leads(sp, o.track.id):
                sp.face = o.track.id
        heard = {o.track.id: sum(sp.last - sp.first + 1 for sp in spans if sp.face == o.track.id)}
        others = max(x.uncapped.confidence for x in own.values() if x is not o and x.uncapped is not None)
        warnings.append(f"{len(every.tracks)} faces in view; heard: face {o.track.id} ({every.place(o.track)}), "
                        f"by its lips over the whole clip (no speech span alone is clear; its confidence "
                        f"{o.uncapped.confidence:.2f}, the other faces' at most {others:.2f})")
    elif heard:
        warnings.append(_heard_words(every, spans, heard))
    if not heard:
        # No face's lips match the sound: report the face with the best evidence, not reliable.
        best = max(own.values(), key=lambda o: (o.estimate is not None, np.nan_to_num(o.score, nan=-9)))
        # The score is said: on real people a heard face's spans often score 0.6-1.0, short of CLEAR
        # (docs/design.md), and "a voice-over" alone would mislead there.
        clearest = (f"; the clearest, face {best.track.id} ({every.place(best.track)}), scores {best.score:.2f} "
                    f"where {CLEAR:.2f} is needed" if np.isfinite(best.score) else "")
        est, why = _capped(best.estimate, f"no face in view clearly matches the sound (a voice-over, the speaker "
                                          f"out of view, or too little evidence{clearest}): the drift is not reliable")
        warnings.append(why)
        face = replace(best.track.face, faces_seen=every.faces_seen, detections=every.detections,
                       selection=f"none clearly matches the sound; face {best.track.id} has the clearest evidence")
        return Heard(est, face, best.features, best.status, None, np.full(len(starts), -1),
                      spans, own, False, warnings)
    top = max(heard, key=heard.get)
    if len(heard) == 1:
        o = own[top]
        est = o.estimate
        if est is not o.uncapped and whole is not None and whole[0] is o:
            # Its whole-clip score is short of CLEAR (so its own reading was capped), but its
            # confidence against the other faces' says it is the face heard.
            o.estimate = o.uncapped
            est = replace(o.uncapped, confidence=whole[1])
        ok = np.array([s == "ok" for s in o.status])
        block_face = np.where(ok, top, -1)
        feats, status, face = o.features, o.status, o.track.face
    else:
        feats, status, face, block_face = _composite(ex, own, _who(spans, starts, ex.features.n_frames), starts)
        est = run(feats, status)
    if ambiguous:
        est, why = _capped(est, "two faces match the sound with different drifts: the drift is not reliable")
        warnings.append(why)
    return Heard(est, _named(face, every, heard), feats, status, top, block_face, spans, own, True, warnings)


def _leads(sp: Span, tid: int) -> bool:
    return bool(sp.scores) and max(sp.scores, key=sp.scores.get) == tid


def whole_clip(own: dict[int, Own]) -> tuple[Own, float] | None:
    """The face heard by its whole-clip evidence, and the answer's confidence; None when that is
    below RELIABLE. Asked when no span is clear, or when the one face heard scores short of CLEAR
    over the whole clip (real people's spans often do, docs/design.md).

    The calibration learned another clip's sound as a case that can only be wrong, so a face's own
    calibrated confidence p also says how well its lips match this sound. Taken as independent
    evidence, and given that at most one face made the sound, the most confident face's reading is
    right with probability o / (1 + sum of every face's o), o = p / (1 - p): its p times every other
    face's 1 - p, over the chance that no two faces are right at once. No threshold of its own.
    (The plain product, without that condition, was tried first: faces that talk to another sound
    get p of 0.2-0.5, and it then kept too few answers, docs/design.md.)"""
    read = sorted((o for o in own.values() if o.uncapped is not None), key=lambda o: o.uncapped.confidence,
                  reverse=True)
    if len(read) < 2:
        return None
    p = np.clip([o.uncapped.confidence for o in read], 1e-6, 1 - 1e-6)
    odds = p / (1 - p)
    heard = float(odds[0] / (1 + odds.sum()))
    return (read[0], heard) if heard >= RELIABLE else None


def _named(face: FaceTrack, every: Faces, heard: dict) -> FaceTrack:
    top = max(heard, key=heard.get)
    return replace(face, faces_seen=every.faces_seen, detections=every.detections,
                   selection=f"face {top}, the one heard ({every.person(top)})" if len(heard) == 1 else
                   f"faces {', '.join(map(str, sorted(heard)))}, each where heard")


def _heard_words(every: Faces, spans: list[Span], heard: dict) -> str:
    said = ", ".join(f"face {tid} ({every.place(every.by_id(tid))}) in {sum(sp.face == tid for sp in spans)} of "
                     f"{len(spans)} speech span(s)" for tid in sorted(heard, key=heard.get, reverse=True))
    return f"{len(every.tracks)} faces in view; heard: {said}"


def _together(tracks: list[Track]) -> bool:
    """Whether two of the faces are ever in view at once."""
    return bool((np.sum([t.face.valid for t in tracks], axis=0) >= 2).any())


def _one_at_a_time(ex, tracks: list[Track], run, warnings: list[str]) -> Heard:
    """Faces never in view together (shots of one person each, cut between): each frame has one
    mouth to read, so one estimate runs on them all, and each span is scored for the face in it."""
    every, starts, times = ex.faces, ex.starts, block_times(ex.starts)
    own = {t.id: _own(ex, t, run, alone=False) for t in tracks}
    who = np.full(ex.features.n_frames, -1)
    for t in tracks:
        who[t.face.valid] = t.id
    feats, status, face, block_face = _composite(ex, own, who, starts, none="no face")
    est = run(feats, status)
    spans = []
    for a, b in spans_of(speech(ex.features, starts), starts, every.cuts):
        sp = Span(a, b, None)
        for tid in set(block_face[a:b + 1].tolist()) - {-1}:
            idx = a + np.flatnonzero(block_face[a:b + 1] == tid)
            if len(idx) >= MIN_SPAN_BLOCKS and np.isfinite(sc := score(est, idx, times)):
                sp.scores[tid] = round(sc, 3)
        best = max(sp.scores, key=sp.scores.get, default=None)
        sp.face = best if best is not None and sp.scores[best] >= CLEAR else None
        spans.append(sp)
    # A face whose span did not match at the shared drift may be a little off it (or weak at it):
    # it gets its own estimate, as faces in view together do, and its spans are scored on that.
    alone = {}
    for tid in sorted({t for sp in spans if sp.face is None for t in sp.scores}):
        alone[tid] = o = _own(ex, own[tid].track, run)
        for sp in spans:
            idx = np.arange(sp.first, sp.last + 1)
            idx = idx[np.array(o.status)[idx] == "ok"]
            if sp.face is None and tid in sp.scores and o.estimate is not None and len(idx) >= MIN_SPAN_BLOCKS:
                sp.scores[tid] = round(score(o.estimate, idx, times), 3)
                sp.face = tid if sp.scores[tid] >= CLEAR else None
        if o.uncapped is not None and o.uncapped.confidence >= RELIABLE and \
                not any(sp.face == tid for sp in spans):
            # No span of it is clear, but its own reading over its shots is reliable: it is the
            # only mouth in them, so it is heard there as a single face would be (no CLEAR for one).
            for sp in spans:
                if sp.face is None and tid in sp.scores:
                    sp.face = tid
            o.estimate = o.uncapped
    for tid, o in own.items():  # each face's own reading: the clip's track over its blocks
        idx = np.flatnonzero(block_face == tid)
        if tid in alone:
            own[tid] = alone[tid]
            continue
        if len(idx) and np.isfinite(est.offset_grid):
            o.score = score(est, idx, times)
            mine = replace(est, offset_grid=float(np.median(est.track.at(times[idx]))))
            o.estimate, o.status = (mine if o.score >= CLEAR else _capped(mine, "")[0]), \
                ["ok" if f == tid else "other face" for f in block_face]
    heard = {tid: sum(sp.last - sp.first + 1 for sp in spans if sp.face == tid) for tid in own}
    heard = {k: v for k, v in heard.items() if v}
    if not heard:
        est, why = _capped(est, "no face in view matches the sound (a voice-over, or the speaker is not in "
                                "view): the drift is not reliable")
        warnings.append(why)
        return Heard(est, face, feats, status, None, np.full(len(starts), -1), spans, own, False, warnings)
    if any(sp.face is None for sp in spans):
        # Speech over a face that did not make it (a cutaway): the answer from the spans matched only.
        feats, status, face, block_face = _composite(ex, own, _who(spans, starts, ex.features.n_frames), starts)
        est = run(feats, status)
        # Keeping only the spans that matched flatters the answer's confidence (the best-looking
        # stretches, picked), so each face it rests on must also read reliably over all its shots:
        # one span of a face can clear CLEAR by chance under a voice-over (docs/design.md).
        weak = []
        for tid in sorted(heard):  # faces matched at the shared estimate get their own reading now
            mine = own[tid].uncapped if tid in alone else _own(ex, own[tid].track, run).uncapped
            if mine is None or mine.confidence < RELIABLE:
                weak.append(tid)
        if weak:
            est, why = _capped(est, f"face {', '.join(map(str, weak))} matches the sound in part of its shots only, "
                                    f"and its own reading over them is not reliable: the drift is not reliable")
            warnings.append(why)
    warnings.append(_heard_words(every, spans, heard))
    return Heard(est, _named(face, every, heard), feats, status, max(heard, key=heard.get), block_face, spans,
                  own, True, warnings)


def _who(spans: list[Span], starts: np.ndarray, n: int) -> np.ndarray:
    """Per grid frame, the face heard in its span (-1: none, -2: two spans' faces overlap)."""
    who = np.full(n, -1)
    for sp in spans:
        if sp.face is None:
            continue
        a, b = int(starts[sp.first]), min(n, int(starts[sp.last]) + BLOCK)
        clash = (who[a:b] >= 0) & (who[a:b] != sp.face)
        who[a:b] = np.where(clash, -2, sp.face)
    return who


def _composite(ex, own: dict, who: np.ndarray, starts: np.ndarray, none: str = "no match"):
    """Features whose mouth in each frame is face who[frame] (-1: none, -2: a clash); blocks with
    frames of two faces, or of none, are invalid (`none`: the reason for a block with no face)."""
    n = ex.features.n_frames
    base = ex.features
    flow = np.zeros_like(base.flow)
    valid = np.zeros(n, bool)
    first = own[next(iter(own))].track.face
    face = replace(first, boxes=first.boxes.copy(), landmarks=first.landmarks.copy(), crops=first.crops.copy(),
                   crop_to_image=first.crop_to_image.copy(), valid=first.valid.copy())
    for tid, o in own.items():
        k = who == tid
        if not k.any():
            continue
        flow[k] = o.features.flow[k] / o.features.flow_scale  # each face's own scale: s = 1 below
        valid[k] = o.features.flow_valid[k]
        f = o.track.face
        face.boxes[k], face.landmarks[k], face.crops[k] = f.boxes[k], f.landmarks[k], f.crops[k]
        face.crop_to_image[k], face.valid[k] = f.crop_to_image[k], f.valid[k]
    feats = replace(base, flow=flow, flow_valid=valid, flow_scale=1.0)
    status, block_face = [], np.full(len(starts), -1)
    talk = speech(base, starts)
    for i, t in enumerate(starts):
        w = who[t:t + BLOCK]
        if not talk[i]:  # no speech: the sound's reason, whatever the faces
            status.append("no audio" if t >= base.n_windows else "silent")
        elif (w < 0).any() or len(set(w.tolist())) > 1:
            status.append(none if (w == -1).all() else "no face")
        else:
            status.append(feats.block_status(int(t)))
            if status[-1] == "ok":
                block_face[i] = w[0]
    return feats, status, face, block_face



def faces_json(heard: Heard | None, every: Faces | None, starts: np.ndarray, n_used: int, fps: float) -> dict:
    """`faces` (one entry per face followed), `face_track`, `face_matched`, `speech_spans` and
    `cuts_s` of an answer's JSON: which face was heard where (docs/usage.md)."""
    if every is None:
        return {}
    talk = {}
    if heard is not None:
        n_talk = sum(sp.last - sp.first + 1 for sp in heard.spans) if heard.spans else n_used
        for tid in set(heard.block_face.tolist()) - {-1}:
            talk[tid] = (sum(sp.last - sp.first + 1 for sp in heard.spans if sp.face == tid) if heard.spans
                         else int((heard.block_face == tid).sum())) / max(1, n_talk)
    out = []
    for t in every.tracks:
        e = {"id": t.id, "frames_seen": t.frames_seen, "first_s": round(seconds(t.first), 3),
             "box": [round(float(v), 1) for v in t.box], "where": every.place(t),
             "analysed": t.analysable}
        if not t.analysable:
            e["reason"] = t.reason
        o = heard.own.get(t.id) if heard is not None else None
        if t.analysable:
            e["speaking_share"] = round(talk.get(t.id, 0.0), 3)
        if o is not None and o.estimate is not None and o.status.count("ok") >= OWN_BLOCKS:
            own_ms = o.estimate.offset_grid * FRAME_MS
            e.update({"offset_ms": json_number(own_ms, 1), "offset_frames": json_number(own_ms / 1000 * fps),
                      "confidence": json_number(o.estimate.confidence), "sync_score": json_number(o.score)})
        out.append(e)
    spans = [{"start_s": round(seconds(starts[sp.first]), 3),
              "end_s": round(seconds(starts[sp.last] + BLOCK), 3), "face": sp.face,
              "scores": {str(k): v for k, v in sp.scores.items()}} for sp in (heard.spans if heard else [])]
    return {"faces": out, "face_track": heard.face_id if heard is not None else None,
            "face_matched": bool(heard.matched) if heard is not None else True, "speech_spans": spans,
            "cuts_s": [round(seconds(c), 3) for c in every.cuts]}


def json_number(x, nd: int = 3) -> float | None:
    """A number as the JSON gives it: rounded, None when it is not finite."""
    return round(float(x), nd) if x is not None and math.isfinite(x) else None
