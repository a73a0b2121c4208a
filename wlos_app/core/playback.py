"""Audio preview through sounddevice: play a clip's audio from a point, moved by a drift.

Drift follows the rest of the app: positive = audio late, so the sound that belongs to picture
time t sits at audio time t + drift. Playing from picture time t with drift d therefore starts at
audio sample (t + d) * rate; before the first sample and after the last it plays silence.

The picture clock is the caller's (wall-clock) time; the audio runs free beside it. Over a
preview of a few minutes the two differ by the sound card's clock error (tens of ppm, a few ms),
which is far below what a person can hear, so there is no resampling to chase the picture.
"""
from __future__ import annotations

import threading

import numpy as np

from ..errors import WlosError


class AudioDeviceError(WlosError):
    """No usable sound output (no device, no PortAudio, a busy or vanished device)."""


class AudioPreview:
    """Plays `samples` ((channels, n) float32 at `rate`) from a picture time with a drift applied."""

    def __init__(self, samples: np.ndarray, rate: int, device: str | int | None = None):
        # More than two channels gain nothing in a preview and many outputs refuse them.
        self.samples = samples if samples.shape[0] <= 2 else samples.mean(axis=0, keepdims=True)
        self.rate = int(rate)
        self.device = device if device not in ("", None) else None
        self._stream = None
        self._pos = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._stream is not None and self._stream.active

    def start(self, at_s: float, drift_s: float) -> None:
        """Play from picture time `at_s` with the audio moved to undo `drift_s` (0 = as recorded).
        Raises AudioDeviceError when there is no sound output to play on."""
        self.stop()
        with self._lock:
            self._pos = int(round((at_s + drift_s) * self.rate))
        try:
            import sounddevice as sd
        except OSError as exc:  # the PortAudio library itself is missing
            raise AudioDeviceError(f"no sound output: PortAudio is not installed ({exc})") from None
        try:
            stream = sd.OutputStream(samplerate=self.rate, channels=self.samples.shape[0], dtype="float32",
                                     device=self.device, callback=self._fill)
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            where = f"sound output {self.device!r}" if self.device is not None else "a sound output"
            raise AudioDeviceError(f"cannot play on {where}: {exc}") from None
        self._stream = stream

    def _fill(self, out: np.ndarray, frames: int, _time, _status) -> None:
        # Runs on PortAudio's thread: copy the next `frames` samples, zeros outside the clip.
        with self._lock:
            pos, self._pos = self._pos, self._pos + frames
        out.fill(0.0)
        n = self.samples.shape[1]
        a, b = max(pos, 0), min(pos + frames, n)
        if a < b:
            out[a - pos:b - pos] = self.samples[:, a:b].T

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # a device that vanished mid-play: nothing left to stop
                pass
