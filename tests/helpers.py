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


def write_corpus(folder: Path, n: int = 4, seconds: float = 1.28, sr: int = 16000, seed: int = 0) -> list[Path]:
    """Sines, noise and clicks as wav files (the last one stereo at 22.05 kHz). Returns their paths."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        rate = 22050 if i == n - 1 else sr
        t = np.arange(int(seconds * rate)) / rate
        kind = i % 3
        if kind == 0:
            x = 0.4 * np.sin(2 * np.pi * (220 + 110 * i) * t)
        elif kind == 1:
            x = 0.1 * rng.standard_normal(t.shape)
        else:
            x = np.zeros_like(t)
            x[:: int(rate * 0.1)] = 0.8
        data = np.stack([x, 0.5 * x], axis=1) if i == n - 1 else x
        p = folder / f"clip{i}.wav"
        sf.write(str(p), data.astype("float32"), rate)
        paths.append(p)
    return paths


def speechlike(seconds: float = 3.0, sr: int = 16000, seed: int = 0) -> torch.Tensor:
    """Voiced, syllable-modulated harmonic signal that PESQ's voice activity detector accepts, ``[N]``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.7 * t)) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    x = x * np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5 + 0.01 * rng.standard_normal(t.shape)
    return torch.tensor(0.3 * x / np.abs(x).max(), dtype=torch.float32)
