"""Mel spectrogram front ends (torchaudio-equivalent numerics, buffers recomputed, never loaded).

Both LoSATok streams use an HTK mel filterbank without normalisation over a centred, reflect-padded
STFT with a periodic Hann window, exactly like ``torchaudio.transforms.MelSpectrogram``. The window
and filterbank are non-persistent buffers: checkpoints may carry them, loaders may check them, but
the model never needs them from a file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from .fp32 import Float32Island, float32_default, to_float32


def reflect_pad_items(audio: torch.Tensor, pad: int, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Reflect-pad every item by ``pad`` at its own start and end, as ``torch.stft(center=True)`` does.

    ``audio [B, N]`` -> ``[B, N + 2·pad]``. With ``lengths`` (valid samples per item), each item is
    padded at its own end, so the STFT frames of a short item in a batch equal those of the item alone;
    what follows an item's padding is zero.
    """
    if lengths is None:
        return F.pad(audio[:, None], (pad, pad), mode="reflect")[:, 0]
    out = audio.new_zeros(audio.shape[0], audio.shape[-1] + 2 * pad)
    for b, n in enumerate(lengths.tolist()):
        out[b, : n + 2 * pad] = F.pad(audio[b : b + 1, None, :n], (pad, pad), mode="reflect")[0, 0]
    return out


class MelSpectrogram(Float32Island, nn.Module):
    """Mel spectrogram ``[B, N] -> [B, n_mels, 1 + N // hop]``, always computed in float32 (a
    :class:`~losatok_plugin.nn.fp32.Float32Island`: lower-precision input is cast up).

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
        with float32_default():  # even when built under a bf16 default dtype
            window = torch.hann_window(n_fft)
            fb = torchaudio.functional.melscale_fbanks(
                n_freqs=n_fft // 2 + 1,
                f_min=0.0,
                f_max=float(f_max if f_max is not None else sample_rate / 2),
                n_mels=n_mels,
                sample_rate=sample_rate,
                norm=None,
                mel_scale="htk",
            )
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("fb", fb, persistent=False)  # [n_freqs, n_mels]

    def frames(self, padded: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Frames ``start..stop-1`` of the centred mel, from audio already padded by :func:`reflect_pad_items`
        (``n_fft // 2`` each side): ``[B, N + n_fft] -> [B, n_mels, stop - start]``. Equal to
        ``forward(audio)[..., start:stop]`` but touching only the samples those frames need."""
        seg = to_float32(padded)[:, start * self.hop_length : (stop - 1) * self.hop_length + self.n_fft]
        spec = torch.stft(
            seg,
            self.n_fft,
            self.hop_length,
            self.n_fft,
            self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        ).abs()
        if self.power != 1.0:
            spec = spec.pow(self.power)
        return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio: ``[B, N]`` float -> mel ``[B, n_mels, 1 + N // hop]`` (power or magnitude)."""
        spec = torch.stft(
            to_float32(audio),
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
    power: torch.Tensor,
    top_db: float,
    amin: float = 1e-10,
    batch_global_floor: bool = False,
    valid_frames: torch.Tensor | None = None,
) -> torch.Tensor:
    """``10·log10(max(x, amin))`` floored at ``max - top_db``.

    Args:
        power: ``[B, F, T]`` power spectrogram.
        top_db: dynamic range kept below the maximum.
        batch_global_floor: take the maximum over the whole batch, as torchaudio's ``AmplitudeToDB``
            does for a 3-D input (the reference quirk). Default: per item (correct for batches).
        valid_frames: ``[B]`` frames per item that are not padding; the maximum ignores the rest.

    Returns:
        ``[B, F, T]`` in dB.
    """
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    masked = db
    if valid_frames is not None:
        keep = torch.arange(db.shape[-1], device=db.device) < valid_frames[:, None].to(db.device)
        masked = db.masked_fill(~keep[:, None, :], float("-inf"))
    if batch_global_floor:
        peak = masked.amax()
    else:
        peak = masked.amax(dim=(-2, -1), keepdim=True)
    return torch.maximum(db, peak - top_db)
