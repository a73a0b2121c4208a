"""Export dialog: drift to undo, output file and container; the export runs in a worker."""
from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QVBoxLayout)

from ..core import media
from ..core.export import containers_for, export_synced, supported_extensions
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


class ExportDialog(QDialog):
    """Shown for one clip. `start(worker)` is the window's way to run (and on close, join) a job."""

    openRequested = Signal(str)  # the user wants the exported file analysed
    exported = Signal(dict)

    def __init__(self, src: str, drift_ms: float, estimate_ms: float, start, parent=None):
        """drift_ms: the drift to undo (the preview's); estimate_ms: the analysis's estimate."""
        super().__init__(parent)
        self.setWindowTitle("Export synced video")
        self.setMinimumWidth(560)
        self.src, self.estimate_ms, self._start = src, estimate_ms, start
        self.worker: Worker | None = None
        self.result_path: str | None = None

        form = QFormLayout()
        form.addRow("Source:", QLabel(os.path.basename(src)))
        self.drift = QDoubleSpinBox()
        self.drift.setRange(-5000, 5000)
        self.drift.setDecimals(1)
        self.drift.setSuffix(" ms")
        self.drift.setValue(drift_ms if drift_ms == drift_ms else 0.0)  # NaN (no estimate) -> 0
        self.drift.setToolTip("The drift to undo; positive = audio late (it is moved earlier).")
        reset = QPushButton("Estimate")
        reset.setToolTip(f"Back to the estimate ({estimate_ms:+.1f} ms)")
        reset.clicked.connect(lambda: self.drift.setValue(self.estimate_ms))
        row = QHBoxLayout()
        row.addWidget(self.drift, 1)
        row.addWidget(reset)
        form.addRow("Drift to undo:", row)

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
        drift_s, force, src = self.drift.value() / 1000.0, self.replace.isChecked(), self.src
        self.worker = Worker(lambda progress, cancel: export_synced(
            src, dst, drift_s, force=force, progress=lambda f: progress(f, "exporting"), cancel=cancel), "export")
        self.worker.signals.progress.connect(lambda f, _m: self.progress.setValue(int(f * 1000)))
        self.worker.signals.returned.connect(self._done)
        self.worker.signals.errored.connect(self._failed)
        self.worker.signals.finished.connect(self._finished)
        self.export_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.close_button.setText("Cancel")
        self.status.setText(f"Exporting to {dst} \u2026")
        self._start(self.worker)

    def _done(self, info: dict) -> None:
        self.result_path = info["path"]
        self.progress.setValue(1000)
        self.status.setText(f"Saved {info['path']} (audio moved {-info['offset_s'] * 1000:+.1f} ms, "
                            f"{info['video_packets']} video packets copied).")
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
