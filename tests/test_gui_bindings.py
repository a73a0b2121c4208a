"""The Qt binding itself: PySide6 6.12.0 returned None from void methods without a new reference.

Under Python 3.11 every such call took one reference from None, and the window aborted with
"Fatal Python error: none_dealloc" after about 16 s of playback. constraints.txt pins 6.11.3;
these tests fail if a bump brings the fault back, and check the start-up guard that catches an
unpinned install.
"""
from __future__ import annotations

import ctypes
import sys

import pytest

pytest.importorskip("PySide6")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from wlos_app.gui import app as gui_app  # noqa: E402


def _lost(call, n: int = 2000) -> int:
    before = sys.getrefcount(None)
    for _ in range(n):
        call()
    return before - sys.getrefcount(None)


def test_void_calls_keep_nones_references(qapp):
    label = QtWidgets.QLabel()
    pix = QtGui.QPixmap(8, 8)
    painter = QtGui.QPainter(pix)
    pen = QtGui.QPen(QtGui.QColor("red"))
    try:
        # The calls a repaint of the window makes most (the video overlays, pyqtgraph's axes).
        calls = {"QWidget.update": label.update, "QLabel.setText": lambda: label.setText("x"),
                 "QPainter.setPen": lambda: painter.setPen(pen),
                 "QPainter.drawLine": lambda: painter.drawLine(QtCore.QPointF(0, 0), QtCore.QPointF(4, 4)),
                 "QPixmap.fill": lambda: pix.fill(QtGui.QColor("black"))}
        lost = {name: _lost(call) for name, call in calls.items()}
    finally:
        painter.end()
    # A faulty binding loses one per call (2000); a sound one none, give or take the collector.
    assert all(n < 200 for n in lost.values()), lost


def test_the_installed_binding_passes_the_start_up_guard(qapp):
    assert gui_app.binding_fault() is None


class _LeakyTimer:
    """A QTimer whose stop() loses a reference to None, as 6.12.0's did."""

    def stop(self) -> None:
        ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal: the fault cannot happen")
def test_the_guard_names_a_faulty_binding_and_gives_the_references_back(qapp, monkeypatch):
    monkeypatch.setattr(QtCore, "QTimer", _LeakyTimer)
    before = sys.getrefcount(None)
    fault = gui_app.binding_fault()
    assert fault is not None and "constraints.txt" in fault and "\n" not in fault
    assert abs(sys.getrefcount(None) - before) < 20  # what the probe took, it held back


def test_the_window_refuses_to_start_on_a_faulty_binding(qapp, monkeypatch, capsys):
    from wlos_app import cli
    monkeypatch.setattr(gui_app, "binding_fault", lambda: "PySide6 0.0 loses a reference to None")
    assert cli.main(["--smoke-test", __file__]) == 2  # an existing file: the binding is checked first
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: PySide6 0.0 loses a reference to None"]
