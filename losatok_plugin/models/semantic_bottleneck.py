"""The Semantic Bottleneck (SemBo): an MLP autoencoder from the 1280-d teacher space to 128-d.

``down`` gives ``semantic_emb_low``; ``up`` reconstructs the teacher embedding and is only used by
the training loss (see ``losses/time_relation.py``). Keys follow the reference
(``downsample.{0,2}``, ``upsample.{0,2}``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class BottleneckOutput:
    """``low``: ``[B, T, low_dim]``; ``recon``: ``[B, T, high_dim]`` (None when not requested)."""

    low: torch.Tensor
    recon: torch.Tensor | None = None


class SemanticBottleneck(nn.Module):
    """``Linear(high, hidden) → GELU → Linear(hidden, low)`` and the mirrored decoder.

    Args:
        high_dim: teacher width (1280).
        low_dim: bottleneck width (128, the latent size).
        hidden_dim: hidden width of both MLPs (512).
    """

    def __init__(self, high_dim: int = 1280, low_dim: int = 128, hidden_dim: int = 512) -> None:
        super().__init__()
        self.downsample = nn.Sequential(nn.Linear(high_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, low_dim))
        self.upsample = nn.Sequential(nn.Linear(low_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, high_dim))

    def encode(self, emb: torch.Tensor) -> torch.Tensor:
        """emb ``[B, T, high_dim]`` -> ``[B, T, low_dim]``."""
        return self.downsample(emb)

    def forward(self, emb: torch.Tensor, reconstruct: bool = True) -> BottleneckOutput:
        """emb ``[B, T, high_dim]`` -> :class:`BottleneckOutput` (low ``[B, T, low]``, recon ``[B, T, high]``)."""
        low = self.downsample(emb)
        return BottleneckOutput(low=low, recon=self.upsample(low) if reconstruct else None)


class IdentityBottleneck(nn.Module):
    """No bottleneck (``LoSATokConfig.semantic_bottleneck=False``): ``low`` and ``recon`` are the input
    ``[B, T, D]`` itself; no weights."""

    def encode(self, emb: torch.Tensor) -> torch.Tensor:
        """emb ``[B, T, D]`` -> the same tensor."""
        return emb

    def forward(self, emb: torch.Tensor, reconstruct: bool = True) -> BottleneckOutput:
        """emb ``[B, T, D]`` -> :class:`BottleneckOutput` with ``low = recon = emb``."""
        return BottleneckOutput(low=emb, recon=emb if reconstruct else None)
