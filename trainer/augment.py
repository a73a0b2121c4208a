"""Augmentations that make one recorded speaker look and sound like other speakers and cameras.

They act on the decoded frames and the 16 kHz audio, *before* the face stage and the features, so
the landmarks, the alignment, the crop, the flow and the MFCCs all meet them as they would meet a
different camera or voice (flipping crops or jittering the flow after the fact cannot do that).

Nothing here moves the sound against the picture, so a clip's drift label stays what it was:
- every picture operation keeps each frame's timestamp (a frame-rate change re-times frames by
  blending the two source frames around each new time, as a camera at that rate would see);
- every sound operation is time-preserving, and the two with a delay of their own (a codec's
  priming, resampling filters) are put back in place by cross-correlation with the input.
`tests/test_augment.py` checks both on real clips.

`Augmentation.draw(rng)` picks one random setting (each part on with its own probability);
`strength` scales the ranges (1 = the ranges below, 0 = nothing).
"""
from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

from wlos_app.core.features import SR
from wlos_app.core.media import Frame

# Bump when an operation changes, so cached augmented features are made again.
AUG_VERSION = 1


@dataclass(frozen=True)
class Augmentation:
    # picture
    scale: float = 1.0  # frame resize factor (GRID's 115 px face box -> 92..370 px)
    zoom: float = 1.0  # face size within the frame, about the frame centre
    rotate_deg: float = 0.0  # in-plane rotation
    shift: tuple[float, float] = (0.0, 0.0)  # translation, fractions of the frame
    wobble: float = 0.0  # hand-held camera: slow translation, fraction of the frame
    wobble_hz: float = 0.5
    contrast: float = 1.0
    brightness: float = 0.0  # grey levels
    gamma: float = 1.0
    blur: float = 0.0  # Gaussian sigma in output pixels
    noise: float = 0.0  # sensor noise sigma in grey levels
    fps: float = 0.0  # re-time to this camera rate (0: keep the source's)
    crf: int = 0  # re-encode the picture with H.264 at this CRF (0: no re-encode)
    # sound
    gain_db: float = 0.0
    pitch_steps: float = 0.0  # pitch and formants together, in semitones (another voice)
    rt60: float = 0.0  # reverberation time of a synthetic room, s (0: dry)
    telephone: bool = False  # 8 kHz sampling: nothing above 4 kHz
    codec: str = ""  # "libmp3lame", "aac", "libopus" or "" (none)
    bitrate: int = 0
    snr_db: float = 0.0  # additive noise at this speech-to-noise ratio (0: none)
    noise_tilt: float = 0.0  # noise colour: 0 white, 1 pink, 2 brown
    seed: int = 0

    @classmethod
    def draw(cls, rng: np.random.Generator, strength: float = 1.0, every_part: bool = False) -> "Augmentation":
        """One random setting. Each part is applied with its own probability, or with
        `every_part` all of them at once (the benchmark's "another speaker")."""
        s = float(strength)

        def on(p: float) -> bool:
            hit = rng.random() < p * min(1.0, s * 1.5)
            return bool(hit or every_part)

        def u(a: float, b: float) -> float:
            return float(rng.uniform(a, b))

        return cls(
            scale=float(math.exp(u(math.log(0.8), math.log(3.2)) * s)) if on(0.7) else 1.0,
            zoom=1.0 + u(-0.15, 0.15) * s,
            rotate_deg=u(-12, 12) * s,
            shift=(u(-0.08, 0.08) * s, u(-0.08, 0.08) * s),
            wobble=u(0.0, 0.02) * s if on(0.5) else 0.0,
            wobble_hz=u(0.2, 1.0),
            contrast=float(math.exp(u(-0.35, 0.35) * s)),
            brightness=u(-25, 25) * s,
            gamma=float(math.exp(u(-0.35, 0.35) * s)),
            blur=u(0.3, 1.8) * s if on(0.5) else 0.0,
            noise=u(1.0, 7.0) * s if on(0.5) else 0.0,
            fps=float(rng.choice([24.0, 30000 / 1001, 30.0])) if on(0.5) else 0.0,
            crf=int(rng.integers(28, 43)) if on(0.5) else 0,
            gain_db=u(-12, 12) * s,
            pitch_steps=u(-4.5, 4.5) * s if on(0.7) else 0.0,
            rt60=u(0.15, 0.7) * s if on(0.4) else 0.0,
            telephone=on(0.25),
            codec=str(rng.choice(["libmp3lame", "aac", "libopus"])) if on(0.4) else "",
            bitrate=int(rng.choice([16000, 24000, 32000, 48000])),
            snr_db=u(5.0, 30.0) if on(0.6) else 0.0,
            noise_tilt=u(0.0, 2.0),
            seed=int(rng.integers(0, 2 ** 31)),
        )

    def describe(self) -> dict:
        return asdict(self)

    # ---- picture ------------------------------------------------------------------------------

    def _warp(self, img: np.ndarray, t: float) -> np.ndarray:
        h, w = img.shape[:2]
        ow, oh = max(2, int(round(w * self.scale / 2)) * 2), max(2, int(round(h * self.scale / 2)) * 2)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), self.rotate_deg, self.zoom)
        wob = self.wobble * math.sin(2 * math.pi * self.wobble_hz * t)
        wob2 = self.wobble * math.cos(2 * math.pi * self.wobble_hz * 0.7 * t)
        m[0, 2] += (self.shift[0] + wob) * w
        m[1, 2] += (self.shift[1] + wob2) * h
        m[:, :] *= [[ow / w], [oh / h]]
        interp = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
        return cv2.warpAffine(img, m, (ow, oh), flags=interp, borderMode=cv2.BORDER_REFLECT)

    def _photometric(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = img.astype(np.float32) / 255.0
        x = np.power(np.clip(x, 0, 1), self.gamma)
        x = (x - 0.5) * self.contrast + 0.5 + self.brightness / 255.0
        x = x * 255.0
        if self.blur > 0:
            x = cv2.GaussianBlur(x, (0, 0), self.blur)
        if self.noise > 0:
            x = x + rng.normal(0, self.noise, x.shape).astype(np.float32)
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)

    def frames(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """The clip's frames as this camera would have taken them. Timestamps are kept (or, for
        a frame-rate change, every output frame is stamped with the time it shows)."""
        rng = np.random.default_rng(self.seed)
        out = (Frame(f.index, f.t, self._photometric(self._warp(f.image, f.t), rng)) for f in frames)
        if self.fps:
            out = _retime(out, self.fps)
        if self.crf:
            out = _h264_roundtrip(out, self.crf)
        return out

    # ---- sound --------------------------------------------------------------------------------

    def audio(self, x: np.ndarray) -> np.ndarray:
        """16 kHz mono float32 audio as another voice in another room, through another chain.
        Same length and timing as the input."""
        rng = np.random.default_rng(self.seed + 1)
        n = len(x)
        y = x.astype(np.float32)
        if self.pitch_steps and n >= 2048:
            import librosa
            # A 32 ms phase-vocoder window: librosa's default (128 ms) smears onsets by up to 60 ms,
            # which would blur the very timing the label is about (measured on tone bursts:
            # energy centroids within 7 ms with 512 samples).
            y = librosa.effects.pitch_shift(y, sr=SR, n_steps=self.pitch_steps, n_fft=512, hop_length=128,
                                            res_type="soxr_hq")
        if self.rt60 > 0:
            y = _reverb(y, self.rt60, rng)
        if self.telephone:
            import soxr
            y = soxr.resample(soxr.resample(y, SR, 8000), 8000, SR)[:n]
        if self.codec and n >= 4096:
            y = _codec_roundtrip(y, self.codec, self.bitrate)
        if self.snr_db:
            y = y + _noise(y, self.snr_db, self.noise_tilt, rng)
        y = y * 10 ** (self.gain_db / 20)
        out = np.zeros(n, np.float32)
        out[:min(n, len(y))] = y[:n]
        return np.clip(out, -1.0, 1.0)


def _retime(frames: Iterable[Frame], fps: float) -> Iterator[Frame]:
    """Frames at k / fps, each a blend of the two source frames around that time (a camera at
    another rate sees the motion in between; nearest-frame picking would only duplicate)."""
    prev = None
    k = 0
    for cur in frames:
        if prev is None:
            prev = cur
            k = int(math.ceil(cur.t * fps - 1e-9))
            continue
        while k / fps <= cur.t + 1e-9:
            t = k / fps
            a = 0.0 if cur.t <= prev.t else (t - prev.t) / (cur.t - prev.t)
            a = min(max(a, 0.0), 1.0)
            img = cv2.addWeighted(prev.image, 1.0 - a, cur.image, a, 0.0)
            yield Frame(k, t, img)
            k += 1
        prev = cur
    if prev is not None and k / fps <= prev.t + 1e-9:
        yield Frame(k, k / fps, prev.image)


def _h264_roundtrip(frames: Iterable[Frame], crf: int) -> Iterator[Frame]:
    """Encode the picture with H.264 at `crf` and decode it again: blocking, ringing, smeared motion."""
    import av
    frames = list(frames)
    if not frames:
        return iter(())
    h, w = frames[0].image.shape[:2]
    h2, w2 = h - h % 2, w - w % 2
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w2, h2, "yuv420p"
        s.options = {"crf": str(crf), "preset": "ultrafast"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f.image[:h2, :w2]), format="gray")
            vf.pts = i
            for p in s.encode(vf.reformat(format="yuv420p")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    buf.seek(0)
    decoded = []
    with av.open(buf, "r") as c:
        for vf in c.decode(video=0):
            plane = vf.planes[0]
            rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
            decoded.append(rows[:vf.height, :vf.width].copy())
    # Frames come back in order, one per input frame; keep the source timestamps.
    return iter([Frame(f.index, f.t, img) for f, img in zip(frames, decoded)])


def _reverb(x: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: the direct sound at delay 0, then exponentially decaying noise (tail)."""
    from scipy.signal import fftconvolve
    n = int(SR * min(1.2, 1.5 * rt60))
    t = np.arange(n) / SR
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    tail[: int(0.003 * SR)] = 0.0  # first reflections a few ms after the direct sound
    tail *= float(rng.uniform(0.3, 1.0)) / (np.sqrt((tail ** 2).sum()) + 1e-9)
    ir = tail
    ir[0] = 1.0
    return fftconvolve(x, ir)[: len(x)].astype(np.float32)


def _noise(x: np.ndarray, snr_db: float, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise (spectrum falling 3*tilt dB per octave) at `snr_db` below the speech power."""
    n = len(x)
    white = rng.normal(0, 1, n)
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1 / SR)
    spec *= 1.0 / np.maximum(f, 20.0) ** (tilt / 2)
    noise = np.fft.irfft(spec, n)
    frames = x[: n // 640 * 640].reshape(-1, 640) if n >= 640 else x[None]
    power = (frames.astype(np.float64) ** 2).mean(1)
    speech = float(np.percentile(power, 90)) if len(power) else 0.0  # the loud part is the speech
    noise *= math.sqrt(speech / 10 ** (snr_db / 10) / (np.mean(noise ** 2) + 1e-12))
    return noise.astype(np.float32)


def _codec_roundtrip(x: np.ndarray, codec: str, bitrate: int) -> np.ndarray:
    """Through a lossy codec and back, re-aligned to the input (encoders add priming delay)."""
    import av
    import soxr
    rate = 48000 if codec == "libopus" else SR
    fmt = {"libmp3lame": "mp3", "aac": "adts", "libopus": "ogg"}[codec]
    y = soxr.resample(x, SR, rate).astype(np.float32) if rate != SR else x.astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = "mono"
        s.bit_rate = bitrate
        fs = s.codec_context.frame_size or 1024
        for i in range(0, len(y), fs):
            chunk = y[i:i + fs]
            if len(chunk) < fs:
                chunk = np.pad(chunk, (0, fs - len(chunk)))
            af = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
            af.sample_rate = rate
            af.pts = i
            for p in s.encode(af):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    buf.seek(0)
    parts = []
    with av.open(buf, "r") as c:
        for af in c.decode(audio=0):
            a = af.to_ndarray()
            parts.append(a.reshape(-1) if a.ndim == 1 or a.shape[0] == 1 else a.mean(0))
    out = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    if rate != SR:
        out = soxr.resample(out, rate, SR).astype(np.float32)
    return align_to(out, x)


def align_to(y: np.ndarray, ref: np.ndarray, max_lag_s: float = 0.15) -> np.ndarray:
    """y moved by whole samples so that it lines up with ref (best cross-correlation of the
    envelopes within +-max_lag_s), cut or padded to ref's length."""
    lag = lag_samples(y, ref, max_lag_s)
    n = len(ref)
    out = np.zeros(n, np.float32)
    src = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), y])
    out[:min(n, len(src))] = src[:n]
    return out


def lag_samples(y: np.ndarray, ref: np.ndarray, max_lag_s: float = 0.15) -> int:
    """How many samples later y runs than ref, from the cross-correlation of the two signals."""
    from scipy.signal import correlate
    m = int(max_lag_s * SR)
    n = min(len(ref), len(y))
    if n < 2 * m + 1:
        return 0
    a = ref[:n].astype(np.float64)
    b = np.pad(y[: n + m].astype(np.float64), (m, max(0, n + m - len(y))))[: n + 2 * m]
    c = correlate(b, a, mode="valid")  # c[i]: b shifted by i - m
    return int(np.argmax(c)) - m


def render(src: str, dst: str, aug: Augmentation, fps: float = 25.0) -> str:
    """Write `src` as `aug` would have recorded it: an H.264 + AAC file with a grey picture (the
    analysis reads luma only), 16 kHz mono sound. For making test folders of a "new speaker"."""
    import av

    from wlos_app.core import media
    sound = media.read_audio(src)
    audio = aug.audio(media.resample(sound.mono(), sound.rate, SR))
    frames = list(media.sample_on_grid(aug.frames(media.iter_video_frames(src, "gray")), fps))
    if not frames:
        raise ValueError(f"{src}: no frames")
    h, w = frames[0][1].image.shape[:2]
    h2, w2 = h - h % 2, w - w % 2
    with av.open(dst, "w") as c:
        vs = c.add_stream("libx264", rate=int(fps))
        vs.width, vs.height, vs.pix_fmt = w2, h2, "yuv420p"
        vs.options = {"crf": "18", "preset": "veryfast"}
        a_s = c.add_stream("aac", rate=SR)
        a_s.layout = "mono"
        for k, f in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f.image[:h2, :w2]), format="gray")
            vf.pts = k
            for p in vs.encode(vf.reformat(format="yuv420p")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        fs = a_s.codec_context.frame_size or 1024
        for i in range(0, len(audio), fs):
            chunk = np.pad(audio[i:i + fs], (0, max(0, fs - len(audio[i:i + fs]))))
            af = av.AudioFrame.from_ndarray(chunk[None].astype(np.float32), format="fltp", layout="mono")
            af.sample_rate = SR
            af.pts = i
            for p in a_s.encode(af):
                c.mux(p)
        for p in a_s.encode():
            c.mux(p)
    return dst
