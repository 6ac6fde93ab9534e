"""float32 islands: modules whose tensors stay float32 when the rest of the model is cast to bf16/fp16.

The mel front ends (STFT, log / dB floors), the BatchNorm over dB values, the ISTFT head (exp of
log-magnitudes, phases, window normalisation) and the Gaussian head are numerically fragile in half
precision, and ``torch.stft`` / ``torch.fft`` do not accept bf16 on CPU at all. A module that mixes in
:class:`Float32Island` keeps its parameters and buffers in float32 under ``model.to(torch.bfloat16)``,
``.half()`` and ``.bfloat16()`` (device moves still apply); its ``forward`` casts inputs up with
:func:`to_float32`. diffusers' ``from_pretrained(torch_dtype=...)`` reaches the same result through the
model's ``_keep_in_fp32_modules``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class Float32Island(nn.Module):
    """Mixin: floating-point parameters and buffers of this module (and its children) stay float32.

    Put it first in the bases (``class X(Float32Island, nn.Module)``). Dtype conversions requested by
    ``Module.to`` / ``half`` / ``bfloat16`` are dropped for float32 tensors; device moves are kept.
    """

    def _apply(self, fn, recurse: bool = True):
        def keep_float32(t: torch.Tensor) -> torch.Tensor:
            out = fn(t)
            if t.dtype == torch.float32 and out.dtype != torch.float32 and out.is_floating_point():
                return t.to(device=out.device)  # the device move without the precision loss
            return out

        return super()._apply(keep_float32, recurse)


@contextmanager
def float32_default() -> Iterator[None]:
    """Build tensors in float32 whatever ``torch.get_default_dtype()`` is: diffusers' ``from_pretrained(
    torch_dtype=bf16)`` constructs the model under that default, and recomputed buffers (windows,
    filterbanks) would otherwise be computed in bf16."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def to_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 when it is a lower-precision float (float64 and integer tensors are left alone)."""
    return x.float() if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64) else x


class BatchNorm1dFloat32(Float32Island, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` that normalises in float32 (dB-scale inputs span ~120 dB: bf16 steps of 0.5 dB).

    Same parameters and state-dict keys as ``nn.BatchNorm1d``. ``[B, C, T] -> [B, C, T]`` float32.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``[B, C, T]`` (any float dtype) -> ``[B, C, T]`` float32."""
        return super().forward(to_float32(x))
