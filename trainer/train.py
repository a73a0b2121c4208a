"""Training C3 and WLOS on a ClipSet: batches of whole clip segments, checkpoints, resume, validation.

A step takes `clips_per_step` clip segments and trains on every pair of every usable block in them
(up to 19 per block), computing each block's visual branch and each audio window's audio branch
once (see wlos_app.core.models.sequence). Losses:
- C3: cross-entropy, in-sync and drifted pairs weighted to half the loss each (balanced), plus
  `rank_weight` x a multi-way term: for each block, a softmax over the C3 scores of all its audio
  windows must pick the in-sync one. The sliding window only ever compares windows of one block,
  so this trains what it uses; a speaker whose scores all sit higher or lower cannot lower it;
- WLOS: SmoothL1 on the drift plus `aux_weight` x cross-entropy of a 19-way drift classifier.

Validation metrics (per pair, "MAE per block" in the paper's words):
- WLOS: mean |predicted drift - d| over the validation pairs;
- C3: the sliding window: for a validation pair (t, d), the shift s in -9..9 whose window t - d + s
  C3 rates most in sync; mean |s - d|.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from wlos_app.core.features import AUDIO_WINDOW, MFCC_PER_FRAME
from wlos_app.core.grid import BLOCK, MAX_SHIFT, SHIFTS
from wlos_app.core.models import C3, WLOS, save
from wlos_app.core.models import sequence
from wlos_app.errors import Cancelled

from . import distributed, store
from .dataset import ClipSet, pair_val_mask

# The drift label of a block paired with another clip's sound (Batcher's mismatched pairs): never
# in sync, and outside every shift, so C3's target and rank loss read it as one more wrong window.
MISMATCHED = 10 * MAX_SHIFT + 1


def preload() -> None:
    """Import what the first optimiser step imports (torch._dynamo, sympy: ~800 modules, 1 s).
    The GUI calls this behind its splash: imported from the training thread instead, single
    module bodies hold the GIL long enough to stall the window for 150-250 ms."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p])
    p.sum().backward()
    opt.step()


def tune_malloc() -> None:
    """Stop glibc from handing large activation buffers back to the OS after every step: with
    the defaults, page faults made system time as large as compute time (4x slower)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)  # M_MMAP_MAX: no mmap for big blocks
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


@dataclass
class TrainConfig:
    kind: str = "wlos"  # "c3" or "wlos"
    protocol: str = "clip"  # "clip": train/val clips; "pairs": the paper's random 80/20 of pairs
    epochs: float = 10.0
    clips_per_step: int = 1  # one clip segment per step: on CPU more steps beat bigger batches
    segment: int = 100  # frames per clip segment (long clips are cut into segments)
    optimizer: str = "adam"  # "adam", or "sgd" (the paper: lr 1e-4, momentum 0.9, decay 1e-5)
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" to 0 over the run, or "constant"
    warmup_steps: int = 50
    aux_weight: float = 0.5  # WLOS: weight of the 19-way drift classification loss
    rank_weight: float = 0.0  # C3: weight of the multi-way (which window is in sync) loss; paper: 0
    # C3: pairs per block with another clip's sound, labelled out of sync (the paper's negatives
    # are only the clip's own sound moved). Lips that move in another sentence's rhythm (GRID's
    # fixed grammar, one person's other speech) are what the shifted pairs never show. Off: tried
    # on the speaker folds, it did not make the confidence refuse them (docs/training.md).
    mismatched: int = 0
    # Keep the weights of the validation with the lowest value of this history key (e.g.
    # "other_mae": the MAE on the "other speakers" validation set) instead of the last ones.
    select_by: str = ""
    # At most this many segments of one speaker (a clip's folder) per epoch, drawn anew each
    # epoch; 0: no cap. Many people's clips of very different lengths (a 90 s address, a 2 s
    # radio clip, 800 GRID s1 clips in one folder) then count alike, and no one voice dominates.
    per_speaker: int = 0
    augment: bool = True  # flip crops left-right, jitter flow gain, MFCC noise
    seed: int = 0
    val_every: float = 1.0  # epochs between validations
    checkpoint_every_s: float = 180.0
    max_minutes: float = 0.0  # stop (with a checkpoint) after this long; 0 = no limit
    device: str | None = None
    threads: int = 0  # torch threads; 0 = all cores

    @classmethod
    def fine_tune(cls, **kw) -> "TrainConfig":
        """Adapting a trained model to a folder of one speaker: a third of the learning rate, so
        the few new clips move the weights without erasing what they knew (docs/accuracy.md: measured),
        and C3's multi-way loss, as the shipped C3 was trained."""
        return cls(**{"lr": 3e-4, "warmup_steps": 10, "rank_weight": 1.0, **kw})

    @classmethod
    def paper_sgd(cls, **kw) -> "TrainConfig":
        return cls(optimizer="sgd", lr=1e-4, momentum=0.9, weight_decay=1e-5, schedule="constant",
                   warmup_steps=0, aux_weight=0.0, augment=False, **kw)

    def update(self, pairs: dict) -> "TrainConfig":
        """Set fields from strings ("lr=3e-4"), as given on the command line."""
        types = {f.name: f.type for f in fields(self)}
        for k, v in pairs.items():
            if k not in types:
                raise ValueError(f"unknown training setting {k!r}; known: {', '.join(sorted(types))}")
            cur = getattr(self, k)
            if isinstance(cur, bool):
                v = str(v).lower() in ("1", "true", "yes", "on")
            elif isinstance(cur, (int, float)) and not isinstance(cur, bool):
                v = type(cur)(float(v)) if isinstance(cur, float) else int(v)
            setattr(self, k, v)
        return self


@dataclass
class Segment:
    clip: int  # index into the ClipSet
    start: int  # first frame
    length: int


@dataclass
class Batch:
    flows: torch.Tensor  # (C, T, 32, 32)
    mfcc: torch.Tensor  # (C, R, 12)
    blk_seg: torch.Tensor
    blk_t: torch.Tensor  # block start within its segment
    win_seg: torch.Tensor
    win_j: torch.Tensor  # window within its segment's audio
    pb: torch.Tensor  # pair -> block row
    pw: torch.Tensor  # pair -> window row
    d: torch.Tensor  # pair drift label
    val: np.ndarray  # pair in the paper protocol's validation set


def speaker_of(path: str) -> str:
    """Who speaks in a clip: the name of its folder (one folder a person, as `wlos-app train` is
    told to expect of a folder of several speakers)."""
    return Path(path).parent.name


def segments(clips: ClipSet, seg_len: int, rng: np.random.Generator | None, per_speaker: int = 0) -> list[Segment]:
    """Cover every clip with segments. Eval (rng None): fixed tiling where each block start falls in
    exactly one segment. Train: the same tiling shifted by a random offset per clip, and with
    `per_speaker`, at most that many of one speaker's segments, drawn with `rng`."""
    out = []
    step = seg_len - BLOCK + 1
    for ci, c in enumerate(clips.clips):
        n = c.n_frames  # metadata: segments never read features
        if n <= seg_len:
            out.append(Segment(ci, 0, n))
            continue
        off = int(rng.integers(0, step)) if rng is not None else 0
        a = -off
        while a + BLOCK <= n:
            s = max(0, a)
            out.append(Segment(ci, s, min(n, a + seg_len) - s))
            a += step
    if per_speaker and rng is not None:
        by: dict[str, list[Segment]] = {}
        for sg in out:
            by.setdefault(speaker_of(clips.clips[sg.clip].path), []).append(sg)
        out = [sg for _, segs in sorted(by.items()) for sg in
               (segs if len(segs) <= per_speaker else [segs[i] for i in np.sort(rng.choice(len(segs), per_speaker,
                                                                                           replace=False))])]
    return out


class Batcher:
    """Builds tensors for lists of segments: scaled flows, MFCCs, blocks, windows and pairs."""

    def __init__(self, clips: ClipSet, protocol: str, seed: int, device, mismatched: int = 0):
        """mismatched: in training, pairs per block with another clip's sound (TrainConfig)."""
        self.clips, self.protocol, self.seed, self.device = clips, protocol, seed, device
        self.mismatched = mismatched
        self._rng = np.random.default_rng(seed + 7919)  # the other clips' sound, drawn apart from augmentation

    def build(self, segs: list[Segment], reach: int, rng: np.random.Generator | None, train: bool) -> Batch:
        C = len(segs)
        T = max(s.length for s in segs)
        flows = np.full((C, T, 32, 32), 0.5, np.float32)
        mf, blk_seg, blk_t, win_seg, win_j, pb, pw, dd, val = [], [], [], [], [], [], [], [], []
        nb = nw = 0
        for si, s in enumerate(segs):
            c = self.clips.clips[s.clip]
            f = c.feats
            augment = train and rng is not None
            gain = float(np.exp(rng.uniform(-0.25, 0.25))) if augment else 1.0
            v = f.visual_frames(s.start, s.start + s.length, gain)
            flows[si, :s.length] = v[:, :, ::-1] if augment and rng.random() < 0.5 else v
            ts = c.blocks[(c.blocks >= max(s.start, 1)) & (c.blocks + BLOCK <= s.start + s.length)]
            if len(ts) == 0:
                mf.append(np.zeros((AUDIO_WINDOW, 12), np.float32))
                continue
            j0 = max(0, int(ts.min()) - reach)
            j1 = min(f.n_windows - 1, int(ts.max()) + reach)
            m = f.mfcc[MFCC_PER_FRAME * j0: MFCC_PER_FRAME * j1 + AUDIO_WINDOW]
            if train and rng is not None:
                m = np.clip(m + rng.normal(0, 0.02, m.shape).astype(np.float32), 0, 1)
            mf.append(m)
            t, d = c.pairs(ts, reach)  # every window t - d lies in j0..j1
            bi = np.searchsorted(ts, t)
            pb.append(nb + bi)
            pw.append(nw + (t - d - j0))
            dd.append(d)
            if self.protocol == "pairs":
                inner = np.abs(d) <= MAX_SHIFT
                vm = np.zeros(len(t), bool)
                vm[inner] = pair_val_mask(c.name, t[inner], d[inner], self.seed)
                val.append(vm)
            else:
                val.append(np.zeros(len(t), bool))
            blk_seg.append(np.full(len(ts), si))
            blk_t.append(ts - s.start)
            win_seg.append(np.full(j1 - j0 + 1, si))
            win_j.append(np.arange(j1 - j0 + 1))
            nb += len(ts)
            nw += j1 - j0 + 1
        if train and self.mismatched and nb:
            other = self._other_sound({sg.clip for sg in segs})
            if other is not None:  # one more row of sound, with no picture: windows nw..nw+n-1
                m, n = other
                if rng is not None:
                    m = np.clip(m + rng.normal(0, 0.02, m.shape).astype(np.float32), 0, 1)
                mf.append(m)
                win_seg.append(np.full(n, len(mf) - 1))
                win_j.append(np.arange(n))
                k = self.mismatched * nb
                pb.append(np.repeat(np.arange(nb), self.mismatched))
                pw.append(nw + self._rng.integers(0, n, k))
                dd.append(np.full(k, MISMATCHED))
                val.append(np.zeros(k, bool))
                nw += n
        R = max(len(m) for m in mf)
        mfcc = np.full((len(mf), R, 12), 0.5, np.float32)
        for si, m in enumerate(mf):
            mfcc[si, :len(m)] = m
        dev = self.device

        def cat(xs, dtype=np.int64):
            return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)

        def tt(x):
            return torch.from_numpy(cat(x)).to(dev)

        return Batch(torch.from_numpy(flows).to(dev), torch.from_numpy(mfcc).to(dev), tt(blk_seg), tt(blk_t),
                     tt(win_seg), tt(win_j), tt(pb), tt(pw), tt(dd), cat(val, bool))

    def _other_sound(self, used: set[int], windows: int = 60):
        """Up to `windows` audio windows of a clip other than those in the batch (never a copy of
        one of them: augmented copies share their clip's name), or None."""
        names = {self.clips.clips[i].name for i in used}
        for _ in range(8):
            c = self.clips.clips[int(self._rng.integers(len(self.clips.clips)))]
            if c.name in names or c.n_windows < 1:
                continue
            n = min(windows, c.n_windows)
            j0 = int(self._rng.integers(0, c.n_windows - n + 1))
            return c.feats.mfcc[MFCC_PER_FRAME * j0: MFCC_PER_FRAME * (j0 + n - 1) + AUDIO_WINDOW], n
        return None


class _StepLoss(torch.nn.Module):
    """A step's loss as one module call, for DistributedDataParallel."""

    def __init__(self, net, cfg: TrainConfig):
        super().__init__()
        self.net, self.cfg = net, cfg

    def forward(self, b: Batch) -> torch.Tensor:
        return loss_of(self.net, forward_pairs(self.net, b), b.d, self.cfg, b.pb)


def forward_pairs(net, b: Batch):
    """Per-pair outputs: WLOS (drift, aux logits), C3 logits."""
    vseq = sequence.visual_sequence(net.visual, b.flows)
    vf = sequence.visual_blocks(net.visual, vseq, b.blk_seg, b.blk_t)
    aseq = sequence.audio_sequence(net.audio, b.mfcc)
    af = sequence.audio_windows(net.audio, aseq, b.win_seg, b.win_j)
    return net.from_hidden(sequence.pair_hidden(net, vf, af, b.pb, b.pw))


def loss_of(net, out, d: torch.Tensor, cfg: TrainConfig, pb: torch.Tensor | None = None) -> torch.Tensor:
    """The training loss of a batch's pairs; pb (pair -> block row) is needed for rank_weight."""
    if net.kind == "wlos":
        reg, aux = out
        loss = F.smooth_l1_loss(reg, d.float())
        if cfg.aux_weight:
            loss = loss + cfg.aux_weight * F.cross_entropy(aux, d + MAX_SHIFT)
        return loss
    target = (d == 0).long()
    n_pos = target.sum().clamp(min=1)
    n_neg = (1 - target).sum().clamp(min=1)
    w = torch.where(target == 1, 0.5 / n_pos, 0.5 / n_neg)
    loss = (F.cross_entropy(out, target, reduction="none") * w).sum()
    if cfg.rank_weight and pb is not None and len(d):
        loss = loss + cfg.rank_weight * rank_loss(out[:, 1] - out[:, 0], pb, d)
    return loss


def rank_loss(score: torch.Tensor, pb: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Mean over blocks of -log softmax(score over the block's pairs)[its in-sync pair]."""
    n = int(pb.max()) + 1
    top = torch.full((n,), -1e30, dtype=score.dtype, device=score.device)
    top = top.scatter_reduce(0, pb, score.detach(), reduce="amax")
    total = torch.zeros(n, dtype=score.dtype, device=score.device).index_add(0, pb, torch.exp(score - top[pb]))
    lse = top + torch.log(total)
    sync = d == 0
    if not bool(sync.any()):
        return score.sum() * 0.0
    return (lse[pb[sync]] - score[sync]).mean()


@torch.no_grad()
def evaluate(net, clips: ClipSet, protocol: str, seed: int = 0, clips_per_batch: int = 16,
             device=None) -> dict:
    """Validation metrics on `clips`: all pairs (protocol "clip") or the held-out pairs ("pairs")."""
    device = device or next(net.parameters()).device
    was = net.training
    net.eval()
    batcher = Batcher(clips, protocol, seed, device)
    segs = segments(clips, 100, None)
    reach = MAX_SHIFT if net.kind == "wlos" else 2 * MAX_SHIFT
    err, labels = [], []
    err_by = ([], [], [])  # WLOS: drift from regression, classifier, mean
    for i in range(0, len(segs), clips_per_batch):
        b = batcher.build(segs[i:i + clips_per_batch], reach, None, train=False)
        if len(b.d) == 0:
            continue
        d = b.d.cpu().numpy()
        sel = b.val if protocol == "pairs" else np.ones(len(d), bool)
        if net.kind == "wlos":
            reg, aux = forward_pairs(net, b)
            for name, e in zip(WLOS.DRIFT_FROM, err_by):
                pred = WLOS.drift(reg.float(), aux.float(), name).cpu().numpy()
                e.append(np.abs(pred - d)[sel])
            labels.append(d[sel])
        else:
            p = torch.softmax(forward_pairs(net, b).float(), 1)[:, 1].cpu().numpy()
            # P[block, e] for e = -18..18: block paired with window t - e
            table = np.full((len(b.blk_t), 4 * MAX_SHIFT + 1), np.nan, np.float32)
            pb = b.pb.cpu().numpy()
            table[pb, d + 2 * MAX_SHIFT] = p
            inner = (np.abs(d) <= MAX_SHIFT) & sel
            # true drift d: candidate s sees window t - d + s, i.e. column e = d - s
            cols = d[inner, None] + 2 * MAX_SHIFT - SHIFTS[None]
            curves = table[pb[inner, None], cols]
            best = SHIFTS[np.argmax(np.where(np.isfinite(curves), curves, -np.inf), axis=1)]
            err.append(np.abs(best - d[inner]))
            labels.append(d[inner])
    net.train(was)
    if net.kind == "wlos" and err_by[0]:
        by = {name: np.concatenate(e) for name, e in zip(WLOS.DRIFT_FROM, err_by)}
        err = [by[getattr(net, "drift_from", "regression")]]
    if not err:
        return {"mae": float("nan"), "pairs": 0}
    e, lab = np.concatenate(err), np.concatenate(labels)
    out = {"mae": float(e.mean()), "pairs": int(len(e)), "within1": float((e <= 1).mean()),
           "mae_by_abs_d": [round(float(e[np.abs(lab) == k].mean()), 3) for k in range(MAX_SHIFT + 1)]}
    if net.kind == "wlos" and err_by[0]:
        out["mae_by_drift_from"] = {k: round(float(v.mean()), 4) for k, v in by.items()}
        out["mae_aux"] = out["mae_by_drift_from"]["classifier"]
    return out


@dataclass
class TrainResult:
    net: torch.nn.Module
    history: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    finished: bool = False  # False when stopped early (time limit, cancel): resume to go on


Progress = Callable[[dict], None]


def _make_net(kind: str, init: str | os.PathLike | None):
    """A fresh network, its branches from a C3 or its whole self from weights of the same kind."""
    from wlos_app.core.models import load
    net = {"wlos": WLOS, "c3": C3}[kind]()
    if init:
        p = Path(init)
        src_kind = kind
        if p.is_file():
            blob = torch.load(p, map_location="cpu", weights_only=True)
            src_kind, folder = blob.get("kind"), p.parent
            if p.name not in ("wlos.pt", "c3.pt"):
                raise ValueError(f"{p}: expected wlos.pt or c3.pt")
        else:
            folder = p
            if not (p / f"{kind}.pt").exists() and (p / "c3.pt").exists():
                src_kind = "c3"
        src = load(src_kind, folder, "cpu")
        if src_kind == kind:
            net.load_state_dict(src.state_dict())
        else:  # fine-tuning WLOS from C3: both branches, a new fusion head
            net.visual.load_state_dict(src.visual.state_dict())
            net.audio.load_state_dict(src.audio.state_dict())
    return net


def train(cfg: TrainConfig, train_set: ClipSet, val_set: ClipSet | None, out_dir: str | os.PathLike,
          init: str | os.PathLike | None = None, resume: bool = False, progress: Progress | None = None,
          cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = print,
          on_validation: Callable[[dict], None] | None = None,
          extra_val: dict[str, ClipSet] | None = None) -> TrainResult:
    """Train one network. Writes out_dir/checkpoint-<kind>.pt every `checkpoint_every_s` and when stopped
    (time limit, cancel, Ctrl-C), and out_dir/<kind>.pt (fp16) when the schedule completes.
    `progress` gets a dict after every step, `on_validation` each validation row (as in history-<kind>.jsonl).
    With the "pairs" protocol val_set is ignored: validation is the held-out pairs of train_set.
    extra_val: more validation sets (name -> clips), reported as <name>_mae and <name>_within1;
    `cfg.select_by` may name one of those keys.
    """
    tune_malloc()
    log = log or (lambda s: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = distributed.device_for(torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")))
    rank, nproc = distributed.world()
    if rank:  # one process speaks, checkpoints and saves (trainer.distributed)
        log, progress, on_validation = (lambda s: None), None, None
    ckpt_path = out / f"checkpoint-{cfg.kind}.pt"
    state = None
    if resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"{ckpt_path}: no checkpoint to resume from")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if state["config"]["kind"] != cfg.kind:
            raise ValueError(f"{ckpt_path} is a {state['config']['kind']} run, not {cfg.kind}")
        cfg = TrainConfig(**state["config"])
        init = None
    if cfg.protocol == "pairs":
        val_set = train_set
    net = _make_net(cfg.kind, init).to(device)
    torch.manual_seed(cfg.seed)
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"optimizer must be adam or sgd, not {cfg.optimizer!r}")

    seg_count = len(segments(train_set, cfg.segment, np.random.default_rng(0), cfg.per_speaker))
    # Under torchrun each process keeps its batch of clips_per_step segments: a step takes
    # nproc times as many, and an epoch as many times fewer steps (the learning rate is kept).
    per_step = cfg.clips_per_step * nproc
    steps_per_epoch = max(1, math.ceil(seg_count / per_step))
    total = max(1, int(round(cfg.epochs * steps_per_epoch)))
    val_every = max(1, int(round(cfg.val_every * steps_per_epoch)))

    def lr_at(step):
        warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        if cfg.schedule == "cosine":
            return cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        return cfg.lr * warm

    step, history, elapsed_before = 0, [], 0.0
    best: dict = {}  # the selected validation: {"value", "step", "net"} (select_by)
    if state:
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step, history, elapsed_before = state["step"], state["history"], state["elapsed"]
        best = state.get("best") or {}
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed {cfg.kind} at step {step}/{total}")

    batcher = Batcher(train_set, cfg.protocol, cfg.seed, device, cfg.mismatched if cfg.kind == "c3" else 0)
    need, budget = train_set.feature_bytes(), store.STORE.budget
    log(f"[{cfg.kind}] features of {len(train_set.clips)} training clips: {need / store.MB:.1f} MB, memory budget "
        f"{budget / store.MB:.1f} MB per process" + (" (all kept once read)" if need <= budget else
                                                     " (read again from the cache once dropped)"))
    model = None
    if nproc > 1:
        from torch.nn.parallel import DistributedDataParallel
        # The loss inside the wrapped forward: parameters that do not reach it (WLOS's heads the
        # loss leaves out) are then found unused instead of awaited. C3 uses all of its own.
        model = DistributedDataParallel(_StepLoss(net, cfg), device_ids=[device.index] if device.type == "cuda" else None,
                                        find_unused_parameters=cfg.kind == "wlos")
        log(f"[{cfg.kind}] {nproc} processes, each {cfg.clips_per_step} of every step's {per_step} segments")
    t_start = time.monotonic()
    last_ckpt = t_start
    pairs_seen, t_window = 0, time.monotonic()
    losses = []

    def elapsed():
        return elapsed_before + time.monotonic() - t_start

    def checkpoint():
        if rank:
            return
        tmp = ckpt_path.with_suffix(".partial")
        torch.save({"config": asdict(cfg), "net": net.state_dict(), "opt": opt.state_dict(), "step": step,
                    "history": history, "elapsed": elapsed(), "torch_rng": torch.get_rng_state(), "total": total,
                    "finished": step >= total, "best": best}, tmp)
        os.replace(tmp, ckpt_path)

    def validate(pairs_per_s: float):
        if rank:
            return None
        m = evaluate(net, val_set, cfg.protocol, cfg.seed, device=device) if val_set and val_set.clips else {}
        for name, clips in (extra_val or {}).items():
            if clips.clips:
                e = evaluate(net, clips, "clip", cfg.seed, device=device)
                m[f"{name}_mae"], m[f"{name}_within1"] = e["mae"], e.get("within1")
        row = {"step": step, "epoch": round(step / steps_per_epoch, 3), "minutes": round(elapsed() / 60, 2),
               "train_loss": round(float(np.mean(losses)), 4) if losses else None,
               "pairs_per_s": round(pairs_per_s, 1), **m}
        history.append(row)
        value = row.get(cfg.select_by) if cfg.select_by else None
        if value is not None and math.isfinite(value) and (not best or value < best["value"]):
            best.clear()
            best.update(value=value, step=step, net={k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
        with open(out / f"history-{cfg.kind}.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        log(f"[{cfg.kind}] step {step}/{total} epoch {row['epoch']:.2f} {row['minutes']:.1f} min "
            f"loss {row['train_loss']} val MAE {m.get('mae', float('nan')):.3f}"
            + (f" (aux {m['mae_aux']:.3f})" if "mae_aux" in m else "")
            + "".join(f" {k[:-4]} MAE {v:.3f}" for k, v in m.items() if k.endswith("_mae") and v is not None))
        losses.clear()
        if on_validation:
            on_validation({**row, "kind": cfg.kind, "total": total})
        return row

    net.train()
    finished = False
    want_stop = False  # several processes: stop together at the next step (the time limit)
    try:
        plan_epoch, segs, order = None, [], []
        while step < total:
            epoch = step // steps_per_epoch
            if epoch != plan_epoch:  # the epoch's segments and order depend only on seed and epoch
                erng = np.random.default_rng([cfg.seed, epoch])
                segs = segments(train_set, cfg.segment, erng, cfg.per_speaker)
                order, plan_epoch = erng.permutation(len(segs)), epoch
            i = step % steps_per_epoch
            chunk = [segs[k] for k in order[i * per_step:(i + 1) * per_step]]
            if len(chunk) >= nproc:  # this process's share of the step (too few to share: all
                chunk = chunk[rank::nproc]  # take the whole step, and the averaged gradient is its own)
            # One process draws as before torchrun existed (a run's recipe stays reproducible).
            srng = np.random.default_rng([cfg.seed, epoch, i] + ([rank] if nproc > 1 else []))
            b = batcher.build(chunk, MAX_SHIFT, srng if cfg.augment else None, train=True) if chunk else None
            keep = ~b.val if b is not None else None
            empty = b is None or keep.sum() == 0
            if nproc > 1:  # every process takes the step, or none does
                empty, want_stop = distributed.any_of(empty, want_stop, device=device)
                if want_stop:
                    log(f"[{cfg.kind}] time limit reached at step {step}/{total}; resume to go on")
                    break
            if empty:
                step += 1
                continue
            if not keep.all():
                k = torch.from_numpy(np.flatnonzero(keep)).to(device)
                b.pb, b.pw, b.d = b.pb[k], b.pw[k], b.d[k]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = model(b) if model is not None else loss_of(net, forward_pairs(net, b), b.d, cfg, b.pb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            pairs_seen += len(b.d) * nproc  # the shares are alike in size
            step += 1
            now = time.monotonic()
            if progress:
                progress({"step": step, "total": total, "loss": losses[-1], "kind": cfg.kind,
                          "pairs_per_s": pairs_seen / max(1e-6, now - t_window), "minutes": elapsed() / 60})
            if step % val_every == 0 or step == total:
                validate(pairs_seen / max(1e-6, now - t_window))  # training speed, validation excluded
                pairs_seen, t_window = 0, time.monotonic()
            if cancel and cancel():
                raise Cancelled("training cancelled")
            if now - last_ckpt > cfg.checkpoint_every_s:
                checkpoint()
                last_ckpt = now
            if cfg.max_minutes and elapsed() > cfg.max_minutes * 60:
                if nproc > 1:
                    want_stop = True
                    continue
                log(f"[{cfg.kind}] time limit reached at step {step}/{total}; resume to go on")
                break
        finished = step >= total
        if finished and (not history or history[-1]["step"] != step):
            # The last step had no pairs (an epoch's tiling can hold fewer segments than planned),
            # so the loop skipped the final validation.
            validate(pairs_seen / max(1e-6, time.monotonic() - t_window))
    except (KeyboardInterrupt, Cancelled):
        checkpoint()
        log(f"[{cfg.kind}] stopped at step {step}/{total}; checkpoint saved to {ckpt_path}")
        raise
    if nproc > 1 and not distributed.same_weights(net):
        raise RuntimeError(f"[{cfg.kind}] the {nproc} processes ended with different weights")
    checkpoint()
    final = history[-1] if history else {}
    if finished and not rank:
        meta = {"config": asdict(cfg), "steps": step, "minutes": round(elapsed() / 60, 2),
                "train_clips": len({c.name for c in train_set.clips}),
                "train_copies": len(train_set.clips), "val": {k: v for k, v in final.items() if k != "step"}}
        if best:
            net.load_state_dict(best["net"])
            final = next(r for r in history if r["step"] == best["step"])
            meta["val"] = {k: v for k, v in final.items() if k != "step"}
            meta["selected"] = {"by": cfg.select_by, "step": best["step"], "value": round(best["value"], 4)}
            log(f"[{cfg.kind}] kept the weights of step {best['step']} ({cfg.select_by} {best['value']:.3f})")
        if cfg.kind == "wlos" and "mae_by_drift_from" in final:
            # Read the drift from whichever output validated best (three candidates, so choosing on
            # the validation pairs hardly biases the reported MAE; the card says so).
            by = final["mae_by_drift_from"]
            net.drift_from = meta["drift_from"] = min(by, key=by.get)
        save(net, out / f"{cfg.kind}.pt", meta=meta)
        log(f"[{cfg.kind}] saved {out / (cfg.kind + '.pt')}")
    distributed.barrier()  # the others wait for rank 0's weights (the next stage starts from them)
    return TrainResult(net, history, final, finished)
