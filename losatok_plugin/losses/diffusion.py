"""The two DiT objectives, each matching the sampler of a stock diffusers pipeline.

* ``v_prediction_edm``: ``StableAudioPipeline`` + ``EDMDPMSolverMultistepScheduler`` (v-prediction).
  The scheduler feeds the model ``c_in · x_σ`` (``x_σ = x0 + σ·n``) at timestep ``0.25 · ln σ`` and
  denoises with ``x0 = c_skip · x_σ + c_out · F``, ``c_skip = σd² / (σ² + σd²)``,
  ``c_out = −σ·σd / sqrt(σ² + σd²)``. The training target is therefore ``F* = (x0 − c_skip·x_σ) / c_out``,
  a unit-variance target for unit-variance data with σd = 1 (EDM's preconditioning).
* ``rectified_flow``: ``LongCatAudioDiTPipeline`` + ``FlowMatchEulerDiscreteScheduler(invert_sigmas=True)``.
  Its Euler steps go from noise at t = 0 to data at t = 1 with ``x ← x + (t' − t) · v``, so
  ``x_t = (1 − t)·n + t·x1`` and the target velocity is ``v = x1 − n`` (the LoSATok paper's DiT objective).

Noise levels come from ``u ∈ (0, 1)`` drawn uniformly or logit-normally; for EDM ``u`` is placed on
the same Karras ramp the sampler walks (``u = 0``: σ_max, ``u = 1``: σ_min).
"""

from __future__ import annotations

import torch


def sample_u(
    batch: int, kind: str, device, generator: torch.Generator | None = None, mean: float = 0.0, std: float = 1.0
) -> torch.Tensor:
    """``[batch]`` positions in (0, 1): ``uniform`` or ``logit_normal`` (sigmoid of N(mean, std))."""
    if kind == "uniform":
        return torch.rand(batch, generator=generator).clamp(1e-4, 1 - 1e-4).to(device)
    if kind == "logit_normal":
        return torch.sigmoid(mean + std * torch.randn(batch, generator=generator)).to(device)
    raise ValueError(f"timestep sampling must be 'uniform' or 'logit_normal', got {kind!r}")


def karras_sigma(u: torch.Tensor, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """σ on the Karras ramp at position ``u`` (0 → σ_max, 1 → σ_min), as the EDM schedulers place their steps."""
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + u * (lo - hi)) ** rho


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over valid elements; ``mask`` broadcasts to ``pred`` (1 = valid)."""
    err = (pred.float() - target.float()).pow(2)
    if mask is None:
        return err.mean()
    mask = mask.to(err.dtype).expand_as(err)
    return (err * mask).sum() / mask.sum().clamp(min=1)


def edm_inputs(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor, sigma_data: float):
    """``(model_input, timestep, target)`` for the v-prediction EDM objective.

    Args:
        x0: clean latents ``[B, C, T]``; noise: ``[B, C, T]``; sigma: ``[B]``.

    Returns:
        ``c_in · x_σ`` ``[B, C, T]``, timestep ``0.25 · ln σ`` ``[B]``, target ``F*`` ``[B, C, T]``.
    """
    s = sigma.view(-1, 1, 1).to(x0.dtype)
    x = x0 + s * noise
    c_in = 1 / (s**2 + sigma_data**2).sqrt()
    c_skip = sigma_data**2 / (s**2 + sigma_data**2)
    c_out = -s * sigma_data / (s**2 + sigma_data**2).sqrt()
    return x * c_in, 0.25 * sigma.log(), (x0 - c_skip * x) / c_out


def flow_inputs(x1: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
    """``(x_t, target)`` for rectified flow: ``x_t = (1 − t)·noise + t·x1``, ``v = x1 − noise`` (any layout, t ``[B]``)."""
    tt = t.view(-1, *([1] * (x1.dim() - 1))).to(x1.dtype)
    return (1 - tt) * noise + tt * x1, x1 - noise
