"""Audio branch (paper 2.2.2): 39x12 MFCC window -> 1024-d feature AF."""
from __future__ import annotations

import torch
from torch import nn


class AudioBranch(nn.Module):
    """Two 2x2 convolutions (128 then 64 filters, stride 1, no padding), max-pooling 2x2 then 1x2
    with stride equal to the pool size, batch norm on the second convolution, ReLU throughout, then
    a 1024-unit fully connected layer. No dropout: the paper puts it in the visual branch only.
    Shapes: (B,1,39,12) -> conv (128,38,11) -> pool (128,19,5) -> conv (64,18,4) -> pool (64,18,2)
    = 2304 -> 1024.
    """

    out_dim = 1024

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 128, 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(128, 64, 2),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d((1, 2)),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 18 * 2, self.out_dim), nn.ReLU(inplace=True))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """a: (B, 39, 12) MFCCs scaled to [0, 1]."""
        return self.fc(self.features(a.unsqueeze(1)))
