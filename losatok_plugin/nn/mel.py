"""Mel spectrogram front ends (torchaudio-equivalent numerics, buffers recomputed, never loaded).

Both LoSATok streams use an HTK mel filterbank without normalisation over a centred, reflect-padded
STFT with a periodic Hann window, exactly like ``torchaudio.transforms.MelSpectrogram``. The window
and filterbank are non-persistent buffers: checkpoints may carry them, loaders may check them, but
the model never needs them from a file.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn


class MelSpectrogram(nn.Module):
    """Mel spectrogram ``[B, N] -> [B, n_mels, 1 + N // hop]``.

    Args:
        sample_rate: input sample rate in Hz.
        n_fft: FFT size (= window length).
        hop_length: hop in samples.
        n_mels: number of mel bands.
        f_max: highest band edge in Hz (``None`` = Nyquist).
        power: 1.0 for magnitude, 2.0 for power.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        n_mels: int,
        f_max: float | None = None,
        power: float = 1.0,
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.power = power
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        fb = torchaudio.functional.melscale_fbanks(
            n_freqs=n_fft // 2 + 1,
            f_min=0.0,
            f_max=float(f_max if f_max is not None else sample_rate / 2),
            n_mels=n_mels,
            sample_rate=sample_rate,
            norm=None,
            mel_scale="htk",
        )
        self.register_buffer("fb", fb, persistent=False)  # [n_freqs, n_mels]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio: ``[B, N]`` float -> mel ``[B, n_mels, 1 + N // hop]`` (power or magnitude)."""
        spec = torch.stft(
            audio,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window,
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        ).abs()
        if self.power != 1.0:
            spec = spec.pow(self.power)
        # torchaudio's MelScale: (spec^T @ fb)^T, kept in that order for bit-level agreement.
        return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)


def power_to_db(
    power: torch.Tensor, top_db: float, amin: float = 1e-10, batch_global_floor: bool = False
) -> torch.Tensor:
    """``10·log10(max(x, amin))`` floored at ``max - top_db``.

    Args:
        power: ``[B, F, T]`` power spectrogram.
        top_db: dynamic range kept below the maximum.
        batch_global_floor: take the maximum over the whole batch, as torchaudio's ``AmplitudeToDB``
            does for a 3-D input (the reference quirk). Default: per item (correct for batches).

    Returns:
        ``[B, F, T]`` in dB.
    """
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if batch_global_floor:
        peak = db.amax()
    else:
        peak = db.amax(dim=(-2, -1), keepdim=True)
    return torch.maximum(db, peak - top_db)
