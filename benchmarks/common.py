"""What every benchmark shares: the repository on the import path, the data folders, finding clips,
the common options, a markdown table and the line that says which machine measured it.

Run a benchmark from the repository root as a module, so that this package is found:

    .venv/bin/python -m benchmarks.speed stages CLIP
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]
# The package, the trainer and the tests' clip generator (tests/mediagen.py, tests/ffref.py).
for _p in (ROOT / "tests", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

# The shared data (docs/data.md): the 20-clip GRID sample, the unseen speakers, s1's split.
SHARED = ROOT.parent / "shared" / "data"
SAMPLE = SHARED / "grid_s1_sample"
UNSEEN = SHARED / "unseen_dev"
SPLIT = SHARED / "grid_s1_split.tsv"
# Larger sets kept beside the checkout when a session has them: all of GRID s1, the speakers set
# (one folder a person, built with shared/data/speakers/build.py) and its settled copies
# (trainer.speakers settle).
DATA = ROOT.parent / "data"
S1 = DATA / "data" / "s1"
SPEAKERS = DATA / "speakers"
SETTLED = DATA / "speakers_settled"


def clips(folder: str | os.PathLike, suffix: str | None = None) -> list[Path]:
    """Video files under `folder` (recursively, sorted; a file is itself), or only those ending
    in `suffix` (".mpg": GRID's)."""
    from wlos_app.core.batch import find_clips
    found = find_clips(folder)
    return [p for p in found if suffix is None or p.suffix.lower() == suffix]


def machine() -> str:
    """The line under each table: the CPU, its cores, torch and its device, the date."""
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
        cpu = f"{name} ({cpu})" if name else cpu
    except OSError:
        pass
    try:
        import torch
        dev = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        tv = f"torch {torch.__version__}, {dev}"
    except ImportError:
        tv = "no torch"
    return f"{cpu}, {os.cpu_count()} cores, {tv}; {time.strftime('%Y-%m-%d')}"


class Table:
    """A markdown table printed as it grows (each row flushed: long runs show progress)."""

    def __init__(self, *head: str, out=None):
        self.out = out or sys.stdout
        print("| " + " | ".join(head) + " |", file=self.out)
        print("|" + "---|" * len(head), file=self.out, flush=True)

    def row(self, *cells) -> None:
        print("| " + " | ".join(str(c) for c in cells) + " |", file=self.out, flush=True)


def table(head: Iterable[str], rows: Iterable[Iterable]) -> None:
    """A whole markdown table at once."""
    t = Table(*head)
    for r in rows:
        t.row(*r)


def write_json(path: str | None, obj) -> None:
    """--json OUT: everything measured, for later reading (nothing written without it)."""
    if path:
        Path(path).write_text(json.dumps(obj, indent=1, default=str))


# The options several benchmarks take, one spelling and one default each.
OPTIONS: dict[str, tuple[tuple, dict]] = {
    "s1": (("--s1",), dict(default=str(S1), help="folder of GRID s1 clips (default: %(default)s)")),
    "split-file": (("--split-file",), dict(default=str(SPLIT), help="s1's train/val split (default: %(default)s)")),
    "sample": (("--sample",), dict(default=str(SAMPLE), help="the 20 GRID sample clips (default: %(default)s)")),
    "unseen": (("--unseen",), dict(action="append", default=[],
                                   help=f"folder of speakers never trained on, repeatable (default: {UNSEEN})")),
    "model": (("--model",), dict(help="a model folder (default: the shipped resources/)")),
    "folds": (("--folds",), dict(metavar="RUN", help="a trainer.folds output: each fold's model on the people it "
                                                      "never saw")),
    "json": (("--json",), dict(metavar="OUT", help="also write everything measured here")),
    "repeats": (("--repeats",), dict(type=int, default=3)),
    "max-clips": (("--max-clips",), dict(type=int, default=0, help="at most this many clips a set (0: all)")),
}


def options(ap: argparse.ArgumentParser, *names: str, **defaults) -> None:
    """Add the common options `names`; `defaults` (by dest) replaces a default."""
    for name in names:
        flags, kw = OPTIONS[name]
        kw = dict(kw)
        dest = name.replace("-", "_")
        if dest in defaults:
            kw["default"] = defaults[dest]
        ap.add_argument(*flags, **kw)


def unseen_folders(a) -> list[str]:
    return a.unseen or [str(UNSEEN)]


Command = tuple[Callable[[argparse.Namespace], int], Callable[[argparse.ArgumentParser], None]]


def main(doc: str, commands: dict[str, Command], argv=None) -> int:
    """A benchmark's command line: one subcommand per table it prints (each command's help is the
    first line of its function's docstring)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (run, add) in commands.items():
        words = (run.__doc__ or "").strip()
        p = sub.add_parser(name, help=words.split("\n")[0], description=words,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add(p)
        p.set_defaults(run=run)
    a = ap.parse_args(argv)
    return a.run(a) or 0
