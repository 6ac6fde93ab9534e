"""GAN objectives: hinge or least-squares, and feature matching (HiFi-GAN / Vocos / DAC style).

Discriminator outputs are lists (one per sub-discriminator) of logits ``[B, ...]`` and of feature maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_LOSSES = ("hinge", "lsgan")


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor], kind: str = "hinge") -> torch.Tensor:
    """Mean over sub-discriminators of the real/fake objective (fake must be detached by the caller)."""
    _check(kind)
    total = real[0].new_zeros(())
    for r, f in zip(real, fake):
        if kind == "hinge":
            total = total + F.relu(1 - r).mean() + F.relu(1 + f).mean()
        else:
            total = total + (r - 1).pow(2).mean() + f.pow(2).mean()
    return total / len(real)


def generator_adversarial_loss(fake: list[torch.Tensor], kind: str = "hinge") -> torch.Tensor:
    """Mean over sub-discriminators of the generator's objective on fake logits."""
    _check(kind)
    total = fake[0].new_zeros(())
    for f in fake:
        total = total + (F.relu(1 - f).mean() if kind == "hinge" else (f - 1).pow(2).mean())
    return total / len(fake)


def feature_matching_loss(real_feats: list[list[torch.Tensor]], fake_feats: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between discriminator feature maps of real (detached) and fake audio, mean over all maps."""
    total, count = real_feats[0][0].new_zeros(()), 0
    for rs, fs in zip(real_feats, fake_feats):
        for r, f in zip(rs, fs):
            total = total + (r.detach() - f).abs().mean()
            count += 1
    return total / max(count, 1)


def _check(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"GAN loss must be one of {GAN_LOSSES}, got {kind!r}")
