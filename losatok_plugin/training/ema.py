"""Exponential moving average of trained weights, with a warm-up shared by every stage."""

from __future__ import annotations

import torch
from torch import nn


def ema_decay_at(decay: float, step: int) -> float:
    """The EMA decay at 0-based optimiser step ``step`` of a run: ``min(decay, (1 + t) / (10 + t))``.

    0.1 at the first step, 0.5 at step 8, 0.9 at step 80, 0.99 at step 890, so a short run (a fine-tune of
    a few hundred steps) exports what it learned instead of the weights it started from (with a flat
    0.999, 200 steps keep 82 % of the start).
    """
    return min(decay, (1 + step) / (10 + step))


class EMA:
    """Exponential moving average of a module's trainable weights (float32 shadow), with the warm-up of
    :func:`ema_decay_at`."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in self._params(module).items()}

    @staticmethod
    def _params(module: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in module.named_parameters() if v.requires_grad}

    def decay_at(self, step: int) -> float:
        """The decay used at 0-based optimiser step ``step``."""
        return ema_decay_at(self.decay, step)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int | None = None) -> None:
        """Move the average towards ``module``'s weights; ``step`` (1-based steps done) enables the warm-up."""
        decay = self.decay if step is None else self.decay_at(step - 1)
        for k, v in self._params(module).items():
            self.shadow[k].lerp_(v.detach().float(), 1 - decay)

    def copy_to(self, module: nn.Module) -> None:
        params = dict(module.named_parameters())
        with torch.no_grad():
            for k, v in self.shadow.items():
                params[k].copy_(v.to(params[k].dtype))
