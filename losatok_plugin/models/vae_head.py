"""The Gaussian (VAE) head: ``unified_emb_low`` [B, T, C] -> (mu, logvar), logvar clamped to ±20."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LOGVAR_MIN, LOGVAR_MAX = -20.0, 20.0


@dataclass
class GaussianParams:
    """``mu`` and clamped ``logvar``, both ``[B, T, C]``."""

    mu: torch.Tensor
    logvar: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``mu + ε·exp(logvar / 2)``, ``[B, T, C]``."""
        eps = torch.randn(self.mu.shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype)
        return self.mu + eps * torch.exp(0.5 * self.logvar)


class GaussianHead(nn.Module):
    """Two ``Linear(C, C)`` maps (reference ``fc_mu`` / ``fc_logvar``)."""

    def __init__(self, latent_dim: int = 128) -> None:
        super().__init__()
        self.fc_mu = nn.Linear(latent_dim, latent_dim)
        self.fc_logvar = nn.Linear(latent_dim, latent_dim)

    def forward(self, unified_low: torch.Tensor) -> GaussianParams:
        """unified_low ``[B, T, C]`` -> :class:`GaussianParams` (each ``[B, T, C]``)."""
        logvar = torch.clamp(self.fc_logvar(unified_low), LOGVAR_MIN, LOGVAR_MAX)
        return GaussianParams(mu=self.fc_mu(unified_low), logvar=logvar)
