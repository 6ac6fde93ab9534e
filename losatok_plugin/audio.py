"""Input validation for waveforms: shapes, PCM dtypes, non-finite values, sample rate, length.

Policy (documented in the README):
- ``[N]`` is one clip, ``[B, N]`` a batch of mono clips, ``[B, C, N]`` a batch with C channels;
  C > 1 is down-mixed by averaging, with a warning. A 2-D array ``[N, C]`` with C <= 8 < N is the
  frames-first layout of ``soundfile.read`` / numpy: one clip with C
  channels (a batch of clips of <= 8 samples could never be encoded, so this reading is unambiguous).
- Big-endian arrays (``'>f4'``, ``'>i2'``) are converted to native byte order first.
- Integer PCM (int16, int32, uint8) is scaled to [-1, 1); float64 is cast to float32; other
  dtypes are refused.
- NaN / inf, and clips too short for one token, raise :class:`AudioInputError`.
- ``sampling_rate`` other than the model's is resampled with ``torchaudio.functional.resample``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

# A 2-D array whose last axis has at most this many entries (and whose first axis is longer) is read
# as frames first, ``[N, C]`` (soundfile / numpy layout), not as a batch of tiny clips.
MAX_FRAMES_FIRST_CHANNELS = 8

_PCM_SCALE = {torch.int16: 32768.0, torch.int32: 2147483648.0}


class AudioInputError(ValueError):
    """A waveform cannot be encoded as given (bad shape, dtype, values, length or sample rate)."""


def downmix_channels(x: torch.Tensor, what: str = "audio", stacklevel: int = 3, warn: bool = True) -> torch.Tensor:
    """``[B, C, N]`` -> mono ``[B, N]``, the one down-mix of the package: channels are averaged (with a
    warning naming ``what`` unless ``warn`` is False)."""
    if x.shape[1] == 1:
        return x[:, 0]
    if warn:
        warnings.warn(
            f"{what} has {x.shape[1]} channels; LoSATok is mono, down-mixing by averaging",
            UserWarning,
            stacklevel=stacklevel,
        )
    return x.mean(dim=1)


def to_float_waveform(audio: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Any supported array -> float tensor with int PCM scaled to [-1, 1)."""
    if isinstance(audio, np.ndarray):
        if audio.dtype == np.uint16 or audio.dtype == np.uint32:
            raise AudioInputError(f"unsigned {audio.dtype} PCM is not supported; use int16/int32 or float")
        if audio.dtype.byteorder not in ("=", "|") and audio.dtype.kind in "iuf":
            # e.g. '>f4' / '>i2' from AIFF or big-endian raw files: same values, native byte order.
            audio = audio.astype(audio.dtype.newbyteorder("="))
        try:
            audio = torch.from_numpy(np.ascontiguousarray(audio))
        except TypeError as e:
            raise AudioInputError(f"unsupported audio array dtype {audio.dtype}: {e}") from None
    if not isinstance(audio, torch.Tensor):
        raise AudioInputError(f"audio must be a torch.Tensor or numpy array, got {type(audio).__name__}")
    if audio.dtype in _PCM_SCALE:
        return audio.to(torch.float32) / _PCM_SCALE[audio.dtype]
    if audio.dtype == torch.uint8:
        return (audio.to(torch.float32) - 128.0) / 128.0
    if audio.dtype == torch.float64:
        return audio.to(torch.float32)
    if not audio.is_floating_point() or audio.is_complex():
        raise AudioInputError(f"unsupported audio dtype {audio.dtype}; use float32/float64 or int16/int32 PCM")
    return audio


def finite_items(x: torch.Tensor, block: int = 1 << 20) -> torch.Tensor:
    """``[B]`` bool: whether every value of item b of ``x [B, ...]`` is finite. Checked ``block`` values at
    a time, so a long waveform costs no full-size mask (memory flat in length)."""
    flat = x.reshape(x.shape[0], -1)
    return torch.stack([torch.isfinite(part).all(dim=1) for part in flat.split(block, dim=1)], dim=1).all(dim=1)


def prepare_waveform(
    audio: torch.Tensor | np.ndarray,
    model_sampling_rate: int,
    min_samples: int,
    sampling_rate: int | None = None,
) -> torch.Tensor:
    """Validate and normalise a waveform for the encoder.

    Args:
        audio: ``[N]``, ``[B, N]`` or ``[B, C, N]``; float or integer PCM.
        model_sampling_rate: the model's rate (16000).
        min_samples: shortest length (after resampling) that yields one token.
        sampling_rate: the rate of ``audio`` if it differs from the model's.

    Returns:
        ``[B, N']`` float waveform at ``model_sampling_rate`` (dtype float32 unless given bf16/fp16).
    """
    x = to_float_waveform(audio)
    if x.dim() == 2 and x.shape[1] <= MAX_FRAMES_FIRST_CHANNELS < x.shape[0]:
        # soundfile / numpy layout: frames first, ``[N, C]`` (``sf.read`` of a stereo file gives [N, 2]).
        # A [B, N] batch with N <= 8 samples could never be encoded, so the reading is unambiguous.
        x = x.t().unsqueeze(0)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    elif x.dim() == 3:
        x = downmix_channels(x, "audio", stacklevel=4)
    elif x.dim() != 2:
        raise AudioInputError(f"audio must be [N], [B, N] or [B, C, N], got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise AudioInputError("audio batch is empty")
    if not bool(finite_items(x).all()):
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise AudioInputError(f"audio contains NaN or inf (first at index {bad})")
    if sampling_rate is not None and int(sampling_rate) != model_sampling_rate:
        if sampling_rate <= 0:
            raise AudioInputError(f"sampling_rate must be positive, got {sampling_rate}")
        import torchaudio

        x = torchaudio.functional.resample(x, int(sampling_rate), model_sampling_rate)
    if x.shape[-1] < min_samples:
        raise AudioInputError(
            f"audio is too short: {x.shape[-1]} samples at {model_sampling_rate} Hz; "
            f"one latent frame needs at least {min_samples} samples ({min_samples / model_sampling_rate * 1000:.1f} ms)"
        )
    return x
