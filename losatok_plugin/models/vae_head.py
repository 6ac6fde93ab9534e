"""The Gaussian (VAE) head and the posterior it returns, the one posterior type of the package.

``unified_emb_low [B, T, C]`` -> :class:`LoSATokGaussian` over latents ``[B, C, T]`` (channels first, the public
latent layout), logvar clamped to ±20.

The KL, written once (:func:`gaussian_kl`): per element ``½(μ² + σ² − 1 − log σ²)`` to N(0, I). Its two
reductions are named where they are used: the training loss :func:`losatok_plugin.losses.kl_loss` (the
reference's) sums over C and averages over B and T; :meth:`LoSATokGaussian.kl` (diffusers'
``DiagonalGaussianDistribution`` contract) sums over C and T per item, so ``kl().mean() / T == kl_loss``.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from torch import nn

from ..nn.fp32 import Float32Island, to_float32

LOGVAR_MIN, LOGVAR_MAX = -20.0, 20.0


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise KL of N(mu, exp(logvar)) to N(0, 1): ``−½(1 + logvar − mu² − e^logvar)``, shape of ``mu``.

    Written as the reference writes it (its training loss is compared bit for bit in the parity tests)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


class LoSATokGaussian(DiagonalGaussianDistribution):
    """diffusers' diagonal Gaussian for 3-D audio latents ``[B, C, T]`` (KL / NLL summed over C and T).

    ``.mean`` / ``.logvar`` / ``.mode()`` / ``.sample(generator)`` are ``[B, C, T]``; ``.lengths`` holds the valid
    frames per item of a padded batch (or None).
    """

    lengths: torch.Tensor | None = None

    @classmethod
    def from_channels_last(cls, mu: torch.Tensor, logvar: torch.Tensor) -> LoSATokGaussian:
        """The posterior of ``mu`` / ``logvar`` given ``[B, T, C]`` (the reference's layout)."""
        return cls(torch.cat([mu, logvar], dim=-1).transpose(1, 2))

    def kl(self, other: DiagonalGaussianDistribution | None = None) -> torch.Tensor:
        """Per-item KL ``[B]`` to N(0, I) (:func:`gaussian_kl` summed over C and T) or to ``other``."""
        if self.deterministic:
            return torch.zeros(self.mean.shape[0], device=self.mean.device)
        if other is None:
            return torch.sum(gaussian_kl(self.mean, self.logvar), dim=[1, 2])
        return 0.5 * torch.sum(
            (self.mean - other.mean).pow(2) / other.var + self.var / other.var - 1.0 - self.logvar + other.logvar,
            dim=[1, 2],
        )

    def nll(self, sample: torch.Tensor, dims: tuple[int, ...] = (1, 2)) -> torch.Tensor:
        """Per-item negative log-likelihood ``[B]`` of ``sample`` ``[B, C, T]``."""
        if self.deterministic:
            return torch.zeros(self.mean.shape[0], device=self.mean.device)
        return 0.5 * torch.sum(
            np.log(2.0 * np.pi) + self.logvar + (sample - self.mean).pow(2) / self.var, dim=list(dims)
        )


class GaussianHead(Float32Island, nn.Module):
    """Two ``Linear(C, C)`` maps (reference ``fc_mu`` / ``fc_logvar``), a float32 island: latents and the
    clamped logvar (whose ``exp`` feeds the KL) come out float32 whatever the model's dtype."""

    def __init__(self, latent_dim: int = 128) -> None:
        super().__init__()
        self.fc_mu = nn.Linear(latent_dim, latent_dim)
        self.fc_logvar = nn.Linear(latent_dim, latent_dim)

    def forward(self, unified_low: torch.Tensor) -> LoSATokGaussian:
        """unified_low ``[B, T, C]`` -> :class:`LoSATokGaussian` over ``[B, C, T]`` (float32)."""
        unified_low = to_float32(unified_low)
        logvar = torch.clamp(self.fc_logvar(unified_low), LOGVAR_MIN, LOGVAR_MAX)
        return LoSATokGaussian.from_channels_last(self.fc_mu(unified_low), logvar)
