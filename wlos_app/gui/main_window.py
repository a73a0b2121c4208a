"""The main window. It draws and dispatches: analysis, export and training run in workers that
call the core (`wlos_app.core`) and the trainer (`trainer.recipe`); nothing here computes."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QMainWindow, QMessageBox, QProgressBar, QPushButton, QSlider,
                               QSplitter, QStyle, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from ..core import grid
from ..errors import Cancelled, reason
from .export_dialog import ExportDialog
from .headline import headline_html
from .listen import ListenBar
from .plots import CurvePlot, DriftPlot
from .trainer_tab import TrainerTab
from .video import FrameDecoder, LipView, VideoView
from .workers import Worker

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".flv",
                    ".wmv", ".3gp", ".ogv")
MAX_RECENT = 10


@dataclass
class ClipState:
    """What the window knows about one opened clip."""

    path: str
    status: str = "queued"  # queued, analysing, done, failed, cancelled
    progress: float = 0.0
    message: str = ""
    result: object = None  # AnalysisResult
    audio: object = None  # media.Audio, for the preview
    model_dir: str | None = None  # the model the result came from (None = shipped)
    error: str = ""
    face: int | None = None  # the face clicked (a track id), analysed instead of the one heard


def _fmt_time(t: float) -> str:
    t = max(0.0, t)
    return f"{int(t // 60)}:{t % 60:05.2f}"


class MainWindow(QMainWindow):
    analysisFinished = Signal(str)  # path, after its result (or failure) is in
    messageShown = Signal(str, str)  # title, text of a dialog the user was shown

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings or QSettings("WLOS Sync", "wlos-sync")
        self.setWindowTitle("WLOS Sync")
        self.setAcceptDrops(True)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)  # one analysis and one export at a time; torch takes the cores
        self.workers: set[Worker] = set()
        self.clips: dict[str, ClipState] = {}
        self.queue: list[str] = []
        self.analysing: tuple[str, Worker] | None = None
        self.current: str | None = None
        self.decoder: FrameDecoder | None = None
        self.position = 0.0
        self.frame_time: float | None = None  # time of the picture on screen
        self._shown_block = None  # (result id, block index) whose curves are drawn
        self.messages: list[tuple[str, str]] = []
        self.export_dialog: ExportDialog | None = None
        model_dir = self.settings.value("model/dir", "", str)
        self.model_dir: str | None = model_dir if model_dir and os.path.isdir(model_dir) else None

        self._build_ui()
        self._build_menus()
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(15)
        self._play_timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self._play_from = 0.0
        self._restore_layout()
        self.set_model(self.model_dir, reanalyse=False)
        self._show_clip(None)

    # --- construction ----------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.clip_list = QListWidget()
        self.clip_list.setMinimumWidth(150)
        self.clip_list.currentItemChanged.connect(
            lambda item, _prev: self._show_clip(item.data(Qt.ItemDataRole.UserRole) if item else None))

        self.headline = QLabel()
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        # A fixed height: a headline that grew or shrank with its text would re-lay-out (and
        # repaint) the whole window on every progress update.
        self.headline.setFixedHeight(64)
        self.headline.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

        self.video = VideoView()
        self.video.faceClicked.connect(self._face_clicked)
        self.lips = LipView()
        self.overlay_boxes = {}
        overlays = QVBoxLayout()
        for key, text in (("box", "face box"), ("landmarks", "68 landmarks"), ("mouth", "mouth region")):
            cb = QCheckBox(text)
            cb.setChecked(self.settings.value(f"overlay/{key}", True, bool))
            cb.toggled.connect(lambda on, k=key: self._set_overlay(k, on))
            overlays.addWidget(cb)
            self.overlay_boxes[key] = cb
            setattr(self.video, f"show_{key}", cb.isChecked())
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(6, 0, 0, 0)
        side_lay.addWidget(self.lips)
        side_lay.addLayout(overlays)
        side_lay.addStretch(1)
        video_row = QHBoxLayout()
        video_row.addWidget(self.video, 1)
        video_row.addWidget(side)

        st = self.style()
        self.play_button = QToolButton()
        self.play_button.setIcon(st.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.back_button, self.fwd_button = QToolButton(), QToolButton()
        self.back_button.setIcon(st.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.fwd_button.setIcon(st.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.back_button.setToolTip("One frame back (Left)")
        self.fwd_button.setToolTip("One frame on (Right)")
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.fwd_button.clicked.connect(lambda: self.step(1))
        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setRange(0, 0)
        self.scrub.valueChanged.connect(lambda ms: self.seek(ms / 1000.0) if not self._updating_scrub else None)
        self._updating_scrub = False
        self.time_label = QLabel("0:00.00 / 0:00.00")
        transport = QHBoxLayout()
        for w in (self.back_button, self.play_button, self.fwd_button):
            transport.addWidget(w)
        transport.addWidget(self.scrub, 1)
        transport.addWidget(self.time_label)

        self.listen = ListenBar(self.start_worker, self.settings)
        self.listen.changed.connect(self._restart_audio)
        self.listen.exportRequested.connect(self.open_export)
        self.listen.problem.connect(self._sound_problem)

        self.drift_plot = DriftPlot()
        self.drift_plot.seekRequested.connect(self.seek)
        self.curve_plot = CurvePlot()
        self.plot_split = QSplitter(Qt.Orientation.Horizontal)
        self.plot_split.addWidget(self.drift_plot)
        self.plot_split.addWidget(self.curve_plot)
        self.plot_split.setStretchFactor(0, 3)
        self.plot_split.setStretchFactor(1, 2)

        top = QWidget()
        top_lay = QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        # After a click on another face: back to the face the analysis found heard.
        self.heard_button = QPushButton("Back to the face heard")
        self.heard_button.setToolTip("Analyse the face whose lips match the sound again, instead of the one clicked")
        self.heard_button.clicked.connect(self._back_to_heard)
        self.heard_button.hide()
        head_row = QHBoxLayout()
        head_row.addWidget(self.headline, 1)
        head_row.addWidget(self.heard_button, 0, Qt.AlignmentFlag.AlignTop)
        top_lay.addLayout(head_row)
        top_lay.addLayout(video_row, 1)
        top_lay.addLayout(transport)
        top_lay.addWidget(self.listen)
        self.main_split = QSplitter(Qt.Orientation.Vertical)
        self.main_split.addWidget(top)
        self.main_split.addWidget(self.plot_split)
        self.main_split.setStretchFactor(0, 3)
        self.main_split.setStretchFactor(1, 2)
        self.side_split = QSplitter(Qt.Orientation.Horizontal)
        self.side_split.addWidget(self.clip_list)
        self.side_split.addWidget(self.main_split)
        self.side_split.setStretchFactor(1, 1)
        self.side_split.setSizes([180, 1000])

        self.trainer = TrainerTab(self.settings)
        self.trainer.useModel.connect(self.set_model)
        self.trainer.message.connect(lambda title, text: self.show_message(title, text))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.side_split, "Analyse")
        self.tabs.addTab(self.trainer, "Train")
        self.setCentralWidget(self.tabs)

        self.status_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(240)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.cancel_button.hide()
        self.model_label = QLabel()
        sb = self.statusBar()
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.model_label)

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open\u2026", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = m.addMenu("Open &Recent")
        self._action(m, "&Export synced\u2026", self.open_export, "Ctrl+E")
        self._action(m, "Analyse &again", self.reanalyse, "Ctrl+R")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        v = self.menuBar().addMenu("&View")
        for key, cb in self.overlay_boxes.items():
            a = QAction(cb.text().capitalize(), self, checkable=True, checked=cb.isChecked())
            a.toggled.connect(cb.setChecked)
            cb.toggled.connect(a.setChecked)
            v.addAction(a)
        p = self.menuBar().addMenu("&Playback")
        self._action(p, "Play / pause", self.toggle_play, "Space")
        self._action(p, "Frame back", lambda: self.step(-1), "Left")
        self._action(p, "Frame on", lambda: self.step(1), "Right")
        a = QAction("Read every frame of long recordings (slower)", self, checkable=True,
                    checked=self.settings.value("analysis/full", False, bool))
        a.toggled.connect(lambda on: self.settings.setValue("analysis/full", on))
        self.full_action = a
        m.insertAction(m.actions()[-2], a)  # above the separator before Quit
        md = self.menuBar().addMenu("&Model")
        self._action(md, "Use the &shipped model", lambda: self.set_model(None))
        self._action(md, "Use a model &folder\u2026", self._choose_model)
        self._rebuild_recent()

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.triggered.connect(lambda _checked=False: slot())
        menu.addAction(a)
        return a

    def _restore_layout(self) -> None:
        geo = self.settings.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 860)
        for key, split in (("main", self.main_split), ("plots", self.plot_split), ("side", self.side_split)):
            state = self.settings.value(f"window/split_{key}")
            if state is not None:
                split.restoreState(state)

    def _save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        for key, split in (("main", self.main_split), ("plots", self.plot_split), ("side", self.side_split)):
            self.settings.setValue(f"window/split_{key}", split.saveState())
        self.settings.sync()

    # --- messages --------------------------------------------------------------------------------
    def show_message(self, title: str, text: str, icon=QMessageBox.Icon.Warning) -> None:
        """A window-modal dialog that does not block the event loop (workers keep reporting)."""
        self.messages.append((title, text))
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.messageShown.emit(title, text)

    # --- opening ---------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        exts = " ".join(f"*{e}" for e in VIDEO_EXTENSIONS)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open video", self.settings.value("last_dir", "", str),
                                                f"Video ({exts});;All files (*)")
        if paths:
            self.open_paths(paths)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.tabs.setCurrentIndex(0)
            self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """Queue files for analysis; a folder adds the videos in it. Problems get one dialog."""
        files, problems = [], []
        for p in paths:
            p = os.path.abspath(p)
            if os.path.isdir(p):
                try:
                    found = sorted(os.path.join(p, f) for f in os.listdir(p) if f.lower().endswith(VIDEO_EXTENSIONS))
                except OSError as exc:
                    problems.append(f"{p}: cannot read the folder ({reason(exc)})")
                    continue
                if not found:
                    problems.append(f"{p}: no video files in this folder")
                files += found
            elif not os.path.exists(p):
                problems.append(f"{p}: no such file")
            else:
                files.append(p)
        if problems:
            self.show_message("Cannot open", "\n".join(problems))
        for f in files:
            self._add_clip(f)
        if files:
            self.settings.setValue("last_dir", os.path.dirname(files[-1]))
            self._select(files[0] if len(files) == 1 or self.current is None else self.current)
            # Start after this event-loop pass: the window draws the new clip first, instead of
            # competing for the GIL with a worker that is opening the file.
            QTimer.singleShot(0, self._next_analysis)

    def _add_clip(self, path: str) -> None:
        recent = [r for r in self.settings.value("recent", [], list) or [] if r != path]
        self.settings.setValue("recent", [path, *recent][:MAX_RECENT])
        self._rebuild_recent()
        if path in self.clips and self.clips[path].status in ("queued", "analysing"):
            return
        if path not in self.clips:
            item = QListWidgetItem(os.path.basename(path))
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.clip_list.addItem(item)
        self.clips[path] = ClipState(path)
        self.queue.append(path)
        self._update_item(path)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.value("recent", [], list) or []
        for path in recent:
            a = QAction(path, self)
            a.triggered.connect(lambda _c=False, p=path: self.open_paths([p]))
            self.recent_menu.addAction(a)
        self.recent_menu.setEnabled(bool(recent))

    def _item(self, path: str) -> QListWidgetItem | None:
        for i in range(self.clip_list.count()):
            item = self.clip_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == path:
                return item
        return None

    def _update_item(self, path: str) -> None:
        item, st = self._item(path), self.clips[path]
        if item is None:
            return
        name = os.path.basename(path)
        if st.status == "done":
            r = st.result
            item.setText(f"{name}\n  {r.offset_ms:+.0f} ms \u00b7 conf {r.confidence:.2f}")
        elif st.status == "analysing":
            item.setText(f"{name}\n  analysing {st.progress * 100:.0f}%")
        else:
            item.setText(f"{name}\n  {st.status}")
        item.setToolTip(path + (f"\n{st.error}" if st.error else ""))

    def _select(self, path: str) -> None:
        item = self._item(path)
        if item is not None:
            self.clip_list.setCurrentItem(item)

    # --- analysis ---------------------------------------------------------------------------------
    def analysis_config(self):
        from ..core.analysis import AnalysisConfig
        from ..core.models import weights_path
        curves = (("c3",) if weights_path("c3", self.model_dir).exists() else ()) + ("qmi",)
        return AnalysisConfig(method="auto", curves=curves, model_dir=self.model_dir,
                              full=self.settings.value("analysis/full", False, bool))

    def _next_analysis(self) -> None:
        if self.analysing is not None or not self.queue:
            return
        path = self.queue.pop(0)
        cfg, model_dir = self.analysis_config(), self.model_dir
        cfg.face_id = self.clips[path].face

        cfg.keep_audio = False

        def job(progress, cancel):
            from ..core import media
            from ..core.analysis import analyze
            result = analyze(path, cfg, progress, cancel, on_partial=w.signals.partial.emit)
            # The sound for the preview and the export, read once the analysis has let go of its
            # work: held through it, an hour's sound would add to the analysis's peak.
            progress(1.0, "reading the sound for the preview")
            result.audio = media.read_audio(path, result.info)
            return result, result.audio

        w = Worker(job, f"analysis of {os.path.basename(path)}")
        st = self.clips[path]
        st.status, st.progress, st.model_dir, st.error = "analysing", 0.0, model_dir, ""
        st.result = None  # until the answer (or a long recording's first one) comes
        w.signals.progress.connect(lambda f, msg: self._analysis_progress(path, f, msg))
        w.signals.returned.connect(lambda res: self._analysis_done(path, res))
        w.signals.partial.connect(lambda res: self._analysis_partial(path, res))
        w.signals.errored.connect(lambda exc: self._analysis_failed(path, exc))
        w.signals.finished.connect(lambda: self._analysis_finished(path, w))
        self.analysing = (path, w)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.start_worker(w)
        self._update_item(path)
        if path == self.current:
            self._show_headline()

    def start_worker(self, w: Worker) -> None:
        """Run a worker in the pool and keep it until it finishes, so closing can cancel it."""
        self.workers.add(w)
        w.signals.finished.connect(lambda: self.workers.discard(w))
        self.pool.start(w)

    def _analysis_progress(self, path: str, fraction: float, message: str) -> None:
        st = self.clips.get(path)
        if st is None:
            return
        # Progress comes every second of video; redraw only when it moved a visible amount.
        if message == st.message and fraction - st.progress < 0.01:
            return
        st.progress, st.message = fraction, message
        self.progress.setValue(int(fraction * 1000))
        self.status_label.setText(f"{os.path.basename(path)}: {message}")
        self._update_item(path)
        if path == self.current:
            self._show_headline()

    def _analysis_done(self, path: str, res) -> None:
        st = self.clips[path]
        st.result, st.audio = res
        st.status = "done"
        # The headline lists the warnings; the status line says the newest news once.
        self.status_label.setText(f"{os.path.basename(path)}: {st.result.summary()}")
        if path == self.current:
            self._show_clip(path)

    def _analysis_partial(self, path: str, res) -> None:
        """A long recording's answer so far: shown at once, refined as windows arrive."""
        st = self.clips.get(path)
        if st is None or st.status != "analysing":
            return
        st.result = res
        if path == self.current:
            self._show_clip(path)

    def _analysis_failed(self, path: str, exc: Exception) -> None:
        st = self.clips[path]
        if isinstance(exc, Cancelled) and st.result is not None:
            # A long recording cancelled while refining keeps the answer so far.
            st.status = "done"
            st.result.warnings.append("cancelled while refining: this is the answer so far")
            self.status_label.setText(f"{os.path.basename(path)}: cancelled; the answer so far: {st.result.summary()}")
            if path == self.current:
                self._show_clip(path)
            return
        if isinstance(exc, Cancelled):
            st.status, st.error = "cancelled", "cancelled"
            self.status_label.setText(f"{os.path.basename(path)}: analysis cancelled")
        else:
            st.status, st.error = "failed", reason(exc)
            self.status_label.setText(f"{os.path.basename(path)}: {st.error}")
            self.show_message("Cannot analyse this clip", st.error)
        if path == self.current:
            self._show_headline()

    def _analysis_finished(self, path: str, w: Worker) -> None:
        if self.analysing and self.analysing[1] is w:
            self.analysing = None
        self._update_item(path)
        if self.analysing is None and not self.queue:
            self.progress.hide()
            self.cancel_button.hide()
        self.analysisFinished.emit(path)
        self._next_analysis()

    def cancel_analysis(self) -> None:
        """Cancel the running analysis and everything queued behind it."""
        for path in self.queue:
            self.clips[path].status = "cancelled"
            self._update_item(path)
        self.queue.clear()
        if self.analysing is not None:
            self.analysing[1].cancel()
            self.status_label.setText("cancelling \u2026")

    def reanalyse(self) -> None:
        if self.current and self.clips[self.current].status not in ("queued", "analysing"):
            self.clips[self.current].status = "queued"
            self.queue.append(self.current)
            self._show_headline()
            self._next_analysis()

    # --- models -----------------------------------------------------------------------------------
    def _choose_model(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Model folder (with wlos.pt)", self.model_dir or "")
        if d:
            self.set_model(d)

    def set_model(self, model_dir: str | None, reanalyse: bool = True) -> None:
        """Use the model in `model_dir` (None = the shipped one) for every analysis from now on."""
        from ..core.models import weights_path
        if model_dir is not None and not weights_path("wlos", model_dir).exists():
            self.show_message("Not a model folder", f"{model_dir}: has no wlos.pt")
            return
        self.model_dir = model_dir
        self.settings.setValue("model/dir", model_dir or "")
        name = "shipped" if model_dir is None else os.path.basename(model_dir.rstrip("/"))
        import torch
        device = f"CUDA ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
        self.model_label.setText(f"model: {name} \u00b7 {device}")
        self.model_label.setToolTip(model_dir or "resources/ (shipped with the app)")
        self.trainer.show_model(model_dir)
        if reanalyse:
            self.status_label.setText(f"now using the {name} model")
            self.reanalyse()

    # --- showing a clip ---------------------------------------------------------------------------
    @property
    def result(self):
        st = self.clips.get(self.current) if self.current else None
        return st.result if st and st.status in ("done", "analysing") else None

    def _show_clip(self, path: str | None) -> None:
        if path != self.current:
            self.pause()
            if self.decoder is not None:
                self.decoder.stop()
                self.decoder = None
            self.current = path
            self.position = 0.0
            self.video.set_frame(None)
            if path is not None:
                self.decoder = FrameDecoder(path, self)
                self.decoder.frameReady.connect(self._frame_ready)
                self.decoder.failed.connect(lambda msg: self.status_label.setText(msg))
                self.decoder.start()
        res = self.result
        self._show_headline()
        self._shown_block = None
        has_result = res is not None
        for w in (self.play_button, self.back_button, self.fwd_button, self.scrub):
            w.setEnabled(has_result)
        st = self.clips.get(path) if path else None
        if self.listen.result is not res:
            self.listen.set_result(res, st.audio if st is not None and has_result else None)
        if not has_result:
            if len(self.drift_plot.x):  # clearing an empty plot would still repaint it
                self.drift_plot.clear_result()
            if self.curve_plot.methods:
                self.curve_plot.clear_curves()
            self.lips.clear("" if path is None else "no result yet")
            self.scrub.setRange(0, 0)
            if self.decoder is not None:
                self.decoder.request(0.0)
            return
        fps = res.fps
        to_frames = fps / grid.FPS
        tj = res.track_json()
        track = [(t, ms / 1000.0 * fps) for t, ms in tj["track"] if ms is not None]
        self.drift_plot.show_result(grid.block_times(res.starts), res.drift * to_frames, track,
                                    [seg["start_s"] for seg in tj["segments"][1:]], res.track_model,
                                    res.confidence, res.method, grid.MAX_SHIFT * to_frames,
                                    res.heard.block_face if res.faces is not None and len(res.faces.tracks) > 1
                                    else None,
                                    res.block_weights())
        self.curve_plot.set_methods([m for m in ("c3", "qmi") if m in res.curves],
                                    np.asarray(grid.SHIFTS, float) * to_frames)
        self.curve_plot.show_clip(res.clip_curves)
        self._updating_scrub = True
        self.scrub.setRange(0, int(self.duration * 1000))
        self._updating_scrub = False
        self.seek(self.position)

    def _show_headline(self) -> None:
        st = self.clips.get(self.current) if self.current else None
        self.headline.setText(headline_html(st))
        self.heard_button.setVisible(st is not None and st.face is not None)

    def _back_to_heard(self) -> None:
        st = self.clips.get(self.current) if self.current else None
        if st is None or st.face is None:
            return
        st.face = None
        self.status_label.setText(f"{os.path.basename(self.current)}: analysing the face heard")
        self.reanalyse()

    @property
    def duration(self) -> float:
        res = self.result
        if res is None:
            return 0.0
        return max(res.duration_s, res.info.duration_s or 0.0)

    def seek(self, t: float) -> None:
        """Show the picture at time t (s) and move every cursor there."""
        res = self.result
        t = min(max(0.0, float(t)), max(0.0, self.duration - 1e-3)) if res is not None else 0.0
        self.position = t
        if self.decoder is not None:
            self.decoder.request(t)
        if res is None:
            return
        self._updating_scrub = True
        self.scrub.setValue(int(round(t * 1000)))
        self._updating_scrub = False
        self.time_label.setText(f"{_fmt_time(t)} / {_fmt_time(self.duration)}")
        self.drift_plot.set_cursor(t)
        self._show_block(t)
        if self._play_timer.isActive() and not self._ticking:
            self._restart_audio()

    def _show_block(self, t: float) -> None:
        """The curves and WLOS drift of the block centred nearest to t."""
        res = self.result
        if res is None or not len(res.starts):
            return
        i = grid.nearest_block(res.starts, t)
        if (id(res), i) == self._shown_block:  # playback moves 25 blocks a second at most
            return
        self._shown_block = (id(res), i)
        ok = res.status[i] == "ok"
        to_frames = res.fps / grid.FPS
        self.curve_plot.show_block({m: (c[i] if ok else None) for m, c in res.curves.items()},
                                   res.drift[i] * to_frames if ok and res.method == "wlos" else None)
        t0 = grid.seconds(res.starts[i])
        self.curve_plot.setTitle(f"correlation curves \u00b7 block {t0:.2f}\u2013{t0 + grid.seconds(grid.BLOCK):.2f} s"
                                 + ("" if ok else f" ({res.status[i]})"), color="#c8c8d0", size="10pt")

    def _frame_ready(self, _t_req: float, t_frame: float, image) -> None:
        self.frame_time = t_frame
        res = self.result
        if res is None:
            self.video.set_frame(image)
            return
        face = res.face
        k = min(max(grid.frame_at(t_frame), 0), face.n - 1)
        src = (res.info.video.width, res.info.video.height)
        if len(face.crops) != face.n:  # a sparse pass keeps no frames: the picture alone
            self.lips.clear("read in windows:\nno crops kept")
            self.video.set_frame(image, src)
            return
        if face.valid[k]:
            m = face.crop_to_image[k]
            corners = np.array([[0, 0], [32, 0], [32, 32], [0, 32]], np.float32)
            mouth = corners @ m[:, :2].T + m[:, 2]
            flow = res.features.visual_frames(k, k + 1)[0] if res.features.flow_valid[k] else None
            self.lips.set_crop(face.crops[k], flow)
        else:
            mouth = None
            self.lips.set_crop(None, None)
        self.video.set_frame(image, src, face.boxes[k], face.landmarks[k], mouth, self._faces_at(res, k))

    def _faces_at(self, res, k: int) -> list:
        """(id, box, heard) of every face in grid frame k, when the clip has several."""
        if res.faces is None or len(res.faces.tracks) < 2:
            return []
        i = int(np.clip(np.searchsorted(res.starts, k - grid.BLOCK // 2), 0, len(res.starts) - 1))
        now = int(res.heard.block_face[i]) if len(res.starts) else -1
        heard = now if now >= 0 else res.heard.face_id
        return [(t.id, t.face.boxes[k], t.id == heard) for t in res.faces.analysable if t.face.valid[k]]

    def _face_clicked(self, x: float, y: float) -> None:
        """Analyse the face clicked (a click off every face, or on the face analysed, does nothing)."""
        res = self.result
        if res is None or res.faces is None or len(res.faces.analysable) < 2:
            return
        t = self.frame_time if self.frame_time is not None else self.position
        k = min(max(grid.frame_at(t), 0), res.faces.n - 1)
        t = res.faces.at(x, y, k)
        st = self.clips[self.current]
        if t is None or (st.face == t.id) or (st.face is None and t.id == res.heard.face_id and res.heard.matched):
            return
        st.face = t.id
        self.status_label.setText(f"{os.path.basename(self.current)}: analysing face {t.id}")
        self.reanalyse()

    def _set_overlay(self, key: str, on: bool) -> None:
        setattr(self.video, f"show_{key}", on)
        self.settings.setValue(f"overlay/{key}", on)
        self.video.update()

    # --- playback ---------------------------------------------------------------------------------
    _ticking = False

    @property
    def playing(self) -> bool:
        return self._play_timer.isActive()

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def play(self) -> None:
        if self.result is None or self.playing:
            return
        if self.position >= self.duration - 0.05:
            self.seek(0.0)
        self._play_from = self.position
        self._clock.start()
        self._play_timer.start()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self._restart_audio()

    def pause(self) -> None:
        self._play_timer.stop()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.listen.stop()

    def step(self, frames: int) -> None:
        res = self.result
        if res is None:
            return
        self.pause()
        period = 1.0 / res.fps
        k = int(round(self.position / period)) + frames
        self.seek(k * period)

    def _tick(self) -> None:
        t = self._play_from + self._clock.elapsed() / 1000.0
        if t >= self.duration:
            self.pause()
            t = self.duration
        self._ticking = True
        try:
            self.seek(t)
        finally:
            self._ticking = False

    def _restart_audio(self) -> None:
        """(Re)start the sound at the current position with the drift chosen, when playing."""
        if not self.playing:
            return
        self._play_from = self.position
        self._clock.restart()
        self.listen.play(self.position)

    def _sound_problem(self, status: str, dialog: str) -> None:
        self.status_label.setText(status)
        if dialog:
            self.show_message("No sound", dialog)

    # --- export -----------------------------------------------------------------------------------
    def open_export(self) -> None:
        st = self.clips.get(self.current) if self.current else None
        res = self.result if st is not None and st.status == "done" else None  # not an answer still refining
        if res is None:
            self.show_message("Nothing to export", "Open a clip and wait for its analysis first.")
            return
        self.pause()
        dlg = ExportDialog(self.current, res, self.listen.export_drift(), self.start_worker, self)
        dlg.openRequested.connect(lambda p: self.open_paths([p]))
        dlg.finished.connect(lambda _r: setattr(self, "export_dialog", None))
        self.export_dialog = dlg
        dlg.open()

    # --- closing ----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop playback, cancel every job and wait for the threads to end."""
        self.pause()
        self.queue.clear()
        for w in list(self.workers):
            w.cancel()
        self.trainer.shutdown()
        self.pool.waitForDone()
        if self.decoder is not None:
            self.decoder.stop()
            self.decoder = None

    def closeEvent(self, event) -> None:
        self._save_layout()
        self.shutdown()
        super().closeEvent(event)
