"""Inverse STFT with "same" padding (the Vocos ISTFT head's synthesis).

``torch.istft`` only supports ``center=True``; a vocoder wants frame-aligned ("same") output whose
length is exactly ``hop × frames``. We overlap-add windowed ``irfft`` frames with ``fold``, divide
by the summed squared window, and trim ``(n_fft - hop) / 2`` samples at both ends.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fp32 import Float32Island, float32_default


def same_padding(n_fft: int, hop_length: int) -> int:
    """Samples trimmed from each side by the "same"-padded ISTFT: ``(n_fft - hop) / 2``."""
    if (n_fft - hop_length) % 2:
        raise ValueError("n_fft - hop_length must be even for same padding")
    return (n_fft - hop_length) // 2


class ISTFT(Float32Island, nn.Module):
    """Complex spectrogram ``[B, n_fft/2+1, F] -> [B, hop·F]`` audio (a float32 island: the window and
    its normalisation stay float32 under a bf16 model).

    Args:
        n_fft: FFT size (= window length).
        hop_length: hop in samples.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.pad = n_fft, hop_length, same_padding(n_fft, hop_length)
        with float32_default():
            self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: ``[B, n_fft // 2 + 1, F]`` complex -> audio ``[B, hop_length * F]`` real."""
        if spec.dim() != 3:
            raise ValueError(f"ISTFT expects [B, bins, frames], got {tuple(spec.shape)}")
        n_frames = spec.shape[-1]
        frames = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * self.window[None, :, None]
        out_len = (n_frames - 1) * self.hop_length + self.n_fft
        fold = dict(output_size=(1, out_len), kernel_size=(1, self.n_fft), stride=(1, self.hop_length))
        audio = F.fold(frames, **fold)[:, 0, 0, self.pad : out_len - self.pad]
        win_sq = self.window.square()[None, :, None].expand(1, -1, n_frames)
        envelope = F.fold(win_sq, **fold)[0, 0, 0, self.pad : out_len - self.pad]
        return audio / envelope


class ConvISTFT(nn.Module):
    """The same "same"-padded ISTFT as :class:`ISTFT`, written as one ``conv_transpose1d`` over a fixed
    windowed inverse-DFT basis, from real and imaginary parts: no complex tensors, no FFT op, so it
    exports to ONNX (the FFT-based ISTFT is the usual export blocker). Equal to :class:`ISTFT` to
    float32 rounding; slower on CPU for long inputs, so PyTorch inference keeps :class:`ISTFT`.

    Args:
        n_fft: FFT size (= window length).
        hop_length: hop in samples.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.pad = n_fft, hop_length, same_padding(n_fft, hop_length)
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        angle = 2 * torch.pi * k[:, None] * n[None, :] / n_fft
        # irfft: x[n] = (X_0 + 2·Σ Re(X_k e^{iθ}) + X_{N/2}(-1)^n) / N; DC and Nyquist imaginary parts drop out
        weight = torch.full_like(k, 2.0)
        weight[0] = weight[-1] = 1.0
        window = torch.hann_window(n_fft, dtype=torch.float64)
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * torch.cat([weight, weight])[:, None] / n_fft
        self.register_buffer("basis", (basis * window).float()[:, None, :], persistent=False)  # [2·bins, 1, n_fft]
        self.register_buffer("window_sq", window.square().float()[None, None, :], persistent=False)

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """real, imag: ``[B, n_fft // 2 + 1, F]`` -> audio ``[B, hop_length * F]``."""
        frames = torch.cat([real, imag], dim=1)
        audio = F.conv_transpose1d(frames, self.basis, stride=self.hop_length)[:, 0]  # [B, (F-1)·hop + n_fft]
        envelope = F.conv_transpose1d(torch.ones_like(real[:1, :1]), self.window_sq, stride=self.hop_length)[0]
        return (audio / envelope)[:, self.pad : audio.shape[-1] - self.pad]
