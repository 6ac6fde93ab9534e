"""Reconstruction metrics on waveforms ``[B, N]`` (or ``[N]``) at 16 kHz.

``mel_distance`` is the multi-scale log-mel L1 used to train and report LoSATok (paper "mel"),
``si_sdr`` the scale-invariant SDR in dB.
"""

from __future__ import annotations

import warnings

import torch

from ..losses.mel import MultiScaleMelLoss

_MEL_LOSS: dict[tuple[int, torch.device], MultiScaleMelLoss] = {}


def align_lengths(ref: torch.Tensor, est: torch.Tensor, warn: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop both signals to the shorter length (with a notice when they differ by > 1 latent frame)."""
    n = min(ref.shape[-1], est.shape[-1])
    if warn and abs(ref.shape[-1] - est.shape[-1]) > 640:
        warnings.warn(
            f"reference and estimate lengths differ ({ref.shape[-1]} vs {est.shape[-1]} samples); cropping to {n}",
            UserWarning,
            stacklevel=2,
        )
    return ref[..., :n], est[..., :n]


def mel_distance(ref: torch.Tensor, est: torch.Tensor, sample_rate: int = 16000) -> torch.Tensor:
    """Multi-scale log10-mel L1 distance (the training "mel" loss): ``[B, N], [B, N] -> [B]``."""
    ref, est = align_lengths(torch.atleast_2d(ref), torch.atleast_2d(est))
    key = (sample_rate, ref.device)
    if key not in _MEL_LOSS:
        _MEL_LOSS[key] = MultiScaleMelLoss(sample_rate).to(ref.device)
    with torch.no_grad():
        return _MEL_LOSS[key](est, ref, reduce=False)


def si_sdr(ref: torch.Tensor, est: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB: ``[B, N], [B, N] -> [B]``. NaN for a silent reference."""
    ref, est = align_lengths(torch.atleast_2d(ref).double(), torch.atleast_2d(est).double())
    ref = ref - ref.mean(dim=-1, keepdim=True)
    est = est - est.mean(dim=-1, keepdim=True)
    energy = (ref * ref).sum(dim=-1)
    alpha = (est * ref).sum(dim=-1) / energy.clamp(min=eps)
    target = alpha[:, None] * ref
    noise = est - target
    out = 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))
    return torch.where(energy > eps, out, torch.full_like(out, float("nan"))).float()
