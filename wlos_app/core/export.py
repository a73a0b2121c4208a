"""Write a copy of a video with its audio moved to undo a measured drift.

The picture is copied packet for packet (no re-encoding, so no quality loss and the video bytes
stay identical); only the audio is decoded, shifted by a whole number of samples and re-encoded,
because compressed audio cannot be cut at an arbitrary sample. The file is written next to its
target under a hidden temporary name and renamed into place at the end, so a failed or cancelled
export never leaves a half-written file where the user expects the result.
"""
from __future__ import annotations

import logging
import os
import secrets
from fractions import Fraction
from typing import Callable, Iterator, NamedTuple

import av
import numpy as np
from av.rational import AVRational

from ..errors import Cancelled, ExportError, MediaError
from ..errors import reason as _reason
from . import media

log = logging.getLogger(__name__)


class _Target(NamedTuple):
    format: str  # FFmpeg muxer
    codec: str  # audio encoder the muxer accepts and PyAV's FFmpeg ships
    # Whether a player times the audio by its packet timestamps. Those say that the first
    # decoded samples are the encoder's priming (padding) and come before the first real one;
    # AVI drops them and plays the priming at time 0, which would make the audio late.
    timed_audio: bool = True


_TARGETS: dict[str, _Target] = {
    ".mp4": _Target("mp4", "aac"),
    ".m4v": _Target("mp4", "aac"),
    ".mov": _Target("mov", "aac"),
    ".mkv": _Target("matroska", "aac"),
    ".webm": _Target("webm", "libopus"),
    ".avi": _Target("avi", "libmp3lame", timed_audio=False),
    ".mpg": _Target("mpeg", "mp2"),
    ".mpeg": _Target("mpeg", "mp2"),
}

_OPUS_RATE = 48000  # Opus encodes at 48 kHz only (or its integer divisions); use the full rate
_BLOCK = 1024  # samples per frame handed to an encoder that takes any frame size


def supported_extensions() -> list[str]:
    return sorted(_TARGETS)


def export_synced(src: str, dst: str, offset_s: float, force: bool = False,
                  progress: Callable[[float], None] | None = None,
                  cancel: Callable[[], bool] | None = None) -> dict:
    """Copy `src` to `dst` with the audio moved earlier by `offset_s` seconds (later if negative).

    `offset_s` is the drift as measured: positive means the audio lags the picture. The output
    audio keeps the source's length, rate and channels; the video packets are copied unchanged.
    Raises ExportError (or MediaError for an unreadable source) with a one-line message, and
    Cancelled when `cancel()` turns true; in every failure case `dst` is left as it was.
    """
    target = _target(dst)
    _check_paths(src, dst, force)
    info = media.probe(src)
    if info.video is None:
        raise ExportError(f"{src}: has no video stream; there is no picture to sync the audio to")
    if info.audio is None:
        raise ExportError(f"{src}: has no audio stream; there is nothing to shift")
    if progress:
        progress(0.0)

    audio = media.read_audio(src, info)
    _check_cancel(cancel)
    shifted, k = _shift(audio.samples, offset_s, audio.rate)
    rate = audio.rate
    if target.codec == "libopus" and rate != _OPUS_RATE:
        import soxr
        shifted = np.ascontiguousarray(soxr.resample(shifted.T, rate, _OPUS_RATE).T, np.float32)
        rate = _OPUS_RATE

    folder = os.path.dirname(os.path.abspath(dst))
    stem, ext = os.path.splitext(os.path.basename(dst))
    tmp = os.path.join(folder, f".{stem}.partial-{secrets.token_hex(4)}{ext}")
    try:
        # O_EXCL: never clobber a file of the same name; the mode goes through the umask like any
        # new file (a mkstemp file would still be 0600 after the rename).
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise ExportError(f"{folder}: cannot create a file there ({_reason(exc)})") from None
    try:
        n_video = _write(src, tmp, target, shifted, rate, info, progress, cancel)
        os.replace(tmp, dst)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, (av.error.FFmpegError, ValueError, OSError)):
            raise ExportError(f"{dst}: could not write the synced file ({_reason(exc)})") from None
        raise
    if progress:
        progress(1.0)
    log.info("exported %s: audio moved %+.3f s (%d samples), %d video packets copied",
             dst, -offset_s, k, n_video)
    return {"path": dst, "offset_s": offset_s, "audio_codec": target.codec,
            "video_packets": n_video, "audio_samples_shifted": k}


def _target(dst: str) -> _Target:
    ext = os.path.splitext(dst)[1].lower()
    if ext not in _TARGETS:
        raise ExportError(f"{dst}: cannot write {ext or 'a file without extension'}; "
                          f"supported: {', '.join(supported_extensions())}")
    return _TARGETS[ext]


def _check_cancel(cancel: Callable[[], bool] | None) -> None:
    if cancel and cancel():
        raise Cancelled("export cancelled")


def _check_paths(src: str, dst: str, force: bool) -> None:
    if not os.path.isfile(src):
        raise MediaError(f"{src}: no such file")
    # realpath catches symlinks and relative spellings; samefile also catches hard links.
    if os.path.realpath(src) == os.path.realpath(dst) or (
            os.path.exists(dst) and os.path.samefile(src, dst)):
        raise ExportError(f"{dst}: is the source file; choose another name, the source is never "
                          f"overwritten")
    if os.path.isdir(dst):
        raise ExportError(f"{dst}: is a folder")
    if os.path.exists(dst) and not force:
        raise ExportError(f"{dst}: exists; use --force to replace it")
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        raise ExportError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"{folder}: output folder is not writable")


def _shift(samples: np.ndarray, offset_s: float, rate: int) -> tuple[np.ndarray, int]:
    """Move audio earlier by offset_s (later if negative), keeping its length; returns (audio, k)."""
    n = samples.shape[1]
    k = int(round(offset_s * rate))
    out = np.zeros_like(samples)
    m = max(n - abs(k), 0)  # samples that survive the shift
    if k >= 0:
        out[:, :m] = samples[:, n - m:]
    else:
        out[:, n - m:] = samples[:, :m]
    return out, k


def _write(src: str, tmp: str, target: _Target, audio: np.ndarray, rate: int,
           info: media.MediaInfo, progress, cancel) -> int:
    """Mux the copied video and the re-encoded audio into tmp; returns the video packet count."""
    with av.open(src, "r", metadata_errors="ignore") as inp, \
            av.open(tmp, "w", format=target.format) as out:
        vin = inp.streams.video[0]
        try:
            vout = out.add_stream_from_template(vin)
        except ValueError:
            raise ExportError(f"{target.format} cannot hold {vin.codec_context.name} video, "
                              f"which is copied without re-encoding; export to .mkv instead"
                              ) from None
        if not target.timed_audio:
            # AVI times every frame by its position, one per tick: the tick must be the frame
            # period, or a finer clock is filled with empty frames that players mistime.
            fps = vin.average_rate or vin.guessed_rate
            if not fps:
                raise ExportError("the video's frame rate is unknown and AVI needs one; "
                                  "export to .mkv instead")
            vout.time_base = 1 / fps
        aout = out.add_stream(target.codec, rate=rate, layout=_layout(audio.shape[0]))
        aout.time_base = Fraction(1, rate)
        out.start_encoding()  # opens the encoder (frame size) and fixes each stream's time base

        # The output starts at 0 with the first picture, as the ffmpeg command line does: an mp4
        # would otherwise record the source's start offset in an edit list rounded to 1 ms, per
        # track. Sample 0 of the decoded audio sits at the video's start, so it gets pts 0 too.
        tb = vout.time_base
        v0 = round(Fraction(vin.start_time or 0) * vin.time_base / tb)
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

        audio_packets = _encode(aout, audio, pts0)
        pending = next(audio_packets, None)
        duration = max(info.duration_s, 1e-3)
        last_dts = None
        n = 0
        for packet in inp.demux(vin):
            if packet.dts is None:  # demuxer flush packet, no data
                continue
            _check_cancel(cancel)
            packet.rescale_ts(AVRational(tb))
            packet.dts -= v0
            if packet.pts is not None:
                packet.pts -= v0
            # MPEG-PS demuxing gives the first two frames the same dts (the first frame's dts is
            # guessed from its pts); strict muxers such as mp4 reject that. Nudge it by one tick,
            # as the ffmpeg command line does; the packet data is untouched.
            if last_dts is not None and packet.dts <= last_dts:
                packet.dts = last_dts + 1
            last_dts = packet.dts
            t = _time(packet)
            # Interleave: audio due before this picture goes first, so the muxer need not
            # buffer a whole stream.
            while pending is not None and _time(pending) <= t:
                out.mux(pending)
                pending = next(audio_packets, None)
            packet.stream = vout
            out.mux(packet)
            n += 1
            if progress and n % 25 == 0:
                progress(min(0.99, max(0.0, t / duration)))
        while pending is not None:
            out.mux(pending)
            pending = next(audio_packets, None)
        _check_cancel(cancel)
    if n == 0:
        raise ExportError(f"{src}: the video stream holds no packets")
    return n


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


def _layout(channels: int) -> str | av.AudioLayout:
    return {1: "mono", 2: "stereo"}.get(channels) or av.AudioLayout(channels)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove the temporary file %s: %s", path, exc)
