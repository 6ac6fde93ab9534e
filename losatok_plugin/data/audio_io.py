"""Reading audio files: soundfile decode, torchaudio resample, down-mix to mono."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..audio import downmix_channels

# Audio file suffixes the package reads (manifests, folder scans, batch encode / reconstruct).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


class AudioReadError(RuntimeError):
    """A file could not be decoded (missing, corrupt or an unsupported format)."""


class NonFiniteAudioError(AudioReadError):
    """A file decodes to NaN or infinite samples (possible in float WAV / FLOAT-subtype files)."""

    sample: int = -1  # index of the first bad sample


FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


def nonfinite_reason(path: str | Path, block: int = 1 << 20) -> str | None:
    """Why ``path`` holds non-finite samples (``"non-finite samples: NaN at sample 12"``), or None.

    Only float-subtype files can hold NaN/inf (PCM and compressed formats decode to finite values), so
    other files are not read; float files are scanned in blocks of ``block`` frames.
    """
    info = sf.info(str(path))
    if info.subtype not in FLOAT_SUBTYPES:
        return None
    offset = 0
    for data in sf.blocks(str(path), blocksize=block, dtype="float64", always_2d=True):
        bad = ~np.isfinite(data)
        if bad.any():
            frame = int(np.argwhere(bad)[0][0])
            kind = "NaN" if np.isnan(data[frame]).any() else "inf"
            return f"non-finite samples: {kind} at sample {offset + frame}"
        offset += data.shape[0]
    return None


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

    Raises:
        AudioReadError: the file cannot be decoded; :class:`NonFiniteAudioError` (a subclass) when it
            holds NaN or infinite samples.
    """
    try:
        data, sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types for bad files
        raise AudioReadError(f"cannot read audio {path}: {e}") from None
    x = torch.from_numpy(data)
    if not bool(torch.isfinite(x).all()):
        bad = int(torch.nonzero(~torch.isfinite(x))[0, 0]) + start
        err = NonFiniteAudioError(f"{path}: non-finite samples (NaN/inf at sample {bad})")
        err.sample = bad
        raise err
    if x.shape[1] > 1 and warn_downmix:
        warnings.warn(f"{path}: {x.shape[1]} channels down-mixed to mono", UserWarning, stacklevel=2)
    x = downmix_channels(x.T[None], warn=False)[0]  # [N, C] frames-first -> [N]
    if sr != sample_rate:
        import torchaudio

        x = torchaudio.functional.resample(x, sr, sample_rate)
    return x.contiguous()
