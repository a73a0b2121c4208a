"""The trainer tab: fine-tune (or train from scratch) on a folder of the user's in-sync clips.

Everything here is a form around `trainer.recipe.run`, run in a `TrainThread`; the tab only
collects the job, draws the recipe's events and offers the result to the window.
"""
from __future__ import annotations

import os
import time

import pyqtgraph as pg
from PySide6.QtCore import QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from ..errors import Cancelled, reason
from .workers import TrainThread


_NAME = {"c3": "C\u00b3", "wlos": "WLOS"}


def default_model_root() -> str:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or os.path.expanduser(
        "~/.local/share/wlos-sync")
    return os.path.join(base, "models")


def gain_text(g: dict) -> str:
    """The recipe's before/after on the held-out clips, in words."""
    b, a = g["before"], g["after"]
    arrow = "\u2191" if a["absolute"] > b["absolute"] else "\u2193" if a["absolute"] < b["absolute"] else "="
    return (f"<b>On this folder's {g['clips']} held-out clip(s)</b> (audio moved by \u22126\u2026+6 frames): "
            f"right within a frame <b>{b['absolute']:.0%}</b> before \u2192 <b>{a['absolute']:.0%}</b> after "
            f"{arrow} <span style='color:#889'>({b['method']} \u2192 {a['method']}, {a['cases']} answers)</span>")


class TrainerTab(QWidget):
    useModel = Signal(object)  # a model folder, or None for the shipped model
    message = Signal(str, str)  # title, text: the window shows it as a dialog
    busyChanged = Signal(bool)

    def __init__(self, settings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.thread: TrainThread | None = None
        self.trained_dir: str | None = None
        self._steps: dict[str, list] = {}
        self._val: dict[str, list] = {}
        self._dirty = False

        self.folder = QLineEdit(settings.value("trainer/folder", "", str))
        self.folder.setPlaceholderText("a folder of videos whose sound is in sync")
        self.out = QLineEdit()
        self.init = QComboBox()
        self.init.addItem("the shipped model (fine-tune)", "default")
        self.init.addItem("scratch", None)
        self.epochs_c3, self.epochs_wlos = QDoubleSpinBox(), QDoubleSpinBox()
        for box, default in ((self.epochs_c3, 6.0), (self.epochs_wlos, 10.0)):
            box.setRange(0.1, 500.0)
            box.setDecimals(1)
            box.setValue(default)
        self.new_out()

        form = QFormLayout()
        form.addRow("Clips:", self._with_browse(self.folder, self._browse_folder))
        form.addRow("Start from:", self.init)
        epochs = QHBoxLayout()
        epochs.addWidget(QLabel("C\u00b3 pre-training"))
        epochs.addWidget(self.epochs_c3)
        epochs.addSpacing(16)
        epochs.addWidget(QLabel("WLOS"))
        epochs.addWidget(self.epochs_wlos)
        epochs.addStretch(1)
        form.addRow("Epochs:", epochs)
        form.addRow("Save model in:", self._with_browse(self.out, self._browse_out))
        self.start_button, self.cancel_button = QPushButton("Start training"), QPushButton("Cancel")
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        form.addRow("", buttons)
        job_box = QGroupBox("Train on a folder")
        job_box.setLayout(form)

        self.dataset_bar, self.train_bar = QProgressBar(), QProgressBar()
        self.dataset_label, self.train_label = QLabel("features: \u2013"), QLabel("training: \u2013")
        for bar in (self.dataset_bar, self.train_bar):
            bar.setRange(0, 1000)
            bar.setValue(0)
        progress = QFormLayout()
        progress.addRow(self.dataset_label, self.dataset_bar)
        progress.addRow(self.train_label, self.train_bar)

        self.loss_plot, self.mae_plot = pg.PlotWidget(), pg.PlotWidget()
        self.loss_plot.setTitle("training loss", color="#c8c8d0", size="10pt")
        self.loss_plot.setLabel("bottom", "step")
        self.mae_plot.setTitle("validation MAE (frames per block)", color="#c8c8d0", size="10pt")
        self.mae_plot.setLabel("bottom", "epoch")
        # One loss per step: a run on a real folder has thousands. Drawn antialiased, such a noisy
        # line took 150 ms to paint at 1,000 steps and 1.7 s at 160,000 (every 250 ms, on the GUI
        # thread); plain and reduced to the plot's pixels (min and max per pixel column), 4-9 ms.
        self.loss_plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.loss_plot.getPlotItem().setClipToView(True)
        self.curves: dict[str, tuple] = {}
        for kind, colour in (("c3", "#50c8ff"), ("wlos", "#ffc828")):
            name = _NAME[kind]
            self.loss_plot.addLegend(offset=(-10, 10))
            self.mae_plot.addLegend(offset=(-10, 10))
            self.curves[kind] = (self.loss_plot.plot([], [], pen=pg.mkPen(colour, width=1.5), name=name,
                                                     antialias=False),
                                 self.mae_plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o",
                                                    symbolSize=6, symbolBrush=colour, name=name))
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.mae_plot)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setMaximumHeight(140)

        self.model_label = QLabel()
        # What the run gained on the folder's own held-out clips (recipe's "gain" event).
        self.gain_label = QLabel()
        self.gain_label.setWordWrap(True)
        self.use_button, self.shipped_button = QPushButton("Use this model"), QPushButton("Use the shipped model")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(lambda: self.useModel.emit(self.trained_dir))
        self.shipped_button.clicked.connect(lambda: self.useModel.emit(None))
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(self.use_button)
        model_row.addWidget(self.shipped_button)

        lay = QVBoxLayout(self)
        lay.addWidget(job_box)
        lay.addLayout(progress)
        lay.addLayout(plots, 1)
        lay.addWidget(self.log)
        lay.addWidget(self.gain_label)
        lay.addLayout(model_row)

        self._refresh = QTimer(self)  # redraw at most 4 times a second, however fast steps come
        self._refresh.setInterval(250)
        self._refresh.timeout.connect(self._redraw)

    @staticmethod
    def _with_browse(edit: QLineEdit, handler) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        b = QPushButton("Browse\u2026")
        b.clicked.connect(handler)
        row.addWidget(b)
        return row

    def _browse_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of in-sync clips", self.folder.text())
        if d:
            self.folder.setText(d)

    def _browse_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Save the model in", os.path.dirname(self.out.text()))
        if d:
            self.out.setText(d)

    def new_out(self) -> None:
        self.out.setText(os.path.join(default_model_root(), time.strftime("model-%Y%m%d-%H%M%S")))

    def show_model(self, model_dir: str | None) -> None:
        self.model_label.setText("The app uses: " + ("the shipped model" if model_dir is None else model_dir))
        self.shipped_button.setEnabled(model_dir is not None)

    @property
    def busy(self) -> bool:
        return self.thread is not None

    # --- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        from trainer.recipe import TrainJob
        from trainer.train import TrainConfig
        folder, out = self.folder.text().strip(), self.out.text().strip()
        problem = self._check(folder, out)
        if problem:
            self.message.emit("Cannot start training", problem)
            return
        self.settings.setValue("trainer/folder", folder)
        workers = self.settings.value("trainer/workers", 0, int) or None
        init = self.init.currentData()
        make = TrainConfig.fine_tune if init else TrainConfig
        job = TrainJob(folder, out, stage="both", init=init, workers=workers,
                       c3=make(kind="c3", epochs=self.epochs_c3.value()),
                       wlos=make(kind="wlos", epochs=self.epochs_wlos.value()))
        self._steps, self._val = {"c3": [], "wlos": []}, {"c3": [], "wlos": []}
        self._dirty = True
        self._redraw()
        self.log.clear()
        self.trained_dir = None
        self.use_button.setEnabled(False)
        self.dataset_bar.setValue(0)
        self.train_bar.setValue(0)
        self.thread = TrainThread(job, self)
        self.thread.event.connect(self._event)
        self.thread.returned.connect(self._done)
        self.thread.errored.connect(self._failed)
        self.thread.finished.connect(self._finished)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._append(f"training on {folder} \u2192 {out}")
        self.gain_label.clear()
        self._refresh.start()
        self.busyChanged.emit(True)
        self.thread.start()

    @staticmethod
    def _check(folder: str, out: str) -> str | None:
        if not folder:
            return "Choose a folder of clips first."
        if not os.path.isdir(folder):
            return f"{folder}: is not a folder."
        if not os.access(folder, os.R_OK | os.X_OK):
            return f"{folder}: cannot be read (permission denied)."
        if not out:
            return "Choose where to save the model."
        if os.path.exists(out) and os.listdir(out):
            return f"{out}: is not empty; choose a new folder for the model."
        return None

    def cancel(self) -> None:
        if self.thread is not None:
            self.cancel_button.setEnabled(False)
            self._append("cancelling: stopping at the next step \u2026")
            self.thread.cancel()

    def shutdown(self) -> None:
        """Cancel and join (the window is closing)."""
        if self.thread is not None:
            self.thread.cancel()
            self.thread.wait()

    def _event(self, kind: str, info: dict) -> None:
        if kind == "dataset":
            total = max(1, info["total"])
            self.dataset_bar.setValue(int(1000 * info["done"] / total))
            self.dataset_label.setText(f"features: {info['done']}/{info['total']} clips")
        elif kind == "stage":
            name = _NAME[info["kind"]]
            from ..core.paths import resources_dir
            init = info["init"]
            start = "scratch" if not init else (
                "the shipped model" if os.path.samefile(init, resources_dir()) else init)
            self._append(f"{name}: {'resuming' if info['resume'] else 'training'} from {start}")
        elif kind == "step":
            self._steps[info["kind"]].append((info["step"], info["loss"]))
            self.train_bar.setValue(int(1000 * info["step"] / max(1, info["total"])))
            self.train_label.setText(f"{_NAME[info['kind']]}: step {info['step']}/{info['total']}")
            self._dirty = True
        elif kind == "validation":
            if info.get("mae") is not None:
                self._val[info["kind"]].append((info["epoch"], info["mae"]))
                self._dirty = True
        elif kind == "log":
            self._append(info["message"])
        elif kind == "gain":
            self.gain_label.setText(gain_text(info))

    def _redraw(self) -> None:
        if not self._dirty:
            return
        for kind, (loss, mae) in self.curves.items():
            steps, vals = self._steps.get(kind, []), self._val.get(kind, [])
            loss.setData([s for s, _ in steps], [v for _, v in steps])
            mae.setData([e for e, _ in vals], [v for _, v in vals])
        # Settle the auto-range now: pyqtgraph would do it inside the next paint, and the new range
        # (new axes) would ask for another, so each redraw painted both plots four times.
        for plot in (self.loss_plot, self.mae_plot):
            plot.getPlotItem().vb.prepareForPaint()
        self._dirty = False

    def _append(self, text: str) -> None:
        self.log.appendPlainText(text)

    def _done(self, summary: dict) -> None:
        out = self.out.text().strip()
        finished = all(st["finished"] for st in summary["stages"].values())
        for kind, st in summary["stages"].items():
            if "mae" in st["final"]:
                self._append(f"{kind}: validation MAE {st['final']['mae']:.3f} frames per block")
        if finished and os.path.exists(os.path.join(out, "wlos.pt")):
            self.trained_dir = out
            self.use_button.setEnabled(True)
            self._append(f"done: the model is in {out}; 'Use this model' makes the app use it")
        else:
            self._append("stopped before the schedule ended")

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, Cancelled):
            self._append("cancelled; the checkpoint is kept in the model folder")
        else:
            self._append(f"failed: {reason(exc)}")
            self.message.emit("Training failed", reason(exc))

    def _finished(self) -> None:
        self._refresh.stop()
        self._dirty = True
        self._redraw()
        self.thread.deleteLater()
        self.thread = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.busyChanged.emit(False)
        if self.trained_dir:
            self.new_out()  # the next run gets a fresh folder
