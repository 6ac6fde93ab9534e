"""The Gaussian (VAE) head: ``unified_emb_low`` [B, T, C] -> (mu, logvar), logvar clamped to ±20."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..nn.fp32 import Float32Island, to_float32

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


class GaussianHead(Float32Island, nn.Module):
    """Two ``Linear(C, C)`` maps (reference ``fc_mu`` / ``fc_logvar``), a float32 island: latents and the
    clamped logvar (whose ``exp`` feeds the KL) come out float32 whatever the model's dtype."""

    def __init__(self, latent_dim: int = 128) -> None:
        super().__init__()
        self.fc_mu = nn.Linear(latent_dim, latent_dim)
        self.fc_logvar = nn.Linear(latent_dim, latent_dim)

    def forward(self, unified_low: torch.Tensor) -> GaussianParams:
        """unified_low ``[B, T, C]`` -> :class:`GaussianParams` (each ``[B, T, C]``)."""
        unified_low = to_float32(unified_low)
        logvar = torch.clamp(self.fc_logvar(unified_low), LOGVAR_MIN, LOGVAR_MAX)
        return GaussianParams(mu=self.fc_mu(unified_low), logvar=logvar)
