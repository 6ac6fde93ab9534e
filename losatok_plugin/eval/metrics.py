"""Reconstruction metrics on waveforms ``[B, N]`` (or ``[N]``) at 16 kHz.

``mel_distance`` is the multi-scale log-mel L1 used to train and report LoSATok (paper "mel"),
``stft_distance`` the multi-resolution STFT distance (spectral convergence + log-magnitude L1, the
paper's "STFT"), ``si_sdr`` the scale-invariant SDR in dB. PESQ (wide-band) and STOI come from the
field's packages (``pesq``, ``pystoi``; the ``[eval]`` extra), never re-implemented.
"""

from __future__ import annotations

import warnings

import torch

from ..losses.mel import MultiScaleMelLoss
from ..losses.stft import STFT_RESOLUTIONS, MultiResolutionSTFTLoss

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


def stft_distance(
    ref: torch.Tensor, est: torch.Tensor, resolutions=STFT_RESOLUTIONS, eps: float = 1e-7
) -> torch.Tensor:
    """Multi-resolution STFT distance: mean over resolutions of spectral convergence + log-magnitude L1.

    ``[B, N], [B, N] -> [B]``; 0 for identical signals. The training loss of the same name
    (:class:`~losatok_plugin.losses.stft.MultiResolutionSTFTLoss`) with the metric's floor ``eps``.
    """
    ref, est = align_lengths(torch.atleast_2d(ref).float(), torch.atleast_2d(est).float())
    loss = MultiResolutionSTFTLoss(resolutions, eps).to(ref.device)
    with torch.no_grad():
        return loss(est, ref, reduce=False)


def pesq_wb(ref: torch.Tensor, est: torch.Tensor, sample_rate: int = 16000) -> float:
    """Wide-band PESQ (ITU-T P.862.2) of one clip ``[N]`` via the ``pesq`` package (raises on no speech)."""
    from pesq import pesq

    ref, est = align_lengths(ref.reshape(-1), est.reshape(-1))
    return float(pesq(sample_rate, ref.double().cpu().numpy(), est.double().cpu().numpy(), "wb"))


def stoi(ref: torch.Tensor, est: torch.Tensor, sample_rate: int = 16000) -> float:
    """Short-time objective intelligibility of one clip ``[N]`` via ``pystoi``."""
    from pystoi import stoi as _stoi

    ref, est = align_lengths(ref.reshape(-1), est.reshape(-1))
    return float(_stoi(ref.double().cpu().numpy(), est.double().cpu().numpy(), sample_rate, extended=False))


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


FLATNESS_BANDS: tuple[tuple[int, int], ...] = ((1000, 2000), (2000, 3000), (3000, 4000), (4000, 6000), (6000, 8000))


def _power(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``[N] -> [n_fft // 2 + 1, frames]`` power spectrum (Hann window)."""
    window = torch.hann_window(n_fft, device=x.device)
    return torch.stft(x.reshape(-1).float(), n_fft, hop, window=window, return_complex=True).abs().pow(2)


def _flatness(power: torch.Tensor, sample_rate: int, bands) -> torch.Tensor:
    """Per band, the frames' mean of geometric / arithmetic mean power: ``[bins, frames] -> [bands]``."""
    power = power + 1e-12
    freqs = torch.linspace(0, sample_rate / 2, power.shape[0], device=power.device)
    out = []
    for lo, hi in bands:
        p = power[(freqs >= lo) & (freqs < hi)]
        out.append((p.log().mean(0).exp() / p.mean(0)).mean())
    return torch.stack(out)


def band_flatness(
    audio: torch.Tensor, sample_rate: int = 16000, bands=FLATNESS_BANDS, n_fft: int = 1024, hop: int = 256
) -> torch.Tensor:
    """Spectral flatness (geometric / arithmetic mean of the power) per band, averaged over frames: ``[N] -> [bands]``.

    1 for white noise, near 0 for clean harmonics.
    """
    return _flatness(_power(audio, n_fft, hop), sample_rate, bands)


def flatness_gap(ref: torch.Tensor, est: torch.Tensor, sample_rate: int = 16000, bands=FLATNESS_BANDS) -> float:
    """Mean over bands (1-8 kHz) of |flatness(est) − flatness(ref)| on the reference's active frames, one clip ``[N]``.

    0 for identical signals. A decoder that fills the gaps between harmonics with noise raises the
    estimate's flatness (a rough voice); one that loses the noise of fricatives or cymbals lowers it.
    Frames are active where the reference's power is within 30 dB of its loudest frame. NaN if none are.
    """
    ref, est = align_lengths(ref.reshape(-1).float(), est.reshape(-1).float())
    n_fft, hop = 1024, 256
    if ref.shape[-1] < n_fft:
        return float("nan")
    ref_power, est_power = _power(ref, n_fft, hop), _power(est, n_fft, hop)
    frame_power = ref_power.sum(0)
    active = frame_power > frame_power.max() * 1e-3
    if not bool(active.any()):
        return float("nan")
    a = _flatness(ref_power[:, active], sample_rate, bands)
    b = _flatness(est_power[:, active], sample_rate, bands)
    return float((a - b).abs().mean())
