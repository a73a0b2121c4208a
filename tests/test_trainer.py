"""The trainer on real GRID sample clips: dataset cache, pairs, training, checkpoints, resume."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer import dataset
from trainer import train as T
from wlos_app.core import models
from wlos_app.core.grid import MAX_SHIFT
from wlos_app.errors import Cancelled


@pytest.fixture(scope="module")
def folder(tmp_path_factory, sample_clips):
    """Four sample clips in a nested folder, plus a file that is not a video and one that is empty."""
    d = tmp_path_factory.mktemp("clips")
    (d / "speaker" / "day1").mkdir(parents=True)
    for i, c in enumerate(sample_clips[:4]):
        shutil.copy(c, d / "speaker" / ("day1" if i % 2 else "") / c.name)
    (d / "notes.mp4").write_text("not a video\n")
    (d / "empty.mkv").write_bytes(b"")
    (d / "readme.txt").write_text("ignored: not a video extension\n")
    return d


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def clipset(folder, cache):
    return dataset.build(folder, cache_dir=cache, workers=1)


def test_build_finds_clips_recursively_and_lists_unusable_ones(clipset):
    assert len(clipset.clips) == 4
    skipped = {os.path.basename(p): why for p, why in clipset.skipped}
    assert set(skipped) == {"notes.mp4", "empty.mkv"}
    assert "empty" in skipped["empty.mkv"] or "0 bytes" in skipped["empty.mkv"]
    for c in clipset.clips:
        assert len(c.blocks) > 20  # 3 s of speech: most stride-1 blocks are usable


def test_cache_is_reused_and_an_interrupted_build_resumes(folder, tmp_path, monkeypatch):
    calls = []
    real = dataset._extract_to_cache

    def counting(path, out, cfg, transform=None):
        calls.append(path)
        return real(path, out, cfg, transform)
    monkeypatch.setattr(dataset, "_extract_to_cache", counting)
    with pytest.raises(Cancelled):
        dataset.build(folder, cache_dir=tmp_path, workers=1, cancel=lambda: len(calls) >= 2)
    assert len(calls) == 2
    seen = []
    again = dataset.build(folder, cache_dir=tmp_path, workers=1,
                          progress=lambda done, total, msg: seen.append((done, total)))
    assert len(calls) == 6  # only the four not yet cached
    assert seen[0] == (2, 6)
    assert len(again.clips) == 4
    calls.clear()
    dataset.build(folder, cache_dir=tmp_path, workers=1)
    assert calls == []  # everything from the cache, skip records included


def test_augmented_copies_are_cached_beside_their_clip(folder, cache, monkeypatch):
    aug = dataset.build(folder, cache_dir=cache, workers=2, augmented=1)
    assert len(aug.clips) == 8
    assert sorted(c.version for c in aug.clips) == [0] * 4 + [1] * 4
    by_name = {}
    for c in aug.clips:
        by_name.setdefault(c.name, []).append(c)
    assert all(len(v) == 2 for v in by_name.values())
    for clean, copy in by_name.values():
        assert not np.array_equal(clean.feats.flow, copy.feats.flow)  # another camera, another flow
    # a copy is a fixed augmentation: the same clip and version always draw the same one
    key = dataset.content_key(aug.clips[0].path)
    assert dataset.augmentation_for(key, 1, 1.0) == dataset.augmentation_for(key, 1, 1.0)
    assert dataset.augmentation_for(key, 1, 1.0) != dataset.augmentation_for(key, 2, 1.0)
    calls = []
    monkeypatch.setattr(dataset, "_extract_to_cache", lambda *a: calls.append(a))
    again = dataset.build(folder, cache_dir=cache, workers=1, augmented=1)
    assert calls == [] and len(again.clips) == 8
    tr, va = dataset.split_clips(again)  # a clip and its copies stay on one side
    assert not {c.name for c in tr.clips} & {c.name for c in va.clips}
    assert len(va.versions([0]).clips) == len({c.name for c in va.clips})


def test_rank_loss_rewards_the_in_sync_window():
    pb = torch.tensor([0, 0, 0, 1, 1, 1])
    d = torch.tensor([-1, 0, 1, -1, 0, 1])
    good = torch.tensor([0.0, 3.0, 0.0, 0.0, 3.0, 0.0])
    assert T.rank_loss(good, pb, d) < T.rank_loss(torch.zeros(6), pb, d) < T.rank_loss(-good, pb, d)
    # a speaker whose every score is higher changes nothing: only the comparison counts
    assert T.rank_loss(good + 5.0, pb, d) == pytest.approx(float(T.rank_loss(good, pb, d)))
    assert float(T.rank_loss(torch.zeros(6), pb, d)) == pytest.approx(np.log(3))


def test_training_keeps_the_best_validation_when_asked(clipset, tmp_path):
    cfg = T.TrainConfig(kind="c3", epochs=3, val_every=1, threads=2, rank_weight=1.0, select_by="other_mae")
    other = dataset.ClipSet(clipset.clips[:2])
    res = T.train(cfg, clipset, clipset, tmp_path, log=None, extra_val={"other": other})
    assert all("other_mae" in h for h in res.history)
    best = min(res.history, key=lambda h: h["other_mae"])
    meta = models.load("c3", tmp_path, "cpu").meta
    assert meta["selected"]["step"] == best["step"] and res.final["step"] == best["step"]


def test_parallel_build_matches_serial(folder, clipset, tmp_path):
    par = dataset.build(folder, cache_dir=tmp_path, workers=2)
    assert [c.name for c in par.clips] == [c.name for c in clipset.clips]
    for a, b in zip(par.clips, clipset.clips):
        np.testing.assert_array_equal(a.feats.flow, b.feats.flow)
        np.testing.assert_array_equal(a.feats.mfcc, b.feats.mfcc)


def test_cache_key_follows_settings_and_content(folder, sample_clips):
    from wlos_app.core.analysis import AnalysisConfig
    from wlos_app.core.features import FeatureConfig
    a = dataset.settings_key(AnalysisConfig())
    assert a == dataset.settings_key(AnalysisConfig(features=FeatureConfig(stride=5)))  # stride is not cached
    assert a != dataset.settings_key(AnalysisConfig(features=FeatureConfig(n_mels=40)))
    from wlos_app.core.faces import TrackingConfig
    assert a != dataset.settings_key(AnalysisConfig(tracking=TrackingConfig(scan_every=50)))
    assert a == dataset.settings_key(AnalysisConfig(tracking=TrackingConfig()))
    assert dataset.content_key(sample_clips[0]) != dataset.content_key(sample_clips[1])


def test_pairs_pair_block_t_with_window_t_minus_d(clipset):
    """Label d (audio d frames late) = block t with the original audio window t - d."""
    c = clipset.clips[0]
    sub = dataset.ClipSet([c])
    b = T.Batcher(sub, "clip", 0, "cpu").build(T.segments(sub, 100, None), MAX_SHIFT, None, train=False)
    t_all, d_all = c.pairs()
    assert len(b.d) == len(t_all)
    blk_t = b.blk_t.numpy()[b.pb.numpy()]  # segment starts at frame 0
    win_j = b.win_j.numpy()[b.pw.numpy()]
    d = b.d.numpy()
    j0 = max(0, int(c.blocks.min()) - MAX_SHIFT)
    assert np.array_equal(win_j + j0, blk_t - d)
    assert set(np.unique(d)) == set(range(-9, 10))
    for p in range(0, len(d), 37):  # the batch's MFCC rows are that window's
        rows = b.mfcc[0, 4 * win_j[p]: 4 * win_j[p] + 39].numpy()
        np.testing.assert_array_equal(rows, c.feats.audio_window(blk_t[p] - d[p]))
        np.testing.assert_allclose(b.flows[0, blk_t[p]:blk_t[p] + 10].numpy(), c.feats.visual_block(blk_t[p]))


def test_mismatched_pairs_pair_every_block_with_another_clips_sound(clipset):
    """C3's mismatched pairs (TrainConfig.mismatched): each block of the batch with k windows of
    one other clip's sound, labelled MISMATCHED, in a row of sound of their own; in training only."""
    c, other = clipset.clips[0], clipset.clips[1]
    sub = dataset.ClipSet([c, other])
    segs = [s for s in T.segments(sub, 100, None) if s.clip == 0][:1]
    plain = T.Batcher(sub, "clip", 0, "cpu").build(segs, MAX_SHIFT, None, train=True)
    b = T.Batcher(sub, "clip", 0, "cpu", mismatched=3).build(segs, MAX_SHIFT, None, train=True)
    mis = b.d.numpy() == T.MISMATCHED
    n_blocks = len(plain.blk_t)
    assert mis.sum() == 3 * n_blocks and np.array_equal(b.d.numpy()[~mis], plain.d.numpy())
    assert np.array_equal(np.bincount(b.pb.numpy()[mis], minlength=n_blocks), np.full(n_blocks, 3))
    assert b.mfcc.shape[0] == 2 and b.flows.shape[0] == 1  # the other clip's sound: a row with no picture
    rows = set(b.win_seg.numpy()[b.pw.numpy()[mis]].tolist())
    assert rows == {1}
    for p in np.flatnonzero(mis)[:5]:  # its windows are the other clip's MFCCs
        j = int(b.win_j[b.pw[p]])
        win = b.mfcc[1, 4 * j: 4 * j + 39].numpy()
        assert any(np.array_equal(win, other.feats.audio_window(k)) for k in range(other.n_windows))
    # never in evaluation, and never the batch's own clip
    ev = T.Batcher(sub, "clip", 0, "cpu", mismatched=3).build(segs, MAX_SHIFT, None, train=False)
    assert not (ev.d.numpy() == T.MISMATCHED).any()
    alone = dataset.ClipSet([c])
    assert not (T.Batcher(alone, "clip", 0, "cpu", mismatched=3).build(
        T.segments(alone, 100, None)[:1], MAX_SHIFT, None, train=True).d.numpy() == T.MISMATCHED).any()
    # C3 learns them as out of sync
    net = models.C3()
    loss = T.loss_of(net, T.forward_pairs(net, b), b.d, T.TrainConfig(kind="c3", rank_weight=1.0), b.pb)
    assert torch.isfinite(loss)


def test_splits(clipset, tmp_path):
    tr, va = dataset.split_clips(clipset)
    assert len(va.clips) >= 1 and len(tr.clips) >= 1
    assert not {c.name for c in tr.clips} & {c.name for c in va.clips}
    table = tmp_path / "split.tsv"
    names = [c.name for c in clipset.clips]
    table.write_text("clip\tsplit\n" + "".join(f"{n}\t{'val' if i == 0 else 'train'}\n" for i, n in enumerate(names)))
    tr, va = dataset.split_clips(clipset, str(table))
    assert [c.name for c in va.clips] == names[:1] and len(tr.clips) == 3
    # the paper's protocol: about 20% of pairs, the same draw every time
    t, d = clipset.clips[0].pairs()
    m = dataset.pair_val_mask(names[0], t, d)
    assert 0.1 < m.mean() < 0.3
    assert np.array_equal(m, dataset.pair_val_mask(names[0], t, d))


def _fixed_loss(net, clips, cfg):
    b = T.Batcher(clips, "clip", 0, "cpu").build(T.segments(clips, 100, None), MAX_SHIFT, None, train=False)
    net.eval()
    with torch.no_grad():
        return float(T.loss_of(net, T.forward_pairs(net, b), b.d, cfg))


def test_short_training_lowers_the_loss_and_saves_loadable_weights(clipset, tmp_path):
    cfg = T.TrainConfig(kind="wlos", epochs=20, val_every=10, lr=2e-3, augment=False, warmup_steps=5, threads=2)
    torch.manual_seed(0)
    before = _fixed_loss(models.WLOS(), clipset, cfg)
    res = T.train(cfg, clipset, clipset, tmp_path, log=None)
    after = _fixed_loss(res.net, clipset, cfg)
    assert res.finished and (tmp_path / "wlos.pt").exists()
    assert after < 0.85 * before, (before, after)
    assert [h["epoch"] for h in res.history] == [10.0, 20.0]
    # the shipped format: fp16 on disk, same predictions after loading
    loaded = models.load("wlos", tmp_path, "cpu")
    f = clipset.clips[0].feats
    from wlos_app.core.estimators import wlos_drifts
    np.testing.assert_allclose(wlos_drifts(loaded, f, clipset.clips[0].blocks),
                               wlos_drifts(res.net.eval(), f, clipset.clips[0].blocks), atol=0.05)
    assert loaded.meta["config"]["kind"] == "wlos" and "mae" in loaded.meta["val"]


def test_cancel_saves_a_checkpoint_and_resume_finishes_the_schedule(clipset, tmp_path):
    cfg = T.TrainConfig(kind="c3", epochs=4, val_every=2, threads=2)
    steps = []
    with pytest.raises(Cancelled):
        T.train(cfg, clipset, clipset, tmp_path, progress=lambda i: steps.append(i["step"]),
                cancel=lambda: len(steps) >= 6, log=None)
    state = torch.load(tmp_path / "checkpoint-c3.pt", weights_only=False)
    assert state["step"] == 6 and not state["finished"]
    assert not (tmp_path / "c3.pt").exists()
    steps.clear()
    res = T.train(T.TrainConfig(kind="c3"), clipset, clipset, tmp_path, resume=True,
                  progress=lambda i: steps.append(i["step"]), log=None)
    assert steps[0] == 7 and steps[-1] == 16  # 4 clips, 1 per step, 4 epochs
    assert res.finished and (tmp_path / "c3.pt").exists()
    assert torch.load(tmp_path / "checkpoint-c3.pt", weights_only=False)["finished"]


def test_wlos_fine_tunes_from_c3_branches(clipset, tmp_path):
    c3 = models.C3()
    models.save(c3, tmp_path / "c3.pt")
    net = T._make_net("wlos", tmp_path)
    for a, b in zip(net.visual.state_dict().values(), c3.visual.state_dict().values()):
        torch.testing.assert_close(a, b.half().float() if b.is_floating_point() else b)


def test_cli_train_and_eval(folder, cache, tmp_path, capsys):
    from wlos_app.cli import main
    out = tmp_path / "model"
    args = ["train", str(folder), "--out", str(out), "--cache", str(cache), "--epochs-c3", "1", "--epochs", "1",
            "--set", "threads=2"]
    assert main(args) == 0
    assert (out / "c3.pt").exists() and (out / "wlos.pt").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 4 and len(summary["skipped"]) == 2
    assert main(args) == 1  # refuses to overwrite a trained model
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0  # nothing left to do
    assert main(["eval", str(folder), "--model", str(out), "--cache", str(cache), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["methods"]) == {"qmi", "c3", "wlos"}
    for r in res["methods"].values():
        assert r["pairs"] > 0 and np.isfinite(r["mae"]) and r["clip"]["clips"] == 4
    assert main(["train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 1
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(next(folder.rglob("*.mpg")), one)
    assert main(["train", str(one), "--out", str(tmp_path / "y"), "--cache", str(cache)]) == 1
    assert "at least two" in capsys.readouterr().err
    assert main(["train", str(folder), "--out", str(tmp_path / "z"), "--cache", str(cache),
                 "--init", str(tmp_path / "no-model")]) == 1
    assert "no C3 weights" in capsys.readouterr().err


def test_torchrun_two_cpu_processes_train_one_model(folder, cache, tmp_path):
    """`torchrun --nproc-per-node 2` (gloo on CPU): both stages train with every step's segments
    split between the processes; rank 0 alone writes; the ranks end with the same weights (the
    trainer checks and fails otherwise)."""
    import subprocess
    import sys
    dataset.build(folder, cache_dir=cache, workers=1)  # the features are another test's subject
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "wlos_app", "train", str(folder),
           "--out", str(out), "--cache", str(cache), "--epochs-c3", "1", "--epochs", "1", "--set", "threads=1",
           "--feature-ram-mb", "0.1"]  # room for one clip per process: read lazily (trainer.store)
    # 3 training clips, one segment each, two per step: a step shared, then one taken by both whole.
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "c3.pt").exists() and (out / "wlos.pt").exists()
    assert "2 processes" in run.stdout + run.stderr
    assert "read again from the cache once dropped" in run.stderr
    for kind in ("c3", "wlos"):
        rows = [json.loads(line) for line in (out / f"history-{kind}.jsonl").read_text().splitlines()]
        assert rows and all(np.isfinite(r["mae"]) for r in rows)  # one writer: no interleaved lines
    assert json.loads((out / "summary.json").read_text())["clips"] == 4


def test_the_cache_holds_int8_flow_that_reads_as_the_analysis_flow(clipset):
    """Cache v2: the flow is int8 on disk and in memory; the networks' input made from it is the
    analysis's own within half a quantisation step (1/127 of the input range)."""
    from wlos_app.core.analysis import extract
    c = clipset.clips[0]
    assert c.feats.flow.dtype == np.int8 and c.feats.flow_scale == dataset.FLOW_UNITS
    f = extract(c.path).features
    n = f.n_frames
    err = np.abs(f.visual_frames(0, n) - c.feats.visual_frames(0, n))
    assert err.max() <= 0.5 / 127 + 1e-6, err.max()
    assert np.abs(f.visual_frames(0, n, 1.28) - c.feats.visual_frames(0, n, 1.28)).max() <= 0.65 / 127 + 1e-6


def _train_recording(cfg, clips, out, budget):
    """Train from a fresh store of `budget` bytes; (per-step losses, weights, the store's stats)."""
    from trainer import store
    store.STORE.clear()
    store.STORE.set_budget(budget)
    store.STORE.reset_stats()
    losses = []
    torch.manual_seed(0)  # the network's first weights
    res = T.train(cfg, clips, clips, out, progress=lambda i: losses.append(i["loss"]), log=None)
    return losses, res.net.state_dict(), store.STORE.stats(), store.STORE.peak


def test_a_feature_budget_of_one_clip_trains_the_same_network(clipset, tmp_path):
    """Lazy reading (trainer.store): with room for one clip's features the clips are read again
    from the cache at nearly every step, and the run is the one of clips holding their features
    (read straight from their cache files, as before the store)."""
    from trainer import store
    # One thread: with two, torch's CPU kernels already differ between two runs in the last bits.
    cfg = T.TrainConfig(kind="c3", epochs=3, val_every=1.5, threads=1, warmup_steps=2)  # augmented
    held = dataset.ClipSet([dataset.Clip.of(c.name, c.path, dataset._load_features(Path(c.source), c.cfg), c.blocks)
                            for c in clipset.clips])
    one, n = max(c.nbytes for c in clipset.clips), len(clipset.clips)
    threads = torch.get_num_threads()
    try:
        ref = _train_recording(cfg, held, tmp_path / "held", 1 << 40)
        tight = _train_recording(cfg, clipset, tmp_path / "one", one)
    finally:
        store.STORE.set_budget(None)
        torch.set_num_threads(threads)
    assert ref[2]["reads"] == 0  # the reference never asked the store
    assert tight[2]["reads"] > 2 * n and tight[2]["evictions"] > 0
    assert 0 < tight[3] <= one  # the resident features never exceeded the budget
    assert len(ref[0]) == 12 and ref[0] == tight[0]  # every step's loss, exactly
    for k, v in ref[1].items():
        assert torch.equal(v, tight[1][k]), k


def test_the_index_gives_the_clips_without_reading_them_and_is_remade_when_stale(folder, cache, clipset, tmp_path,
                                                                               monkeypatch):
    """index.jsonl: a build reads no features when it holds every clip; a missing index (a cache
    from before it), a cut-off line or a changed file makes the build read just those clips."""
    from trainer import store
    from wlos_app.core.analysis import AnalysisConfig
    from wlos_app.core.features import FeatureConfig
    src = cache / dataset.settings_key(AnalysisConfig())
    shutil.copytree(src, tmp_path / src.name)
    index = tmp_path / src.name / dataset.INDEX
    index.unlink()
    reads = []
    real = dataset._load_features

    def counting(npz, cfg):
        reads.append(npz.name)
        return real(npz, cfg)
    monkeypatch.setattr(dataset, "_load_features", counting)

    def build():
        reads.clear()
        out = dataset.build(folder, cache_dir=tmp_path, workers=1)
        read = sorted(reads)
        assert [(c.name, c.n_frames, c.n_windows, c.nbytes) for c in out.clips] == \
            [(c.name, c.feats.n_frames, c.feats.n_windows, store.nbytes(c.feats)) for c in clipset.clips]
        for a, b in zip(out.clips, clipset.clips):
            np.testing.assert_array_equal(a.blocks, b.blocks)
        assert len(out.skipped) == 2
        return read
    names = sorted(os.path.basename(c.source) for c in clipset.clips)
    assert build() == names  # no index: each clip read once to make it
    assert build() == []  # from the index alone
    text = index.read_text()
    index.write_text(text[:-20])  # a crash in the middle of the last line
    assert len(build()) == 1
    changed = tmp_path / src.name / names[0]
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 1000))
    assert build() == [names[0]]  # rewritten since: read again
    assert build() == []
    stride = dataset.build(folder, AnalysisConfig(features=FeatureConfig(stride=3)), cache_dir=tmp_path,
                           workers=1)
    for a, b in zip(stride.clips, clipset.clips):  # the stride is not cached: the index's blocks are stride 1
        f = a.feats
        assert f.cfg.stride == 3
        ok = [t for t in f.block_starts() if f.block_status(int(t)) == "ok"]
        np.testing.assert_array_equal(a.blocks, ok)
        assert set(a.blocks) <= set(b.blocks)


def test_content_keys_are_remembered_until_the_video_changes(folder, cache, clipset, tmp_path, monkeypatch):
    """keys.jsonl: a rebuild over unchanged videos reads none of them to find their cache files; a
    rewritten or replaced video is read again, and a line cut short is only that key recomputed."""
    videos = tmp_path / "videos"
    shutil.copytree(folder, videos)
    shutil.copytree(cache, tmp_path / "cache")  # the features are cached: only the keys are at stake
    (tmp_path / "cache" / dataset.KEYS).unlink(missing_ok=True)
    hashed = []
    real = dataset.content_key

    def counting(path):
        hashed.append(os.path.basename(path))
        return real(path)
    monkeypatch.setattr(dataset, "content_key", counting)

    def build():
        hashed.clear()
        out = dataset.build(videos, cache_dir=tmp_path / "cache", workers=1)
        assert [c.name for c in out.clips] == [c.name for c in clipset.clips]
        assert [os.path.basename(c.source) for c in out.clips] == [os.path.basename(c.source) for c in clipset.clips]
        return sorted(hashed)
    everything = build()
    assert len(everything) == 6  # the four clips and the two unusable files
    assert build() == []
    first = next(videos.rglob(clipset.clips[0].name + ".*"))
    st = first.stat()
    os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))  # rewritten, same bytes
    assert build() == [first.name]
    copy = first.with_suffix(".tmp")
    shutil.copy2(first, copy)  # copy2 keeps the mtime; the new file has another inode
    os.replace(copy, first)
    assert build() == [first.name]
    keys = tmp_path / "cache" / dataset.KEYS
    keys.write_text(keys.read_text()[:-10])  # a crash in the middle of the last line
    assert len(build()) == 1
    assert build() == []
