"""Start the desktop app: a splash while the heavy parts load, then the main window."""
from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen


def _splash() -> QSplashScreen:
    pix = QPixmap(520, 200)
    pix.fill(QColor(24, 24, 28))
    p = QPainter(pix)
    p.setPen(QColor(255, 200, 40))
    f = QFont()
    f.setPointSize(26)
    f.setBold(True)
    p.setFont(f)
    p.drawText(30, 80, "WLOS Sync")
    p.setPen(QColor(200, 200, 210))
    f.setPointSize(11)
    f.setBold(False)
    p.setFont(f)
    p.drawText(32, 112, "find and fix audio-video drift in talking-head video")
    p.end()
    return QSplashScreen(pix)


def apply_theme(app: QApplication) -> None:
    """Fusion with a dark palette: the picture and the plots read better on a dark surround."""
    from PySide6.QtGui import QPalette
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: (38, 38, 44), QPalette.ColorRole.WindowText: (220, 220, 228),
        QPalette.ColorRole.Base: (28, 28, 33), QPalette.ColorRole.AlternateBase: (44, 44, 50),
        QPalette.ColorRole.ToolTipBase: (50, 50, 58), QPalette.ColorRole.ToolTipText: (230, 230, 235),
        QPalette.ColorRole.Text: (220, 220, 228), QPalette.ColorRole.Button: (52, 52, 60),
        QPalette.ColorRole.ButtonText: (225, 225, 232), QPalette.ColorRole.Highlight: (255, 176, 32),
        QPalette.ColorRole.HighlightedText: (20, 20, 24), QPalette.ColorRole.Link: (90, 180, 255),
        QPalette.ColorRole.PlaceholderText: (130, 130, 140),
    }
    for role, rgb in roles.items():
        pal.setColor(role, QColor(*rgb))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 110, 120))
    app.setPalette(pal)


def preload(app: QApplication, splash: QSplashScreen | None, cfg) -> None:
    """Load libraries, landmark model, networks and the trainer's imports on this (the GUI) thread
    before the window shows: see core.analysis.preload for why this cannot happen in a worker."""
    import os

    import torch
    # Leave one core to the window: with every core in torch's pool, painting the result while
    # the networks run (or train) stalls the event loop. Inference is a small part of analysis.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    from ..core.analysis import preload as steps
    for message in steps(cfg):
        if splash is not None:
            splash.showMessage(message + " \u2026", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                               QColor(170, 170, 180))
        app.processEvents()
    if splash is not None:
        splash.showMessage("preparing the trainer \u2026", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                           QColor(170, 170, 180))
    app.processEvents()
    from trainer.train import preload as trainer_preload
    trainer_preload()
    # Half a million objects are loaded now (torch, sympy, ...) and never freed. A full garbage
    # collection walks them all, holding the GIL for 200-250 ms in whichever thread triggers it;
    # frozen, they are skipped and the window stays responsive.
    gc.collect()
    gc.freeze()


_HELD_BACK: list[None] = []


def binding_fault() -> str | None:
    """Why the installed Qt binding cannot run the window, or None.

    PySide6 6.12.0 returns None from every void method without a new reference. From Python
    3.12 None is immortal and nothing happens; under 3.11 each call takes one reference away,
    and the window aborted with "Fatal Python error: none_dealloc" after about 16 s of playback
    (7,500 calls a second). 6.11.3 (constraints.txt) does not have the fault."""
    from PySide6.QtCore import QTimer
    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(200):
        timer.stop()
    lost = before - sys.getrefcount(None)
    if lost < 100:
        return None
    _HELD_BACK.extend([None] * lost)  # the probe's own losses, given back so that exiting is clean
    import PySide6
    return (f"PySide6 {PySide6.__version__} loses a reference to None on every call under Python "
            f"{sys.version_info.major}.{sys.version_info.minor}, and the window would abort within seconds; "
            f"install the version in constraints.txt (pip install -c constraints.txt PySide6-Essentials "
            f"PySide6-Addons shiboken6)")


def run(files: list[str], settings_file: str | None = None, smoke_test: bool = False) -> int:
    """Open the window (with `files` queued). smoke_test: analyse the files, print each result and
    quit, exiting 1 if any failed; the bundle script uses it to check a frozen build end to end."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    fault = binding_fault()
    if fault is not None:
        print(f"error: {fault}", file=sys.stderr)
        if not smoke_test:
            from PySide6.QtWidgets import QMessageBox
            QMessageBox.critical(None, "WLOS Sync cannot start", fault)
        return 2
    app.setApplicationName("wlos-sync")
    app.setOrganizationName("WLOS Sync")
    apply_theme(app)
    settings = QSettings(settings_file, QSettings.Format.IniFormat) if settings_file else None
    splash = None if smoke_test else _splash()
    if splash is not None:
        splash.show()
    app.processEvents()

    from .main_window import MainWindow
    win = MainWindow(settings)
    preload(app, splash, win.analysis_config())
    failures: list[str] = []
    if smoke_test:
        pending = set()

        def finished(path: str) -> None:
            st = win.clips[path]
            line = st.result.summary() if st.status == "done" else f"{st.status}: {st.error}"
            print(f"{path}: {line}", flush=True)
            if st.status != "done":
                failures.append(path)
            pending.discard(path)
            if not pending:
                QTimer.singleShot(0, win.close)
        win.analysisFinished.connect(finished)
        def dialog(title: str, text: str) -> None:
            print(f"dialog: {title}: {text}", file=sys.stderr)
            failures.append(title)
        win.messageShown.connect(dialog)
    win.show()
    if splash is not None:
        splash.finish(win)
    if files:
        win.open_paths(files)
        if smoke_test:
            pending.update(win.queue + ([win.analysing[0]] if win.analysing else []))
    if smoke_test and not pending:
        print("smoke test: no clip to analyse", file=sys.stderr)
        return 1
    app.exec()
    return 1 if failures else 0
