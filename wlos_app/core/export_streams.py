"""What a synced copy carries besides its picture and its sound: subtitles, data tracks,
attachments, chapters and tags, as far as the target container can hold them.

Subtitles and data are copied packet for packet; a text subtitle the container cannot hold as it is
is converted to a text codec it can (SRT into MP4 becomes mov_text). Whatever still cannot be
carried is named in one line (export_synced's "dropped") rather than lost without a word.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable, NamedTuple

import av
from av.subtitles.subtitle import SubtitleSet

from .drift_track import DriftTrack
from .grid import FRAME_S

SUBTITLE_TIMINGS = ("sound", "picture")  # what a subtitle track's cues were timed to

_TEXT = frozenset({"subrip", "ass", "ssa", "webvtt", "mov_text", "text"})
_TEXT_INTO = ("subrip", "mov_text", "webvtt", "ass")  # a text track becomes the first the target holds
# Tags that describe the source file rather than its content; the muxer writes its own.
_SOURCE_ONLY = frozenset({"duration", "major_brand", "minor_version", "compatible_brands"})
_NO_CHAPTERS = frozenset({"avi", "mpeg"})
_ATTACHMENTS = frozenset({"matroska"})


class Side(NamedTuple):
    """A subtitle or data stream on its way into the copy."""
    source: av.stream.Stream
    out: av.stream.Stream
    decoder: av.codec.context.CodecContext | None  # the source's, when the text is converted
    by_sound: bool  # its times move with the sound


def carried(out: av.container.OutputContainer) -> frozenset[str]:
    """The codecs (canonical names) the output's muxer can hold."""
    names = set()
    for n in out.supported_codecs:
        for mode in ("r", "w"):
            try:
                names.add(av.Codec(n, mode).canonical_name)
                break
            except ValueError:  # av.codec.codec.UnknownCodecError: no decoder (or encoder) of that name
                continue
    return frozenset(names)


def describe(stream) -> str:
    """A stream as a user can find it (ffprobe's numbering): 'stream #3 (subtitle, subrip, "captions", eng)'."""
    cc = stream.codec_context
    parts = [stream.type] + ([cc.codec.canonical_name] if cc is not None else [])
    tags = stream.metadata
    name = tags.get("title") or tags.get("filename")
    parts += ([f'"{name}"'] if name else []) + ([tags["language"]] if tags.get("language") else [])
    return f"stream #{stream.index} ({', '.join(parts)})"


def copy_tags(source, out, fmt: str, encoder: bool = True) -> None:
    """A stream's tags (title, language, ...) and dispositions (default, forced, comment, ...).
    `encoder`: keep the source's encoder tag, true only of packets copied as they are."""
    tags = _tags(source.metadata, encoder)
    if "name" in tags and "title" not in tags:
        tags["title"] = tags.pop("name")  # an MP4 track's title, as FFmpeg reads it
    if fmt in ("mp4", "mov") and "title" in tags and "handler_name" not in tags:
        tags["handler_name"] = tags["title"]  # what players show as an MP4 track's name
    out.metadata.update(tags)
    out.disposition = source.disposition


def _tags(metadata: dict, encoder: bool) -> dict:
    return {k: v for k, v in metadata.items()
            if k.lower() not in _SOURCE_ONLY and (encoder or k.lower() != "encoder")}


def copy_container(inp, out, fmt: str, ext: str, origin_s: float) -> list[str]:
    """The container's tags (title, ...) and chapters, on the picture's clock rebased to the copy's
    start; returns what was dropped."""
    out.metadata.update(_tags(inp.metadata, encoder=False))
    chapters = inp.chapters()
    if not chapters:
        return []
    if fmt in _NO_CHAPTERS:
        return [f"{len(chapters)} chapter{'s' if len(chapters) > 1 else ''}: {ext} cannot carry chapters"]
    out.set_chapters([_rebased(c, origin_s) for c in chapters])
    return []


def _rebased(chapter: dict, origin_s: float) -> dict:
    shift = round(Fraction(origin_s) / chapter["time_base"])
    start = max(0, chapter["start"] - shift)
    return {**chapter, "start": start, "end": max(start, chapter["end"] - shift)}


def add_streams(inp, out, vin, fmt: str, ext: str, subtitles: str) -> tuple[list[Side], list[str]]:
    """Output streams for the source's subtitles, data and attachments; and a reason for each of
    those, and of any other picture, that is not carried. Call before the output starts encoding."""
    held = carried(out)
    sides, dropped = [], []
    for s in inp.streams:
        if s.type == "audio" or s is vin:
            continue  # the sound and the picture: export.py's
        if s.discard == av.stream.Discard.all:
            continue  # hidden by the demuxer: an MP4 chapter track, read as the chapters
        if s.type == "subtitle":
            reason = _subtitle(out, s, held, fmt, ext, subtitles == "sound", sides)
        elif s.type == "data":
            reason = _data(out, s, vin, held, fmt, ext, sides)
        elif s.type == "attachment":
            reason = _attachment(out, s, fmt)
        elif s.type == "video":
            reason = "only the first picture track is copied"
        else:
            reason = f"{ext} cannot carry it"
        if reason:
            dropped.append(f"{describe(s)}: {reason}")
    return sides, dropped


def _subtitle(out, s, held, fmt: str, ext: str, by_sound: bool, sides: list[Side]) -> str | None:
    """Copy a subtitle track the target holds, or convert a text one to a text codec it holds;
    else say why not."""
    cc = s.codec_context
    name = cc.codec.canonical_name if cc is not None else None
    into = next((c for c in _TEXT_INTO if c in held), None)
    if name in held:
        o = out.add_stream_from_template(s, opaque=True)
        copy_tags(s, o, fmt)
        sides.append(Side(s, o, None, by_sound))
    elif name in _TEXT and into:
        cc.open()  # its ASS header (the styles) is where the encoder starts from
        o = out.add_stream(into)
        o.codec_context.subtitle_header = cc.subtitle_header
        copy_tags(s, o, fmt, encoder=False)
        sides.append(Side(s, o, cc, by_sound))
    elif into:
        return f"{ext} cannot carry {name or 'these'} subtitles"
    else:
        return f"{ext} cannot carry subtitles"
    return None


def _data(out, s, vin, held, fmt: str, ext: str, sides: list[Side]) -> str | None:
    """Copy a data track the target holds; else say why not. A timecode track is carried by the
    video's "timecode" tag, from which a MOV or MP4 muxer writes it again."""
    cc = s.codec_context
    if cc is not None and cc.codec.canonical_name in held:
        o = out.add_stream_from_template(s, opaque=True)
        copy_tags(s, o, fmt)
        sides.append(Side(s, o, None, False))
        return None
    if s.metadata.get("timecode") and s.metadata["timecode"] == vin.metadata.get("timecode"):
        return None
    return f"{ext} cannot carry this data track"


def _attachment(out, s, fmt: str) -> str | None:
    """Attach a file (a font for the subtitles, cover art) where the target can; else say why not."""
    if fmt not in _ATTACHMENTS:
        return "only .mkv carries attachments"
    out.add_attachment(s.metadata.get("filename") or f"attachment{s.index}",
                       s.mimetype or "application/octet-stream", s.data)
    return None


def sound_clock(drift) -> Callable[[float], float]:
    """Where the sound recorded at s (seconds from the first picture) plays in the synced copy: at
    the t with t + d(t) = s (the corrected sound at t is the recording at t + d(t), core.retime)."""
    if not isinstance(drift, DriftTrack):
        return lambda s: s - float(drift)

    def clock(s: float) -> float:
        t = s
        for _ in range(8):  # converges at once where the drift changes slowly against time
            t = s - float(drift.at(t)[0]) * FRAME_S
        return t
    return clock


def packets(src: str, sides: list[Side], origin_s: float, clock: Callable[[float], float]) -> list[av.Packet]:
    """The side streams' packets for the copy, in its time (0 at the first picture, cues timed by
    the sound moved with it), in time order. A cue whose sound was cut off with the start goes."""
    if not sides:
        return []
    by_index = {side.source.index: side for side in sides}
    out = []
    with av.open(src, "r", metadata_errors="ignore") as inp:
        for p in inp.demux([inp.streams[i] for i in by_index]):
            ts = p.pts if p.pts is not None else p.dts
            if not p.size or ts is None:
                continue
            side = by_index[p.stream.index]
            start = float(ts * p.time_base) - origin_s
            end = start + float((p.duration or 0) * p.time_base)
            if side.by_sound:
                start, end = clock(start), clock(end)
            if start < 0 and end <= 0:
                continue
            out += _stamped(side, p, max(start, 0.0), end)
    out.sort(key=lambda q: q.pts * q.time_base)
    return out


def _stamped(side: Side, p: av.Packet, start: float, end: float) -> list[av.Packet]:
    """The packet (or the converted ones) stamped at start..end seconds in the output's time base."""
    tb = side.out.time_base
    pts, duration = round(Fraction(start) / tb), max(0, round(Fraction(end - start) / tb))
    if side.decoder is None:
        made = [p]
    else:
        cues = side.decoder.decode2(p) or []
        made = [side.out.codec_context.encode_subtitle(SubtitleSet.create(cue.ass, 0, duration, pts))
                for cue in cues]
    for q in made:
        q.stream = side.out
        q.time_base = tb
        q.pts = q.dts = pts
        q.duration = duration
    return made
