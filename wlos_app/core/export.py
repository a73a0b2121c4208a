"""Write a copy of a video with its audio moved to undo a measured drift.

The picture is copied packet for packet (no re-encoding, so no quality loss and the video bytes
stay identical); only the audio is decoded, moved (core.retime: a whole number of samples for a
constant drift, resampled and crossfaded for a drift track) and re-encoded, every audio track
alike, because compressed audio cannot be cut at an arbitrary sample. Subtitles, data tracks,
attachments, chapters and tags go with them as far as the target can hold them
(core.export_streams). The file is written next to its target under a hidden temporary name and
renamed into place at the end, so a failed or cancelled export never leaves a half-written file
where the user expects the result.
"""
from __future__ import annotations

import heapq
import logging
import math
import os
from collections import Counter
from fractions import Fraction
from typing import Callable, Iterator, NamedTuple

import av
import numpy as np
from av.rational import AVRational

from ..errors import Cancelled, ExportError, MediaError, OutputError
from ..errors import reason as _reason
from . import export_streams, media, outputs, retime
from .drift_track import DriftTrack

log = logging.getLogger(__name__)


# Video codecs each container carries when the picture is copied as it is (None: any). Checked
# before anything is written; outside these, FFmpeg either fails late with "Invalid argument" or,
# worse, writes a file without its picture (H.264 into MPEG-PS). AVI is left to codecs without
# frame reordering: for MPEG-1/2 its readers stamp every frame after the first one frame late, and
# H.264 from MP4 would need its bitstream rewritten. FFmpeg writes AV1 to MP4 but not to MOV.
_MP4_VIDEO = frozenset({"h264", "hevc", "mpeg4", "mpeg1video", "mpeg2video", "av1", "vp9", "mjpeg"})
_MOV_VIDEO = frozenset({"h264", "hevc", "mpeg4", "mpeg1video", "mpeg2video", "mjpeg", "prores", "dnxhd",
                        "rawvideo", "png", "qtrle"})
_AVI_VIDEO = frozenset({"mjpeg", "rawvideo", "mpeg4", "msmpeg4v2", "msmpeg4v3", "huffyuv", "ffv1", "h263"})


class _Target(NamedTuple):
    format: str  # FFmpeg muxer
    codec: str  # audio encoder the muxer accepts and PyAV's FFmpeg ships
    video: frozenset | None  # video codecs it can hold as they are; None = any
    # Whether a player times the audio by its packet timestamps. Those say that the first
    # decoded samples are the encoder's priming (padding) and come before the first real one;
    # AVI drops them and plays the priming at time 0, which would make the audio late.
    timed_audio: bool = True


_TARGETS: dict[str, _Target] = {
    ".mp4": _Target("mp4", "aac", _MP4_VIDEO),
    ".m4v": _Target("mp4", "aac", _MP4_VIDEO),
    ".mov": _Target("mov", "aac", _MOV_VIDEO),
    ".mkv": _Target("matroska", "aac", None),
    ".webm": _Target("webm", "libopus", frozenset({"vp8", "vp9", "av1"})),
    ".avi": _Target("avi", "libmp3lame", _AVI_VIDEO, timed_audio=False),
    ".mpg": _Target("mpeg", "mp2", frozenset({"mpeg1video", "mpeg2video"})),
    ".mpeg": _Target("mpeg", "mp2", frozenset({"mpeg1video", "mpeg2video"})),
}


def containers_for(video_codec: str) -> list[str]:
    """The output extensions that can carry this video codec as it is."""
    return [ext for ext, t in _TARGETS.items() if t.video is None or video_codec in t.video]


def check_container(dst: str, video_codec: str) -> None:
    """Refuse, before writing anything, a container that cannot carry the source's picture."""
    target = _target(dst)
    if target.video is not None and video_codec not in target.video:
        ok = [e for e in containers_for(video_codec) if e != ".m4v"]
        raise ExportError(f"{os.path.splitext(dst)[1].lower()} cannot carry this clip's {video_codec} video "
                          f"without re-encoding it; export to {' or '.join(ok[:3])} instead")

_OPUS_RATE = 48000  # Opus encodes at 48 kHz only (or its integer divisions); use the full rate


def _encoder_rate(codec: str, rate: int) -> int:
    """The sample rate to encode at: the source's when the encoder takes it, else the lowest
    rate it takes above the source's (MP2 has no 8 kHz), else its highest."""
    if codec == "libopus":
        return _OPUS_RATE
    rates = sorted(av.Codec(codec, "w").audio_rates or [])
    if not rates or rate in rates:
        return rate
    return next((r for r in rates if r > rate), rates[-1])
_BLOCK = 1024  # samples per frame handed to an encoder that takes any frame size


def supported_extensions() -> list[str]:
    return sorted(_TARGETS)


class _Sound(NamedTuple):
    stream: int  # its index among the source's audio streams
    samples: np.ndarray  # (channels, n) float32, the drift undone
    rate: int  # a rate the encoder takes


def export_synced(src: str, dst: str, drift, force: bool = False,
                  progress: Callable[[float], None] | None = None,
                  cancel: Callable[[], bool] | None = None, audio: media.Audio | None = None,
                  audio_stream: int = 0, subtitles: str = "sound") -> dict:
    """Copy `src` to `dst` with the audio moved to undo `drift`.

    `drift` is as measured, positive when the audio lags the picture: a number of seconds (the
    audio moved that much earlier, later if negative), or a drift track (core.drift_track.DriftTrack, in
    analysis grid frames over seconds, as AnalysisResult.track), applied as core.retime does.
    Every audio stream is moved by it and re-encoded, keeping its length, rate and channels; the
    video packets are copied unchanged. `audio_stream` (counted among the audio streams) is the
    one the drift was measured on: `audio` is its sound as the analysis decoded it
    (AnalysisResult.audio), to spare a second decode, and a shift as long as that sound is refused.
    `subtitles`: "sound" when the cues were timed to the sound (they move with it), "picture" when
    to the picture (they stay). Subtitles, data tracks, attachments, chapters, tags and
    dispositions are kept where the target can hold them (core.export_streams); the result's
    "dropped" says, one line each, what it could not.

    Raises ExportError (or MediaError for an unreadable source) with a one-line message, and
    Cancelled when `cancel()` turns true; in every failure case `dst` is left as it was.
    """
    if subtitles not in export_streams.SUBTITLE_TIMINGS:
        raise ValueError(f"subtitles must be one of {export_streams.SUBTITLE_TIMINGS}, not {subtitles!r}")
    target, info = check_destination(src, dst, force)
    names = _audio_names(src)
    if not 0 <= audio_stream < len(names):
        raise ExportError(f"{src}: has no audio track {audio_stream} (it has {len(names)}, counted from 0)")
    if progress:
        progress(0.0)

    audio = audio if audio is not None else media.read_audio(src, info, audio_stream=audio_stream)
    _check_cancel(cancel)
    largest = retime.largest_s(drift, audio.duration_s)
    if not math.isfinite(largest) or largest >= audio.duration_s:
        raise ExportError(f"{src}: a shift of {largest * 1000:.0f} ms is at least as long as the audio "
                          f"({audio.duration_s:.2f} s): nothing of the sound would be left")
    sounds, dropped = _sounds(src, info, drift, target.codec, names, audio, audio_stream, cancel)
    rate0, audio = audio.rate, None  # the moved copies are what is written: the decoded sound can go

    try:
        # O_EXCL: never clobber a file of the same name; the mode goes through the umask like any
        # new file (a mkstemp file would still be 0600 after the rename).
        tmp = outputs.temporary_beside(dst)
    except OSError as exc:
        raise ExportError(f"{os.path.dirname(os.path.abspath(dst))}: cannot create a file there "
                          f"({_reason(exc)})") from None
    try:
        written = _write(src, tmp, target, sounds, drift, subtitles, info, progress, cancel)
        _check_written(tmp, dst, written)
        os.replace(tmp, dst)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, (av.error.FFmpegError, ValueError, OSError)):
            raise ExportError(f"{dst}: could not write the synced file ({_reason(exc)})") from None
        raise
    if progress:
        progress(1.0)
    dropped += written.dropped
    for reason in dropped:
        log.warning("%s: not carried: %s", dst, reason)
    model = drift.model if isinstance(drift, DriftTrack) else "constant"
    log.info("exported %s: %s drift undone (up to %.3f s), %d video packets copied", dst, model, largest,
             written.video_packets)
    out = {"path": dst, "track_model": model, "audio_codec": target.codec, "video_packets": written.video_packets,
           "audio_streams": written.streams.get("audio", 0), "subtitle_streams": written.streams.get("subtitle", 0),
           "dropped": dropped}
    if not isinstance(drift, DriftTrack):
        out.update(offset_s=float(drift), audio_samples_shifted=int(round(float(drift) * rate0)))
    return out


def _audio_names(src: str) -> list[str]:
    """Each audio stream of the source, named for a message."""
    with av.open(src, "r", metadata_errors="ignore") as c:
        return [export_streams.describe(s) for s in c.streams.audio]


def _sounds(src: str, info: media.MediaInfo, drift, codec: str, names: list[str], analysed: media.Audio,
            index: int, cancel) -> tuple[list[_Sound], list[str]]:
    """Every audio stream's sound with the drift undone (`analysed` is stream `index`'s, already
    decoded); and why any other one is left out (it does not decode, or has too many channels)."""
    sounds, dropped = [], []
    for k, name in enumerate(names):
        try:
            sound = analysed if k == index else media.read_audio(src, info, audio_stream=k)
            sounds.append(_prepared(k, sound, drift, codec))
        except (MediaError, ExportError) as exc:
            if k == index:
                raise
            dropped.append(f"{name}: {_reason(exc)}")
        _check_cancel(cancel)
    return sounds, dropped


def _prepared(k: int, sound: media.Audio, drift, codec: str) -> _Sound:
    """The sound with the drift undone (core.retime), at a rate the encoder takes."""
    _layout(sound.samples.shape[0])  # more channels than can be encoded: refused before the work
    shifted = retime.corrected(sound.samples, sound.rate, drift)
    rate = _encoder_rate(codec, sound.rate)
    if rate != sound.rate:
        import soxr
        shifted = np.ascontiguousarray(soxr.resample(shifted.T, sound.rate, rate).T, np.float32)
    return _Sound(k, shifted, rate)


def _target(dst: str) -> _Target:
    ext = os.path.splitext(dst)[1].lower()
    if ext not in _TARGETS:
        raise ExportError(f"{dst}: cannot write {ext or 'a file without extension'}; "
                          f"supported: {', '.join(supported_extensions())}")
    return _TARGETS[ext]


def _check_cancel(cancel: Callable[[], bool] | None) -> None:
    if cancel and cancel():
        raise Cancelled("export cancelled")


def check_destination(src: str, dst: str, force: bool = False) -> tuple[_Target, media.MediaInfo]:
    """Everything export_synced checks before it writes: the source (a video with sound), the
    target (not the source, not a folder, not an existing file without `force`, in an existing
    folder: core.outputs' rule) and whether the target's container can carry the source's picture.
    A caller with work to do first (the command line analyses) calls it before that work, so a
    refusal never comes after minutes of analysis."""
    media.check_file(src)  # missing, a folder, unreadable, empty: the same words as analyze
    # realpath catches symlinks and relative spellings; samefile also catches hard links.
    if os.path.realpath(src) == os.path.realpath(dst) or (
            os.path.exists(dst) and os.path.samefile(src, dst)):
        raise ExportError(f"{dst}: is the source file; choose another name, the source is never "
                          f"overwritten")
    if os.path.isdir(dst):
        raise ExportError(f"{dst}: is a folder; -o takes the file to write, e.g. "
                          f"{os.path.join(dst, os.path.basename(os.path.splitext(src)[0]) + '.synced.mp4')}")
    target = _target(dst)
    if os.path.exists(dst) and not force:
        raise ExportError(f"{dst}: exists; use --force to replace it")
    try:
        outputs.check_folder(dst)
    except OutputError as exc:  # export's callers catch ExportError
        raise ExportError(str(exc)) from None
    info = media.probe(src)
    if info.video is None:
        raise ExportError(f"{src}: has no video stream; there is no picture to sync the audio to")
    if info.audio is None:
        raise ExportError(f"{src}: has no audio stream; there is nothing to shift")
    check_container(dst, info.video.codec)
    if target.format not in ("mp4", "mov") and _hidden_preroll(src):
        raise ExportError(f"{src}: its video starts with frames an MP4 edit list hides (they are needed to decode "
                          f"the first picture); {os.path.splitext(dst)[1].lower()} cannot hide them and would "
                          f"show them without sound: export to .mp4 or .mov")
    return target, info


class _Written(NamedTuple):
    video_packets: int
    streams: dict[str, int]  # streams given packets (or attached), by type
    dropped: list[str]  # streams and chapters the container could not take


def _write(src: str, tmp: str, target: _Target, sounds: list[_Sound], drift, subtitles: str,
           info: media.MediaInfo, progress, cancel) -> _Written:
    """Mux the copied video, the re-encoded sounds and what else the target can carry into tmp."""
    ext = os.path.splitext(tmp)[1].lower()
    with av.open(src, "r", metadata_errors="ignore") as inp, \
            av.open(tmp, "w", format=target.format) as out:
        vin = inp.streams.video[0]
        vout = _add_video(out, vin, target)
        aouts = [_add_audio(out, inp.streams.audio[s.stream], s, target) for s in sounds]
        sides, dropped = export_streams.add_streams(inp, out, vin, target.format, ext, subtitles)
        start_s = float(Fraction(vin.start_time or 0) * vin.time_base)
        dropped += export_streams.copy_container(inp, out, target.format, ext, start_s)
        out.start_encoding()  # opens the encoders (frame size) and fixes each stream's time base

        # The output starts at 0 with the first picture, as the ffmpeg command line does: an mp4
        # would otherwise record the source's start offset in an edit list rounded to 1 ms, per
        # track. Sample 0 of the decoded audio sits at the video's start, so it gets pts 0 too,
        # and the other streams move with it.
        v0 = round(Fraction(vin.start_time or 0) * vin.time_base / vout.time_base)
        side = export_streams.packets(src, sides, float(v0 * vout.time_base), export_streams.sound_clock(drift))
        others = heapq.merge(*(_sound_packets(a, s.samples, target) for a, s in zip(aouts, sounds)),
                             side, key=_time)
        muxed = _mux(out, inp, vin, vout, v0, others, info.duration_s, progress, cancel)
        _check_cancel(cancel)
        given = [s for s in out.streams if muxed[s.index] or s.type == "attachment"]
    if not muxed[vout.index]:
        raise ExportError(f"{src}: the video stream holds no packets")
    return _Written(muxed[vout.index], dict(Counter(s.type for s in given)), dropped)


def _add_video(out, vin, target: _Target):
    """The output stream for the picture's packets as they are, with the source's tags."""
    try:
        # opaque: the packets are copied, so no encoder is looked up (AV1's decoder, libdav1d,
        # has none of that name).
        vout = out.add_stream_from_template(vin, opaque=True)
    except ValueError:
        raise ExportError(f"{target.format} cannot hold {vin.codec_context.codec.canonical_name} video as it "
                          f"is; export to .mkv instead") from None
    if not target.timed_audio:
        # AVI times every frame by its position, one per tick: the tick must be the frame
        # period, or a finer clock is filled with empty frames that players mistime.
        fps = vin.average_rate or vin.guessed_rate
        if not fps:
            raise ExportError("the video's frame rate is unknown and AVI needs one; "
                              "export to .mkv instead")
        vout.time_base = 1 / fps
    export_streams.copy_tags(vin, vout, target.format)
    return vout


def _add_audio(out, ain, sound: _Sound, target: _Target):
    """The output stream for one re-encoded sound, with its source stream's tags."""
    aout = out.add_stream(target.codec, rate=sound.rate, layout=_layout(sound.samples.shape[0]))
    aout.time_base = Fraction(1, sound.rate)
    export_streams.copy_tags(ain, aout, target.format, encoder=False)
    return aout


def _sound_packets(aout, audio: np.ndarray, target: _Target) -> Iterator[av.Packet]:
    """The sound encoded so that its sample 0 plays with the first picture (pts 0)."""
    pts0 = 0
    priming = _priming(aout.codec_context, audio.shape[0])
    if not target.timed_audio:
        # The priming will play first: start the input that much later so the real samples
        # land where they belong (losing the first `priming` samples, a few ms). Stamped
        # accordingly, the first packet starts with the video instead of before it.
        audio = np.pad(audio[:, priming:], ((0, 0), (0, min(priming, audio.shape[1]))))
        pts0 = priming
    if not aout.codec_context.codec.delay:
        # An encoder that cannot be flushed keeps its last `priming` samples; push them out.
        audio = np.pad(audio, ((0, 0), (0, priming)))
    return _encode(aout, audio, pts0)


def _mux(out, inp, vin, vout, v0: int, others: Iterator[av.Packet], duration_s: float,
         progress, cancel) -> Counter:
    """Mux every video packet and, interleaved by time, the other packets; returns how many
    packets each output stream was given."""
    muxed = Counter()

    def put(packet):
        out.mux(packet)
        muxed[packet.stream_index] += 1

    tb = vout.time_base
    rate = vin.average_rate or vin.guessed_rate
    period = max(1, round(1 / (rate * tb))) if rate else 1  # one frame in output ticks
    pending = next(others, None)
    for packet in _monotonic(_video_packets(inp, vin, tb, v0, period)):
        _check_cancel(cancel)
        t = _time(packet)
        # Interleave: what is due before this picture goes first, so the muxer need not buffer
        # a whole stream.
        while pending is not None and _time(pending) <= t:
            put(pending)
            pending = next(others, None)
        packet.stream = vout
        put(packet)
        if progress and muxed[vout.index] % 25 == 0:
            progress(min(0.99, max(0.0, t / max(duration_s, 1e-3))))
    while pending is not None:
        put(pending)
        pending = next(others, None)
    return muxed


def _check_written(path: str, dst: str, written: _Written) -> None:
    """Read the written file back before it takes the target's name: a muxer can log an error and
    leave a file without its index instead of failing (MP4 from AV1 packets it cannot parse), or
    leave a stream out."""
    try:
        with av.open(path, "r") as c:
            found = Counter(s.type for s in c.streams)
            n = sum(1 for p in c.demux(c.streams.video[0]) if p.size) if c.streams.video else 0
    except av.error.FFmpegError as exc:
        raise ExportError(f"{dst}: could not write the synced file (it does not read back: {_reason(exc)}; "
                          f"the source may be damaged)") from None
    lost = [kind for kind, count in written.streams.items() if found[kind] < count]
    if lost:
        raise ExportError(f"{dst}: could not write the synced file (a {lost[0]} stream was lost)")
    if n != written.video_packets:
        raise ExportError(f"{dst}: could not write the synced file (it holds {n} of {written.video_packets} "
                          f"video packets; the source may be damaged)")


def _hidden_preroll(src: str) -> bool:
    """Whether the first video packets come before the stream's start (an edit list hides them)."""
    with av.open(src, "r", metadata_errors="ignore") as inp:
        vin = inp.streams.video[0]
        for packet in inp.demux(vin):
            if packet.pts is None:
                continue
            return packet.pts < (vin.start_time or 0)
    return False


def _video_packets(inp, vin, tb, v0: int, period: int) -> Iterator[av.Packet]:
    """Every packet of the source's video stream, in order, in the output time base starting at 0,
    each with a duration (MPEG-PS leaves it 0, and an mp4 then ends a frame early).

    Matroska stores no decode times: with B-frames the demuxer gives the first packets a pts but
    no dts (it derives dts from the pts of packets it has not seen yet). They are real pictures,
    the first keyframe among them. Packets without a dts, there or after damage, are held until a
    packet with one comes and then given decode times before it (_fill). Only an empty packet (the
    demuxer's flush) is dropped.
    """
    waiting: list[av.Packet] = []  # packets without a dts, since the last one with
    last = None  # the last dts given out
    for packet in inp.demux(vin):
        if packet.size == 0:
            continue
        packet.rescale_ts(AVRational(tb))  # leaves missing stamps missing
        if packet.pts is not None:
            packet.pts -= v0
        if packet.dts is not None:
            packet.dts -= v0
        if not packet.duration:
            packet.duration = period
        if packet.dts is None:
            waiting.append(packet)
            continue
        if waiting:
            yield from _fill(waiting, last, packet.dts, period)
            waiting = []
        last = packet.dts
        yield packet
    if waiting:
        if last is None:  # no packet had a dts: a stream shorter than the decoder's reorder delay
            known = [p.pts for p in waiting if p.pts is not None]
            yield from _fill(waiting, None, (min(known) if known else 0) + period, period)
        else:
            yield from _fill(waiting, last, None, period)


def _fill(packets: list[av.Packet], after: int | None, before: int | None, period: int) -> list[av.Packet]:
    """Decode times for packets that had none, after the dts `after` (None at the start) and before
    `before` (None at the end): a frame apart, closer where a frame apart does not fit, and never
    after a packet's own pts (a pts that cannot follow the packet before it is dropped instead)."""
    n = len(packets)
    if after is None:
        step, start = period, before - n * period
    elif before is None:
        step, start = period, after + period
    else:
        step = min(period, (before - after) / (n + 1))
        start = after + step
    prev = after
    for i, p in enumerate(packets):
        dts = int(round(start + i * step))
        if prev is not None:
            dts = max(dts, prev + 1)  # ties left by a crowded gap are settled by _monotonic
        if p.pts is not None and p.pts < dts:
            if prev is None or p.pts > prev:
                dts = p.pts
            else:
                p.pts = None
        p.dts = prev = dts
    return packets


def _monotonic(packets: Iterator[av.Packet], look: int = 8) -> Iterator[av.Packet]:
    """Strictly increasing dts, as every muxer wants. MPEG-PS demuxing gives the first two frames
    the same dts (the first is guessed from its pts); the decode-order timeline really starts a
    frame earlier, so the earlier packets are moved back (never a later one forward, which would
    delay every frame after it by a tick; in AVI a tick is a whole frame). The first `look`
    packets are held to do that; later ties (damaged streams) move forward by one tick."""
    held: list[av.Packet] = []
    last = None
    for p in packets:
        if len(held) < look:
            held.append(p)
            continue
        if held:
            yield from _settle(held)
            last = held[-1].dts
            held = []
        if last is not None and p.dts <= last:
            p.dts = last + 1
        last = p.dts
        yield p
    yield from _settle(held)


def _settle(held: list[av.Packet]) -> list[av.Packet]:
    """Move earlier packets' dts back until they increase strictly (a frame per step)."""
    for i in range(len(held) - 2, -1, -1):
        if held[i].dts >= held[i + 1].dts:
            held[i].dts = held[i + 1].dts - (held[i + 1].duration or 1)
    return held


def _priming(cc, channels: int) -> int:
    """Samples of padding the encoder emits before the first input sample.

    FFmpeg stamps the first packet that far before the first frame; encode silence on a scratch
    encoder of the same kind to read it off, since PyAV does not expose initial_padding.
    """
    scratch = av.CodecContext.create(cc.name, "w")
    scratch.sample_rate = cc.sample_rate
    scratch.layout = cc.layout
    scratch.format = cc.format
    scratch.time_base = Fraction(1, cc.sample_rate)
    block = cc.frame_size or _BLOCK
    silence = np.zeros((channels, block), np.float32)
    for i in range(8):  # encoders hold back a frame or a few before the first packet
        packets = scratch.encode(_frame(silence, cc.layout, cc.sample_rate, i * block))
        if packets:
            break
    else:
        packets = scratch.encode(None)
    first = packets[0].pts if packets else None
    return max(0, -first) if first is not None else 0


def _encode(stream, audio: np.ndarray, pts0: int) -> Iterator[av.Packet]:
    """Encode (channels, n) float audio in encoder-sized frames starting at pts0, then flush."""
    cc = stream.codec_context
    block = cc.frame_size or _BLOCK
    for start in range(0, audio.shape[1], block):
        # PyAV converts fltp to the encoder's sample format (s16 for mp2) on the way in.
        yield from stream.encode(_frame(audio[:, start:start + block], cc.layout, cc.sample_rate,
                                        pts0 + start))
    yield from stream.encode(None)


def _frame(samples: np.ndarray, layout, rate: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32), format="fltp",
                                       layout=layout)
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = pts
    return frame


def _time(packet: av.Packet) -> float:
    ts = packet.pts if packet.pts is not None else packet.dts
    return float(ts * packet.time_base)


# FFmpeg's default layout for each channel count (what `ffmpeg -ac N` picks).
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _layout(channels: int) -> str:
    if channels not in _LAYOUTS:
        raise ExportError(f"the audio has {channels} channels; at most 8 can be exported")
    return _LAYOUTS[channels]


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the temporary file %s: %s", path, exc)
