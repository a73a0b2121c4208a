"""One rule for every path the tool writes: it never writes into a file it did not make.

- A new file is made only in a folder that exists: a missing folder is refused everywhere (a typo
  in a folder name would otherwise scatter results into new folders no one looks in).
- An existing file is written only when it is the tool's own kind of file, recognised by its
  content, never by its name: a results file (JSON lines of clip records) for `--out`, a Parquet
  file for `--parquet`, an INI file for `--settings`. A video named `results.jsonl` is still a
  video. Replacing a finished file (an export's target) is the user's explicit choice (`--force`).
- An input, a folder, or anything else gets a one-line reason (OutputError).

Writes themselves are atomic where a file is made whole (a temporary name, then a rename); a
results file is appended to, one synced line at a time, so a killed batch loses only the clips in
flight (core.batch).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable

from ..errors import OutputError

_SNIFF = 64 * 1024  # bytes read to recognise a file; a record line is far shorter


def check_folder(path: str) -> None:
    """The folder a new file (or model folder) would go in exists and can be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"{folder}: output folder does not exist; make it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: output folder is not writable")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b) or os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(path: str, inputs: Iterable[str]) -> None:
    """`path` is none of the input files. (A file inside an input folder is a video, or not: a
    video is refused by its content like any file the tool did not make.)"""
    for item in inputs:
        if not os.path.isdir(item) and _same_file(path, item):
            raise OutputError(f"{path}: is one of the clips being analysed; the tool never writes into "
                              f"its inputs; choose another name")


def _head(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(_SNIFF)


def is_results_file(path: str) -> bool:
    """Whether `path` holds this tool's results: empty, or JSON lines whose first is a clip record
    (an object with a "path"). The first line may be cut short by a kill during the first write:
    it then still starts as a record does."""
    head = _head(path)
    if not head:
        return True
    first = head.split(b"\n", 1)[0]
    try:
        rec = json.loads(first)
        return isinstance(rec, dict) and isinstance(rec.get("path"), str)
    except ValueError:
        # only a cut line counts, and only if it is the whole file so far (no newline after it)
        return b"\n" not in head and first.startswith(b'{"path": "')


def check_results_file(path: str, inputs: Iterable[str] = ()) -> None:
    """`analyze --out FILE`: a new file in an existing folder, or a results file of the tool's own."""
    check_not_input(path, inputs)
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a folder; --out takes a file, e.g. {os.path.join(path, 'results.jsonl')}")
    if not os.path.exists(path):
        check_folder(path)
        return
    if not os.path.isfile(path):
        raise OutputError(f"{path}: is not a regular file")
    if not os.access(path, os.R_OK | os.W_OK):
        raise OutputError(f"{path}: cannot be read and written (permission denied)")
    if not is_results_file(path):
        raise OutputError(f"{path}: exists and is not a results file of wlos-app (its first line is not a clip "
                          f"record); nothing was written to it; choose a new name")


def check_replaceable(path: str, what: str, recognise, inputs: Iterable[str] = ()) -> None:
    """A file the tool writes whole (a temporary file renamed over it): new, or already the tool's
    own kind (`recognise(path)` true). `what` names the kind in the reason."""
    check_not_input(path, inputs)
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a folder, not a file")
    if os.path.exists(path):
        if not os.path.isfile(path) or not recognise(path):
            raise OutputError(f"{path}: exists and is not {what}; nothing was written to it; choose a new name")
    check_folder(path)


def is_parquet(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def is_ini(path: str) -> bool:
    """Text of sections, key=value lines, comments and blank lines only (what QSettings writes)."""
    try:
        text = _head(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    for line in text.splitlines():
        s = line.strip()
        if s and not (s.startswith(("[", ";", "#")) or "=" in s):
            return False
    return True


def is_json(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
        return True
    except (ValueError, UnicodeDecodeError):
        return False


def check_model_folder(path: str) -> None:
    """`train --out DIR`: a new folder in an existing one, or a folder (the trainer then refuses
    to replace weights without --resume)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{path}: is a file; --out takes the folder to write the model in")
    if not os.path.exists(path):
        check_folder(path)


def temporary_beside(path: str | os.PathLike) -> str:
    """A new, hidden, unique name beside `path` (made empty, O_EXCL: never another file), for a
    file to be written whole and then renamed over `path`."""
    import secrets
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    while True:
        tmp = os.path.join(folder, f".{stem}.partial-{secrets.token_hex(4)}{ext}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """`text` into `path` whole or not at all: a reader never sees half a file."""
    tmp = temporary_beside(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
