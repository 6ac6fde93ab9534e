"""Plots people would rather look at than read (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..nn.mel import MelSpectrogram


def plot_mel_comparison(
    original: torch.Tensor, reconstruction: torch.Tensor, path: str | Path, title: str = "", sample_rate: int = 16000
) -> Path:
    """Save original vs reconstructed log-mel spectrograms (``[N]`` waveforms) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel = MelSpectrogram(sample_rate, 1024, 160, 80, f_max=None, power=1.0)
    specs = [torch.log10(mel(x.reshape(1, -1).float().cpu()).clamp(min=1e-5))[0] for x in (original, reconstruction)]
    vmin, vmax = float(specs[0].min()), float(specs[0].max())
    fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True, constrained_layout=True)
    for ax, spec, label in zip(axes, specs, ("original", "reconstruction")):
        seconds = spec.shape[-1] * 160 / sample_rate
        im = ax.imshow(spec.numpy(), origin="lower", aspect="auto", vmin=vmin, vmax=vmax, extent=(0, seconds, 0, 80))
        ax.set_ylabel(f"{label}\nmel band")
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(im, ax=axes, label="log10 magnitude")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
