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

    An auxiliary 19-way classifier over the drifts sits on the last hidden layer. It is trained
    alongside the regression (its loss keeps predictions near d = +-9 from being pulled toward 0).
    `drift_from` says what the drift is read from: "regression" (the paper's output),
    "classifier" (the expected drift under the classifier's softmax) or "mean" (of the two); the
    shipped weights record their choice in their metadata.
    """

    kind = "wlos"
    n_shifts = 19
    DRIFT_FROM = ("regression", "classifier", "mean")
    drift_from = "regression"

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(
            nn.Linear(2048, 512), nn.ReLU(inplace=True),
            nn.Linear(512, 128), nn.ReLU(inplace=True),
            nn.Linear(128, 1),
        )
        self.aux = nn.Linear(128, self.n_shifts)

    def fuse(self, vf, af):
        reg, aux = self.from_hidden(self.head[0](torch.cat([vf, af], dim=1)))
        return self.drift(reg, aux, self.drift_from)

    @classmethod
    def drift(cls, reg: torch.Tensor, aux: torch.Tensor, drift_from: str) -> torch.Tensor:
        if drift_from == "regression":
            return reg
        shifts = torch.arange(cls.n_shifts, device=aux.device, dtype=aux.dtype) - cls.n_shifts // 2
        expected = (torch.softmax(aux, dim=1) * shifts).sum(1)
        return expected if drift_from == "classifier" else 0.5 * (reg + expected)

    def from_hidden(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Regression and auxiliary logits from the first fusion layer's pre-activation."""
        h = self.head[3](self.head[2](self.head[1](h)))
        return self.head[4](h).squeeze(1), self.aux(h)


class C3(_TwoBranch):
    """Classifies a block and an audio window as in sync (class 1) or not (class 0).

    Fusion (paper 2.3): FC 2048 -> 1024 (ReLU) -> 2 (softmax, applied by the caller / the loss).
    """

    kind = "c3"

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(2048, 1024), nn.ReLU(inplace=True), nn.Linear(1024, 2))

    def from_hidden(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from the first fusion layer's pre-activation."""
        return self.head[2](self.head[1](h))


NETWORKS = {"wlos": WLOS, "c3": C3}
