"""WLOS Sync: find and fix audio-video drift in videos of one person speaking.

    from wlos_app import analyze, export_synced
    result = analyze("talk.mp4")            # AnalysisResult; result.offset_ms > 0 means audio late
    export_synced("talk.mp4", "talk.synced.mp4", result.offset_ms / 1000)
"""
import os

from .errors import WlosError

# OpenMP's threads (torch's) sleep when they have no work instead of spinning for a while. On a
# CPU shared with anything else (a browser, another analysis, a build) spinning threads
# took the cores from the work itself: a 3 s clip's networks took 0.22-0.38 s against 0.085 s
# passive, on 2 cores with another process busy (benchmarks.speed stages --warm, docs/performance.md).
# Read by OpenMP when torch loads it, so it is set before any import of torch; a value already
# in the environment is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["analyze", "AnalysisConfig", "AnalysisResult", "export_synced", "WlosError"]


def __getattr__(name):
    # Lazy: importing the package for --help must not load torch, dlib and librosa.
    if name in ("analyze", "AnalysisConfig", "AnalysisResult"):
        from .core import analysis
        return getattr(analysis, name)
    if name == "export_synced":
        from .core.export import export_synced
        return export_synced
    raise AttributeError(name)
