"""Inference precision: ``fp32`` (reference numerics), ``bf16`` (weights and matmuls in bfloat16, float32
islands kept) and ``int8`` (dynamic int8 quantization of the Linear layers).

    apply_precision(model, "bf16")   # == model.to(torch.bfloat16)
    apply_precision(model, "int8")   # == model.quantize("int8"), in place

bf16: every module runs in bfloat16 except the float32 islands named in
``LoSATokVAE._keep_in_fp32_modules`` (mel front ends and dB floors, the BatchNorm over dB, the ISTFT head,
the Gaussian head; see ``nn/fp32.py``). Audio in and audio / latents out stay float32.

int8: ``torch.ao.quantization.quantize_dynamic`` replaces each ``nn.Linear`` outside the float32 islands
(and outside :data:`INT8_KEEP_FLOAT`) with a dynamically quantized one: int8 weights (one scale per
output channel; per-tensor scales cost ~14 dB of SNR at the official size), activations quantized per batch on the fly, fbgemm/x86 kernels on CPU. Convolutions stay float32:
PyTorch's dynamic quantization covers Linear / RNN layers only, and the convolutions here are a small
share of the work (patch embeddings, the decoder's first conv, depthwise convs). ``torch.ao.quantization``
is deprecated in torch 2.9 and announced for removal in 2.10 (its successor, torchao, has no fast CPU
dynamic int8 path without ``torch.compile``); the project pins torch 2.9.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..nn.fp32 import Float32Island

PRECISIONS = ("fp32", "bf16", "int8")

# Module-name fragments whose Linear layers stay float32 under int8 (besides the float32 islands).
# Measured on losatok-mini and the bundled clips: quantizing everything gives 25-30 dB reconstruction SNR
# against fp32; the 128-d projections (SemBo's down path and the acoustic branch's to_low: the latent
# itself) account for most of the error and for < 1 % of the FLOPs, so they stay float (31-36 dB).
INT8_KEEP_FLOAT: tuple[str, ...] = ("bottleneck", "acoustic")


class PrecisionError(ValueError):
    """An unknown precision name, or an operation a quantized model cannot do."""


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a one-line :class:`PrecisionError`."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


def apply_precision(model: nn.Module, precision: str) -> nn.Module:
    """Put ``model`` (a LoSATokVAE) in ``precision`` (``fp32`` | ``bf16`` | ``int8``), in place; returns it."""
    check_precision(precision)
    if precision == "int8":
        return quantize_int8(model)
    if is_quantized(model):
        raise PrecisionError(f"this model is int8-quantized; reload it to run in {precision}")
    return model.to(torch.float32 if precision == "fp32" else torch.bfloat16)


def is_quantized(model: nn.Module) -> bool:
    """True when ``model`` holds dynamically quantized layers."""
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


def int8_linear_names(model: nn.Module, keep: tuple[str, ...] = INT8_KEEP_FLOAT) -> list[str]:
    """Names of the ``nn.Linear`` layers that int8 quantizes: all outside float32 islands and ``keep``."""
    islands = [name for name, m in model.named_modules() if isinstance(m, Float32Island)]
    return [
        name
        for name, m in model.named_modules()
        if type(m) is nn.Linear
        and not any(name == i or name.startswith(i + ".") for i in islands)
        and not any(k in name for k in keep)
    ]


def quantize_int8(model: nn.Module, keep: tuple[str, ...] = INT8_KEEP_FLOAT) -> nn.Module:
    """Dynamic int8 quantization of ``model``'s Linear layers (see the module docstring), in place.

    A bf16 model is first cast back to float32 (the quantized kernels take float32 activations).
    Idempotent: an already quantized model is returned as is.
    """
    if is_quantized(model):
        return model
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as e:  # torch >= 2.10 removed torch.ao.quantization
        raise PrecisionError(f"int8 needs torch.ao.quantization (torch <= 2.9): {e}") from None
    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise PrecisionError("int8 (dynamic quantization) runs on CPU only: load the model with --device cpu")
    model.to(torch.float32)
    spec = {name: per_channel_dynamic_qconfig for name in int8_linear_names(model, keep)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        quantize_dynamic(model, qconfig_spec=spec, dtype=torch.qint8, inplace=True)
    return model
