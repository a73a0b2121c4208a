"""Many people's clips: settle each source's own offset, and split the people into folds.

A clip of a real recording is not known to be in sync (a broadcast, a re-encode, a sound track
stored beside the picture). Training on it as "in sync" would teach the networks its offset, so
each source is *settled* first (`settle`): its offset is read by the default estimator of a model
that never saw the person (the shipped one learned GRID s1 only) and by the paper's three
methods. It is kept, with its sound moved by that offset (`write_settled`, through the export),
when at least SETTLE_AGREE of the three agree with the default within SETTLE_TOLERANCE; otherwise
it is left out. Every decision is listed (docs/data.md).

Every figure on these people is speaker-disjoint: `folds` puts each person in one of k folds,
balanced by length, and a fold's figures come from a model that trained without its people.
A clip's person is its folder (`trainer.train.speaker_of`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wlos_app.core.grid import FRAME_MS, MAX_SHIFT, seconds
from wlos_app.core.methods import DEFAULT

from .dataset import ClipSet
from .evaluate import estimate_clip
from .train import speaker_of

SETTLE_METHODS = ("c3", "wlos", "qmi")  # the paper's methods, asked besides the default
SETTLE_TOLERANCE = 1.0  # grid frames (40 ms)
SETTLE_AGREE = 2  # of SETTLE_METHODS


@dataclass
class Settled:
    speaker: str
    clip: str
    path: str
    seconds: float
    offsets: dict  # method -> its reading, grid frames (positive = audio late); NaN when none
    confidence: float  # the default estimator's
    kept: bool
    reason: str

    @property
    def offset_ms(self) -> float:
        return FRAME_MS * self.offsets[DEFAULT]


def settle(clips: ClipSet, nets: dict, calibrations: dict | None = None) -> list[Settled]:
    """Read each clip's own offset with the default and the paper's methods and decide whether
    it is kept (see the module's docstring). nets: "c3" and "wlos", of a model that never saw
    these people."""
    out = []
    for c in clips.clips:
        f = c.feats
        offsets, conf = {}, 0.0
        for m in (DEFAULT, *SETTLE_METHODS):
            # The default searches the paper's +-9 frames here: a published clip further off than
            # 360 ms is rare, and the paper's methods could not confirm it (a long search on a 2 s
            # clip finds spurious far peaks more easily than the truth).
            est = estimate_clip(f, m, nets, calibrations=calibrations, max_shift=MAX_SHIFT)
            offsets[m] = float(est.offset_grid) if est is not None else float("nan")
            if m == DEFAULT and est is not None:
                conf = float(est.confidence)
        default = offsets[DEFAULT]
        agree = [m for m in SETTLE_METHODS if np.isfinite(offsets[m]) and abs(offsets[m] - default) <= SETTLE_TOLERANCE]
        kept = bool(np.isfinite(default)) and len(agree) >= SETTLE_AGREE
        reason = (f"{', '.join(agree)} agree with the default within {SETTLE_TOLERANCE:g} frame" if kept else
                  f"only {len(agree)} of the paper's 3 methods ({', '.join(agree) or 'none'}) agree with the default")
        out.append(Settled(speaker_of(c.path), c.name, c.path, round(seconds(c.n_frames), 2),
                           {k: round(v, 3) for k, v in offsets.items()}, round(conf, 3), kept, reason))
    return out


def write_settled(decisions: list[Settled], out_root: str | Path) -> list[Path]:
    """Copies of the kept clips with their sound moved by their own offset (the product's export:
    the picture copied, the sound moved by whole samples), as OUT/<speaker>/<clip>.mkv, and the
    decisions as OUT/settled.json. Returns the written paths."""
    from wlos_app.core.export import export_synced
    root = Path(out_root)
    written = []
    for d in decisions:
        if not d.kept:
            continue
        dst = root / d.speaker / f"{d.clip}.mkv"
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            export_synced(d.path, str(dst), d.offset_ms / 1000.0)
        written.append(dst)
    (root / "settled.json").write_text(json.dumps([asdict(d) for d in decisions], indent=1))
    return written


def folds(clips: ClipSet, k: int) -> dict[str, int]:
    """Each person to one of k folds: the longest first, each to the fold with the least video so
    far (ties by name), so the folds hold alike amounts and the split is the same on every run."""
    frames: dict[str, int] = {}
    for c in clips.clips:
        if c.version == 0:
            frames[speaker_of(c.path)] = frames.get(speaker_of(c.path), 0) + c.n_frames
    load = [0] * k
    out = {}
    for spk in sorted(frames, key=lambda s: (-frames[s], s)):
        i = min(range(k), key=lambda j: (load[j], j))
        out[spk] = i
        load[i] += frames[spk]
    return out


def of_fold(clips: ClipSet, assignment: dict[str, int], fold: int, inside: bool) -> ClipSet:
    """The clips of fold `fold`'s people (inside) or of everyone else's."""
    return ClipSet([c for c in clips.clips if (assignment.get(speaker_of(c.path)) == fold) == inside],
                   [], clips.cache_dir)


def main(argv=None) -> int:
    """python -m trainer.speakers settle SRC OUT [--model DIR]: read, decide, write (docs/data.md)."""
    import argparse
    from wlos_app.core import calibration
    from wlos_app.core.models import load
    from . import dataset
    ap = argparse.ArgumentParser(prog="python -m trainer.speakers", description=main.__doc__)
    ap.add_argument("command", choices=["settle"])
    ap.add_argument("src", help="clips, one folder a person")
    ap.add_argument("out", help="where the settled copies and settled.json go")
    ap.add_argument("--model", help="a model that never saw these people (default: the shipped one)")
    a = ap.parse_args(argv)
    nets = {k: load(k, a.model) for k in ("c3", "wlos")}
    decisions = settle(dataset.build(a.src), nets, calibration.load(a.model))
    for d in decisions:
        print(f"{d.speaker}/{d.clip}: default {d.offset_ms:+.0f} ms; "
              + ", ".join(f"{m} {FRAME_MS * v:+.0f}" for m, v in d.offsets.items() if m != DEFAULT)
              + f" -> {'kept' if d.kept else 'left out'} ({d.reason})")
    write_settled(decisions, a.out)
    print(f"{sum(d.kept for d in decisions)} of {len(decisions)} clips kept; written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
