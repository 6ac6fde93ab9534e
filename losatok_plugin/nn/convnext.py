"""1-D ConvNeXt block (Vocos backbone layout: dwconv, norm, pwconv1, pwconv2, gamma)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNeXtBlock(nn.Module):
    """Depthwise conv 7 -> LayerNorm -> Linear -> GELU -> Linear -> layer scale, residual.

    Args:
        dim: channels.
        intermediate_dim: width of the pointwise MLP.
        layer_scale_init: initial value of ``gamma`` (Vocos uses ``1 / num_blocks``).
    """

    def __init__(self, dim: int, intermediate_dim: int, layer_scale_init: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``[B, C, T]`` -> ``[B, C, T]``."""
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)
