"""Exponential moving averages of trained weights, with a warm-up shared by every stage.

Two forms, kept as the stages have always used them (their checkpoints and numerics are unchanged):
:class:`EMA` keeps a float32 shadow of a module's trainable parameters (the tokenizer), :class:`ModuleEMA`
a whole frozen copy of the module, buffers included (the DiT, whose EMA is exported as a pipeline).
"""

from __future__ import annotations

import copy

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
    :func:`ema_decay_at`. Checkpointed as its ``shadow`` (parameter names of the module)."""

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

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow = {k: v.float() for k, v in state.items()}


class ModuleEMA(nn.Module):
    """A frozen copy of ``module`` averaged towards it after each step (decay :func:`ema_decay_at` of the
    0-based step). ``state_dict`` keys are the module's own (``ModuleEMA.copy``'s prefix removed)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        super().__init__()
        self.decay = decay
        self.copy = copy.deepcopy(module).requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        """``copy ← lerp(copy, module, 1 − ema_decay_at(decay, step))`` over the parameters."""
        weight = 1 - ema_decay_at(self.decay, step)
        for pe, p in zip(self.copy.parameters(), module.parameters()):
            pe.lerp_(p.detach(), weight)

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        return self.copy.state_dict()

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        self.copy.load_state_dict(state)
