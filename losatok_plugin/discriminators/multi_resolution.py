"""Multi-resolution (multi-frequency) STFT discriminator, as in Vocos / DAC / X-Codec2's MFD.

Each sub-discriminator sees the complex STFT (real and imaginary parts as 2 channels) at one
resolution and convolves over time × frequency.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class SpectrogramDiscriminator(nn.Module):
    """One STFT resolution: ``[B, N] -> (logits [B, 1, T', F'], feature maps)``."""

    def __init__(self, n_fft: int, hop_length: int, channels: int = 32) -> None:
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(2, channels, (3, 9), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
            ]
        )
        self.out = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: ``[B, N]`` -> logits ``[B, 1, frames, bins']`` and feature maps."""
        spec = torch.stft(
            x.float(), self.n_fft, self.hop_length, window=self.window, center=True, return_complex=True
        )  # [B, F, T]
        h = torch.stack([spec.real, spec.imag], dim=1).transpose(2, 3)  # [B, 2, T, F]
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        h = self.out(h)
        feats.append(h)
        return h, feats


class MultiResolutionDiscriminator(nn.Module):
    """STFT resolutions ``(n_fft, hop)``; default three around the 16 kHz speech band."""

    def __init__(
        self, resolutions: tuple[tuple[int, int], ...] = ((2048, 512), (1024, 256), (512, 128)), channels: int = 32
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([SpectrogramDiscriminator(n, h, channels) for n, h in resolutions])

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """x: ``[B, N]`` audio -> per-resolution logits and feature maps."""
        outs = [d(x) for d in self.discriminators]
        return [o[0] for o in outs], [o[1] for o in outs]
