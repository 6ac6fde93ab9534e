"""The Vocos decoder: latent [B, C, T] at 25 Hz -> 16 kHz audio [B, 640·T].

ConvTranspose1d (×2 in time: 25 → 50 Hz, C → embed_dim) → Conv1d 7 → LayerNorm → ConvNeXt blocks →
LayerNorm → Linear to ``n_fft + 2`` → log-magnitude / phase → ISTFT ("same" padding, hop 320).
Keys: ``upsampler.*``, ``backbone.{embed, norm, convnext.N, final_layer_norm}.*``, ``head.out.*``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn.convnext import ConvNeXtBlock
from ..nn.fp32 import Float32Island, to_float32
from ..nn.istft import ISTFT

MAX_MAGNITUDE = 100.0  # exp(log-mag) is clipped here, as in Vocos, to keep early training finite


class VocosBackbone(nn.Module):
    """``[B, in_dim, F] -> [B, F, dim]`` (channels-last for the head)."""

    def __init__(self, in_dim: int, dim: int, intermediate_dim: int, num_layers: int) -> None:
        super().__init__()
        self.embed = nn.Conv1d(in_dim, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(
            [ConvNeXtBlock(dim, intermediate_dim, layer_scale_init=1.0 / num_layers) for _ in range(num_layers)]
        )
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, in_dim, F]`` -> ``[B, F, dim]``."""
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFTHead(Float32Island, nn.Module):
    """``[B, F, dim] -> [B, hop·F]``: Linear to log-magnitudes and phases, then ISTFT.

    A float32 island: under a bf16 model the projection, ``exp`` of the log-magnitudes, the phases
    and the ISTFT still run in float32 (bf16 phases alone would cap the output near 40 dB SNR).
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop_length)

    def polar(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x ``[B, F, dim]`` -> magnitude and phase, each ``[B, n_fft // 2 + 1, F]`` float32."""
        # autocast (bf16 training) would run the projection in bf16 again: torch.complex rejects bf16
        with torch.autocast(x.device.type, enabled=False):
            log_mag, phase = self.out(to_float32(x)).transpose(1, 2).chunk(2, dim=1)
        return torch.clamp(torch.exp(log_mag), max=MAX_MAGNITUDE), phase

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, F, dim]`` -> audio ``[B, hop_length · F]``."""
        mag, phase = self.polar(x)
        return self.istft(torch.complex(mag * torch.cos(phase), mag * torch.sin(phase)))


class VocosDecoder(nn.Module):
    """Latent ``[B, latent_dim, T]`` -> audio ``[B, upsample · istft_hop · T]``.

    Args:
        latent_dim: latent channels C (128).
        embed_dim: upsampler output width (1280).
        dim: backbone width (1280).
        intermediate_dim: ConvNeXt MLP width (5120).
        num_layers: ConvNeXt blocks (12).
        upsample: transposed-conv factor in time (2).
        n_fft, hop_length: ISTFT settings (1280, 320).
    """

    def __init__(
        self,
        latent_dim: int = 128,
        embed_dim: int = 1280,
        dim: int = 1280,
        intermediate_dim: int = 5120,
        num_layers: int = 12,
        upsample: int = 2,
        n_fft: int = 1280,
        hop_length: int = 320,
    ) -> None:
        super().__init__()
        self.upsampler = nn.ConvTranspose1d(latent_dim, embed_dim, kernel_size=upsample, stride=upsample)
        self.backbone = VocosBackbone(embed_dim, dim, intermediate_dim, num_layers)
        self.head = ISTFTHead(dim, n_fft, hop_length)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z ``[B, latent_dim, T]`` -> audio ``[B, hop · T]``."""
        return self.head(self.backbone(self.upsampler(z)))
