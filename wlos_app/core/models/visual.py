"""Visual branch (paper 2.2.1): 10 vertical-flow maps of 32x32 -> 1024-d feature VF."""
from __future__ import annotations

import torch
from torch import nn


class VisualBranch(nn.Module):
    """Two 3x3x3 convolutions (64 then 32 filters, stride 1, no padding), max-pooling 2x2x2 then
    1x2x2 with stride equal to the pool size, batch norm on the second convolution, 3D spatial
    dropout 0.5 after each pooling, ReLU throughout, then a 1024-unit fully connected layer.

    Sizes the paper leaves open, chosen here: "valid" convolutions and pool stride = pool size (a
    stride of 1 as printed would leave a 250k-input FC layer); "upper" = the first layer.
    Shapes: (B,1,10,32,32) -> conv (64,8,30,30) -> pool (64,4,15,15) -> conv (32,2,13,13)
    -> pool (32,2,6,6) = 2304 -> 1024.
    """

    out_dim = 1024

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(1, 64, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(2),
            nn.Dropout3d(dropout),
            nn.Conv3d(64, 32, 3),
            nn.BatchNorm3d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 2, 2)),
            nn.Dropout3d(dropout),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(32 * 2 * 6 * 6, self.out_dim), nn.ReLU(inplace=True))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """v: (B, 10, 32, 32) flows scaled to [0, 1]."""
        return self.fc(self.features(v.unsqueeze(1)))
