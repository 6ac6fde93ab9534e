"""Multi-scale mel L1 reconstruction loss (the paper's "mel" term, weight 45).

Same scales as :func:`losatok_plugin.eval.metrics.mel_distance`, so the logged training loss and the
reported metric are one number. Differentiable; mel filterbanks are cached per device.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn.mel import MelSpectrogram

MEL_SCALES: tuple[tuple[int, int, int], ...] = ((256, 64, 20), (512, 128, 40), (1024, 256, 80), (2048, 512, 160))


class MultiScaleMelLoss(nn.Module):
    """``L1(log10 mel(x̂), log10 mel(x))`` averaged over scales: ``[B, N], [B, N] -> [B]`` (or mean).

    Args:
        sample_rate: audio rate.
        scales: ``(n_fft, hop, n_mels)`` per scale.
        eps: magnitude floor before the log.
    """

    def __init__(self, sample_rate: int = 16000, scales=MEL_SCALES, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.mels = nn.ModuleList(
            [MelSpectrogram(sample_rate, n_fft, hop, n_mels, f_max=None, power=1.0) for n_fft, hop, n_mels in scales]
        )

    def forward(self, est: torch.Tensor, ref: torch.Tensor, reduce: bool = True) -> torch.Tensor:
        """est, ref: ``[B, N]`` -> 0-d mean (``reduce``) or per-item ``[B]``."""
        total = est.new_zeros(est.shape[0])
        for mel in self.mels:
            a = torch.log10(mel(est.float()).clamp(min=self.eps))
            b = torch.log10(mel(ref.float()).clamp(min=self.eps))
            total = total + (a - b).abs().mean(dim=(-2, -1))
        total = total / len(self.mels)
        return total.mean() if reduce else total
