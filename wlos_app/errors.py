"""Errors a user can act on. Each carries a one-line message meant to be shown as is."""


def reason(exc: BaseException) -> str:
    """A library exception in a few words: its OS message if it has one, without FFmpeg's long prefix."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.split(":")[-1].strip() if ":" in text and len(text) > 80 else text


class WlosError(Exception):
    """Base class: anything the CLI prints as a one-line reason instead of a traceback."""


class MediaError(WlosError):
    """The file cannot be read as a video with audio (missing, empty, corrupt, wrong streams)."""


class NoFaceError(WlosError):
    """No usable face was found in the video."""


class NoSpeechError(WlosError):
    """The audio has no block loud enough to count as speech."""


class TooShortError(WlosError):
    """The clip has fewer frames than one block needs."""


class WeightsError(WlosError):
    """Model weights are missing, unreadable or do not fit the network."""


class ExportError(WlosError):
    """The synced file could not be written (target exists, is the source, or the write failed)."""


class Cancelled(WlosError):
    """The caller asked the job to stop."""


class OutputError(WlosError):
    """A path the user gave for the tool to write cannot be written safely (core.outputs)."""
