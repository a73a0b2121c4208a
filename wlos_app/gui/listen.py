"""The listening bar under the video: which drift to undo (the fitted track, or one constant the user
sets), the sound preview that undoes it, and the export button.

The preview plays what the export would write: for a drifting or jumping track, the sound corrected
by core.retime (computed once per result in a worker: resampling a long clip takes a moment); for a
constant, the recorded sound started at t + drift.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from ..core.result import describe_track
from .workers import Worker


class ListenBar(QWidget):
    changed = Signal()  # the drift to undo changed: a playing preview restarts
    exportRequested = Signal()
    problem = Signal(str, str)  # (status text, dialog text or ""): no sound output, and the like

    def __init__(self, run_worker, settings, parent=None):
        super().__init__(parent)
        self.run_worker, self.settings = run_worker, settings
        self.result = None
        self.audio = None  # media.Audio of the result
        self.corrected = None  # (track, samples): the sound with the track undone, once computed
        self.preview = None
        self._preview_of = None
        self.error_shown = False

        self.follow = QCheckBox("follow the drift track")
        self.follow.setToolTip("Undo the fitted track (drifting or jumping); off: one constant drift")
        self.follow.toggled.connect(self._mode_changed)
        self.shift = QDoubleSpinBox()
        self.shift.setRange(-3000.0, 3000.0)
        self.shift.setDecimals(0)
        self.shift.setSingleStep(10)
        self.shift.setSuffix(" ms")
        self.shift.setToolTip("Drift undone in the preview and the export; positive = audio late")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-2500, 2500)
        self.slider.setSingleStep(10)
        self.slider.setPageStep(40)
        self.shift.valueChanged.connect(self._shift_changed)
        self.slider.valueChanged.connect(lambda v: self.shift.setValue(v))
        self.estimate_button = QPushButton("Estimate")
        self.estimate_button.setToolTip("Back to the estimate (the fitted track, or its median)")
        self.estimate_button.clicked.connect(self.reset)
        self.original = QCheckBox("original audio")
        self.original.setToolTip("Hear the audio as recorded, without undoing the drift")
        self.original.toggled.connect(lambda _on: self.changed.emit())
        self.export_button = QPushButton("Export synced\u2026")
        self.export_button.clicked.connect(self.exportRequested)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Undo drift:"))
        lay.addWidget(self.follow)
        lay.addWidget(self.shift)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.estimate_button)
        lay.addWidget(self.original)
        lay.addSpacing(12)
        lay.addWidget(self.export_button)
        self.set_result(None, None)

    # --- what to undo ------------------------------------------------------------------------------
    @property
    def drifting(self) -> bool:
        return self.result is not None and self.result.track_model != "constant"

    @property
    def follows_track(self) -> bool:
        return self.drifting and self.follow.isChecked()

    def set_result(self, res, audio) -> None:
        self.stop()
        self.result, self.audio, self.corrected = res, audio, None
        on = res is not None
        for w in (self.shift, self.slider, self.estimate_button, self.original, self.export_button):
            w.setEnabled(on)
        self.follow.setVisible(self.drifting)
        if self.drifting:
            self.follow.setText(f"follow the {res.track_model} track")
            self.follow.setToolTip(describe_track(res.track))
            self._correct_in_background()
        self.reset()

    def reset(self) -> None:
        res = self.result
        self.follow.blockSignals(True)
        self.follow.setChecked(self.drifting)
        self.follow.blockSignals(False)
        self.shift.setValue(res.offset_ms if res is not None and math.isfinite(res.offset_ms) else 0.0)
        self.shift.setEnabled(res is not None and not self.follows_track)
        self.slider.setEnabled(self.shift.isEnabled())
        self.changed.emit()

    def export_drift(self):
        """What an export should undo: the track (core.drift_track.DriftTrack) or one constant, in seconds.
        The spin box shows whole ms; unless the user moved it, the estimate goes out exactly."""
        res = self.result
        if self.follows_track:
            return res.track
        exact = res.offset_ms if res is not None and math.isfinite(res.offset_ms) else 0.0
        return (exact if round(exact) == self.shift.value() else self.shift.value()) / 1000.0

    def _mode_changed(self, _on: bool) -> None:
        self.shift.setEnabled(not self.follows_track)
        self.slider.setEnabled(not self.follows_track)
        self.changed.emit()

    def _shift_changed(self, ms: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(ms)))
        self.slider.blockSignals(False)
        if not self.original.isChecked():
            self.changed.emit()

    def _correct_in_background(self) -> None:
        res, audio = self.result, self.audio
        if audio is None:
            return

        def job(_progress, _cancel):
            from ..core import retime
            return res.track, retime.corrected(audio.samples, audio.rate, res.track)

        w = Worker(job, "correcting the sound for the preview")
        w.signals.returned.connect(self._corrected_ready)
        self.run_worker(w)

    def _corrected_ready(self, value) -> None:
        tr, samples = value
        if self.result is not None and tr is self.result.track:
            self.corrected = (tr, samples)
            if self.follows_track:
                self.changed.emit()

    # --- the preview ---------------------------------------------------------------------------------
    def play(self, at_s: float) -> None:
        """(Re)start the sound at picture time at_s with the drift chosen."""
        from ..core.playback import AudioDeviceError, AudioPreview
        if self.audio is None:
            return
        if self.original.isChecked():
            samples, drift_s = self.audio.samples, 0.0
        elif self.follows_track:
            if self.corrected is None:  # still being computed: silent for a moment
                self.stop()
                return
            samples, drift_s = self.corrected[1], 0.0
        else:
            samples, drift_s = self.audio.samples, self.shift.value() / 1000.0
        device = self.settings.value("audio/device", "", str) or None
        if self.preview is None or self._preview_of is not samples or self.preview.device != device:
            self.stop()
            self.preview = AudioPreview(samples, self.audio.rate, device)
            self._preview_of = samples
        try:
            self.preview.start(at_s, drift_s)
        except AudioDeviceError as exc:
            # Once per session a dialog; the picture still plays.
            self.problem.emit(f"playing without sound: {exc}",
                              "" if self.error_shown else f"{exc}\n\nThe picture plays without sound.")
            self.error_shown = True

    def stop(self) -> None:
        if self.preview is not None:
            self.preview.stop()
