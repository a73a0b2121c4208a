"""Worker threads. The GUI never runs decoding, tracking, inference, export or training itself:
it hands a function to a `Worker` (a QRunnable for the thread pool) or to `TrainThread`, and
draws what their signals report.

A worker function takes `progress(fraction, message)` and `cancel()` and returns its result;
the core functions all take these two callbacks, so no function needs a Qt-aware wrapper.
"""
from __future__ import annotations

import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThread, Signal

from ..errors import Cancelled


class WorkerSignals(QObject):
    started = Signal()
    progress = Signal(float, str)  # fraction done, what is happening
    returned = Signal(object)  # the function's result
    partial = Signal(object)  # an answer so far (a long recording's sparse pass, between rounds)
    errored = Signal(object)  # the exception (Cancelled when cancelled)
    finished = Signal()  # after returned or errored, always


class Worker(QRunnable):
    """Runs `fn(progress, cancel)` on a QThreadPool thread and reports through `signals`."""

    def __init__(self, fn: Callable, name: str = ""):
        super().__init__()
        self.setAutoDelete(False)  # the owner keeps it until `finished`, so signals stay valid
        self.fn, self.name = fn, name
        self.signals = WorkerSignals()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        self.signals.started.emit()
        try:
            if self._cancel.is_set():
                raise Cancelled(f"{self.name or 'job'} cancelled")
            result = self.fn(self.signals.progress.emit, self._cancel.is_set)
        except BaseException as exc:  # everything goes back to the GUI thread; nothing is lost
            if not isinstance(exc, Exception):
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            exc.traceback_text = traceback.format_exc()
            self.signals.errored.emit(exc)
        else:
            self.signals.returned.emit(result)
        finally:
            self.signals.finished.emit()


class TrainThread(QThread):
    """Runs `trainer.recipe.run(job)`; `cancel()` asks it to stop at the next step, and the recipe
    leaves a checkpoint behind, so a cancelled run can be resumed."""

    event = Signal(str, object)  # recipe events: "dataset", "stage", "step", "validation", "log"
    returned = Signal(object)  # the recipe's summary
    errored = Signal(object)

    def __init__(self, job, parent=None):
        super().__init__(parent)
        self.job = job

    def cancel(self) -> None:
        self.requestInterruption()

    def run(self) -> None:
        from trainer import recipe
        try:
            summary = recipe.run(self.job, on_event=self.event.emit, cancel=self.isInterruptionRequested)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            exc.traceback_text = traceback.format_exc()
            self.errored.emit(exc)
        else:
            self.returned.emit(summary)
