"""The bounded feature store (trainer.store): LRU eviction within a byte budget, and the budget's sources."""
from __future__ import annotations

import numpy as np
import pytest

from trainer import store
from wlos_app.core.features import ClipFeatures


def _feats(frames: int) -> ClipFeatures:
    """Features of `frames` frames: 1024 + 1 bytes of flow per frame, 16 bytes of power, no MFCC."""
    return ClipFeatures(np.zeros((frames, 32, 32), np.int8), np.ones(frames, bool), 63.5,
                        np.zeros((0, 12), np.float32), np.zeros(frames, np.float32), -20.0)


def test_the_store_keeps_the_most_recent_clips_within_its_budget():
    size = store.nbytes(_feats(10))
    assert size == 10 * (1024 + 1 + 4)
    s = store.FeatureStore(budget=int(2.5 * size))
    reads = []

    def load(key):
        reads.append(key)
        return _feats(10)
    for k in "abc":
        s.get(k, lambda k=k: load(k))
    assert reads == ["a", "b", "c"] and "a" not in s and "b" in s and "c" in s  # a: least recently used
    assert s.resident == 2 * size and s.peak == 2 * size and s.evictions == 1
    got = s.get("b", lambda: load("b"))  # resident: no read, and now the most recent
    assert reads == ["a", "b", "c"] and s.hits == 1 and got.n_frames == 10
    s.get("a", lambda: load("a"))  # read again; c is the oldest now
    assert reads[-1] == "a" and "c" not in s and "b" in s and s.reads == 4
    assert s.peak <= s.budget

    big = s.get("big", lambda: _feats(100))  # larger than the whole budget: handed over, not kept
    assert big.n_frames == 100 and "big" not in s and s.resident == 2 * size
    s.offer("d", _feats(10))  # an offer never evicts: no room, not kept
    assert "d" not in s and {"a", "b"} <= set(s._held)
    s.set_budget(size)  # a smaller budget evicts down to it at once
    assert s.resident == size and "a" in s and "b" not in s
    s.reset_stats()
    assert s.peak == size and s.reads == 0


def test_the_budget_comes_from_the_setting_the_environment_or_the_machine(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setenv("WLOS_FEATURE_RAM_MB", "1.5")
    assert store.FeatureStore().budget == int(1.5 * store.MB)
    assert store.FeatureStore(budget=1000).budget == 1000
    monkeypatch.setenv("WLOS_FEATURE_RAM_MB", "0")  # 0: automatic
    auto = store.FeatureStore().budget
    assert auto == store.auto_budget()
    if store.physical_memory():
        assert auto == int(store.physical_memory() * store.AUTO_FRACTION)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun: the processes of a machine share it
    assert abs(store.auto_budget() - auto / 4) <= 1
    monkeypatch.setenv("WLOS_FEATURE_RAM_MB", "-1")
    with pytest.raises(ValueError):
        store.FeatureStore().budget
    with pytest.raises(ValueError):
        store.set_budget_mb(-1)
