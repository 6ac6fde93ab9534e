"""The classical yardstick: a 128-band mel spectrogram at 25 Hz inverted with Griffin-Lim.

It spends the same numbers per second as a LoSATok latent (128 values × 25 frames/s), so a tokenizer
that cannot beat it is not earning its decoder.
"""

from __future__ import annotations

import torch
from torch import nn


class GriffinLimMel(nn.Module):
    """``[B, N]`` or ``[N]`` 16 kHz audio -> 128×25 Hz mel -> Griffin-Lim -> audio of the same length.

    Args:
        n_mels: mel bands (128: the latent's width).
        hop_length: samples per frame (640: 25 Hz at 16 kHz, the latent's frame rate).
        n_fft: FFT size (1280, two hops, as LoSATok's ISTFT head).
        n_iter: Griffin-Lim iterations.
    """

    def __init__(
        self, sample_rate: int = 16000, n_mels: int = 128, hop_length: int = 640, n_fft: int = 1280, n_iter: int = 64
    ) -> None:
        super().__init__()
        import torchaudio.transforms as T

        self.mel = T.MelSpectrogram(
            sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            power=1.0,
            f_max=sample_rate / 2,
            norm="slaney",
            mel_scale="slaney",
        )
        self.inverse_mel = T.InverseMelScale(
            n_fft // 2 + 1, n_mels, sample_rate, f_max=sample_rate / 2, norm="slaney", mel_scale="slaney"
        )
        self.n_fft, self.hop_length, self.n_iter = n_fft, hop_length, n_iter

    @torch.no_grad()
    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio ``[B, N]`` or ``[N]`` -> reconstruction of the same shape."""
        import torchaudio

        mel = self.mel(audio)  # [..., n_mels, frames]
        # Without a seeded start Griffin-Lim draws a random phase; fix it so reports are reproducible.
        state = torch.random.get_rng_state()
        torch.manual_seed(0)
        try:
            mag = self.inverse_mel(mel).clamp_min(0.0)
            out = torchaudio.functional.griffinlim(
                mag,
                torch.hann_window(self.n_fft),
                self.n_fft,
                self.hop_length,
                self.n_fft,
                power=1.0,
                n_iter=self.n_iter,
                momentum=0.99,
                length=audio.shape[-1],
                rand_init=True,
            )
        finally:
            torch.random.set_rng_state(state)
        return out
