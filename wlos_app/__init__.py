"""WLOS Sync: find and fix audio-video drift in videos of one person speaking.

    from wlos_app import analyze, export_synced
    result = analyze("talk.mp4")            # AnalysisResult; result.offset_ms > 0 means audio late
    export_synced("talk.mp4", "talk.synced.mp4", result.offset_ms / 1000)
"""
from .errors import WlosError

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
