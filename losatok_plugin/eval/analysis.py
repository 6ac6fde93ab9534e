"""Redundancy analysis (the paper's Figure 1), the Fréchet distance between embedding sets and linear read-outs.

All take feature matrices ``[n_frames, D]`` (frames of many clips stacked).
"""

from __future__ import annotations

import numpy as np
import torch


def singular_values(x: torch.Tensor) -> torch.Tensor:
    """Singular values of the mean-centred ``[n, D]`` matrix (float64)."""
    x = x.double()
    return torch.linalg.svdvals(x - x.mean(dim=0, keepdim=True))


def effective_rank(x: torch.Tensor) -> float:
    """Roy & Vetterli's effective rank: ``exp(entropy(σ / Σσ))``; equals k for k equal singular values."""
    s = singular_values(x)
    s = s[s > s.max() * 1e-12]
    p = s / s.sum()
    return float(torch.exp(-(p * torch.log(p)).sum()))


def explained_variance(x: torch.Tensor) -> torch.Tensor:
    """Cumulative PCA explained-variance ratio ``[D']`` (the PCA curve)."""
    var = singular_values(x).pow(2)
    return torch.cumsum(var, 0) / var.sum()


def components_for(curve: torch.Tensor, fraction: float) -> int:
    """Principal components needed to reach ``fraction`` of the variance."""
    return int(torch.searchsorted(curve, torch.tensor(fraction, dtype=curve.dtype)).item()) + 1


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to ``a [n, D]`` and ``b [m, D]`` (FAD's formula)."""
    from scipy import linalg

    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"embedding widths differ: {a.shape[1]} vs {b.shape[1]}")
    if min(len(a), len(b)) < 2:
        raise ValueError("each set needs at least 2 embedding frames")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as fadtk / pytorch-fid do
        offset = np.eye(cov_a.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


def linear_readout_error(
    x: torch.Tensor, y: torch.Tensor, fit_fraction: float = 0.6, ridge: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """How much of ``y`` a representation ``x`` carries linearly: ridge regression (with a bias) fitted on the first
    ``fit_fraction`` of the frames, mean absolute error on the rest.

    Frames are stacked clip by clip, so the held-out frames are (mostly) other clips.

    Args:
        x: features ``[n, D]``.
        y: targets ``[n, F]`` (e.g. a log-mel spectrogram at the same frame rate).
        fit_fraction: share of the frames the regression is fitted on.
        ridge: L2 penalty on the weights.

    Returns:
        ``(readout, mean)``: ``[F]`` errors of the read-out and of predicting each column's fitted mean (what a
        representation that carries nothing of ``y`` reaches), float64.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} feature frames for {y.shape[0]} target frames")
    n = x.shape[0]
    cut = int(n * fit_fraction)
    if not 0 < cut < n:
        raise ValueError(f"fit_fraction {fit_fraction} leaves no frames to fit or to test ({n} frames)")
    xa = torch.cat([x.double(), torch.ones(n, 1, dtype=torch.float64)], dim=1)
    y = y.double()
    gram = xa[:cut].T @ xa[:cut] + ridge * torch.eye(xa.shape[1], dtype=torch.float64)
    w = torch.linalg.solve(gram, xa[:cut].T @ y[:cut])
    readout = (xa[cut:] @ w - y[cut:]).abs().mean(dim=0)
    mean = (y[cut:] - y[:cut].mean(dim=0)).abs().mean(dim=0)
    return readout, mean
