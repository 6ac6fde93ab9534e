"""The discriminators of stage 2 as one module: multi-period and/or multi-resolution STFT."""

from __future__ import annotations

import torch
from torch import nn

from .multi_period import MultiPeriodDiscriminator
from .multi_resolution import MultiResolutionDiscriminator


class Discriminators(nn.Module):
    """MPD and/or MRD as one module: ``[B, N] -> (logits list, feature-map lists)``.

    Args:
        use_mpd / use_mrd: which discriminators (at least one).
        periods: MPD periods.
        resolutions: MRD ``(n_fft, hop)`` pairs.
        channels: base width of both.
    """

    def __init__(
        self,
        use_mpd: bool = True,
        use_mrd: bool = True,
        periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        resolutions: tuple[tuple[int, int], ...] = ((2048, 512), (1024, 256), (512, 128)),
        channels: int = 32,
    ) -> None:
        super().__init__()
        self.parts = nn.ModuleList()
        if use_mpd:
            self.parts.append(MultiPeriodDiscriminator(tuple(periods), channels))
        if use_mrd:
            self.parts.append(MultiResolutionDiscriminator(tuple(tuple(r) for r in resolutions), channels))
        if not len(self.parts):
            raise ValueError("enable at least one discriminator (use_mpd / use_mrd)")

    def forward(self, x: torch.Tensor):
        """x ``[B, N]`` -> lists of logits and of feature-map lists over all sub-discriminators."""
        logits, feats = [], []
        for part in self.parts:
            lo, fe = part(x)
            logits += lo
            feats += fe
        return logits, feats
