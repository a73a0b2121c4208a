"""Many people's clips: per-person sampling, speaker folds, and settling a source's own offset."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from trainer import dataset, speakers
from trainer import train as T
from trainer.dataset import ClipSet


def _clip(folder: str, name: str, frames: int) -> dataset.Clip:
    return dataset.Clip(name, f"/data/{folder}/{name}.mp4", "", np.arange(1, frames - 9), frames, frames - 9)


def test_per_speaker_caps_each_person_per_epoch_and_draws_anew():
    # one person with 40 short clips (as GRID s1), one with a 60 s clip, one with a 2 s clip
    clips = ClipSet([_clip("s1", f"c{i}", 75) for i in range(40)] + [_clip("anchor", "long", 1500),
                                                                     _clip("radio", "short", 50)])
    plain = T.segments(clips, 100, np.random.default_rng(0))
    by = lambda segs: {p: sum(T.speaker_of(clips.clips[s.clip].path) == p for s in segs)  # noqa: E731
                       for p in ("s1", "anchor", "radio")}
    assert by(plain)["s1"] == 40 and by(plain)["anchor"] >= 16 and by(plain)["radio"] == 1
    a = T.segments(clips, 100, np.random.default_rng(1), per_speaker=8)
    b = T.segments(clips, 100, np.random.default_rng(2), per_speaker=8)
    assert by(a) == by(b) == {"s1": 8, "anchor": 8, "radio": 1}
    assert {(s.clip, s.start) for s in a} != {(s.clip, s.start) for s in b}  # another draw each epoch
    # evaluation tiles every clip, cap or not
    assert len(T.segments(clips, 100, None, per_speaker=8)) == len(T.segments(clips, 100, None))


def test_folds_put_each_person_in_one_fold_balanced_by_length():
    lengths = {"obama": 2250, "anchor": 1780, "ted": 1500, "andrew": 1300, "reagan": 650, "noem": 450,
               "may": 125, "radio": 50, "grid_c": 75}
    clips = ClipSet([_clip(p, f"{p}_{i}", n // 2) for p, n in lengths.items() for i in range(2)]
                    + [replace(_clip("obama", "obama_0", 1125), version=1)])  # an augmented copy counts once
    a = speakers.folds(clips, 3)
    assert set(a) == set(lengths) and set(a.values()) == {0, 1, 2}
    load = [sum(n for p, n in lengths.items() if a[p] == k) for k in range(3)]
    assert max(load) - min(load) <= 500, load
    assert speakers.folds(clips, 3) == a  # the same split on every run
    inside = speakers.of_fold(clips, a, a["obama"], inside=True)
    outside = speakers.of_fold(clips, a, a["obama"], inside=False)
    assert {T.speaker_of(c.path) for c in inside.clips}.isdisjoint({T.speaker_of(c.path) for c in outside.clips})
    assert len(inside.clips) + len(outside.clips) == len(clips.clips)


@pytest.fixture(scope="module")
def off_sources(tmp_path_factory, long_source):
    """Two recordings of one person whose sound is 3 frames (120 ms) late, one 4 frames early."""
    import mediagen
    root = tmp_path_factory.mktemp("sources")
    (root / "s1").mkdir()
    frames, audio, rate = long_source
    late = mediagen.write_clip(root / "s1" / "late.mp4", frames, audio, rate, audio_delay_s=0.12)
    # the sound of picture time t is the recording's sound of t + 0.16 s: heard 4 frames early
    early = mediagen.write_clip(root / "s1" / "early.mkv", [(t - 1.0, im) for t, im in frames[25:]],
                                audio[:, rate + int(0.16 * rate):], rate)
    return root, {"late": (late, 3.0), "early": (early, -4.0)}


def test_settle_reads_each_source_and_its_settled_copy_is_in_sync(off_sources, tmp_path):
    from wlos_app.core.models import load
    root, truth = off_sources
    nets = {k: load(k) for k in ("c3", "wlos")}
    clips = dataset.build(root, cache_dir=tmp_path / "cache", workers=1)
    decisions = {d.clip: d for d in speakers.settle(clips, nets)}
    for name, (_, offset) in truth.items():
        d = decisions[name]
        assert d.kept, d.reason
        assert abs(d.offsets["c3-track"] - offset) <= 0.5, d.offsets
        assert d.speaker == "s1"
    written = speakers.write_settled(list(decisions.values()), tmp_path / "settled")
    assert sorted(p.name for p in written) == ["early.mkv", "late.mkv"]
    assert (tmp_path / "settled" / "settled.json").exists()
    again = {d.clip: d for d in speakers.settle(dataset.build(tmp_path / "settled", cache_dir=tmp_path / "cache",
                                                              workers=1), nets)}
    for name in truth:
        assert abs(again[name].offsets["c3-track"]) <= 0.5, again[name].offsets


def test_settle_leaves_out_a_source_the_methods_disagree_on(sample_clips, tmp_path):
    """A picture with another recording's sound: whatever the default reads, the paper's three
    methods do not agree with it, and the clip is not used as in sync."""
    import mediagen
    from wlos_app.core.models import load
    (tmp_path / "p").mkdir()
    frames, _, rate = mediagen.load_clip(sample_clips[0])
    _, other, _ = mediagen.load_clip(sample_clips[5])
    mediagen.write_clip(tmp_path / "p" / "dubbed.mp4", frames, other, rate)
    shutil.copy(sample_clips[1], tmp_path / "p" / sample_clips[1].name)
    nets = {k: load(k) for k in ("c3", "wlos")}
    d = {x.clip: x for x in speakers.settle(dataset.build(tmp_path / "p", cache_dir=tmp_path / "c", workers=1), nets)}
    assert not d["dubbed"].kept and "agree" in d["dubbed"].reason
    assert d[Path(sample_clips[1]).stem].kept


def test_same_sound_finds_one_recording_at_any_lag_and_only_it():
    """Two sources of one speech (obama_edtalk and obama_st1 are one address) must not serve as
    each other's "another clip's sound" in the calibration's cases."""
    from trainer.calibrate import same_sound
    from trainer.evaluate import cut, shift_audio
    from wlos_app.core.features import ClipFeatures

    def clip(seed, n=500):
        rng = np.random.default_rng(seed)
        # speech-like: bursts of 3-12 frames at -20..0 dB between silences at -60 dB
        level = np.where(np.repeat(rng.random(n // 5) < 0.6, 5)[:n], rng.uniform(-20, 0, n), -60.0)
        return ClipFeatures(flow=np.zeros((n, 32, 32), np.float32), flow_valid=np.ones(n, bool), flow_scale=1.0,
                            mfcc=np.zeros((4 * n, 12), np.float32), power_db=level.astype(np.float32),
                            speech_level_db=-10.0)
    a, b = clip(0), clip(1)
    assert same_sound(a, a)
    assert same_sound(a, shift_audio(a, 40)) and same_sound(shift_audio(a, -25), a)
    assert same_sound(a, cut(a, 200, 120)) and same_sound(cut(a, 100, 300), a)
    assert not same_sound(a, b)
    assert not same_sound(a, cut(a, 200, 40))  # too short an overlap to tell
