"""Features on the paper's 25 fps grid: vertical Farnebäck flow of the mouth crops, 12 MFCCs, blocks.

Block t covers grid frames t..t+9. Its visual input is the flows V^t..V^{t+9} (V^t = flow from crop
t-1 to crop t, so t >= 1) and its audio window j = t + d is the 39x12 MFCC matrix of the audio of
frames j..j+9: at 16 kHz, hop 160 and a 256-sample Hamming window without centering, 0.4 s of audio
gives exactly 39 MFCC frames, and video frame j starts at MFCC frame 4j.

Drift d is in grid frames, positive = audio late: the sound of block t sits in audio window t + d.

Both inputs are scaled to [0, 1] per clip (not per mini-batch as in the paper), so a block's
features do not depend on what else is in a batch:
- flow: v / (2 s) + 0.5, clipped, with s the 99th percentile of |v| over the clip's valid crops;
- MFCC: each coefficient standardised over the clip's speech frames, then z / 6 + 0.5, clipped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from .grid import BLOCK, FPS, MAX_SHIFT

SR = 16000
HOP = 160
N_FFT = 256
N_MFCC = 12  # 13 computed, the 0th dropped
MFCC_PER_FRAME = 4  # 100 MFCC frames/s over 25 video frames/s
AUDIO_WINDOW = 39
SAMPLES_PER_FRAME = SR // FPS


@dataclass
class FeatureConfig:
    fps: float = float(FPS)  # the analysis grid (a float: the feature cache keys on 25.0)
    block: int = BLOCK
    stride: int = 1  # grid frames between block starts
    max_shift: int = MAX_SHIFT  # sliding-window and regression range: -9..+9 frames
    n_mels: int = 26
    # A block is speech when its loudest 40 ms frame is within `speech_db` of the clip's loud level
    # (95th percentile of frame power) and above `floor_db` dBFS. The paper thresholds the maximum
    # MFCC value instead; a level relative to the clip does not depend on recording gain.
    speech_db: float = 30.0
    floor_db: float = -60.0
    # Farnebäck on 32x32 crops: a small pyramid and window suit lips that move a few pixels.
    flow_pyr_scale: float = 0.5
    flow_levels: int = 2
    flow_winsize: int = 7
    flow_iterations: int = 3
    flow_poly_n: int = 5
    flow_poly_sigma: float = 1.1

    def __post_init__(self):
        if self.fps != FPS or self.block != BLOCK:
            raise ValueError("the networks and the 39x12 audio window assume 25 fps and 10-frame blocks")
        if self.stride < 1:
            raise ValueError("stride must be at least 1")


# Flow is kept as float16 (analysis): 2 KB a frame instead of 4, 185 MB less on an hour. The network
# input v / (2 s) + 0.5 moves by at most ~3e-4 (float16 keeps 11 bits); the clip's scale s is
# still taken from the float32 flow.
FLOW_DTYPE = np.float16


def _frame_flow(a: np.ndarray, b: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    f = cv2.calcOpticalFlowFarneback(a, b, None, cfg.flow_pyr_scale, cfg.flow_levels, cfg.flow_winsize,
                                     cfg.flow_iterations, cfg.flow_poly_n, cfg.flow_poly_sigma, 0)
    return f[..., 1]


def vertical_flow(crops: np.ndarray, valid: np.ndarray, cfg: FeatureConfig,
                  dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Vertical component of Farnebäck flow from crop k-1 to crop k, in crop pixels per frame."""
    n = len(crops)
    flow = np.zeros((n, crops.shape[1], crops.shape[2]), dtype)
    ok = np.zeros(n, bool)
    for k in range(1, n):
        if valid[k - 1] and valid[k]:
            flow[k] = _frame_flow(crops[k - 1], crops[k], cfg)
            ok[k] = True
    return flow, ok


MFCC_CHUNK = 6000  # MFCC frames (60 s) whose spectrogram is computed at once: bounds memory


def _hz_to_mel(f):
    """Slaney's mel scale (librosa's default): linear to 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, f * 3.0 / 200.0)


def _mel_to_hz(m):
    m = np.asarray(m, np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * 200.0 / 3.0)


def mel_filters(n_mels: int, sr: int = SR, n_fft: int = N_FFT) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised triangular filters: librosa.filters.mel with
    its defaults, written out (tests check them against librosa's)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    w = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return w.astype(np.float32)


def _dct_ortho(n_out: int, n_in: int) -> np.ndarray:
    """The orthonormal DCT-II matrix (scipy.fft.dct(type=2, norm="ortho")), first n_out rows."""
    k = np.arange(n_out)[:, None]
    d = np.cos(np.pi * k * (2 * np.arange(n_in)[None, :] + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


def mfcc(audio16k: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(frames, 12) MFCCs 1..12, 100 frames per second, frame m covering samples 160m..160m+255.

    What librosa.feature.mfcc computes over the whole signal (Hamming window, no centering,
    Slaney mel filters, power_to_db with an 80 dB floor, orthonormal DCT; tests compare the two),
    written with numpy: librosa's numba-compiled code costs about 190 MB of memory in every
    process that runs it, more than the rest of an analysis of a short clip. The power spectrum
    is made a minute at a time, so a long recording's temporaries stay small; the dB floor,
    which is relative to the loudest frame, still sees the whole clip."""
    if len(audio16k) < N_FFT:
        return np.zeros((0, N_MFCC), np.float32)
    y = audio16k.astype(np.float32, copy=False)
    n = 1 + (len(y) - N_FFT) // HOP
    window = (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic
    fb = mel_filters(cfg.n_mels)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    mel = np.empty((n, cfg.n_mels), np.float32)
    for a in range(0, n, MFCC_CHUNK):
        spec = np.fft.rfft(frames[a:a + MFCC_CHUNK] * window, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        mel[a:a + MFCC_CHUNK] = power @ fb.T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return db @ _dct_ortho(N_MFCC + 1, cfg.n_mels)[1:].T


def frame_power_db(audio16k: np.ndarray, n_frames: int) -> np.ndarray:
    """Mean power of each 40 ms video frame's audio, in dBFS (-100 where there is no audio)."""
    out = np.full(n_frames, -100.0, np.float32)
    usable = min(n_frames, len(audio16k) // SAMPLES_PER_FRAME)
    frames = audio16k[:usable * SAMPLES_PER_FRAME].reshape(usable, SAMPLES_PER_FRAME)
    for a in range(0, usable, 1500):  # a minute at a time: a long clip's float64 copy would be large
        x = frames[a:a + 1500].astype(np.float64)
        out[a:a + len(x)] = 10 * np.log10(np.mean(x * x, axis=1) + 1e-10)
    return out


@dataclass
class ClipFeatures:
    """Everything the estimators need for one clip, on the 25 fps grid."""

    # (n, 32, 32) vertical flow, flow[k] from crop k-1 to crop k: crop pixels per frame as computed
    # (FLOW_DTYPE, float16), or int8 from the training cache (then in units with flow_scale = 63.5 of them)
    flow: np.ndarray
    flow_valid: np.ndarray  # (n,) bool
    flow_scale: float  # the per-clip s in v / (2 s) + 0.5
    mfcc: np.ndarray  # (m, 12) float32 scaled to [0, 1]
    power_db: np.ndarray  # (n_audio_frames,) audio power per grid frame
    speech_level_db: float
    cfg: FeatureConfig = field(default_factory=FeatureConfig)

    @property
    def n_frames(self) -> int:
        return len(self.flow_valid)

    @property
    def n_windows(self) -> int:
        """Audio windows j with a full 39x12 MFCC matrix."""
        return max(0, (len(self.mfcc) - AUDIO_WINDOW) // MFCC_PER_FRAME + 1)

    def visual_frames(self, a: int, b: int, gain: float = 1.0) -> np.ndarray:
        """(b - a, 32, 32) flows of frames a..b-1 scaled to [0, 1]; `gain` (training augmentation)
        multiplies the motion before scaling."""
        v = np.asarray(self.flow[a:b], np.float32)
        return np.clip(v * np.float32(gain / (2 * self.flow_scale)) + np.float32(0.5), 0.0, 1.0)

    def visual_block(self, t: int) -> np.ndarray:
        """(10, 32, 32) flows of block t scaled to [0, 1]."""
        return self.visual_frames(t, t + self.cfg.block)

    def audio_window(self, j: int) -> np.ndarray:
        """(39, 12) MFCCs of audio window j (the audio of grid frames j..j+9)."""
        return self.mfcc[MFCC_PER_FRAME * j: MFCC_PER_FRAME * j + AUDIO_WINDOW]

    def block_starts(self) -> np.ndarray:
        """Every block start on this clip's grid, valid or not."""
        last = self.n_frames - self.cfg.block
        return np.arange(1, last + 1, self.cfg.stride) if last >= 1 else np.zeros(0, int)

    def block_status(self, t: int) -> str:
        """'ok', or why block t cannot be used: 'no face', 'no audio', 'silent'."""
        b = self.cfg.block
        if not self.flow_valid[t:t + b].all():
            return "no face"
        if t >= self.n_windows:
            return "no audio"
        if self.power_db[t:t + b].max() < max(self.speech_level_db - self.cfg.speech_db, self.cfg.floor_db):
            return "silent"
        return "ok"


def _percentile_in_place(a: np.ndarray, q: float, n: int | None = None) -> float:
    """np.percentile(a, q) (linear interpolation) without the copy it makes: `a` is reordered.
    n: the size of the whole sample when `a` holds only its largest values (_Largest)."""
    n = len(a) if n is None else n
    below = n - len(a)  # values of the sample smaller than all of `a`
    x = (n - 1) * q / 100.0
    lo, hi = int(np.floor(x)), int(np.ceil(x))
    a.partition([lo - below, hi - below])
    return float(a[lo - below] + (a[hi - below] - a[lo - below]) * (x - lo))


class _Largest:
    """The `k` largest of the values it is given, and any equal to the smallest of them, in
    little memory: a long clip's whole |flow| (370 MB an hour) is never held at once."""

    def __init__(self, k: int):
        self.k, self.parts, self.size, self.floor = k, [], 0, -np.inf

    def add(self, v: np.ndarray) -> None:
        v = v[v >= self.floor]
        self.parts.append(v)
        self.size += len(v)
        if self.size > 2 * self.k + 65536:
            a = np.concatenate(self.parts)
            a = a[np.argpartition(a, len(a) - self.k)[len(a) - self.k:]]
            self.parts, self.size, self.floor = [a], len(a), a.min()

    def values(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)


FLOW_PERCENTILE = 99.0
FLOW_CHUNK = 250  # frames whose float32 |flow| is gathered before its largest values are kept


_pool = []
# A forked child has the pool but not its threads: it makes its own (the project's pools spawn,
# but a library's fork must not hang on work no thread will take).
os.register_at_fork(after_in_child=_pool.clear)


def _flow_pool():
    """Two threads for Farnebäck (made once: a pool per clip would cost more than it saves)."""
    if not _pool:
        from concurrent.futures import ThreadPoolExecutor
        _pool.append(ThreadPoolExecutor(2, thread_name_prefix="flow"))
    return _pool[0]


def flow_features(crops: np.ndarray, crop_valid: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Vertical flow (FLOW_DTYPE), where it exists, and the clip's flow scale s (see the module's
    docstring): the 99th percentile of |v| over the float32 flow, as np.percentile gives it."""
    n = len(crops)
    ok = np.zeros(n, bool)
    ok[1:] = crop_valid[:-1] & crop_valid[1:]
    total = int(ok.sum()) * crops.shape[1] * crops.shape[2]
    # The percentile reads the values from rank floor((N - 1) q / 100) up: keep that many largest.
    largest = _Largest(total - int(np.floor((total - 1) * FLOW_PERCENTILE / 100.0)))
    flow = np.zeros((n, crops.shape[1], crops.shape[2]), FLOW_DTYPE)
    ks = np.flatnonzero(ok)
    for a in range(0, len(ks), FLOW_CHUNK):
        part = ks[a:a + FLOW_CHUNK]
        # OpenCV lets go of Python's lock: the chunk's two halves on two threads, the same flows.
        halves = [part[:len(part) // 2], part[len(part) // 2:]]
        fs = [f for h in _flow_pool().map(lambda h: [_frame_flow(crops[k - 1], crops[k], cfg) for k in h], halves)
              for f in h]
        flow[part] = fs
        largest.add(np.abs(np.array(fs)).reshape(-1))
    scale = _percentile_in_place(largest.values(), FLOW_PERCENTILE, total) if total else 1.0
    return flow, ok, max(scale, 0.05)  # a still face: do not blow sensor noise up to full range


def with_face(feats: ClipFeatures, crops: np.ndarray, crop_valid: np.ndarray) -> ClipFeatures:
    """The same clip's features with another face's mouth: its own flow, the same sound."""
    from dataclasses import replace
    flow, ok, scale = flow_features(crops, crop_valid, feats.cfg)
    return replace(feats, flow=flow, flow_valid=ok, flow_scale=scale)


def audio_features(audio16k: np.ndarray, cfg: FeatureConfig | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(MFCCs scaled to [0, 1], power per grid frame, the clip's speech level): all that the
    features keep of the sound, which can then be let go (an hour at 16 kHz is 230 MB)."""
    cfg = cfg or FeatureConfig()
    n_audio_frames = len(audio16k) // SAMPLES_PER_FRAME
    power = frame_power_db(audio16k, n_audio_frames)
    level = float(np.percentile(power, 95)) if len(power) else -100.0

    m = mfcc(audio16k, cfg)
    if len(m):
        # Statistics over speech frames only: long silences would otherwise set the scale.
        frame_of_mfcc = np.minimum(np.arange(len(m)) // MFCC_PER_FRAME, max(n_audio_frames - 1, 0))
        speech = power[frame_of_mfcc] >= max(level - cfg.speech_db, cfg.floor_db) if len(power) else None
        ref = m[speech] if speech is not None and speech.sum() >= 10 else m
        mu, sd = ref.mean(0), ref.std(0) + 1e-6
        m = np.clip((m - mu) / sd / 6.0 + 0.5, 0.0, 1.0).astype(np.float32)
    return m, power, level


def loudness(power_db: np.ndarray, speech_level_db: float) -> np.ndarray:
    """The sound's loudness for comparing speech rhythms: power above the clip's speech level less
    30 dB, 0 to 40 dB (so silence and the clip's noise floor read alike, as 0)."""
    return np.clip(np.asarray(power_db, np.float64) - (speech_level_db - 30.0), 0.0, 40.0)


def activity_match(feats: ClipFeatures, drift: np.ndarray, smooth: int = 5, min_frames: int = 25) -> float:
    """Whether the mouth moves when the sound speaks, at a drift (grid frames, one per video frame):
    the Pearson correlation between the mouth's motion (mean |vertical flow| of the crop, averaged
    over `smooth` frames) and the sound's loudness (`loudness`), over the frames with a face whose
    sound, `drift` frames later, is not digital silence.

    The estimators read speech blocks only, so lips that move in the sound's pauses and rest while
    it speaks (another voice, a drift beyond the search) go unseen by them; here they read near 0
    or below, where a face and its own sound mostly read 0.25-0.8 (v4's folds). Digital silence
    (and the open end of moved sound) is left out: it is no pause of anyone's speech. NaN when
    fewer than `min_frames` frames pair up or either side does not vary."""
    n, p = feats.n_frames, np.asarray(feats.power_db, np.float64)
    motion = np.zeros(n)
    for a in range(0, n, 2000):  # an hour's flow as float32 at once would be 370 MB
        motion[a:a + 2000] = np.abs(np.asarray(feats.flow[a:a + 2000], np.float32)).mean(axis=(1, 2))
    valid = np.asarray(feats.flow_valid, bool)
    k = np.ones(smooth)
    weight = np.convolve(valid.astype(float), k, "same")
    motion = np.convolve(np.where(valid, motion, 0.0), k, "same") / np.maximum(weight, 1e-9)
    at = np.arange(n) + np.rint(np.asarray(drift, float)).astype(int)
    ok = valid & (at >= 0) & (at < len(p))
    ok[ok] = p[at[ok]] > -99.9
    if ok.sum() < min_frames:
        return float("nan")
    x = motion[ok]
    y = loudness(p[at[ok]], feats.speech_level_db)
    if x.std() < 1e-9 or y.std() < 1e-6:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def clip_features(crops: np.ndarray, crop_valid: np.ndarray, audio16k: np.ndarray | None,
                  cfg: FeatureConfig | None = None, sound: tuple | None = None) -> ClipFeatures:
    """Flow, MFCC and per-frame power for a clip whose crops are on the 25 fps grid; `sound`:
    audio_features computed before (then audio16k is not read)."""
    cfg = cfg or FeatureConfig()
    flow, ok, scale = flow_features(crops, crop_valid, cfg)
    m, power, level = sound if sound is not None else audio_features(audio16k, cfg)
    return ClipFeatures(flow, ok, scale, m, power, level, cfg)
