"""Export dialog: drift to undo, output file and container; the export runs in a worker."""
from __future__ import annotations

import math
import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton, QRadioButton,
                               QVBoxLayout)

from ..core import media
from ..core.export import containers_for, export_synced, supported_extensions
from ..core.drift_track import DriftTrack
from ..errors import Cancelled, reason
from .workers import Worker


def usable_extensions(src: str) -> list[str]:
    """The containers that can carry the clip's picture as it is (all, if it cannot be probed)."""
    try:
        info = media.probe(src)
    except Exception:  # the export itself will say what is wrong with the file
        return supported_extensions()
    return containers_for(info.video.codec) if info.video else supported_extensions()


def default_output(src: str, ext: str | None = None, allowed: list[str] | None = None) -> str:
    """talk.mp4 -> talk.synced.mp4 beside it; never the source itself."""
    stem, src_ext = os.path.splitext(src)
    allowed = allowed or supported_extensions()
    fallback = ".mp4" if ".mp4" in allowed else allowed[0]
    ext = ext or (src_ext.lower() if src_ext.lower() in allowed else fallback)
    return f"{stem}.synced{ext}"


def ask(parent, title: str, text: str) -> bool:
    """A yes/no question, No by default; a module function, so that tests can answer it."""
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no, no) == yes


class ExportDialog(QDialog):
    """Shown for one clip. `start(worker)` is the window's way to run (and on close, join) a job."""

    openRequested = Signal(str)  # the user wants the exported file analysed
    exported = Signal(dict)

    def __init__(self, src: str, result, drift, start, parent=None):
        """result: the clip's AnalysisResult; drift: what to undo at first, the fitted track
        (core.drift_track.DriftTrack) or one constant in seconds (the preview's choice)."""
        super().__init__(parent)
        self.setWindowTitle("Export synced video")
        self.setMinimumWidth(560)
        self.src, self.result, self._start = src, result, start
        self.estimate_ms = result.offset_ms if math.isfinite(result.offset_ms) else 0.0
        self.worker: Worker | None = None
        self.result_path: str | None = None

        form = QFormLayout()
        form.addRow("Source:", QLabel(os.path.basename(src)))
        v = result.verdict()
        self.found = QLabel(f"{v.words} ({v.numbers})")
        self.found.setWordWrap(True)
        form.addRow("Found:", self.found)
        # The fitted track, or one constant the user sets (for a constant track they are the same).
        self.use_track = QRadioButton(f"the fitted {result.track_model} track")
        self.use_constant = QRadioButton("one constant drift:")
        drifting = result.track_model != "constant"
        self.use_track.setVisible(drifting)
        (self.use_track if drifting and isinstance(drift, DriftTrack) else self.use_constant).setChecked(True)
        self.drift = QDoubleSpinBox()
        self.drift.setRange(-5000, 5000)
        self.drift.setDecimals(1)
        self.drift.setSuffix(" ms")
        constant_ms = self.estimate_ms if isinstance(drift, DriftTrack) else float(drift) * 1000.0
        self.drift.setValue(constant_ms if constant_ms == constant_ms else 0.0)  # NaN (no estimate) -> 0
        self.drift.setToolTip("The drift to undo; positive = audio late (it is moved earlier).")
        self.drift.valueChanged.connect(lambda _v: self.use_constant.setChecked(True))
        reset = QPushButton("Estimate")
        reset.setToolTip(f"Back to the estimate ({self.estimate_ms:+.1f} ms)")
        reset.clicked.connect(lambda: self.drift.setValue(self.estimate_ms))
        col = QVBoxLayout()
        col.addWidget(self.use_track)
        row = QHBoxLayout()
        row.addWidget(self.use_constant)
        row.addWidget(self.drift, 1)
        row.addWidget(reset)
        col.addLayout(row)
        form.addRow("Drift to undo:", col)

        self.container = QComboBox()
        # Only containers that can carry this picture without re-encoding it.
        self.allowed = usable_extensions(src)
        self.container.addItems(self.allowed)
        self.path = QLineEdit(default_output(src, allowed=self.allowed))
        self.container.setCurrentText(os.path.splitext(self.path.text())[1])
        self.container.currentTextChanged.connect(self._container_changed)
        self.path.textChanged.connect(self._path_changed)
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("Save as:", row)
        form.addRow("Container:", self.container)
        self.replace = QCheckBox("Replace the file if it exists (never the source)")
        form.addRow("", self.replace)
        note = QLabel("The picture is copied without re-encoding; only the audio is moved and re-encoded.")
        note.setStyleSheet("color: #889;")
        note.setWordWrap(True)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button = self.buttons.addButton("Open exported file", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.open_button.setEnabled(False)
        self.export_button.clicked.connect(self.start_export)
        self.open_button.clicked.connect(self._open_exported)
        self.close_button.clicked.connect(self.reject)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)

    def _container_changed(self, ext: str) -> None:
        self.path.setText(os.path.splitext(self.path.text())[0] + ext)

    def _path_changed(self, path: str) -> None:
        ext = os.path.splitext(path)[1].lower()
        if ext in self.allowed and ext != self.container.currentText():
            self.container.blockSignals(True)
            self.container.setCurrentText(ext)
            self.container.blockSignals(False)

    def _browse(self) -> None:
        filters = "Video (" + " ".join(f"*{e}" for e in self.allowed) + ")"
        path, _ = QFileDialog.getSaveFileName(self, "Export synced video", self.path.text(), filters)
        if path:
            self.path.setText(path)

    def start_export(self) -> None:
        dst = self.path.text().strip()
        if os.path.abspath(dst) == os.path.abspath(self.src):
            self.status.setText("The output must be a new file: the source is never overwritten.")
            return
        if os.path.exists(dst) and not self.replace.isChecked():
            self.status.setText(f"{dst} exists: choose another name, or tick 'Replace'.")
            return
        if self._undoes_estimate() and not self.result.reliable and not ask(
                self, "Unreliable analysis",
                f"The analysis is unreliable (confidence {self.result.confidence:.2f}): the drift may be wrong.\n\n"
                "Check that the clip shows one face, speaking, or type the drift to undo.\n\nExport anyway?"):
            self.status.setText("Not exported; nothing was written.")
            return
        force, src, audio = self.replace.isChecked(), self.src, self.result.audio
        drift = self.result.track if self.use_track.isChecked() else self.drift.value() / 1000.0
        self.worker = Worker(lambda progress, cancel: export_synced(
            src, dst, drift, force=force, progress=lambda f: progress(f, "exporting"), cancel=cancel,
            audio=audio), "export")
        self.worker.signals.progress.connect(lambda f, _m: self.progress.setValue(int(f * 1000)))
        self.worker.signals.returned.connect(self._done)
        self.worker.signals.errored.connect(self._failed)
        self.worker.signals.finished.connect(self._finished)
        self.export_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.close_button.setText("Cancel")
        self.status.setText(f"Exporting to {dst} \u2026")
        self._start(self.worker)

    def _undoes_estimate(self) -> bool:
        """Whether the export undoes what the analysis found, not a drift the user typed."""
        return self.use_track.isChecked() or (math.isfinite(self.result.offset_ms)
                                              and abs(self.drift.value() - self.estimate_ms) < 0.05)  # 0.1 ms steps

    def _done(self, info: dict) -> None:
        self.result_path = info["path"]
        self.progress.setValue(1000)
        moved = (f"audio moved {-info['offset_s'] * 1000:+.1f} ms" if "offset_s" in info
                 else f"{info['track_model']} drift track undone")
        self.status.setText(f"Saved {info['path']} ({moved}, {info['video_packets']} video packets copied).")
        self.open_button.setEnabled(True)
        self.exported.emit(info)

    def _failed(self, exc: Exception) -> None:
        self.progress.setValue(0)
        self.status.setText("Export cancelled; nothing was written." if isinstance(exc, Cancelled)
                            else f"Export failed: {reason(exc)}")

    def _finished(self) -> None:
        self.worker = None
        self.export_button.setEnabled(True)
        self.close_button.setText("Close")

    def _open_exported(self) -> None:
        if self.result_path:
            self.openRequested.emit(self.result_path)
            self.accept()

    def reject(self) -> None:
        if self.worker is not None:  # the button reads "Cancel" while exporting
            self.worker.cancel()
            return
        super().reject()
