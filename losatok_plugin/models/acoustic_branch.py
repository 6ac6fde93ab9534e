"""The acoustic branch: log-mel → patch conv → LayerNorm (1280-d) → Linear to the latent width.

Log-magnitude mel (n_fft 1024, hop 160, 128 HTK bands, 0–8 kHz, ``log(max(x, 1e-7))``) is cut into
non-overlapping (128 × 4) patches, i.e. one 1280-d vector per 40 ms token. ``to_low`` is the
reference's ``fc_a``; its output is supervised by SemBo's 128-d target (dual-level supervision).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..nn.mel import MelSpectrogram

WINDOW_TOKENS = 1500  # the acoustic STFT of long audio is computed 60 s at a time


@dataclass
class AcousticOutput:
    """``high``: ``[B, T, embed_dim]`` (acoustic_emb); ``low``: ``[B, T, latent]`` (acoustic_emb_low)."""

    high: torch.Tensor
    low: torch.Tensor


class AcousticBranch(nn.Module):
    """``[B, N]`` audio -> :class:`AcousticOutput` at ``sample_rate / (hop · patch_time)`` Hz.

    Args:
        embed_dim: width of the high-level acoustic embedding.
        latent_dim: width of the low-level projection.
        sample_rate, n_fft, hop_length, n_mels: mel settings.
        patch_time: mel frames per token.
    """

    def __init__(
        self,
        embed_dim: int = 1280,
        latent_dim: int = 128,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 160,
        n_mels: int = 128,
        patch_time: int = 4,
    ) -> None:
        super().__init__()
        self.mel = MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, f_max=None, power=1.0)
        self.patch_embed = nn.Conv2d(1, embed_dim, (n_mels, patch_time), stride=(n_mels, patch_time))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-5)
        self.to_low = nn.Linear(embed_dim, latent_dim)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """audio ``[B, N]`` -> natural-log mel magnitude ``[B, n_mels, 1 + N // hop]``."""
        return torch.log(torch.clamp(self.mel(audio), min=1e-7))

    def embed(self, audio: torch.Tensor, lengths: torch.Tensor | None = None, project=None) -> torch.Tensor:
        """audio ``[B, N]`` (``lengths``: valid samples per item) -> acoustic_emb ``[B, T, embed_dim]``.

        Computed in windows of ``WINDOW_TOKENS`` tokens, each reading its own samples (reflect-padded at
        the clip's edges, :meth:`MelSpectrogram.frames_of`): the frames are those of one centred STFT over the
        whole clip, and memory does not grow with its length (no padded copy of the input). ``project``
        (e.g. ``to_low``) is applied per window.
        """
        project = project or (lambda e: e)
        patch = self.patch_embed.kernel_size[1]
        n_tokens = (1 + audio.shape[-1] // self.mel.hop_length) // patch
        out = []
        for t0 in range(0, n_tokens, WINDOW_TOKENS):
            t1 = min(t0 + WINDOW_TOKENS, n_tokens)
            mel = torch.log(torch.clamp(self.mel.frames_of(audio, t0 * patch, t1 * patch, lengths), min=1e-7))
            mel = mel.to(self.patch_embed.weight.dtype)  # log in float32, then the model's dtype
            out.append(project(self.norm(self.patch_embed(mel.unsqueeze(1)).flatten(2).transpose(1, 2))))
        return torch.cat(out, dim=1)

    def low(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Only acoustic_emb_low ``[B, T, latent_dim]`` (no full-width sequence is kept)."""
        return self.embed(audio, lengths, project=self.to_low)

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> AcousticOutput:
        """audio ``[B, N]`` -> high ``[B, T, embed_dim]`` and low ``[B, T, latent_dim]``."""
        high = self.embed(audio, lengths)
        return AcousticOutput(high=high, low=self.to_low(high))
