"""A command-line analysis on two cores from its first second: a forked process decodes and tracks
each clip (`analysis.extract`) while this one imports torch and loads the networks, then estimates
(`analysis.conclude`). With several clips, the next one is sent there before this one is
estimated here. The answers are analysis.analyze's (tested).

Why: a cold `wlos-app analyze` of a 3 s clip spent 1.6 s importing torch and 1.1 s loading dlib's
models, one after the other; both hold Python's lock, so on threads they overlap by 0.3 s only.
In two processes they overlap whole (docs/performance.md).

Fork, not spawn: a spawned process imports everything again and was ready only after the work it
was to take had been done here (no gain on a 3 s clip, measured). Fork is safe only before other
threads run, and macOS and Windows have none to offer, so `usable()` asks for Linux, one thread,
and torch not yet imported (a process that has it gains nothing). Clips over LONG_S run here as
analysis.analyze runs them: the second or so saved is under 1 % of their run, and their
extraction (an hour's flow alone is 185 MB) would be held in both processes, against the hour's
memory aim. WLOS_OVERLAP=0 turns it off (for comparisons).
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from typing import Callable, Iterator

from ..errors import WlosError
from . import analysis, media

LONG_S = 300.0  # clips longer than this (or of unknown length) run in this process


def usable() -> bool:
    return (os.environ.get("WLOS_OVERLAP", "1") != "0" and sys.platform.startswith("linux")
            and threading.active_count() == 1 and "torch" not in sys.modules)


def _serve(conn, cfg: analysis.AnalysisConfig) -> None:
    """The forked process: extract each path it is sent, send back progress and then the
    extraction or the exception; ends on None or when the other end is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends this one,
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # with SIGTERM (whose handler the CLI's was)
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):
            return
        if path is None:
            return
        try:
            ex = analysis.extract(path, cfg, progress=lambda f, m: conn.send(("progress", (f, m))))
            conn.send(("done", ex))
        except Exception as exc:  # sent back whole, so the parent reports what analyze would
            try:  # unless it would not come out of the pipe as it went in
                pickle.loads(pickle.dumps(exc))
            except Exception:
                exc = WlosError(f"{type(exc).__name__}: {exc}")
            conn.send(("error", exc))


class Extractor:
    """The forked process that runs analysis.extract (see the module's docstring)."""

    def __init__(self, cfg: analysis.AnalysisConfig):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, cfg), name="wlos-extract", daemon=True)
        self.proc.start()
        child.close()
        self.busy = False  # a clip sent and not yet received

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()

    def send(self, path: str) -> None:
        self.conn.send(path)
        self.busy = True

    def receive(self, path: str, progress: analysis.Progress | None) -> analysis.Extracted:
        """The extraction of the path sent last (its progress passed on as it comes)."""
        while True:
            try:
                kind, value = self.conn.recv()
            except (EOFError, OSError):
                self.proc.join(1.0)
                raise WlosError(f"{path}: the process decoding it ended (exit code {self.proc.exitcode})") from None
            if kind == "progress":
                if progress:
                    progress(*value)
                continue
            self.busy = False
            if kind == "error":
                raise value
            return value

    def close(self, now: bool = False) -> None:
        """Ends the process: at once if asked or still at a clip (an interrupt), else in its time."""
        if not (now or self.busy):
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2.0)
        self.conn.close()


def _long(path: str, cfg: analysis.AnalysisConfig) -> bool:
    """Whether the clip runs in this process: a long one (or one read in windows, core.sparse)."""
    from . import sparse
    try:
        info = media.probe(path)
    except Exception:  # analysis.analyze gives the reason
        return True
    return not info.duration_s or info.duration_s > LONG_S or sparse.wanted(cfg, info)


def analyze_each(paths: list[str], cfg: analysis.AnalysisConfig,
                 progress_of: Callable[[str], analysis.Progress | None] = lambda path: None
                 ) -> Iterator[tuple[str, analysis.AnalysisResult | Exception]]:
    """(path, its AnalysisResult or the exception analysis.analyze raised), clip by clip, in order.
    While a clip is estimated here, the next one is already being extracted there."""
    ext = Extractor(cfg) if paths and usable() else None
    sent = -1  # the clip the forked process has been sent last

    def send(i: int) -> None:
        nonlocal sent
        if i < len(paths) and sent < i and ext is not None and ext.alive and not _long(paths[i], cfg):
            ext.send(paths[i])
            sent = i

    try:
        for i, path in enumerate(paths):
            progress = progress_of(path)
            try:
                send(i)
                if sent == i:  # even if that process has died since: this clip may be why
                    res = _overlapped(ext, path, cfg, progress, lambda: send(i + 1))
                else:
                    res = analysis.analyze(path, cfg, progress)
            except Exception as exc:
                yield path, exc
            else:
                yield path, res
    finally:
        if ext is not None:
            ext.close()


def _overlapped(ext: Extractor, path: str, cfg: analysis.AnalysisConfig, progress: analysis.Progress | None,
                send_next: Callable[[], None]) -> analysis.AnalysisResult:
    """The clip sent to `ext`: the networks loaded here meanwhile (at once after the first clip),
    then its extraction received and estimated, the next clip sent first."""
    t0 = time.perf_counter()
    try:
        analysis.load_networks(cfg)
    except BaseException:
        ext.close(now=True)  # a missing weights file fails now, as in analyze, not after the decoding
        raise
    loaded = time.perf_counter() - t0
    ex = ext.receive(path, progress)
    send_next()
    ex.timings = {"load_models": loaded, **ex.timings}  # beside the extraction, not before it
    return analysis.conclude(ex, cfg, progress)
