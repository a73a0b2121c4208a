"""Decoding: video frames and audio samples, each placed on one timeline by its timestamps.

Time 0 is the start of the video stream. Audio is placed at its own timestamps on that timeline,
so a container whose audio stream starts 0.2 s after its video yields audio that is 0.2 s late:
that is what a player does, and what the user wants found. A packet that fails to decode leaves a
gap (silence, or a held frame) instead of shifting everything after it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Iterator

import av
import numpy as np

from ..errors import MediaError
from ..errors import reason as _reason
from .grid import FPS, FRAME_S

ANALYSIS_SR = 16000

# Consecutive audio frames whose timestamps disagree with the running sample count by less than
# this are laid end to end: container timestamps are rounded (mp2 in a 90 kHz time base drifts by
# a fraction of a sample per frame) and snapping avoids clicks. Larger jumps are real gaps.
_SNAP_S = 0.002


@dataclass
class VideoInfo:
    codec: str  # the format's name (av1), not the decoder's (libdav1d)
    width: int
    height: int
    fps: float  # average frame rate; a variable-rate clip reports its mean
    start_s: float  # stream start on the container's clock
    frames: int  # from the header; 0 when the container does not say


@dataclass
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    start_s: float  # stream start on the container's clock


@dataclass
class MediaInfo:
    path: str
    format: str
    duration_s: float
    video: VideoInfo | None
    audio: AudioInfo | None
    # A window of the clip (core.sparse): seconds from the video's start. Its decoders seek to it,
    # call its start 0 and stop after its end; duration_s is then the window's length.
    window_start_s: float = 0.0
    windowed: bool = False

    @property
    def origin_s(self) -> float:
        """Container time that the analysis calls 0: the start of the video stream (or of the window)."""
        return (self.video.start_s if self.video else 0.0) + self.window_start_s

    def window(self, start_s: float, end_s: float) -> MediaInfo:
        """The stretch start_s..end_s (s from the video's start) as a clip of its own."""
        return replace(self, duration_s=max(0.0, end_s - start_s), window_start_s=start_s, windowed=True)

    @property
    def audio_delay_s(self) -> float:
        """How much later the audio stream starts than the video stream, per the container."""
        if not (self.video and self.audio):
            return 0.0
        return self.audio.start_s - self.video.start_s


@dataclass
class Frame:
    index: int  # decode index within the stream, after dropped packets
    t: float  # seconds from the analysis origin
    image: np.ndarray


@dataclass
class DecodeReport:
    """What went wrong while decoding, kept so callers can warn instead of failing."""

    bad_packets: int = 0
    truncated: bool = False
    messages: list[str] = field(default_factory=list)


def check_file(path: str) -> None:
    """Raise MediaError with a plain reason when `path` cannot be a readable media file."""
    if not os.path.exists(path):
        raise MediaError(f"{path}: no such file")
    if os.path.isdir(path):
        raise MediaError(f"{path}: is a folder, not a video file")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{path}: permission denied")
    if os.path.getsize(path) == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")


def _open(path: str) -> av.container.InputContainer:
    check_file(path)
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable video file ({_reason(exc)})") from None
    except (UnicodeDecodeError, ValueError, OSError) as exc:
        raise MediaError(f"{path}: not a readable video file ({exc})") from None


def _start_s(stream) -> float:
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def probe(path: str) -> MediaInfo:
    """Read the container's header. Raises MediaError for anything that is not a media file."""
    with _open(path) as c:
        vinfo = ainfo = None
        for kind, streams in (("video", c.streams.video), ("audio", c.streams.audio)):
            if streams and streams[0].codec_context is None:  # a damaged header, or a codec FFmpeg lacks
                raise MediaError(f"{path}: its {kind} stream cannot be decoded (damaged, or an unknown codec)")
        if _is_still_image(c):
            codec = c.streams.video[0].codec_context.codec.name if c.streams.video else "picture"
            kind = {"mjpeg": "JPEG"}.get(codec, codec.upper())
            raise MediaError(f"{path}: is a still image ({kind}), not a video")
        if c.streams.video:
            vs = c.streams.video[0]
            cc = vs.codec_context
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            fps = float(rate) if rate else 0.0
            vinfo = VideoInfo(cc.codec.canonical_name, cc.width, cc.height, fps, _start_s(vs), vs.frames or 0)
        if c.streams.audio:
            a = c.streams.audio[0]
            cc = a.codec_context
            ainfo = AudioInfo(cc.codec.canonical_name, cc.sample_rate or a.rate or 0, cc.channels or 1, _start_s(a))
        duration = float(c.duration) / av.time_base if c.duration else 0.0
        return MediaInfo(path, c.format.name, duration, vinfo, ainfo)


def _seek(c, stream, info: MediaInfo) -> None:
    """For a window: jump to the last keyframe at least a second before it (the decoder needs the
    frames from a keyframe on; the second is for sound frames that begin before the window)."""
    if not info.windowed or info.window_start_s <= 1.0:
        return
    target = info.origin_s - 1.0
    c.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)


def _is_still_image(c) -> bool:
    """FFmpeg reads a PNG or JPEG file as a one-frame video through its image demuxers."""
    name = c.format.name
    return not c.streams.audio and (name == "image2" or name.endswith("_pipe"))


def _decode_stream(c, stream, report: DecodeReport):
    """Decode one stream packet by packet; a bad packet is counted and skipped, not fatal."""
    demux = c.demux(stream)
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:  # the demuxer itself gave up: a truncated file
            report.truncated = True
            report.messages.append(f"demuxing stopped early: {_reason(exc)}")
            break
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            report.bad_packets += 1
            if report.bad_packets <= 3:
                report.messages.append(f"skipped a bad {stream.type} packet: {_reason(exc)}")
            continue
        yield from frames


# FFmpeg's frame threads decode ahead on the other core while the face stage holds Python's lock
# (dlib): a 60 s 720x576 H.264 clip's decode stage takes 0.6-0.7 s instead of 1.3, with the same
# frames (docs/performance.md). MPEG-1 (GRID) has no frame threading and is unchanged.
DECODE_THREADS = "AUTO"


def iter_video_frames(path: str, fmt: str = "gray", report: DecodeReport | None = None,
                      info: MediaInfo | None = None) -> Iterator[Frame]:
    """Yield the video frames in presentation order, each with its time from the origin."""
    report = report if report is not None else DecodeReport()
    info = info or probe(path)
    if info.video is None:
        raise MediaError(f"{path}: has no video stream")
    origin = info.origin_s
    period = 1.0 / info.video.fps if info.video.fps > 0 else FRAME_S
    with _open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = DECODE_THREADS
        _seek(c, vs, info)
        last_t = None
        n = 0
        for frame in _decode_stream(c, vs, report):
            # Frames without a timestamp follow the previous one by one nominal period.
            t = frame.time - origin if frame.pts is not None else (
                (last_t + period) if last_t is not None else 0.0)
            if last_t is not None and t <= last_t - 1e-6:
                continue  # out-of-order duplicate after a damaged GOP: keep time monotonic
            if info.windowed and (t < -FRAME_S or t > info.duration_s + FRAME_S):
                if t > 0:
                    break  # past the window
                continue  # between the keyframe sought and the window's start
            last_t = t
            img = _gray(frame) if fmt == "gray" else np.ascontiguousarray(frame.to_ndarray(format=fmt))
            yield Frame(n, t, upright(img, frame))
            n += 1


def upright(img: np.ndarray, frame: av.VideoFrame) -> np.ndarray:
    """The picture as a player shows it: phones store video sideways with a display-matrix
    rotation, and the face stage needs faces upright (dlib finds none lying on their side)."""
    quarter = int(round((frame.rotation or 0) / 90.0)) % 4
    return img if quarter == 0 else np.ascontiguousarray(np.rot90(img, quarter))


def _gray(frame: av.VideoFrame) -> np.ndarray:
    """Grayscale uint8 image. For 8-bit YUV the luma plane is the picture: copying it is several
    times faster than a colour conversion (the whole decode of a GRID clip drops from ~70 to ~20 ms)."""
    name = frame.format.name
    if name.startswith("yuv") and not name.endswith(("le", "be")) and frame.planes:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        return rows[:frame.height, :frame.width].copy()
    return np.ascontiguousarray(frame.to_ndarray(format="gray"))


def sample_on_grid(frames: Iterator[Frame], fps: float = FPS) -> Iterator[tuple[int, Frame]]:
    """Resample a frame stream to a fixed rate by timestamp: grid time k/fps takes the nearest frame.

    A 30 fps clip drops one frame in six, a 50 fps clip every other one, a variable-rate clip gets
    frames where they were shown; a gap from a lost packet holds the last good frame.
    """
    k = 0
    prev: Frame | None = None
    period = 1.0 / fps  # the source's frame period, from its last two frames
    for cur in frames:
        if prev is None:
            if cur.t > 0.5 / fps:  # video starts late: nothing to show before it, start there
                k = int(np.ceil(cur.t * fps - 0.5))
            prev = cur
            continue
        mid = 0.5 * (prev.t + cur.t)
        while k / fps < mid:
            yield k, prev
            k += 1
        period = cur.t - prev.t
        prev = cur
    if prev is not None:
        # The last frame is shown for one source period: the clip lasts until last.t + period.
        while k / fps < prev.t + period - 1e-6:
            yield k, prev
            k += 1


def _to_float_planar(frame: av.AudioFrame) -> np.ndarray | None:
    """(channels, samples) float32 in [-1, 1] from any PCM sample format; None for a frame whose
    buffers do not hold what its header says (a damaged file: reading it crashed the process)."""
    nch = len(frame.layout.channels)
    planes = frame.planes
    per_plane = frame.samples * frame.format.bytes * (1 if frame.format.is_planar else nch)
    if (frame.samples <= 0 or nch <= 0 or not planes or (frame.format.is_planar and len(planes) != nch)
            or any(p.buffer_size < per_plane for p in planes)):
        return None
    a = frame.to_ndarray()
    if not frame.format.is_planar:
        a = a.reshape(-1, nch).T
    if a.dtype == np.uint8:
        a = (a.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    return a.astype(np.float32, copy=False)


@dataclass
class Audio:
    samples: np.ndarray  # (channels, n) float32, sample 0 at the analysis origin
    rate: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.rate

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0) if self.samples.shape[0] > 1 else self.samples[0]


def _placed(path: str, info: MediaInfo, report: DecodeReport,
            audio_stream: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """An audio stream's samples (the first's unless `audio_stream`, its index among the audio
    streams, says otherwise) as (position, (channels, n) float32), in decoding order:
    the position (samples from the video origin, at the stream's first rate) is where the frame's
    timestamp puts it; samples before the origin are dropped, frames that change rate or channels
    are brought to the first ones."""
    origin = info.origin_s
    rate = info.audio.sample_rate
    nch = None
    expected = None  # sample position where the next frame would go if contiguous
    with _open(path) as c:
        a = c.streams.audio[audio_stream]
        _seek(c, a, info)
        for frame in _decode_stream(c, a, report):
            if info.windowed and frame.pts is not None and frame.time - origin > info.duration_s:
                break
            data = _to_float_planar(frame)
            if data is None:
                report.bad_packets += 1
                continue
            if frame.sample_rate != rate:
                import soxr  # rare: a stream that changes rate mid-way; bring it to the first rate
                data = soxr.resample(data.T, frame.sample_rate, rate).T.astype(np.float32)
            if nch is None:
                nch = data.shape[0]
            elif data.shape[0] != nch:  # channel layout changed mid-stream: mix to the first count
                data = np.repeat(data.mean(axis=0, keepdims=True), nch, axis=0)
            if frame.pts is not None:
                pos = int(round((frame.time - origin) * rate))
                if expected is not None and abs(pos - expected) <= _SNAP_S * rate:
                    pos = expected
            else:
                pos = expected if expected is not None else 0
            expected = pos + data.shape[1]
            if pos < 0:  # before the video's first frame: dropped
                data, pos = data[:, -pos:], 0
            if data.shape[1] == 0:
                continue
            yield pos, data


class _Placer:
    """Frames written at their positions into one buffer sized from the header (grown if the
    header was short): collecting frames and joining them would hold a long recording twice."""

    def __init__(self, nch: int, first_size: int):
        self.buf = np.zeros((nch, first_size), np.float32)
        self.end = 0

    def put(self, pos: int, data: np.ndarray) -> None:
        stop = pos + data.shape[1]
        if stop > self.buf.shape[1]:
            grown = np.zeros((self.buf.shape[0], max(stop, 2 * self.buf.shape[1])), np.float32)
            grown[:, :self.end] = self.buf[:, :self.end]
            self.buf = grown
        self.buf[:, pos:stop] = data
        self.end = max(self.end, stop)

    def samples(self) -> np.ndarray:
        if self.end == self.buf.shape[1]:
            return self.buf
        if self.buf.shape[0] == 1:  # shrunk in place: no second copy of a long recording
            buf, self.buf = self.buf, None
            buf.resize((1, self.end), refcheck=False)
            return buf
        return self.buf[:, :self.end].copy()


def read_audio(path: str, info: MediaInfo | None = None, report: DecodeReport | None = None,
               audio_stream: int = 0) -> Audio:
    """Decode the first audio stream (or the `audio_stream`-th, counting audio streams from 0) at
    its own rate and channels, placed by timestamps.

    Samples before the video origin are dropped; a late-starting stream or a lost packet leaves
    zeros, so every later sample stays where its timestamp puts it.
    """
    return decode_audio(path, info, report, keep=True, analysis=False, audio_stream=audio_stream)[1]


def _with_audio_stream(path: str, info: MediaInfo, index: int) -> MediaInfo:
    """`info` with `audio` describing the audio stream `index` (among the audio streams), as probe
    describes the first."""
    with _open(path) as c:
        if not 0 <= index < len(c.streams.audio):
            raise MediaError(f"{path}: has no audio track {index} (it has {len(c.streams.audio)}, counted from 0)")
        a = c.streams.audio[index]
        cc = a.codec_context
        if cc is None:
            raise MediaError(f"{path}: its audio stream {index} cannot be decoded (damaged, or an unknown codec)")
        return replace(info, audio=AudioInfo(cc.codec.canonical_name, cc.sample_rate or a.rate or 0,
                                             cc.channels or 1, _start_s(a)))


# How far back (s) a frame may still land on sound already resampled for analysis: timestamps
# that jump back further than this (never seen in a real file) lose the overlap, not the rest.
_STAGE_S = 10.0


def decode_audio(path: str, info: MediaInfo | None = None, report: DecodeReport | None = None,
                 keep: bool = True, analysis: bool = True,
                 audio_stream: int = 0) -> tuple[np.ndarray | None, Audio | None]:
    """One pass over the sound: its 16 kHz mono copy for analysis (if `analysis`) and the sound at
    its own rate and channels (if `keep`), both placed as read_audio places it.

    The mono copy is mixed and resampled as the frames come (soxr's streaming resampler, equal to
    resampling the whole), so an hour of 48 kHz stereo, 1.4 GB as float32, is never held unless
    `keep` asks for it."""
    report = report if report is not None else DecodeReport()
    info = info or probe(path)
    if info.audio is None:
        raise MediaError(f"{path}: has no audio stream")
    if audio_stream:
        info = _with_audio_stream(path, info, audio_stream)
    rate = info.audio.sample_rate
    first_size = int((info.duration_s + 1.0) * rate)
    full = mono = None
    shared = False  # the kept sound is already 16 kHz mono: the analysis reads it, no copy
    stream = None
    if analysis and rate != ANALYSIS_SR:
        import soxr
        stream = soxr.ResampleStream(rate, ANALYSIS_SR, 1, dtype="float32")
    stage = np.zeros(0, np.float32)  # mono source-rate samples from `done` on, not resampled yet
    done = high = 0
    lag = int(_STAGE_S * rate)

    def resampled(x: np.ndarray, last: bool = False) -> np.ndarray:
        return x if stream is None else stream.resample_chunk(x, last)

    for pos, data in _placed(path, info, report, audio_stream):
        if keep:
            if full is None:
                full = _Placer(data.shape[0], max(first_size, pos + data.shape[1]))
                shared = analysis and rate == ANALYSIS_SR and data.shape[0] == 1
            full.put(pos, data)
        if not analysis or shared:
            continue
        if mono is None:
            mono = _Placer(1, int((info.duration_s + 1.0) * ANALYSIS_SR))
        m = data.mean(axis=0) if data.shape[0] > 1 else data[0]
        if pos < done:
            m, pos = m[done - pos:], done
        stop = pos + len(m)
        if stop - done > len(stage):
            stage = np.concatenate([stage, np.zeros(max(stop - done - len(stage), len(stage)), np.float32)])
        stage[pos - done:stop - done] = m
        high = max(high, stop)
        if high - done > 2 * lag:  # what no frame is expected to land on again goes on
            y = resampled(np.ascontiguousarray(stage[:high - done - lag]))
            mono.put(mono.end, y[None])
            stage, done = stage[high - done - lag:].copy(), high - lag
    if (full is None if keep else mono is None):
        raise MediaError(f"{path}: the audio stream holds no decodable samples")
    kept = Audio(full.samples(), rate) if keep else None
    audio16k = None
    if shared:
        audio16k = kept.samples[0]
    elif mono is not None:
        y = resampled(np.ascontiguousarray(stage[:high - done]), last=True)
        mono.put(mono.end, y[None])
        audio16k = mono.samples()[0]
    return audio16k, kept


def resample(x: np.ndarray, rate: int, target: int = ANALYSIS_SR) -> np.ndarray:
    """Mono float32 resampled with soxr (high quality, no phase shift)."""
    if rate == target:
        return x.astype(np.float32, copy=False)
    import soxr
    return soxr.resample(x, rate, target).astype(np.float32)


class FrameReader:
    """Random access to a clip's pictures for display: `frame_at(t)` is the frame shown at time t
    (seconds from the analysis origin), as RGB, shrunk so its longer side is at most `max_side`.

    Reading forward decodes on from where it is, so playback costs one decode per frame; a jump
    back, or more than `seek_ahead_s` forward, seeks to the keyframe before t. Not thread-safe:
    one thread owns a reader (the GUI's decoder thread).
    """

    def __init__(self, path: str, max_side: int = 1280, seek_ahead_s: float = 2.0):
        self.info = probe(path)
        if self.info.video is None:
            raise MediaError(f"{path}: has no video stream")
        v = self.info.video
        scale = min(1.0, max_side / max(v.width, v.height, 1))
        self.size = (max(2, int(round(v.width * scale / 2)) * 2), max(2, int(round(v.height * scale / 2)) * 2))
        self.report = DecodeReport()
        self._path, self._seek_ahead = path, seek_ahead_s
        self._c = _open(path)
        self._vs = self._c.streams.video[0]
        self._vs.thread_type = "AUTO"
        self._frames: Iterator | None = None
        self._cur: tuple[float, av.VideoFrame] | None = None
        self._next: tuple[float, av.VideoFrame] | None = None
        self._last_t: float | None = None

    def close(self) -> None:
        self._c.close()

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _restart(self, t: float) -> None:
        # Land a second early: some demuxers (MPEG-PS) seek to just after the keyframe, and the
        # frames of that first, broken GOP would be missing or wrong.
        target = t + self.info.origin_s - 1.0
        if target > 0.5:
            try:
                self._c.seek(int(target / self._vs.time_base), stream=self._vs, backward=True)
            except (av.error.FFmpegError, OSError):
                self._c.close()  # an unseekable file: read it again from the start
                self._c = _open(self._path)
                self._vs = self._c.streams.video[0]
        else:
            self._c.close()  # seeking to 0 is unreliable in some demuxers (mpeg-ps); reopening is not
            self._c = _open(self._path)
            self._vs = self._c.streams.video[0]
            self._vs.thread_type = "AUTO"
        self._frames = _decode_stream(self._c, self._vs, self.report)
        self._cur = self._next = self._last_t = None

    def _pull(self) -> tuple[float, av.VideoFrame] | None:
        if self._next is None:
            for f in self._frames:
                if f.pts is not None:
                    t = float(f.time) - self.info.origin_s
                elif self._last_t is not None:  # as iter_video_frames: one nominal period on
                    t = self._last_t + 1.0 / (self.info.video.fps or FPS)
                else:
                    continue
                if self._last_t is not None and t <= self._last_t - 1e-6:
                    continue
                self._last_t = t
                self._next = (t, f)
                break
        return self._next

    def frame_at(self, t: float) -> tuple[float, np.ndarray]:
        """(the frame's own time, (h, w, 3) uint8 RGB). Before the first frame, the first frame."""
        if (self._frames is None or self._cur is None or t < self._cur[0] - 1e-6
                or t > self._cur[0] + self._seek_ahead):
            self._restart(t)
            first = self._pull()
            if first is None or first[0] > t + 1e-6:
                # The seek landed after t (past the end, or a demuxer that seeks inexactly):
                # decode from the start instead. Slow on a long file, but right.
                self._restart(0.0)
        while True:
            nxt = self._pull()
            if nxt is None or (self._cur is not None and nxt[0] > t + 1e-6):
                break
            self._cur, self._next = nxt, None
        if self._cur is None:
            raise MediaError(f"{self._path}: no decodable picture")
        tf, frame = self._cur
        w, h = self.size  # as stored: scaled first, then turned upright
        return tf, upright(frame.reformat(width=w, height=h, format="rgb24").to_ndarray(), frame)
