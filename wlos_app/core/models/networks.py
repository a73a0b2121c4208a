"""WLOS (regression) and C3 (classification) networks: the two branches plus a fusion head."""
from __future__ import annotations

import torch
from torch import nn

from .audio import AudioBranch
from .visual import VisualBranch


class _TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = VisualBranch()
        self.audio = AudioBranch()

    def fuse(self, vf: torch.Tensor, af: torch.Tensor) -> torch.Tensor:
        """Head output from precomputed branch features: lets a sliding window reuse them."""
        return self.head(torch.cat([vf, af], dim=1))

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.visual(v), self.audio(a))


class WLOS(_TwoBranch):
    """Regresses the drift d (grid frames, positive = audio late) of a block and its audio window.

    Fusion (paper 2.2.3): three FC layers, ReLU but the last, linear 1-d output. The widths of the
    two hidden layers are not given in the paper: 512 and 128 here.
    """

    kind = "wlos"

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(
            nn.Linear(2048, 512), nn.ReLU(inplace=True),
            nn.Linear(512, 128), nn.ReLU(inplace=True),
            nn.Linear(128, 1),
        )

    def fuse(self, vf, af):
        return super().fuse(vf, af).squeeze(1)


class C3(_TwoBranch):
    """Classifies a block and an audio window as in sync (class 1) or not (class 0).

    Fusion (paper 2.3): FC 2048 -> 1024 (ReLU) -> 2 (softmax, applied by the caller / the loss).
    """

    kind = "c3"

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(2048, 1024), nn.ReLU(inplace=True), nn.Linear(1024, 2))


NETWORKS = {"wlos": WLOS, "c3": C3}
