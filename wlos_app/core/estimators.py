"""Per-block drift estimators: WLOS (regression), C3 and QMI (19-shift sliding windows).

All work in grid frames with positive drift = audio late: candidate shift d pairs block t with
audio window t + d, and the best-matching d is the block's drift.
"""
from __future__ import annotations

import numpy as np

from . import memory
from .features import ClipFeatures
from .grid import BLOCK, MAX_SHIFT, SHIFTS
from .sync import standardise

# QMI kernel width, in standard deviations of each (standardised) variable. Wider than Silverman's
# rule for 10 samples (0.67): on the GRID sample clips 1.5 found the clip offset more often.
QMI_BANDWIDTH = 1.5
# The shortest clip answered: one 10-frame block and a search of +-2 frames (0.6 s at 25 fps).
MIN_FRAMES = BLOCK + 5


def reach_of(n_frames: int) -> int:
    """The drift a clip of n_frames can be searched for, +- grid frames: the paper's 9, or on a
    clip shorter than 1.16 s, as far as half of its block positions still see the drifted audio
    window (a 0.6 s clip: +-2 frames, 80 ms; an LRS2-style 0.88 s one: +-6)."""
    return int(min(MAX_SHIFT, max(0, (n_frames - BLOCK) // 2)))


def within_reach(curves: np.ndarray, reach: int) -> np.ndarray:
    """Curves over SHIFTS with the shifts beyond +-reach set to NaN (not searched)."""
    if reach >= MAX_SHIFT:
        return curves
    out = np.array(curves, dtype=np.result_type(curves, np.float32), copy=True)
    out[..., np.abs(SHIFTS) > reach] = np.nan
    return out


def wlos_drifts(model, feats: ClipFeatures, starts: np.ndarray) -> np.ndarray:
    """One regression per block: the block's flows with its own (unshifted) audio window."""
    import torch

    from .models.sequence import block_features, window_features
    if len(starts) == 0:
        return np.zeros(0, np.float32)
    with torch.inference_mode():
        vf = block_features(model.visual, feats, starts)
        af = window_features(model.audio, feats, starts)
        return model.fuse(vf, af).float().cpu().numpy()


# Pairs of blocks and windows handled at once: bounds memory on long clips (20 MB of C3 hidden
# layer per chunk), where a 10-minute clip at once took 1.1 GB.
PAIR_CHUNK = 250 * 19
BLOCK_CHUNK = 500  # blocks (or windows) whose branch features are computed at once
# A clip of up to this many blocks or audio windows (3 min) keeps its pairs' branch features whole
# and in float32 between passes (fast); longer ones save memory (the blocks' half in int8, the
# windows' made per pass).
SHORT_CLIP = 4500
TRIM_EVERY = 2  # on long clips, chunks of blocks between returns of freed memory (Pairs)


class Pairs:
    """One network's blocks and audio windows of a clip, ready to be paired with each other.

    Each block's visual features and each audio window's features are computed once per pass
    (over the clip's whole sequence, see models.sequence), and so are the two halves of the first
    fusion layer, which is linear in [VF, AF]; per pair only a sum and the rest of the head run,
    instead of the whole network. Asking for other windows of the same blocks (the long-range
    search, a track's re-centring) costs no more visual passes.

    The blocks' half is kept; so is the windows' half on clips of up to SHORT_CLIP windows. On
    longer ones it is made BLOCK_CHUNK windows at a time as a pass reaches them and let go behind it (the audio branch is cheap: an hour's windows kept would be
    180 MB even in float16), with the same chunks, so with the same values, as all at once."""

    def __init__(self, model, feats: ClipFeatures, starts: np.ndarray, store=None, windows: dict | None = None):
        """store: the dtype the two halves are kept in between passes (default float32). The
        long-range estimator keeps them smaller on long clips: torch.int8 keeps the blocks' half
        as int8 with a scale per block (a quarter of float32: an hour's 90,000 blocks take 92 MB
        instead of 368) and the windows' half in float16; each pair's sum and head still run in
        float32. windows: a dict that keeps the windows' half of a clip of up to SHORT_CLIP
        windows for the next Pairs of the same sound and network (the clip's other faces)."""
        import torch

        from .models.sequence import block_features
        self.model, self.feats, self.starts = model, feats, np.asarray(starts, int)
        self.n_windows = feats.n_windows
        self.store = store or torch.float32
        self.quantised = self.store == torch.int8
        self.window_store = torch.float16 if self.quantised else self.store
        self.scale = None  # (n_blocks, 1) float32 per-block scale of the int8 blocks' half
        self._ha: dict[int, object] = {}  # chunk of BLOCK_CHUNK windows -> its half of the first layer
        self._all = None  # every window's half, on clips of up to SHORT_CLIP windows
        self._windows = windows
        lin = model.head[0]
        nv = model.visual.out_dim

        self.hv = None
        if len(self.starts):
            with torch.inference_mode():
                # Filled in place: chunks gathered and joined would hold it twice.
                for a in range(0, len(self.starts), BLOCK_CHUNK):
                    part = block_features(model.visual, feats, self.starts[a:a + BLOCK_CHUNK]) @ lin.weight[:, :nv].T
                    if self.hv is None:
                        self.hv = torch.empty((len(self.starts), part.shape[1]), dtype=self.store,
                                              device=part.device)
                        if self.quantised:
                            self.scale = torch.empty((len(self.starts), 1), dtype=torch.float32, device=part.device)
                    if self.quantised:
                        # symmetric, per block: the largest magnitude maps to 127
                        sc = part.abs().amax(1, keepdim=True).clamp_min(1e-12) / 127.0
                        self.scale[a:a + len(part)] = sc
                        part = torch.round(part / sc)
                    self.hv[a:a + len(part)] = part
                    if self.quantised and a // BLOCK_CHUNK % TRIM_EVERY == TRIM_EVERY - 1:
                        # the visual branch's work arrays, freed: kept by the allocator, they grew
                        # by 325 MB over an hour's passes, the analysis's peak (memory.trim: ms)
                        memory.trim()

    def _windows_half(self, j: np.ndarray):
        """The windows' half of the first layer for windows j (all within the clip), made by
        whole chunks; chunks before the lowest asked for are let go (passes run forward)."""
        import torch
        import torch.nn.functional as F

        from .models.sequence import window_features
        lin, nv = self.model.head[0], self.model.visual.out_dim
        if self.n_windows <= SHORT_CLIP:
            # A clip of a few minutes: made once and kept for every pass (made again at each
            # pass, the long-range search's 3-4 passes took 0.4 s more on a 60 s clip).
            if self._all is None:
                # Every face of a clip has the same sound: its windows' half is made once.
                shared = self._windows if self._windows is not None else {}
                key = (id(self.model), id(self.feats.mfcc), self.window_store)
                if key not in shared:
                    shared[key] = torch.cat([F.linear(window_features(self.model.audio, self.feats, w),
                                                      lin.weight[:, nv:], lin.bias).to(self.window_store)
                                             for w in np.array_split(np.arange(self.n_windows),
                                                                     range(BLOCK_CHUNK, self.n_windows, BLOCK_CHUNK))])
                self._all = shared[key]
            return self._all[torch.from_numpy(j).to(self._all.device)]
        lo, hi = int(j.min()) // BLOCK_CHUNK, int(j.max()) // BLOCK_CHUNK
        for c in [c for c in self._ha if c < lo]:
            del self._ha[c]
        for c in range(lo, hi + 1):
            if c not in self._ha:
                w = np.arange(c * BLOCK_CHUNK, min((c + 1) * BLOCK_CHUNK, self.n_windows))
                self._ha[c] = F.linear(window_features(self.model.audio, self.feats, w), lin.weight[:, nv:],
                                       lin.bias).to(self.window_store)
        span = torch.cat([self._ha[c] for c in range(lo, hi + 1)]) if hi > lo else self._ha[lo]
        return span[torch.from_numpy(j - lo * BLOCK_CHUNK).to(span.device)]

    def outputs(self, head, width: tuple, shifts: np.ndarray, centre: np.ndarray | None = None,
                rows: np.ndarray | None = None, fill: float = np.nan) -> np.ndarray:
        """`head(hidden)` (a numpy array per pair, shape `width`) for blocks `rows` (indices into
        starts; default all) with audio window t + c + k, k in `shifts` (c: the block's `centre`,
        default 0), where that window exists; (n_rows, n_shifts, *width), `fill` elsewhere."""
        import torch
        rows = np.arange(len(self.starts)) if rows is None else np.asarray(rows, int)
        centre = np.zeros(len(rows), int) if centre is None else np.asarray(centre, int)
        shifts = np.asarray(shifts, int)
        out = np.full((len(rows), len(shifts), *width), fill, np.float32)
        if self.n_windows == 0 or self.hv is None:
            return out
        device = self.hv.device
        step = max(1, PAIR_CHUNK // max(1, len(shifts)))
        # Every chunk's hidden layer is summed in one float32 buffer, in place: made anew, each
        # chunk's four or five temporaries of its size were what the allocator kept on long clips.
        buf = torch.empty((min(step, len(rows)) * len(shifts), self.hv.shape[1]), dtype=torch.float32, device=device)
        with torch.inference_mode():
            for a in range(0, len(rows), step):
                r = slice(a, a + step)
                j = (self.starts[rows[r]] + centre[r])[:, None] + shifts[None, :]
                ok = (j >= 0) & (j < self.n_windows)
                if not ok.any():
                    continue
                b = torch.from_numpy(np.broadcast_to(rows[r][:, None], j.shape)[ok]).to(device)
                h = buf[:len(b)]
                if self.hv.dtype == torch.float32:
                    torch.index_select(self.hv, 0, b, out=h)
                else:
                    h.copy_(self.hv[b])
                    if self.quantised:
                        h.mul_(self.scale[b])
                h.add_(self._windows_half(j[ok]))
                chunk = out[r]
                chunk[ok] = head(h)
        self._ha.clear()
        return out

    def c3(self, shifts: np.ndarray = None, centre=None, rows=None) -> np.ndarray:
        """P(in sync) for each block and shift (window t + centre + shift); NaN where the window
        leaves the audio."""
        import torch
        model = self.model

        def head(h):
            return torch.softmax(model.from_hidden(h).float(), dim=1)[:, 1].cpu().numpy()
        return self.outputs(head, (), SHIFTS if shifts is None else shifts, centre, rows)

    def wlos(self, shifts: np.ndarray = None, centre=None, rows=None) -> np.ndarray:
        """WLOS's 19-way drift classifier asked about every block t with every audio window
        t + centre + k: log P(pair is d frames off), (n, n_shifts, 19) over d = -9..9; NaN where
        the window leaves the audio. Window t + c + k being d off says the clip is c + d + k off."""
        import torch
        model = self.model

        def head(h):
            return torch.log_softmax(model.from_hidden(h)[1].float(), dim=1).cpu().numpy()
        return self.outputs(head, (model.n_shifts,), SHIFTS if shifts is None else shifts, centre, rows)


def c3_curves(model, feats: ClipFeatures, starts: np.ndarray, shifts: np.ndarray = SHIFTS,
              centre: np.ndarray | None = None, windows: dict | None = None) -> np.ndarray:
    """P(in sync) for each block and shift, (n_blocks, n_shifts); see Pairs.c3 (and its `windows`)."""
    return Pairs(model, feats, starts, store=store_for(starts), windows=windows).c3(shifts, centre)


def wlos_posteriors(model, feats: ClipFeatures, starts: np.ndarray, shifts: np.ndarray = SHIFTS,
                    centre: np.ndarray | None = None) -> np.ndarray:
    """log P(pair is d off), (n_blocks, n_shifts, 19); see Pairs.wlos."""
    return Pairs(model, feats, starts, store=store_for(starts)).wlos(shifts, centre)


def store_for(starts: np.ndarray):
    """How Pairs keeps a clip's blocks' half: float32 on clips of up to SHORT_CLIP blocks (fast),
    int8 beyond (an hour's is 368 MB in float32, 92 MB in int8)."""
    import torch
    return torch.int8 if len(starts) > SHORT_CLIP else torch.float32


def qmi_signals(feats: ClipFeatures) -> tuple[np.ndarray, np.ndarray]:
    """The two per-frame scalars Liu & Sato's QMI relates.

    Visual: mouth-opening speed, the mean vertical flow of the crop's lower half (lower lip, jaw)
    minus that of its upper half (upper lip, nose). Audio: the frame-to-frame change of the audio
    power in dB. The flow is a speed, so it is paired with a change of power rather than the
    power itself (on the GRID sample clips this found the clip offset about twice as often).
    """
    h = feats.flow.shape[1] // 2
    visual = np.zeros(len(feats.flow))
    for a in range(0, len(feats.flow), 1500):  # a minute at a time: float16 flow is summed in float32
        f = feats.flow[a:a + 1500]
        f = f.astype(np.float32) if f.dtype == np.float16 else f
        visual[a:a + 1500] = f[:, h:].mean(axis=(1, 2)) - f[:, :h].mean(axis=(1, 2))
    p = feats.power_db
    audio = np.concatenate([[0.0], np.diff(p)]).astype(np.float32) if len(p) else p
    return visual.astype(np.float64), audio.astype(np.float64)


def _gauss(z: np.ndarray) -> np.ndarray:
    """Pairwise Gaussian kernel of the last axis: two KDE kernels of width h convolve to sqrt(2) h."""
    diff = z[..., :, None] - z[..., None, :]
    return np.exp(-diff * diff / (4 * QMI_BANDWIDTH ** 2))


def qmi_from_kernels(kx: np.ndarray, ky: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Euclidean-distance quadratic mutual information (Principe; as in Liu & Sato) from kernels.

    kx: (N, N); ky: (S, N, N) one per shift; w: (B, N) sample weights (bootstrap counts) or None.
    Returns (S,) or (B, S). QMI_ED = V_J + V_M - 2 V_C, with the joint, marginal-product and cross
    information potentials of the kernel density estimates.
    """
    if w is None:
        vj = (kx[None] * ky).mean(axis=(1, 2))
        vm = kx.mean() * ky.mean(axis=(1, 2))
        vc = (kx.mean(1)[None] * ky.mean(2)).mean(1)
        return vj + vm - 2 * vc
    W = w.sum(1)  # (B,)
    kxw = w @ kx  # (B, N): sum_j w_j kx_ij
    kyw = np.matmul(w[None], ky)  # (S, B, N), one BLAS product per shift
    vj = (np.matmul(w[None], kx[None] * ky) * w[None]).sum(2) / W ** 2
    vm = (kxw * w).sum(1) * (kyw * w[None]).sum(2) / W ** 4
    vc = (w[None] * kxw[None] * kyw).sum(2) / W ** 3
    out = (vj + vm - 2 * vc).T  # (B, S)
    return out


def qmi_block_scores(visual: np.ndarray, audio: np.ndarray, t: int, offsets: np.ndarray) -> np.ndarray:
    """QMI of block t's 10 visual samples against the audio of windows t + offsets (NaN where a
    window leaves the audio). `visual`, `audio`: the per-frame signals of qmi_signals."""
    ok = (t + offsets >= 1) & (t + offsets + BLOCK <= len(audio))
    out = np.full(len(offsets), np.nan)
    if ok.any():
        x = standardise(visual[t:t + BLOCK])
        ys = np.stack([audio[t + e:t + e + BLOCK] for e in offsets[ok]])
        out[ok] = qmi_from_kernels(_gauss(x), _gauss(standardise(ys)))
    return out


def qmi_block_curves(feats: ClipFeatures, starts: np.ndarray) -> np.ndarray:
    """The paper's QMI baseline: per block, QMI of its 10 frames against each shifted audio window.
    (n_blocks, 19); NaN where the shifted window leaves the audio."""
    visual, audio = qmi_signals(feats)
    curves = np.full((len(starts), len(SHIFTS)), np.nan)
    for i, t in enumerate(starts):
        curves[i] = qmi_block_scores(visual, audio, int(t), SHIFTS)
    return curves


def qmi_pooled(feats: ClipFeatures, starts: np.ndarray, segment: int = 250,
               boot_counts: np.ndarray | None = None,
               centre: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Clip-level QMI curve from the frames of all given blocks pooled together.

    Ten frames are too few for a density estimate (the paper's per-block QMI MAE is 6.3 frames);
    pooling every speech frame of the clip gives one curve with far more samples. Long clips are cut
    into segments of `segment` frames (the kernels grow with its square); each segment's curve is
    standardised over the shifts and the segments are averaged, weighted by their frame counts.

    boot_counts: (B, n_blocks) how often each block is drawn in B bootstrap resamples (or a
    sync.Draws); then the (B, 19) bootstrap curves are returned too.
    centre: (n_blocks,) each block's window centre (whole frames, as methods.search re-centres the
    windows on a drift track): block t's frames are scored against the audio at centre + SHIFTS.
    """
    visual, audio = qmi_signals(feats)
    n_a = len(audio)
    centre = np.zeros(len(starts), int) if centre is None else np.asarray(centre, int)
    # Samples (frame k, centre c) usable at every shift, so all 19 candidates are scored on the
    # same samples; a frame shared by blocks of two centres is a sample at each.
    member: dict[tuple[int, int], list[int]] = {}
    for bi, (t, c) in enumerate(zip(starts, centre)):
        for k in range(t, t + BLOCK):
            if k + c - MAX_SHIFT >= 1 and k + c + MAX_SHIFT < n_a:
                member.setdefault((int(k), int(c)), []).append(bi)
    samples = sorted(member)
    frames = np.array([k for k, _ in samples], int)
    moved = frames + np.array([c for _, c in samples], int)
    total = np.zeros(len(SHIFTS))
    boot_total = None if boot_counts is None else np.zeros((boot_counts.shape[0], len(SHIFTS)))
    weight = 0.0
    for s0 in range(0, len(frames), segment):
        fr, at = frames[s0:s0 + segment], moved[s0:s0 + segment]
        if len(fr) < BLOCK:
            continue
        kx = _gauss(standardise(visual[fr]))
        ky = _gauss(standardise(np.stack([audio[at + d] for d in SHIFTS])))
        total += len(fr) * standardise(qmi_from_kernels(kx, ky))
        weight += len(fr)
        if boot_counts is not None:
            # A frame's bootstrap weight: how many drawn blocks contain it. Only the blocks that
            # hold these frames (an hour's every block would be 160 MB a segment); the sums are of
            # whole numbers, so the same.
            part = samples[s0:s0 + segment]
            blocks = np.unique(np.concatenate([member[k] for k in part]))
            row = np.full(len(starts), -1)
            row[blocks] = np.arange(len(blocks))
            inc = np.zeros((len(blocks), len(fr)))
            for col, k in enumerate(part):
                inc[row[member[k]], col] = 1.0
            cols = boot_counts.columns(blocks) if hasattr(boot_counts, "columns") else boot_counts[:, blocks]
            w = cols @ inc
            keep = w.sum(1) > 0
            if keep.any():
                boot_total[keep] += w[keep].sum(1, keepdims=True) * standardise(qmi_from_kernels(kx, ky, w[keep]))
    if weight == 0:
        nan = np.full(len(SHIFTS), np.nan)
        return nan, (None if boot_counts is None else np.full_like(boot_total, np.nan))
    return total / weight, boot_total
