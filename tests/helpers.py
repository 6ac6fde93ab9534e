from __future__ import annotations

import math
from pathlib import Path

import torch

ASSETS = Path(__file__).parent / "assets"
PARITY = ASSETS / "reference_parity"


def synth_audio(n: int, batch: int = 1, seed: int = 0, sr: int = 16000) -> torch.Tensor:
    """Chirp + tone + noise, ``[batch, n]`` float32 in [-0.5, 0.5]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64) / sr
    out = []
    for b in range(batch):
        f0 = 200.0 + 150.0 * b
        x = torch.sin(2 * math.pi * (f0 * t + 400.0 * t**2)) + 0.5 * torch.sin(2 * math.pi * 440.0 * (b + 1) * t)
        x = x + 0.05 * torch.randn(n, generator=g, dtype=torch.float64)
        out.append(0.5 * x / x.abs().max())
    return torch.stack(out).float()
