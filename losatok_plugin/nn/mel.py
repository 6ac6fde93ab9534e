"""Mel spectrogram front ends (torchaudio-equivalent numerics, buffers recomputed, never loaded).

Both LoSATok streams use an HTK mel filterbank without normalisation over a centred, reflect-padded
STFT with a periodic Hann window, exactly like ``torchaudio.transforms.MelSpectrogram``. The window
and filterbank are non-persistent buffers: checkpoints may carry them, loaders may check them, but
the model never needs them from a file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from .fp32 import Float32Island, float32_default, to_float32


def reflect_pad_items(audio: torch.Tensor, pad: int, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Reflect-pad every item by ``pad`` at its own start and end, as ``torch.stft(center=True)`` does.

    ``audio [B, N]`` -> ``[B, N + 2·pad]``. With ``lengths`` (valid samples per item), each item is
    padded at its own end, so the STFT frames of a short item in a batch equal those of the item alone;
    what follows an item's padding is zero.
    """
    if lengths is None:
        return F.pad(audio[:, None], (pad, pad), mode="reflect")[:, 0]
    out = audio.new_zeros(audio.shape[0], audio.shape[-1] + 2 * pad)
    for b, n in enumerate(lengths.tolist()):
        out[b, : n + 2 * pad] = F.pad(audio[b : b + 1, None, :n], (pad, pad), mode="reflect")[0, 0]
    return out


def reflect_pad_window(
    audio: torch.Tensor, pad: int, start: int, stop: int, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """``reflect_pad_items(audio, pad, lengths)[:, start:stop]`` without building the whole padded signal.

    ``audio [B, N]`` -> ``[B, stop - start]``: a view where the window touches no edge (and no ``lengths``),
    else the window alone, assembled from reflected slices (same values, bit for bit). Long audio then costs
    one window of memory, not a padded copy of the input.
    """
    if lengths is None:
        return _reflect_window(audio, pad, start, stop)
    out = audio.new_zeros(audio.shape[0], stop - start)
    for b, n in enumerate(lengths.tolist()):
        end = min(stop, n + 2 * pad)  # what follows an item's padding is zero
        if end > start:
            out[b, : end - start] = _reflect_window(audio[b : b + 1, :n], pad, start, end)[0]
    return out


def _reflect_window(audio: torch.Tensor, pad: int, start: int, stop: int) -> torch.Tensor:
    """Samples ``start..stop-1`` of ``audio [B, n]`` reflect-padded by ``pad`` each side (``pad < n``)."""
    n = audio.shape[-1]
    lo, hi = start - pad, stop - pad  # the window in unpadded sample indices
    parts = []
    if lo < 0:  # index -k (k >= 1) reflects to k
        parts.append(audio[:, 1 - min(hi, 0) : 1 - lo].flip(-1))
    if max(lo, 0) < min(hi, n):
        parts.append(audio[:, max(lo, 0) : min(hi, n)])
    if hi > n:  # index n - 1 + k reflects to n - 1 - k
        parts.append(audio[:, 2 * n - 1 - hi : 2 * n - 1 - max(lo, n)].flip(-1))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class MelSpectrogram(Float32Island, nn.Module):
    """Mel spectrogram ``[B, N] -> [B, n_mels, 1 + N // hop]``, always computed in float32 (a
    :class:`~losatok_plugin.nn.fp32.Float32Island`: lower-precision input is cast up).

    Args:
        sample_rate: input sample rate in Hz.
        n_fft: FFT size (= window length).
        hop_length: hop in samples.
        n_mels: number of mel bands.
        f_max: highest band edge in Hz (``None`` = Nyquist).
        power: 1.0 for magnitude, 2.0 for power.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        n_mels: int,
        f_max: float | None = None,
        power: float = 1.0,
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.power = power
        with float32_default():  # even when built under a bf16 default dtype
            window = torch.hann_window(n_fft)
            fb = torchaudio.functional.melscale_fbanks(
                n_freqs=n_fft // 2 + 1,
                f_min=0.0,
                f_max=float(f_max if f_max is not None else sample_rate / 2),
                n_mels=n_mels,
                sample_rate=sample_rate,
                norm=None,
                mel_scale="htk",
            )
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("fb", fb, persistent=False)  # [n_freqs, n_mels]

    def frames(self, padded: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Frames ``start..stop-1`` of the centred mel, from audio already padded by :func:`reflect_pad_items`
        (``n_fft // 2`` each side): ``[B, N + n_fft] -> [B, n_mels, stop - start]``. Equal to
        ``forward(audio)[..., start:stop]`` but touching only the samples those frames need."""
        seg = to_float32(padded)[:, start * self.hop_length : (stop - 1) * self.hop_length + self.n_fft]
        spec = torch.stft(
            seg,
            self.n_fft,
            self.hop_length,
            self.n_fft,
            self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        ).abs()
        if self.power != 1.0:
            spec = spec.pow(self.power)
        return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)

    def frames_of(
        self, audio: torch.Tensor, start: int, stop: int, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Frames ``start..stop-1`` of the centred mel of ``audio [B, N]`` (with ``lengths``, each item
        reflect-padded at its own end, as :func:`reflect_pad_items`): ``[B, n_mels, stop - start]``, reading
        only the samples those frames need (:func:`reflect_pad_window`)."""
        end = (stop - 1) * self.hop_length + self.n_fft
        return self.frames(
            reflect_pad_window(audio, self.n_fft // 2, start * self.hop_length, end, lengths), 0, stop - start
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio: ``[B, N]`` float -> mel ``[B, n_mels, 1 + N // hop]`` (power or magnitude)."""
        spec = torch.stft(
            to_float32(audio),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window,
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        ).abs()
        if self.power != 1.0:
            spec = spec.pow(self.power)
        # torchaudio's MelScale: (spec^T @ fb)^T, kept in that order for bit-level agreement.
        return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)


def power_to_db(
    power: torch.Tensor,
    top_db: float,
    amin: float = 1e-10,
    batch_global_floor: bool = False,
    valid_frames: torch.Tensor | None = None,
    first_frame: int = 0,
    peak: torch.Tensor | None = None,
) -> torch.Tensor:
    """``10·log10(max(x, amin))`` floored at ``max - top_db``.

    Args:
        power: ``[B, F, T]`` power spectrogram.
        top_db: dynamic range kept below the maximum.
        batch_global_floor: take the maximum over the whole batch, as torchaudio's ``AmplitudeToDB``
            does for a 3-D input (the reference quirk). Default: per item (correct for batches).
        valid_frames: ``[B]`` frames per item that are not padding; the maximum ignores the rest.
        first_frame: frame index of ``power[..., 0]`` in the clip (``power`` is a window of it).
        peak: the maximum from :func:`db_peak` (the whole clip's, when ``power`` is one window of it);
            ``None``: taken from ``power``.

    Returns:
        ``[B, F, T]`` in dB.
    """
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if peak is None:
        peak = _db_peak(db, batch_global_floor, valid_frames, first_frame)
    return torch.maximum(db, peak - top_db)


def db_peak(
    power: torch.Tensor,
    amin: float = 1e-10,
    batch_global_floor: bool = False,
    valid_frames: torch.Tensor | None = None,
    first_frame: int = 0,
) -> torch.Tensor:
    """The maximum of ``10·log10(max(power, amin))`` that :func:`power_to_db` floors against: ``[B, 1, 1]``
    per item (``[]`` over the batch with ``batch_global_floor``), over the valid frames of ``power [B, F, t]``,
    whose first frame is frame ``first_frame`` of the clip. The maximum of window maxima is the clip's."""
    return _db_peak(10.0 * torch.log10(torch.clamp(power, min=amin)), batch_global_floor, valid_frames, first_frame)


def _db_peak(
    db: torch.Tensor, batch_global_floor: bool, valid_frames: torch.Tensor | None, first_frame: int
) -> torch.Tensor:
    if valid_frames is not None:
        frame = torch.arange(first_frame, first_frame + db.shape[-1], device=db.device)
        keep = frame < valid_frames[:, None].to(db.device)
        db = db.masked_fill(~keep[:, None, :], float("-inf"))
    return db.amax() if batch_global_floor else db.amax(dim=(-2, -1), keepdim=True)
