"""The paper's networks evaluated on whole clip segments at once, for analysis and training.

Neighbouring blocks share 9 of their 10 frames, neighbouring audio windows 35 of their 39 MFCC
rows, and training pairs every block with up to 19 windows. Run block by block, the network would
compute the same convolutions many times over. Here, with the same weights and the same function
in eval mode (tests check this):

- visual: the 3x3x3 convolutions run over a clip's whole flow sequence. Block t's input to the
  second convolution is pooled maps t, t+2, t+4, t+6 of the sequence, so that convolution runs
  over the sequence with a time dilation of 2, and block t reads its outputs t and t+2;
- audio: window j is MFCC rows 4j..4j+38, so both 2x2 convolutions run over the clip's whole MFCC
  sequence and window j reads pooled rows 2j..2j+17;
- fusion: the first fusion layer is linear in [VF, AF], so it is split into a per-block and a
  per-window part, computed once each, and summed for each pair.

In training, the spatial dropout after the first pooling drops a channel for a whole clip segment
rather than for one block (the second one is per block as in the paper), and batch norm sees
every position of the sequence.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

AUDIO_ROWS = 18  # pooled rows per window after the second audio convolution
VISUAL_STEPS = (0, 2)  # sequence positions of a block's two outputs of the second visual conv


def visual_sequence(vb, flows: torch.Tensor) -> torch.Tensor:
    """flows (C, T, 32, 32) scaled to [0, 1] -> (C, 32, T-7, 6, 6); block t reads [:, :, t] and [:, :, t+2]."""
    f = vb.features
    # max_pool3d is a slow path on CPU: the same maxima as a 2D pool over space and then the max
    # of neighbouring frames, and ReLU after the pool instead of before (it is monotonic), on a
    # quarter of the values: equal to the bit, 12-28 % less time here on a 3 s or 20 s clip.
    x = max_pool(f[0](flows.unsqueeze(1)), 2, 2)  # each frame, 2x2
    x = F.relu(torch.maximum(x[:, :, :-1], x[:, :, 1:]))  # (2, 2, 2) pool, stride (1, 2, 2)
    x = F.dropout3d(x, f[3].p, vb.training)
    x = F.conv3d(x, f[4].weight, f[4].bias, dilation=(2, 1, 1))
    return F.relu(max_pool(f[5](x), 2, 2))  # (1, 2, 2) pool


def max_pool(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Max-pooling of x's last two dims by (kh, kw), kh and kw 1 or 2, stride = size (an odd last
    row or column dropped, as max_pool2d does)."""
    if x.requires_grad:  # training keeps max_pool2d's gradient (all of it to one of tied inputs)
        y = F.max_pool2d(x.flatten(0, -3), (kh, kw))
        return y.reshape(*x.shape[:-2], *y.shape[-2:])
    # max_pool2d over a clip's many small planes is a slow path on CPU: the maxima of strided
    # rows and columns are the same values, several times faster (docs/performance.md).
    h, w = x.shape[-2] // kh * kh, x.shape[-1] // kw * kw
    x = x[..., :h, :w]
    if kh == 2:
        x = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
    if kw == 2:
        x = torch.maximum(x[..., 0::2], x[..., 1::2])
    return x


def visual_blocks(vb, seq: torch.Tensor, clip: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """VF (B, 1024) of blocks starting at sequence position t of segment `clip`."""
    steps = torch.tensor(VISUAL_STEPS, device=seq.device)
    s = seq.permute(0, 2, 1, 3, 4)  # (C, T', 32, 6, 6)
    g = s[clip[:, None], t[:, None] + steps[None]]  # (B, 2, 32, 6, 6)
    g = F.dropout3d(g.transpose(1, 2), vb.features[8].p, vb.training)
    return vb.fc(g)


def audio_sequence(ab, mfcc: torch.Tensor) -> torch.Tensor:
    """mfcc (C, R, 12) starting at a window boundary -> (C, 64, (R-1)//2 - 1, 2)."""
    f = ab.features
    x = max_pool(F.relu(f[0](mfcc.unsqueeze(1))), 2, 2)
    return max_pool(F.relu(f[4](f[3](x))), 1, 2)


def audio_windows(ab, seq: torch.Tensor, clip: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """AF (W, 1024) of windows j (counted from the segment's first window) of segment `clip`."""
    rows = torch.arange(AUDIO_ROWS, device=seq.device)
    s = seq.permute(0, 2, 1, 3)  # (C, rows, 64, 2)
    g = s[clip[:, None], 2 * j[:, None] + rows[None]]  # (W, 18, 64, 2)
    return ab.fc(g.transpose(1, 2))


def pair_hidden(net, vf: torch.Tensor, af: torch.Tensor, pb: torch.Tensor, pw: torch.Tensor) -> torch.Tensor:
    """First fusion layer's pre-activation for pairs (block pb, window pw), split by linearity."""
    lin = net.head[0]
    nv = vf.shape[1]
    hv = vf @ lin.weight[:, :nv].T
    ha = F.linear(af, lin.weight[:, nv:], lin.bias)
    return hv[pb] + ha[pw]


# Frames per visual chunk at inference: bounds memory on long clips (the first convolution's
# output is 23 MB per 100 frames) while keeping most of the shared work (a chunk recomputes 9
# frames of the one before). On a 10-minute clip, 100 frames here and 500 blocks per branch chunk
# (estimators.BLOCK_CHUNK), against 200 and 2000, cut the two networks' peak from +170 to +60 MB.
CHUNK = 100


def block_features(vb, feats, starts) -> torch.Tensor:
    """VF (n, 1024) of blocks `starts` of a ClipFeatures, chunk by chunk."""
    import numpy as np
    device = next(vb.parameters()).device
    starts = np.asarray(starts, int)
    out = torch.empty((len(starts), vb.out_dim), device=device)
    if len(starts) == 0:
        return out
    order = np.argsort(starts, kind="stable")
    i = 0
    block = feats.cfg.block
    while i < len(order):
        a = int(starts[order[i]])
        k = i
        while k < len(order) and starts[order[k]] + block <= a + CHUNK:
            k += 1
        idx = order[i:k]
        last = int(starts[idx].max())
        flows = torch.from_numpy(np.ascontiguousarray(feats.visual_frames(a, last + block))).to(device)
        seq = visual_sequence(vb, flows[None])
        t = torch.from_numpy(starts[idx] - a).to(device)
        out[torch.from_numpy(idx).to(device)] = visual_blocks(vb, seq, torch.zeros_like(t), t)
        i = k
    return out


def window_features(ab, feats, windows) -> torch.Tensor:
    """AF (n, 1024) of audio windows `windows` of a ClipFeatures, chunk by chunk."""
    import numpy as np
    from ..features import AUDIO_WINDOW, MFCC_PER_FRAME
    device = next(ab.parameters()).device
    windows = np.asarray(windows, int)
    out = torch.empty((len(windows), ab.out_dim), device=device)
    order = np.argsort(windows, kind="stable")
    i = 0
    while i < len(order):
        j0 = int(windows[order[i]])
        k = i
        while k < len(order) and windows[order[k]] < j0 + CHUNK:
            k += 1
        idx = order[i:k]
        j1 = int(windows[idx].max())
        m = feats.mfcc[MFCC_PER_FRAME * j0: MFCC_PER_FRAME * j1 + AUDIO_WINDOW]
        seq = audio_sequence(ab, torch.from_numpy(np.ascontiguousarray(m)).to(device)[None])
        j = torch.from_numpy(windows[idx] - j0).to(device)
        out[torch.from_numpy(idx).to(device)] = audio_windows(ab, seq, torch.zeros_like(j), j)
        i = k
    return out
