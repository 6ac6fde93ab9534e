"""Plots people would rather look at than read (matplotlib, headless)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ..nn.mel import MelSpectrogram


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


PLOT_MELS, PLOT_N_FFT, PLOT_HOP = 80, 1024, 160  # the demo's PNGs: band numbers mean the same in all of them


def _log_mel(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    mel = MelSpectrogram(sample_rate, PLOT_N_FFT, PLOT_HOP, PLOT_MELS, f_max=None, power=1.0)
    return torch.log10(mel(x.reshape(1, -1).float().cpu()).clamp(min=1e-5))[0]


def mel_band_hz(band: float, sample_rate: int = 16000, n_mels: int = PLOT_MELS) -> float:
    """Centre frequency in Hz of (fractional) band ``band`` of the plots' HTK mel scale, 0 Hz to Nyquist."""
    top = 2595.0 * math.log10(1.0 + (sample_rate / 2) / 700.0)
    return 700.0 * (10 ** (top * (band + 1) / (n_mels + 1) / 2595.0) - 1.0)


def plot_mel_stack(
    signals: Mapping[str, torch.Tensor],
    path: str | Path,
    title: str = "",
    sample_rate: int = 16000,
    mark_bands: Sequence[int] = (),
) -> Path:
    """Save the log-mel spectrograms of several ``[N]`` waveforms stacked top to bottom as a PNG.

    All rows share the colour range of the first (the reference). The left axis counts mel bands (80
    bands, as in the demo's PNGs), the right one gives their frequency in Hz, and each band in
    ``mark_bands`` is drawn as a dashed line (e.g. 20: are the harmonics above it still there?).
    """
    plt = _pyplot()
    specs = {label: _log_mel(x, sample_rate) for label, x in signals.items()}
    first = next(iter(specs.values()))
    vmin, vmax = float(first.min()), float(first.max())
    fig, axes = plt.subplots(len(specs), 1, figsize=(10, 2.5 * len(specs)), sharex=True, constrained_layout=True)
    axes = [axes] if len(specs) == 1 else list(axes)
    ticks = list(range(0, PLOT_MELS + 1, 10))
    for ax, (label, spec) in zip(axes, specs.items()):
        seconds = spec.shape[-1] * PLOT_HOP / sample_rate
        extent = (0, seconds, 0, PLOT_MELS)
        im = ax.imshow(spec.numpy(), origin="lower", aspect="auto", vmin=vmin, vmax=vmax, extent=extent)
        ax.set_ylabel(f"{label}\nmel band")
        ax.set_yticks(ticks)
        for band in mark_bands:
            ax.axhline(band, color="white", lw=0.8, ls="--")
        if mark_bands:
            twin = ax.twinx()
            twin.set_ylim(0, PLOT_MELS)
            twin.set_yticks(ticks[1:-1], [f"{mel_band_hz(t, sample_rate):.0f}" for t in ticks[1:-1]])
            twin.set_ylabel("Hz")
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(im, ax=axes, label="log10 magnitude", pad=0.08 if mark_bands else 0.02)
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_mel_comparison(
    original: torch.Tensor, reconstruction: torch.Tensor, path: str | Path, title: str = "", sample_rate: int = 16000
) -> Path:
    """Save original vs reconstructed log-mel spectrograms (``[N]`` waveforms) as a PNG."""
    return plot_mel_stack({"original": original, "reconstruction": reconstruction}, path, title, sample_rate)


def plot_mel(audio: torch.Tensor, path: str | Path, title: str = "", sample_rate: int = 16000) -> Path:
    """Save the log-mel spectrogram of one ``[N]`` waveform (e.g. a generated clip) as a PNG."""
    plt = _pyplot()
    mel = MelSpectrogram(sample_rate, 1024, 160, 80, f_max=None, power=1.0)
    spec = torch.log10(mel(audio.reshape(1, -1).float().cpu()).clamp(min=1e-5))[0]
    fig, ax = plt.subplots(figsize=(10, 3), constrained_layout=True)
    im = ax.imshow(spec.numpy(), origin="lower", aspect="auto", extent=(0, spec.shape[-1] * 160 / sample_rate, 0, 80))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    fig.colorbar(im, ax=ax, label="log10 magnitude")
    if title:
        ax.set_title(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_pca_curves(curves: dict[str, torch.Tensor], path: str | Path, title: str = "PCA explained variance") -> Path:
    """Cumulative explained-variance curves (one per representation) on a log-x axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for name, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve.numpy(), label=f"{name} (D={len(curve)})")
    for level in (0.9, 0.99):
        ax.axhline(level, color="grey", lw=0.5, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("principal components")
    ax.set_ylabel("cumulative explained variance")
    ax.set_title(title)
    ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_probe_bars(results: list[dict], path: str | Path) -> Path:
    """Grouped bars: probe accuracy per task (groups) and representation (bars), chance as ticks."""
    plt = _pyplot()
    tasks = sorted({r["task"] for r in results})
    reps = sorted({r["representation"] for r in results})
    width = 0.8 / max(len(reps), 1)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(tasks) * max(len(reps), 1) / 2), 4), constrained_layout=True)
    for j, rep in enumerate(reps):
        xs, ys = [], []
        for i, task in enumerate(tasks):
            for r in results:
                if r["task"] == task and r["representation"] == rep:
                    xs.append(i + j * width)
                    ys.append(r["accuracy"])
                    ax.plot([i + j * width - width / 2, i + j * width + width / 2], [r["chance"]] * 2, color="k", lw=1)
        ax.bar(xs, ys, width, label=rep)
    ax.set_xticks([i + width * (len(reps) - 1) / 2 for i in range(len(tasks))], tasks)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (black: majority class)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(reps), 4), frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
