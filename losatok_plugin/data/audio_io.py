"""Reading audio files: soundfile decode, torchaudio resample, down-mix to mono."""

from __future__ import annotations

import warnings
from pathlib import Path

import soundfile as sf
import torch


class AudioReadError(RuntimeError):
    """A file could not be decoded (missing, corrupt or an unsupported format)."""


def load_audio(
    path: str | Path,
    sample_rate: int = 16000,
    start: int = 0,
    frames: int = -1,
    warn_downmix: bool = False,
) -> torch.Tensor:
    """Read ``path`` as mono float32 ``[N]`` at ``sample_rate``.

    Args:
        path: wav / flac / ogg (anything libsndfile reads).
        sample_rate: target rate; other rates are resampled with ``torchaudio.functional.resample``.
        start, frames: optional window in the file's own sample rate (``frames=-1``: to the end).
        warn_downmix: emit a notice when a multi-channel file is averaged to mono.
    """
    try:
        data, sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types for bad files
        raise AudioReadError(f"cannot read audio {path}: {e}") from None
    x = torch.from_numpy(data)
    if x.shape[1] > 1 and warn_downmix:
        warnings.warn(f"{path}: {x.shape[1]} channels down-mixed to mono", UserWarning, stacklevel=2)
    x = x.mean(dim=1)
    if sr != sample_rate:
        import torchaudio

        x = torchaudio.functional.resample(x, sr, sample_rate)
    return x.contiguous()
