"""Training data from a folder of in-sync clips: cached features, pairs, and the two split protocols.

Every clip found under the folder is taken as in sync. Its features are computed once by the same
code the analysis runs (`wlos_app.core.analysis.extract`) and cached on disk as one small file per
clip, keyed by the clip's content and the feature settings; a clip that cannot be used (no face, no
speech, unreadable) is cached as a skip record with its reason, so it is listed and not retried.
Each cache file is written atomically, so an interrupted build resumes where it stopped.

Clips are read lazily: a `Clip` keeps its metadata (usable blocks, sizes, cache file) and
`Clip.feats` reads the features through the process's bounded store (`trainer.store`), so a cache
larger than memory trains. The metadata comes from `index.jsonl` in the cache folder, one line per
cache file, appended by the build for files it lacks (new ones, or a cache made before the index);
a line whose file changed size or time since is recomputed, so the index never has to be trusted
beyond the file it describes, and deleting it only costs one read of every clip.

Pairs (paper 3.1): block t of a clip paired with audio window j = t - d is labelled d (positive =
audio late), for d = -9..+9 where window j exists. Splits:
- "clip": clips are split into train and val (a split file, or a seeded 80/20 of clips);
- "pairs": the paper's protocol, a seeded random 80/20 of all pairs of all clips.
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from wlos_app.core.batch import VIDEO_EXTS, find_clips  # noqa: F401 (part of this module's API)
from wlos_app.core.features import ClipFeatures, FeatureConfig
from wlos_app.core.grid import BLOCK, MAX_SHIFT, SHIFTS
from wlos_app.errors import Cancelled

from . import store

# Bump when the cached arrays change meaning (feature code, face pipeline, storage).
CACHE_VERSION = 2
# Flow is cached, and held in memory, as int8 in units of flow_scale / FLOW_UNITS: +-2 scales in
# 8 bits, where the networks see at most +-1.3 (the flow scaled to [0, 1] with the training gain
# jitter) in steps of 1/127 of their input range. A quarter of float32's memory, half of float16's
# disk (v1 cache), and compressed on disk.
FLOW_UNITS = 63.5


def quantize_flow(flow: np.ndarray, scale: float) -> np.ndarray:
    q = np.rint(np.asarray(flow, np.float32) * np.float32(FLOW_UNITS / scale))
    return np.clip(q, -127, 127).astype(np.int8)

Progress = Callable[[int, int, str], None]  # done, total, message


def default_cache_dir() -> Path:
    base = os.environ.get("WLOS_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wlos-sync" / "features"


def settings_key(analysis_cfg) -> str:
    """Hash of everything that changes the cached arrays (the block stride does not)."""
    feats = asdict(analysis_cfg.features)
    feats.pop("stride", None)
    key = {"v": CACHE_VERSION, "face": asdict(analysis_cfg.face), "features": feats}
    tracking = getattr(analysis_cfg, "tracking", None)
    if tracking is not None and tracking != type(tracking)():
        # Which faces are followed, and where the cuts are, change the crops too. The default
        # tracking is left out of the key, so the caches made before it was part of it stay valid.
        key["tracking"] = asdict(tracking)
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def content_key(path: str | os.PathLike) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


KEYS = "keys.jsonl"  # in the cache root, beside the settings folders
KEYS_VERSION = 1


class ContentKeys:
    """content_key of videos, remembered while a file keeps its path, size, mtime and inode.

    Every build used to read every video in full to find its cache files, on each rerun with
    everything cached: 0.4 s for GRID s1's 431 MB from the page cache (1.1 GB/s), 8 minutes for a
    500 GB folder at that speed, more from disk. From keys.jsonl and a stat: 8 ms for s1
    (benchmarks.training cache-keys). A rewritten or replaced file is read again."""

    def __init__(self, root: Path):
        self.path = root / KEYS
        self.known = _read_jsonl(self.path, KEYS_VERSION)
        self.fresh: list[dict] = []

    def __call__(self, path: str | os.PathLike) -> str:
        path = os.path.abspath(path)
        st = os.stat(path)
        e = self.known.get(path)
        if e and (e.get("size"), e.get("mtime_ns"), e.get("ino")) == (st.st_size, st.st_mtime_ns, st.st_ino):
            return e["key"]
        e = {"v": KEYS_VERSION, "file": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "ino": st.st_ino, "key": content_key(path)}
        self.known[path] = e
        self.fresh.append(e)
        return e["key"]

    def save(self) -> None:
        _append_jsonl(self.path, self.fresh)


def _extract_to_cache(path: str, out: str, analysis_cfg, transform=None) -> tuple[str, str | None]:
    """Worker: features of one clip (augmented by `transform`, if given) into `out` (.npz), or a
    skip record (.skip) with the reason."""
    from wlos_app.core.analysis import extract
    from wlos_app.errors import WlosError, reason
    try:
        ex = extract(path, replace(analysis_cfg, keep_audio=False), transform=transform)
    except WlosError as exc:
        _write_atomic(out[:-4] + ".skip", str(exc).encode())
        return path, str(exc)
    except Exception as exc:  # a bad clip must not stop the build
        msg = f"{path}: {reason(exc)}"
        _write_atomic(out[:-4] + ".skip", msg.encode())
        return path, msg
    f = ex.features
    tmp = out + ".partial"
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, flow=quantize_flow(f.flow, f.flow_scale), flow_valid=f.flow_valid,
                            flow_scale=np.float32(f.flow_scale), mfcc=f.mfcc.astype(np.float16),
                            power_db=f.power_db.astype(np.float16), speech_level_db=np.float32(f.speech_level_db))
    os.replace(tmp, out)
    return path, None


def _write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".partial"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _load_features(npz: Path, cfg: FeatureConfig) -> ClipFeatures:
    with np.load(npz) as z:
        return ClipFeatures(z["flow"], z["flow_valid"], FLOW_UNITS,  # int8 flow: see FLOW_UNITS
                            z["mfcc"].astype(np.float32), z["power_db"].astype(np.float32),
                            float(z["speech_level_db"]), cfg)


@dataclass
class Clip:
    """One usable clip (or augmented copy): its metadata in memory, its features read on demand."""
    name: str  # file stem: what split files refer to
    path: str
    source: str  # its cache file (.npz); "" for a clip made from features in memory
    blocks: np.ndarray  # usable block starts (status ok)
    n_frames: int
    n_windows: int
    version: int = 0  # 0: the clip as recorded; 1, 2, ...: augmented copies (trainer.augment)
    nbytes: int = 0  # its features' size in memory
    cfg: FeatureConfig = field(default_factory=FeatureConfig, repr=False)
    held: ClipFeatures | None = field(default=None, repr=False)  # features the clip keeps itself

    @classmethod
    def of(cls, name: str, path: str, feats: ClipFeatures, blocks: np.ndarray, version: int = 0) -> "Clip":
        """A clip whose features are given (kept by the clip, outside the store's budget)."""
        return cls(name, path, "", blocks, feats.n_frames, feats.n_windows, version, store.nbytes(feats),
                   feats.cfg, feats)

    @property
    def feats(self) -> ClipFeatures:
        """The clip's features: held ones, or the cache file's through the process's store
        (trainer.store: kept within the memory budget, read again once dropped)."""
        if self.held is not None:
            return self.held
        f = store.STORE.get(self.source, lambda: _load_features(Path(self.source), self.cfg))
        return f if f.cfg is self.cfg or f.cfg == self.cfg else replace(f, cfg=self.cfg)

    def pairs(self, blocks: np.ndarray | None = None, reach: int = MAX_SHIFT) -> tuple[np.ndarray, np.ndarray]:
        """(block start t, drift d) of every pair of `blocks` (default: all usable ones) with
        |d| <= reach whose audio window t - d exists, ordered by block then drift."""
        blocks = self.blocks if blocks is None else blocks
        drifts = np.arange(-reach, reach + 1)
        t = np.repeat(blocks, len(drifts))
        d = np.tile(drifts, len(blocks))
        ok = (t - d >= 0) & (t - d < self.n_windows)
        return t[ok], d[ok]


@dataclass
class ClipSet:
    clips: list[Clip]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cache_dir: str = ""

    def feature_bytes(self) -> int:
        """Bytes the clips' features take in memory, all of them resident."""
        return sum(c.nbytes for c in self.clips)

    def subset(self, names: Iterable[str]) -> "ClipSet":
        keep = set(names)
        return ClipSet([c for c in self.clips if c.name in keep], [], self.cache_dir)

    def versions(self, which: Iterable[int]) -> "ClipSet":
        """Only the given versions of each clip (0 = as recorded)."""
        keep = set(which)
        return ClipSet([c for c in self.clips if c.version in keep], self.skipped, self.cache_dir)


def augmentation_for(key: str, version: int, strength: float, every_part: bool = False):
    """The augmentation of copy `version` of the clip with content key `key`: always the same."""
    from .augment import Augmentation
    rng = np.random.default_rng([zlib.crc32(key.encode()), version, int(round(strength * 100)), int(every_part)])
    return Augmentation.draw(rng, strength, every_part)


def build(source: str | os.PathLike | list, analysis_cfg=None, cache_dir: str | os.PathLike | None = None,
          workers: int | None = None, progress: Progress | None = None,
          cancel: Callable[[], bool] | None = None, augmented: int = 0, strength: float = 1.0,
          every_part: bool = False, include_clean: bool = True) -> ClipSet:
    """Features of every clip in `source` (a folder, a file, or a list of files), from the cache
    where present, computed in `workers` processes where not. Clips that cannot be used are listed
    in `skipped` with their reason. Raises Cancelled when `cancel()` turns true (finished clips stay
    cached).

    augmented: also this many augmented copies of every clip (versions 1..augmented, each with
    its own fixed random `trainer.augment.Augmentation` of `strength`), cached like the clips."""
    from wlos_app.core.analysis import AnalysisConfig
    from .augment import AUG_VERSION
    cfg = analysis_cfg or AnalysisConfig()
    paths = [Path(p) for p in source] if isinstance(source, list) else find_clips(source)
    root = Path(cache_dir or default_cache_dir())
    folder = root / settings_key(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    targets = []  # (path, cache file, version, transform)
    tag = f"aug{AUG_VERSION}-s{strength:g}" + ("-all" if every_part else "")
    keys = ContentKeys(root)
    for p in paths:
        key = keys(p)
        if include_clean:
            targets.append((str(p), str(folder / f"{key}.npz"), 0, None))
        for v in range(1, augmented + 1):
            targets.append((str(p), str(folder / f"{key}.{tag}-v{v}.npz"), v,
                            augmentation_for(key, v, strength, every_part)))
    keys.save()
    todo = [t for t in targets if not (os.path.exists(t[1]) or os.path.exists(t[1][:-4] + ".skip"))]
    total, done = len(targets), len(targets) - len(todo)
    if progress:
        progress(done, total, f"{done} of {total} clips cached")
    workers = workers or max(1, min(len(todo), (os.cpu_count() or 2)))
    if todo and workers == 1:
        for p, out, _, aug in todo:
            if cancel and cancel():
                raise Cancelled("dataset build cancelled")
            _extract_to_cache(p, out, cfg, aug)
            done += 1
            if progress:
                progress(done, total, Path(p).name)
    elif todo:
        from wlos_app.core.batch import process_pool
        with process_pool(workers) as pool:
            futures = [pool.submit(_extract_to_cache, p, out, cfg, aug) for p, out, _, aug in todo]
            try:
                for fut in as_completed(futures):
                    p, _ = fut.result()
                    done += 1
                    if progress:
                        progress(done, total, Path(p).name)
                    if cancel and cancel():
                        raise Cancelled("dataset build cancelled")
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    index, fresh = _read_jsonl(folder / INDEX, INDEX_VERSION), []  # cache file name -> its line
    clips, skipped = [], []
    for p, out, version, _ in targets:
        label = p if version == 0 else f"{p} (augmented copy {version})"
        entry = _index_entry(Path(out), index, cfg.features, fresh)
        if entry is None:
            skipped.append((label, Path(out[:-4] + ".skip").read_text(errors="replace")))
            continue
        if len(fresh) >= 256:
            _append_jsonl(folder / INDEX, fresh)
        ok = _starts_of(entry["ok"])
        ok = ok[(ok - 1) % cfg.features.stride == 0]  # the blocks of block_starts(): 1, 1 + stride, ...
        if len(ok):
            clips.append(Clip(Path(p).stem, p, out, ok, entry["frames"], entry["windows"], version,
                              entry["bytes"], cfg.features))
        else:
            skipped.append((label, "no block with a face and speech"))
    _append_jsonl(folder / INDEX, fresh)
    return ClipSet(clips, skipped, str(folder))


INDEX = "index.jsonl"
INDEX_VERSION = 1


def _read_jsonl(path: Path, version: int) -> dict[str, dict]:
    """An index file (index.jsonl, keys.jsonl): its lines by their "file" (the last one wins).
    Lines are written with a leading newline, so one cut short by a crash is only that line lost
    (skipped here, recomputed)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and e.get("v") == version and "file" in e:
            out[e["file"]] = e
    return out


def _append_jsonl(path: Path, fresh: list[dict]) -> None:
    """Append (and clear) new index lines in one write; processes may append at once. A cache
    folder that cannot be written to only loses the index's saving."""
    if not fresh:
        return
    try:
        with open(path, "a") as fh:
            fh.write("".join("\n" + json.dumps(e, separators=(",", ":")) for e in fresh))
    except OSError:
        pass
    fresh.clear()


def _index_entry(npz: Path, index: dict, fcfg: FeatureConfig, fresh: list) -> dict | None:
    """The index line of cache file `npz` (None when there is no such file: a skip record), from
    the index when it describes this very file, else read from it (and added to `fresh`)."""
    try:
        st = npz.stat()
    except FileNotFoundError:
        return None
    e = index.get(npz.name)
    if e and e.get("size") == st.st_size and e.get("mtime_ns") == st.st_mtime_ns:
        return e
    feats = _load_features(npz, fcfg)
    ok = np.array([t for t in range(1, feats.n_frames - BLOCK + 1) if feats.block_status(t) == "ok"], int)
    e = {"v": INDEX_VERSION, "file": npz.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
         "frames": feats.n_frames, "windows": feats.n_windows, "bytes": store.nbytes(feats), "ok": _runs(ok)}
    fresh.append(e)
    store.STORE.offer(str(npz), feats)  # read anyway: keep it if it fits
    return e


def _runs(t: np.ndarray) -> list[list[int]]:
    """Sorted ints as [first, last + 1] runs (a clip's usable blocks are a few runs)."""
    if not len(t):
        return []
    cut = np.flatnonzero(np.diff(t) != 1) + 1
    return [[int(r[0]), int(r[-1]) + 1] for r in np.split(t, cut)]


def _starts_of(runs: list) -> np.ndarray:
    return np.concatenate([np.arange(a, b) for a, b in runs]) if runs else np.zeros(0, int)


def read_split_file(path: str | os.PathLike) -> dict[str, str]:
    """clip name -> 'train' | 'val' from a TSV with a header holding `clip` and `split` columns."""
    rows = Path(path).read_text().splitlines()
    head = rows[0].split("\t")
    ci, si = head.index("clip"), head.index("split")
    return {r.split("\t")[ci]: r.split("\t")[si] for r in rows[1:] if r.strip()}


def split_clips(clips: ClipSet, split_file: str | None = None, val_fraction: float = 0.2,
                seed: int = 0) -> tuple[ClipSet, ClipSet]:
    """Clip-disjoint train/val. Without a split file a clip's side is a hash of its name and the
    seed, so adding clips to a folder does not move the others."""
    if split_file:
        table = read_split_file(split_file)
        missing = [c.name for c in clips.clips if c.name not in table]
        if missing:
            raise ValueError(f"{len(missing)} clips are not in {split_file}, e.g. {missing[0]}")
        return (clips.subset(c.name for c in clips.clips if table[c.name] == "train"),
                clips.subset(c.name for c in clips.clips if table[c.name] == "val"))
    side = {c.name: (zlib.crc32(f"{seed}:{c.name}".encode()) % 1000) / 1000.0 < val_fraction for c in clips.clips}
    if len(clips.clips) >= 2 and all(side.values()) or not any(side.values()):
        # Tiny folders: make sure both sides have at least one clip.
        names = sorted(side)
        side = {n: i == len(names) - 1 for i, n in enumerate(names)}
    return (clips.subset(n for n, v in side.items() if not v), clips.subset(n for n, v in side.items() if v))


def pair_val_mask(clip_name: str, t: np.ndarray, d: np.ndarray, seed: int = 0,
                  val_fraction: float = 0.2) -> np.ndarray:
    """The paper's protocol: each pair (clip, t, d) is in val with probability `val_fraction`,
    drawn from a generator seeded by the clip's name, so every run and every tool agrees."""
    rng = np.random.default_rng([seed, zlib.crc32(clip_name.encode())])
    table = rng.random((int(t.max()) + 1 if len(t) else 1, len(SHIFTS))) < val_fraction
    return table[t, d + MAX_SHIFT]


__all__ = ["Clip", "ClipSet", "build", "find_clips", "split_clips", "pair_val_mask", "read_split_file",
           "default_cache_dir", "BLOCK"]
