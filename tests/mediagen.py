"""Test clips made from the GRID sample: re-timed, concatenated, with audio moved by known amounts."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from wlos_app.core import media


def load_clip(path) -> tuple[list[tuple[float, np.ndarray]], np.ndarray, int]:
    """(time, rgb frame) list, (channels, n) float audio, rate of a source clip."""
    frames = [(f.t, f.image) for f in media.iter_video_frames(str(path), fmt="rgb24")]
    audio = media.read_audio(str(path))
    return frames, audio.samples, audio.rate


def concat(paths) -> tuple[list[tuple[float, np.ndarray]], np.ndarray, int]:
    """Clips back to back; each clip's audio is cut or padded to its video length so they stay in sync."""
    frames, audio, rate, t0 = [], [], None, 0.0
    for p in paths:
        f, a, r = load_clip(p)
        rate = rate or r
        assert r == rate
        dur = len(f) / 25.0
        n = int(round(dur * rate))
        a = a[:, :n] if a.shape[1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[1])))
        frames += [(t0 + t, im) for t, im in f]
        audio.append(a)
        t0 += dur
    return frames, np.concatenate(audio, axis=1), rate


def write_clip(out, frames, audio, rate, fps: float = 25.0, audio_delay_s: float = 0.0,
               audio_start_s: float = 0.0, video_codec: str = "libx264", audio_codec: str | None = None,
               with_audio: bool = True, with_video: bool = True, rotation: int = 0, channels: int = 1,
               audio_rate: int | None = None, jitter_ms: float = 0.0, seed: int = 0, drift_s=None,
               video_options: dict | None = None, container_options: dict | None = None,
               tags: dict | None = None) -> Path:
    """Encode frames (re-timed to `fps` by nearest timestamp) and audio.

    audio_delay_s > 0 shifts the sound later inside the audio stream (zeros before, end trimmed);
    audio_start_s > 0 starts the audio stream later than the video on the container's clock.
    rotation: store the picture turned by -rotation degrees with a display matrix saying
    "turn it by rotation" (as phones do); channels: copies of the mono sound (5.1 = 6);
    audio_rate: resample the sound to this rate; jitter_ms: variable frame rate, each frame
    stamped up to this far from its regular time (millisecond clock); drift_s: a function of time
    (s) giving the drift there (see drifted), applied before audio_delay_s. video_options: encoder
    options (RECORDERS has what real recorders use: x264 with B-frames and open GOPs, ...);
    container_options: muxer options (fragmented MP4: FRAGMENTED); tags: the container's (title,
    creation_time, location, ...).
    """
    out = Path(out)
    ext = out.suffix.lower()
    audio_codec = audio_codec or {".mkv": "aac", ".mp4": "aac", ".mov": "aac", ".avi": "libmp3lame",
                                  ".webm": "libopus", ".mpg": "mp2"}[ext]
    duration = frames[-1][0] + 1 / 25.0
    with av.open(str(out), "w", options=container_options or {}) as c:
        c.metadata.update(tags or {})
        if with_video:
            rate_q = Fraction(fps).limit_denominator(1001)
            vs = c.add_stream(video_codec, rate=rate_q)
            quarter = (rotation // 90) % 4
            h, w = np.rot90(frames[0][1], -quarter).shape[:2]
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.options = {**({"preset": "ultrafast"} if video_codec == "libx264" else {}), **(video_options or {})}
            if rotation:
                vs.set_display_rotation(rotation)
            if jitter_ms:
                vs.time_base = Fraction(1, 1000)
            rng = np.random.default_rng(seed)
        layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
        if with_audio:
            ar = 48000 if audio_codec == "libopus" else (audio_rate or rate)
            a_s = c.add_stream(audio_codec, rate=ar)
            a_s.layout = layout
        times = np.array([t for t, _ in frames])
        last_pts = 0
        if with_video:
            n_out = int(np.floor(duration * fps + 1e-6))
            for k in range(n_out):
                i = int(np.argmin(np.abs(times - k / fps)))
                img = np.ascontiguousarray(np.rot90(frames[i][1], -quarter)) if quarter else frames[i][1]
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                if jitter_ms:
                    pts = int(round(1000 * k / fps + rng.uniform(-jitter_ms, jitter_ms)))
                    vf.pts, vf.time_base = max(pts, last_pts + 1 if k else 0), Fraction(1, 1000)
                    last_pts = vf.pts
                else:
                    vf.pts = k
                    vf.time_base = Fraction(1) / rate_q
                for p in vs.encode(vf):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
        if with_audio:
            mono = audio.mean(0)
            if drift_s is not None:
                mono = drifted(mono, rate, drift_s)
            shift = int(round(audio_delay_s * rate))
            if shift > 0:
                mono = np.concatenate([np.zeros(shift, np.float32), mono[:-shift]])
            elif shift < 0:
                mono = np.concatenate([mono[-shift:], np.zeros(-shift, np.float32)])
            if ar != rate:
                mono = media.resample(mono, rate, ar)
            fs = a_s.codec_context.frame_size or 1024
            start = int(round(audio_start_s * ar))
            for i in range(0, len(mono), fs):
                chunk = mono[i:i + fs]
                if len(chunk) < fs:
                    chunk = np.pad(chunk, (0, fs - len(chunk)))
                af = av.AudioFrame.from_ndarray(np.repeat(chunk[None], channels, 0).astype(np.float32), format="fltp",
                                                layout=layout)
                af.sample_rate = ar
                af.pts = start + i
                af.time_base = Fraction(1, ar)
                for p in a_s.encode(af):
                    c.mux(p)
            for p in a_s.encode():
                c.mux(p)
    return out


# Encoder settings of the kind recorders use (OBS, phones, ffmpeg's defaults): the pictures come
# out of decode order, and Matroska keeps no decode times for them.
RECORDERS = {
    "x264_bframes": {"preset": "ultrafast", "x264-params": "bframes=3:b-pyramid=normal:keyint=50"},
    "x264_open_gop": {"preset": "ultrafast", "x264-params": "bframes=3:open-gop=1:keyint=25"},
    "x265": {"preset": "ultrafast", "x265-params": "log-level=error:bframes=3:keyint=25"},
    "vp9": {"deadline": "realtime", "cpu-used": "8"},
    "svtav1": {"preset": "12"},
}
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


def drifted(mono: np.ndarray, rate: int, drift_s) -> np.ndarray:
    """The sound as recorded with a drift that changes over time: the sound of picture time t is
    heard at t + drift_s(t) (positive = audio late), as the analysis defines drift. Audio times
    no picture time lands on (after a jump later) are silent."""
    tau = np.arange(len(mono)) / rate
    t = tau.copy()
    for _ in range(30):  # t = tau - d(t): a contraction for any drift changing slower than time
        t = tau - np.asarray(drift_s(t), float)
    hit = np.abs(t + np.asarray(drift_s(t), float) - tau) < 0.5 / rate
    out = np.interp(t * rate, np.arange(len(mono)), mono, left=0.0, right=0.0)
    return np.where(hit, out, 0.0).astype(np.float32)


def lag_track(reference: np.ndarray, other: np.ndarray, rate: int, times, win_s: float = 1.0,
              reach_s: float = 0.5) -> np.ndarray:
    """How late `other` runs behind `reference` (s) around each time, from cross-correlation of
    win_s of sound searched +-reach_s (mono signals at one rate). NaN where the window is silent."""
    out = []
    w, r = int(win_s * rate), int(reach_s * rate)
    x = np.pad(reference, (r, r + w))
    for t in times:
        a = int(t * rate)
        y = other[a:a + w]
        if len(y) < w or np.sqrt(np.mean(y ** 2)) < 1e-3:
            out.append(np.nan)
            continue
        c = np.correlate(x[a:a + w + 2 * r], y, mode="valid")  # c[i]: reference at a - r + i
        j = int(np.argmax(c))
        frac = 0.0
        if 0 < j < len(c) - 1:
            den = c[j - 1] - 2 * c[j] + c[j + 1]
            frac = 0.5 * (c[j - 1] - c[j + 1]) / den if den < 0 else 0.0
        out.append((r - (j + frac)) / rate)
    return np.array(out)


def shift_s(before: np.ndarray, after: np.ndarray, rate: int, span_s: float = 2.5, reach_s: float = 0.4) -> float:
    """How much earlier `after` runs than `before` (s; mono signals at one rate), from
    cross-correlation of the first span_s of `after` searched +-reach_s, refined with a parabola
    through the peak so the result is not limited to whole samples. Past their ends both are
    silence (a short clip's sound moved earlier ends early)."""
    n, w = int(span_s * rate), int(reach_s * rate)
    x = np.pad(before, (0, n + 2 * w))
    y = np.pad(after, (0, n + 2 * w))
    # after[w + i] should equal before[w + i + shift]: slide a window of `after` over `before`.
    c = np.correlate(x[:n + 2 * w], y[w:w + n], mode="valid")
    j = int(np.argmax(c))
    frac = 0.0
    if 0 < j < len(c) - 1:
        den = c[j - 1] - 2 * c[j] + c[j + 1]
        frac = 0.5 * (c[j - 1] - c[j + 1]) / den if den < 0 else 0.0
    return (j + frac - w) / rate


def measured_shift_s(source: media.Audio, exported: media.Audio) -> float:
    """How much earlier the exported audio runs than the source, as the reader places both."""
    return shift_s(source.mono(), media.resample(exported.mono(), exported.rate, source.rate), source.rate)


# --- several faces -------------------------------------------------------------------------------

def _even(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return img[:h - h % 2, :w - w % 2]


def _fit(img: np.ndarray, h: int, fill: int = 0) -> np.ndarray:
    """img padded at the bottom to height h (fill colour)."""
    return np.pad(img, ((0, h - img.shape[0]), (0, 0), (0, 0)), constant_values=fill) if img.shape[0] < h else img[:h]


def side_by_side(heard, silent, heard_left: bool = True, scale: float = 1.1):
    """Two faces in one picture: `heard` (a clip whose sound is kept) beside `silent` (a clip whose
    picture only is used, made `scale` times larger), as frames, audio, rate for write_clip. The
    silent clip's frames repeat or stop to last as long as the heard one."""
    import cv2
    fh, audio, rate = load_clip(heard)
    fs, _, _ = load_clip(silent)
    out = []
    for i, (t, a) in enumerate(fh):
        b = fs[min(i, len(fs) - 1)][1]
        b = cv2.resize(b, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h = max(a.shape[0], b.shape[0])
        pair = (_fit(a, h), _fit(b, h)) if heard_left else (_fit(b, h), _fit(a, h))
        out.append((t, _even(np.ascontiguousarray(np.hstack(pair)))))
    return out, audio, rate


def voice_over(face, sound):
    """`face`'s picture with `sound`'s sound (cut or padded to the picture's length): no face in
    view made the sound."""
    f, _, _ = load_clip(face)
    _, a, rate = load_clip(sound)
    n = int(round(len(f) / 25.0 * rate))
    a = a[:, :n] if a.shape[1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[1])))
    return f, a, rate


def shot(path, mirror: bool = False, pad_left: int = 0, width: int | None = None):
    """A clip's frames, audio, rate, mirrored and placed `pad_left` px into a wider grey picture
    (another camera angle: a shot that a cut to it visibly changes)."""
    f, a, rate = load_clip(path)
    out = []
    for t, img in f:
        img = img[:, ::-1] if mirror else img
        w = width or img.shape[1] + pad_left
        canvas = np.full((img.shape[0], w, 3), 90, np.uint8)
        canvas[:, pad_left:pad_left + img.shape[1]] = img[:, :w - pad_left]
        out.append((t, _even(canvas)))
    return out, a, rate


def cut(*shots):
    """Shots (frames, audio, rate) back to back, each keeping its own sound in sync."""
    frames, audio, t0 = [], [], 0.0
    rate = shots[0][2]
    for f, a, r in shots:
        assert r == rate
        dur = len(f) / 25.0
        n = int(round(dur * rate))
        audio.append(a[:, :n] if a.shape[1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[1]))))
        frames += [(t0 + t, im) for t, im in f]
        t0 += dur
    return frames, np.concatenate(audio, axis=1), rate


def away(frames, start_s: float, end_s: float, moved_px: int = 0):
    """The face leaves: between start_s and end_s the picture is the clip's background colour (its
    top-left corner), and afterwards it is `moved_px` further right in a wider picture."""
    out = []
    for t, img in frames:
        h, w = img.shape[:2]
        canvas = np.full((h, w + moved_px, 3), img[:8, :8].reshape(-1, 3).mean(0), np.uint8)
        if not start_s <= t < end_s:
            x = moved_px if t >= end_s else 0
            canvas[:, x:x + w] = img
        out.append((t, _even(canvas)))
    return out


def framed(frames, w: int, h: int, seconds: float | None = None):
    """Frames on the 25 fps grid (the nearest by time; the first `seconds`), each at the top left of
    a w x h grey picture (cropped where larger): shots of different sizes and rates, cut together."""
    times = np.array([t for t, _ in frames])
    n = int(round((seconds if seconds is not None else times[-1] + 0.04) * 25))
    out = []
    for k in range(n):
        img = frames[int(np.argmin(np.abs(times - k / 25)))][1][:h, :w]
        canvas = np.full((h, w, 3), 90, np.uint8)
        canvas[:img.shape[0], :img.shape[1]] = img
        out.append((k / 25, canvas))
    return out
