"""Plots people would rather look at than read (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..nn.mel import MelSpectrogram


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_mel_comparison(
    original: torch.Tensor, reconstruction: torch.Tensor, path: str | Path, title: str = "", sample_rate: int = 16000
) -> Path:
    """Save original vs reconstructed log-mel spectrograms (``[N]`` waveforms) as a PNG."""
    plt = _pyplot()
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
