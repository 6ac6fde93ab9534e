"""Label-preserving augmentation of speech clips for stage 0 (the semantic teacher).

The corpus has one or two real voices per language and many synthetic ones, so a teacher can learn
"this voice = this language" and fail on voices it never heard (``recipes/mini/README.md``: language
accuracy near 0 and PER 0.78-0.89 on held-out real speakers). Each transform keeps the clip's phoneme
sequence, language and domain and changes what a speaker, a room or a channel would:

- **speed** (Kaldi's speed perturbation): resampling by a factor in ``speed``, which moves tempo, pitch
  and formants together (a different vocal-tract length);
- **band limit**: a low-pass at a cut-off in ``lowpass_hz``, with the telephone band's 300 Hz high-pass
  on half of them;
- **noise**: white or pink noise at an SNR in ``snr_db``;
- **reverb**: a synthetic room (exponentially decaying noise, RT60 in ``rt60_s``) on ``reverb_prob`` of them.

Only speech clips are touched (music has frame-level pitch targets that a speed change would shift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError

SPEED_GRID = 100  # speed factors are rounded to 100 / n (resampling 100 -> n samples)


@dataclass
class SpeechAugmentConfig:
    """How stage 0 augments speech clips (``prob: 0`` = off, as the shipped teacher was trained)."""

    prob: float = 0.0  # chance that a training speech clip is augmented; each transform then applies on its own
    speed: tuple[float, float] = (0.9, 1.1)  # speed factor range (> 1: faster, shorter, higher)
    speed_prob: float = 0.7
    lowpass_hz: tuple[float, float] = (3400.0, 7500.0)
    lowpass_prob: float = 0.4
    snr_db: tuple[float, float] = (10.0, 40.0)
    noise_prob: float = 0.4
    rt60_s: tuple[float, float] = (0.15, 0.7)
    reverb_prob: float = 0.3

    def __post_init__(self) -> None:
        for name in ("prob", "speed_prob", "lowpass_prob", "noise_prob", "reverb_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name} must be in [0, 1], got {getattr(self, name)}")
        for name, low in (("speed", 0.5), ("lowpass_hz", 100.0), ("snr_db", -20.0), ("rt60_s", 0.01)):
            lo, hi = getattr(self, name)
            if not low <= lo <= hi:
                raise ConfigError(f"augment.{name} must be a range [lo, hi] with {low} <= lo <= hi, got {[lo, hi]}")
        if self.speed[1] > 2.0:
            raise ConfigError(f"augment.speed must stay within [0.5, 2], got {list(self.speed)}")


def speed_perturb(audio: torch.Tensor, factor: float) -> torch.Tensor:
    """``[N] -> [≈ N / factor]``: resample so the clip plays ``factor`` times faster at the same rate."""
    import torchaudio.functional as AF

    new = max(1, round(SPEED_GRID / factor))
    if new == SPEED_GRID:
        return audio
    return AF.resample(audio.unsqueeze(0), SPEED_GRID, new).squeeze(0)


def band_limit(audio: torch.Tensor, sr: int, cutoff_hz: float, telephone: bool = False) -> torch.Tensor:
    """``[N] -> [N]``: zero the spectrum above ``cutoff_hz`` (and below 300 Hz with ``telephone``) with a 10 % taper."""
    n = audio.shape[-1]
    spec = torch.fft.rfft(audio)
    f = torch.fft.rfftfreq(n, 1.0 / sr)
    gain = torch.clamp((cutoff_hz * 1.1 - f) / (0.1 * cutoff_hz), 0.0, 1.0)
    if telephone:
        gain = gain * torch.clamp((f - 250.0) / 50.0, 0.0, 1.0)
    return torch.fft.irfft(spec * gain, n=n)


def add_noise(audio: torch.Tensor, snr_db: float, generator: torch.Generator, pink: bool = False) -> torch.Tensor:
    """``[N] -> [N]``: white or pink (1/f power) noise at ``snr_db`` below the clip's RMS."""
    noise = torch.randn(audio.shape, generator=generator)
    if pink:
        spec = torch.fft.rfft(noise)
        f = torch.arange(spec.shape[-1], dtype=torch.float32).clamp(min=1.0)
        noise = torch.fft.irfft(spec / f.sqrt(), n=audio.shape[-1])
    rms = audio.pow(2).mean().sqrt()
    nrms = noise.pow(2).mean().sqrt().clamp(min=1e-12)
    return audio + noise * (rms / nrms) * 10 ** (-snr_db / 20)


def add_reverb(audio: torch.Tensor, sr: int, rt60_s: float, generator: torch.Generator) -> torch.Tensor:
    """``[N] -> [N]``: convolution with a synthetic room (direct path 1, then noise decaying 60 dB in ``rt60_s``)."""
    length = max(2, int(rt60_s * sr))
    t = torch.arange(length, dtype=torch.float32) / sr
    rir = torch.randn(length, generator=generator) * torch.exp(-6.9078 * t / rt60_s)
    rir[: int(0.002 * sr)] = 0.0  # 2 ms before the first reflection
    rir = rir / rir.abs().sum().clamp(min=1e-12) * 2.0  # reverberant energy of the order of the direct sound
    rir[0] = 1.0
    n = audio.shape[-1] + length - 1
    size = 1 << math.ceil(math.log2(n))
    wet = torch.fft.irfft(torch.fft.rfft(audio, size) * torch.fft.rfft(rir, size), n=size)
    return wet[: audio.shape[-1]]


def augment_speech(audio: torch.Tensor, sr: int, cfg: SpeechAugmentConfig, rng) -> torch.Tensor:
    """One speech clip ``[N]`` -> its augmented copy ``[M]`` (M ≠ N only after a speed change).

    ``rng``: a ``random.Random``-like generator (the clip's own, so a resumed run draws the same).
    The result keeps the input's peak level (the teacher's front end ignores level) and stays in [-1, 1].
    """
    if cfg.prob <= 0 or rng.random() >= cfg.prob:
        return audio
    gen = torch.Generator().manual_seed(rng.getrandbits(31))
    peak = audio.abs().max()
    x = audio.float()
    if rng.random() < cfg.speed_prob:
        x = speed_perturb(x, rng.uniform(*cfg.speed))
    if rng.random() < cfg.reverb_prob:
        x = add_reverb(x, sr, rng.uniform(*cfg.rt60_s), gen)
    if rng.random() < cfg.lowpass_prob:
        x = band_limit(x, sr, rng.uniform(*cfg.lowpass_hz), telephone=rng.random() < 0.5)
    if rng.random() < cfg.noise_prob:
        x = add_noise(x, rng.uniform(*cfg.snr_db), gen, pink=rng.random() < 0.5)
    new_peak = x.abs().max()
    if new_peak > 0 and peak > 0:
        x = x * (peak / new_peak)
    return x.clamp(-1.0, 1.0).to(audio.dtype)
