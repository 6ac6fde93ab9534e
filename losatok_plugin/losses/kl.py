"""KL divergence of the diagonal Gaussian posterior to N(0, I), with an optional per-dim floor."""

from __future__ import annotations

import torch


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor, clamp: float | None = None) -> torch.Tensor:
    """``-½(1 + logvar − mu² − e^logvar)`` per dim, floored at ``clamp``, summed over C, mean over B, T.

    Args:
        mu, logvar: ``[B, T, C]`` (channels last).
        clamp: optional per-dimension minimum ("free bits"); ``None`` disables it.

    Returns:
        0-d tensor.
    """
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    if clamp is not None:
        kl = torch.clamp(kl, min=clamp)
    return kl.sum(dim=-1).mean()
