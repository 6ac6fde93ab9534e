"""The training KL of the diagonal Gaussian posterior to N(0, I), with an optional per-dim floor.

The elementwise KL is :func:`losatok_plugin.models.vae_head.gaussian_kl` (the posterior's own); this module
owns the training reduction: sum over C, mean over B and T (the reference's).
"""

from __future__ import annotations

import torch

from ..models.vae_head import gaussian_kl


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor, clamp: float | None = None) -> torch.Tensor:
    """``-½(1 + logvar − mu² − e^logvar)`` per dim, floored at ``clamp``, summed over C, mean over B, T.

    Args:
        mu, logvar: ``[B, T, C]`` (channels last).
        clamp: optional per-dimension minimum ("free bits"); ``None`` disables it.

    Returns:
        0-d tensor.
    """
    kl = gaussian_kl(mu, logvar)
    if clamp is not None:
        kl = torch.clamp(kl, min=clamp)
    return kl.sum(dim=-1).mean()
