"""Clip features read from the cache on demand, within a memory budget: one LRU store per process.

A `trainer.dataset.Clip` holds only its metadata (cache file, usable blocks, sizes); `Clip.feats`
asks the process's STORE, which returns the clip's features if they are resident and otherwise
reads its cache file (about 2 ms for a 3 s clip), keeping it while the resident features fit the
budget and dropping the least recently used ones to make room. A clip larger than the whole
budget is read and handed over without being kept. So a feature cache larger than memory trains,
and one that fits is read once and then held, as before.

The budget counts the arrays the store keeps (int8 flow, float32 MFCCs and power), not what a
caller still holds: the trainer takes `clips_per_step` clips' features at a time and lets go.
It is per process (each torchrun process has its own store):
- `set_budget_mb(N)` (`wlos-app train --feature-ram-mb N`), else env WLOS_FEATURE_RAM_MB=N;
- unset or 0: automatic, a quarter of physical memory shared by the local torchrun processes
  (LOCAL_WORLD_SIZE): everything stays resident whenever it fits in that.
Which clips are resident never changes what they read, so results do not depend on the budget.
The arrays are shared by every caller, as a clip's features always were: read them, never write.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Callable

AUTO_FRACTION = 0.25  # of physical memory, for all of a machine's training processes together
MB = 1 << 20


def physical_memory() -> int | None:
    """Bytes of physical memory, or None when unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX (Windows)
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().total)
    except Exception:
        return None


def auto_budget() -> int:
    """The automatic budget in bytes: AUTO_FRACTION of physical memory over the local processes
    (2 GB of it when the memory is unknown)."""
    total = physical_memory() or 8 << 30
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return int(total * AUTO_FRACTION / local)


def env_budget() -> int | None:
    """WLOS_FEATURE_RAM_MB in bytes, None when unset or 0 (automatic)."""
    v = os.environ.get("WLOS_FEATURE_RAM_MB", "").strip()
    if not v:
        return None
    mb = float(v)
    if mb < 0:
        raise ValueError(f"WLOS_FEATURE_RAM_MB must be a number of MB >= 0, not {v!r}")
    return int(mb * MB) if mb else None


def nbytes(feats) -> int:
    """Bytes of a ClipFeatures' arrays."""
    return sum(int(a.nbytes) for a in (feats.flow, feats.flow_valid, feats.mfcc, feats.power_db))


class FeatureStore:
    """An LRU map from cache file to features, bounded in bytes (see the module docstring).
    budget None: decided at first use (WLOS_FEATURE_RAM_MB, else automatic). Thread-safe."""

    def __init__(self, budget: int | None = None):
        self._lock = threading.Lock()
        self._held: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._budget = budget
        self.resident = 0  # bytes kept now
        self.peak = 0  # the most bytes ever kept at once (since the last reset_stats)
        self.reads = self.hits = self.evictions = 0
        self.read_s = 0.0

    @property
    def budget(self) -> int:
        if self._budget is None:
            self._budget = env_budget() or auto_budget()
        return self._budget

    def set_budget(self, budget: int | None) -> int:
        """Bytes to keep at most (None: WLOS_FEATURE_RAM_MB, else automatic); evicts down to it.
        Returns the budget in force."""
        with self._lock:
            self._budget = None if budget is None else max(0, int(budget))
            self._shrink(self.budget)
            return self.budget

    def get(self, key: str, load: Callable[[], object]):
        """The features of `key` (a cache file): kept ones, or `load()` (then kept if they fit)."""
        with self._lock:
            got = self._held.get(key)
            if got is not None:
                self._held.move_to_end(key)
                self.hits += 1
                return got[0]
            t0 = time.perf_counter()
            feats = load()
            self.read_s += time.perf_counter() - t0
            self.reads += 1
            self._keep(key, feats)
            return feats

    def offer(self, key: str, feats) -> None:
        """Keep features read for another reason (building the index) if they fit, evicting none."""
        with self._lock:
            if key not in self._held and self.resident + nbytes(feats) <= self.budget:
                self._keep(key, feats)

    def __contains__(self, key: str) -> bool:
        return key in self._held

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self.resident = 0

    def reset_stats(self) -> None:
        with self._lock:
            self.peak = self.resident
            self.reads = self.hits = self.evictions = 0
            self.read_s = 0.0

    def stats(self) -> dict:
        return {"budget_mb": round(self.budget / MB, 1), "resident_mb": round(self.resident / MB, 1),
                "peak_mb": round(self.peak / MB, 1), "clips": len(self._held), "reads": self.reads,
                "hits": self.hits, "evictions": self.evictions, "read_s": round(self.read_s, 3)}

    def _keep(self, key: str, feats) -> None:
        size = nbytes(feats)
        budget = self.budget
        if size > budget:
            return  # larger than the budget: the caller has it, the store keeps nothing
        self._shrink(budget - size)
        self._held[key] = (feats, size)
        self.resident += size
        self.peak = max(self.peak, self.resident)

    def _shrink(self, limit: int) -> None:
        while self.resident > limit and self._held:
            _, (_, size) = self._held.popitem(last=False)
            self.resident -= size
            self.evictions += 1


STORE = FeatureStore()


def set_budget_mb(mb: float | None) -> int:
    """The process's budget in MB (None or 0: WLOS_FEATURE_RAM_MB, else automatic); returns bytes."""
    if mb is not None and mb < 0:
        raise ValueError(f"the feature memory budget must be >= 0 MB, not {mb}")
    return STORE.set_budget(int(mb * MB) if mb else None)
