"""Screenshots of each view for docs/, taken from the real window on an X server.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py CLIP [CLIP2]
    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py --long RECORDING

CLIP is analysed and shown at 1.2 s; the export dialog is opened over it; the trainer tab runs a
short training on the two clips (from scratch, one epoch each) so that its curves have data.
--long: a recording over 2 minutes, read in windows, shown once its refinement is done (long.png).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(cond, timeout_s: float = 300) -> None:
    for _ in range(int(timeout_s * 10)):
        if cond():
            return
        wait(100)
    raise TimeoutError("screenshot script: the app did not get there in time")


def grab(win, name: str) -> None:
    wait(400)
    screen = QApplication.primaryScreen()
    g = win.frameGeometry()
    pix = screen.grabWindow(0, g.x(), g.y(), g.width(), g.height())
    OUT.mkdir(parents=True, exist_ok=True)
    pix.save(str(OUT / f"{name}.png"))
    print("saved", OUT / f"{name}.png")


def long_recording(win, path: str) -> None:
    win.open_paths([path])
    wait_until(lambda: path in win.clips and win.clips[path].status == "done", 600)
    win.seek(60.0)
    grab(win, "long")


def main() -> int:
    args = sys.argv[1:]
    long = os.path.abspath(args[args.index("--long") + 1]) if "--long" in args else None
    clips = [os.path.abspath(p) for p in args if p != "--long" and os.path.abspath(p) != long]
    app = QApplication(sys.argv[:1])
    app.setApplicationName("wlos-sync")
    app.setOrganizationName("WLOS Sync")
    tmp = Path(tempfile.mkdtemp(prefix="wlos-shots-"))
    from PySide6.QtCore import QSettings
    from wlos_app.gui.app import apply_theme, preload
    apply_theme(app)
    from wlos_app.gui.main_window import MainWindow
    win = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    preload(app, None, win.analysis_config())
    win.resize(1360, 860)
    win.move(20, 20)
    win.show()
    if long:
        long_recording(win, long)
        win.close()
        return 0
    grab(win, "empty")
    win.open_paths(clips[:1])
    wait_until(lambda: win.clips[clips[0]].status == "done")
    win.seek(1.2)
    grab(win, "analyse")

    win.open_export()
    wait(300)
    dlg = win.export_dialog
    dlg.path.setText(str(tmp / "synced.mp4"))
    dlg.start_export()
    wait_until(lambda: dlg.result_path is not None)
    screen = QApplication.primaryScreen()
    wait(300)
    pix = screen.grabWindow(0, win.x(), win.y(), win.frameGeometry().width(), win.frameGeometry().height())
    pix.save(str(OUT / "export.png"))
    print("saved", OUT / "export.png")
    dlg.reject()

    if len(clips) >= 2:
        folder = tmp / "clips"
        folder.mkdir()
        for c in clips[:2]:
            shutil.copy(c, folder)
        win.tabs.setCurrentIndex(1)
        t = win.trainer
        t.folder.setText(str(folder))
        t.out.setText(str(tmp / "model"))
        t.init.setCurrentIndex(1)
        t.epochs_c3.setValue(3)
        t.epochs_wlos.setValue(3)
        win.settings.setValue("trainer/workers", 1)
        t.start()
        wait_until(lambda: not t.busy, 600)
        grab(win, "trainer")
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
