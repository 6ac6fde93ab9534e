"""Forward STFT as a strided ``conv1d`` over a fixed windowed DFT basis (the ONNX-exportable STFT).

``torch.stft`` lowers to FFT / complex ops that ONNX exporters and runtimes handle poorly; a convolution
with ``n_fft // 2 + 1`` cosine and as many sine rows, each multiplied by the analysis window, gives the
same real and imaginary parts (to float32 rounding) with one ordinary op. The mirror image of
:class:`~losatok_plugin.nn.istft.ConvISTFT`. Used by the ONNX encoder export; PyTorch inference keeps
``torch.stft`` (FFT-based, faster for large ``n_fft``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvSTFT(nn.Module):
    """Uncentred one-sided STFT ``[B, L] -> (real, imag)`` each ``[B, n_fft // 2 + 1, 1 + (L - n_fft) // hop]``.

    Equal to ``torch.stft(x, n_fft, hop, window=hann_window(n_fft), center=False)`` (periodic Hann, no
    normalisation) to float32 rounding. For the centred STFT, reflect-pad ``n_fft // 2`` samples each side
    first (:func:`~losatok_plugin.nn.mel.reflect_pad_items`).

    Args:
        n_fft: FFT size (= window length).
        hop_length: hop in samples.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        # angles reduced mod n_fft in integers first: cos/sin of small arguments are exact to float64
        angle = 2 * torch.pi * ((k[:, None] * n[None, :]) % n_fft) / n_fft
        window = torch.hann_window(n_fft, dtype=torch.float64)
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # X_k = Σ w[n] x[n] e^{-iθ}
        self.register_buffer("basis", basis.float()[:, None, :], persistent=False)  # [2·bins, 1, n_fft]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x ``[B, L]`` float32 -> real, imag ``[B, n_fft // 2 + 1, 1 + (L - n_fft) // hop_length]``."""
        spec = F.conv1d(x[:, None], self.basis, stride=self.hop_length)
        bins = self.n_fft // 2 + 1
        return spec[:, :bins], spec[:, bins:]

    def power(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, L]`` -> ``|X|²`` ``[B, n_fft // 2 + 1, frames]``."""
        real, imag = self(x)
        return real.square() + imag.square()
