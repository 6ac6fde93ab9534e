"""Multi-resolution STFT loss: spectral convergence + log-magnitude L1 over linear-frequency STFTs.

The mel loss (``mel.py``) sees the upper half of the spectrum through wide mel bands, where the
harmonics of a note share a band; a linear-frequency STFT resolves them at every height. This is the
loss of Parallel WaveGAN (Yamamoto et al., 2020) at the resolutions of the reported "STFT" metric
(:func:`losatok_plugin.eval.metrics.stft_distance` is this module with ``eps=1e-7``), so the logged
training term and the metric are one computation. Stage 2 weights it by ``loss_weights.stft``
(0 by default: every losatok-mini phase before v2.8's trained without it).
"""

from __future__ import annotations

import torch
from torch import nn

STFT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))


class MultiResolutionSTFTLoss(nn.Module):
    """``SC(|X̂|, |X|) + L1(log|X̂|, log|X|)`` averaged over resolutions: ``[B, N], [B, N] -> [B]`` (or mean).

    Args:
        resolutions: ``(n_fft, hop)`` per resolution (Hann window of ``n_fft``).
        eps: magnitude floor before the log and under the spectral-convergence norm. Training uses
            1e-5 (the mel loss's floor: digital silence does not dominate the gradient); the metric 1e-7.
    """

    def __init__(self, resolutions=STFT_RESOLUTIONS, eps: float = 1e-5) -> None:
        super().__init__()
        self.resolutions = tuple((int(n), int(h)) for n, h in resolutions)
        self.eps = eps
        for n_fft, _ in self.resolutions:
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, est: torch.Tensor, ref: torch.Tensor, reduce: bool = True) -> torch.Tensor:
        """est, ref: ``[B, N]`` of the same length -> 0-d mean (``reduce``) or per-item ``[B]``; 0 when equal."""
        est, ref = est.float(), ref.float()
        total = est.new_zeros(est.shape[0])
        for n_fft, hop in self.resolutions:
            window = getattr(self, f"window_{n_fft}").to(est.device)
            a = torch.stft(ref, n_fft, hop, window=window, return_complex=True).abs()
            b = torch.stft(est, n_fft, hop, window=window, return_complex=True).abs()
            sc = torch.linalg.norm((a - b).flatten(1), dim=1) / torch.linalg.norm(a.flatten(1), dim=1).clamp(
                min=self.eps
            )
            mag = (torch.log(a.clamp(min=self.eps)) - torch.log(b.clamp(min=self.eps))).abs().mean(dim=(1, 2))
            total = total + sc + mag
        total = total / len(self.resolutions)
        return total.mean() if reduce else total
