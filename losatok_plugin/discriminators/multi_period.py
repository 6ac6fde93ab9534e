"""Multi-period discriminator (HiFi-GAN): the waveform folded into [T / p, p] 2-D grids."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class PeriodDiscriminator(nn.Module):
    """One period ``p``: ``[B, N] -> (logits [B, 1, T', p], feature maps)``."""

    def __init__(self, period: int, channels: int = 32) -> None:
        super().__init__()
        self.period = period
        chans = [1] + [min(channels * 4**i, channels * 16) for i in range(4)]  # 32 -> 32, 128, 512, 512
        self.convs = nn.ModuleList(
            [weight_norm(nn.Conv2d(chans[i], chans[i + 1], (5, 1), (3, 1), padding=(2, 0))) for i in range(4)]
        )
        self.convs.append(weight_norm(nn.Conv2d(chans[-1], chans[-1], (5, 1), 1, padding=(2, 0))))
        self.out = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: ``[B, N]`` -> logits ``[B, 1, T', period]`` and a list of feature maps."""
        b, n = x.shape
        pad = (-n) % self.period
        x = F.pad(x, (0, pad), mode="reflect" if pad < n else "constant")
        x = x.view(b, 1, -1, self.period)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feats.append(x)
        x = self.out(x)
        feats.append(x)
        return x, feats


class MultiPeriodDiscriminator(nn.Module):
    """Periods 2, 3, 5, 7, 11 by default: ``[B, N] -> (list of logits, list of feature-map lists)``."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), channels: int = 32) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([PeriodDiscriminator(p, channels) for p in periods])

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """x: ``[B, N]`` audio -> per-period logits and feature maps."""
        outs = [d(x) for d in self.discriminators]
        return [o[0] for o in outs], [o[1] for o in outs]
