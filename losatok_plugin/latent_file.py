"""The LoSATok latent file: one safetensors file per clip, with a versioned header.

Tensor ``latents``: ``[C, T]`` (channels first, 25 Hz). Metadata (strings): ``format`` =
``losatok-latents``, ``version``, ``model_id``, ``config_hash``, ``weights_hash``, ``sample_rate``,
``frame_rate``, ``hop_length``, ``original_length`` (samples at ``sample_rate``), ``dtype``.
Decoding restores exactly ``original_length`` samples. Unknown versions, files made by another model,
corrupt files and contents that do not fit the header raise :class:`LatentFileError`: a tensor that is
not 2-D float, the wrong channel count (or ``[T, C]``, transposed), T = 0, NaN/inf values, and an
``original_length`` that is not a positive integer consistent with T (within two frames of
``T * hop_length``). Files are written atomically (temporary name, then rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .fileio import atomic_path
from .hashing import config_hash, weights_hash

FORMAT = "losatok-latents"
VERSION = 1
SUFFIX = ".latent.safetensors"


class LatentFileError(ValueError):
    """A latent file is unreadable, of an unknown version, or does not belong to the given model."""


@dataclass
class LatentFile:
    latents: torch.Tensor  # [C, T]
    meta: dict[str, str]

    @property
    def original_length(self) -> int:
        return int(self.meta["original_length"])


def save_latents(path: str | Path, latents: torch.Tensor, model, original_length: int, model_id: str = "") -> Path:
    """Write ``latents [C, T]`` (or ``[1, C, T]``) for a clip of ``original_length`` samples, atomically."""
    if latents.dim() == 3 and latents.shape[0] == 1:
        latents = latents[0]
    if latents.dim() != 2 or latents.shape[0] != model.config.latent_channels:
        raise LatentFileError(f"latents must be [{model.config.latent_channels}, T], got {tuple(latents.shape)}")
    meta = {
        "format": FORMAT,
        "version": str(VERSION),
        "model_id": model_id,
        "config_hash": config_hash(model),
        "weights_hash": weights_hash(model),
        "sample_rate": str(model.config.sampling_rate),
        "frame_rate": str(model.frame_rate),
        "hop_length": str(model.config.hop_length),
        "original_length": str(int(original_length)),
        "dtype": str(latents.dtype).replace("torch.", ""),
    }
    if latents.shape[-1] == 0 or not torch.isfinite(latents).all():
        raise LatentFileError(f"refusing to write latents with T = 0 or NaN/inf values ({tuple(latents.shape)})")
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({"latents": latents.detach().cpu().contiguous()}, str(tmp), metadata=meta)
    return path


def load_latents(path: str | Path, model=None) -> LatentFile:
    """Read a latent file; with ``model``, check that the file was made by that model."""
    path = Path(path)
    if not path.is_file():
        raise LatentFileError(f"latent file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if "latents" not in f.keys():
                raise LatentFileError(f"{path} holds no 'latents' tensor")
            latents = f.get_tensor("latents")
    except (SafetensorError, OSError, ValueError) as e:
        if isinstance(e, LatentFileError):
            raise
        raise LatentFileError(f"{path} is not a readable latent file: {e}") from None
    if meta.get("format") != FORMAT:
        raise LatentFileError(f"{path} is not a LoSATok latent file (format {meta.get('format')!r})")
    if meta.get("version") != str(VERSION):
        raise LatentFileError(f"{path} has latent-file version {meta.get('version')!r}; this package reads {VERSION}")
    _validate(path, latents, meta, None if model is None else model.config.latent_channels)
    if model is not None:
        for key, ours in (("config_hash", config_hash(model)), ("weights_hash", weights_hash(model))):
            if meta.get(key) != ours:
                raise LatentFileError(
                    f"{path} was made by another model ({key} {meta.get(key)} != {ours}; model_id "
                    f"{meta.get('model_id')!r}): decode it with that model"
                )
    return LatentFile(latents, meta)


def fit_length(audio: torch.Tensor, n: int) -> torch.Tensor:
    """Trim or zero-pad the last dimension to exactly ``n`` samples."""
    if audio.shape[-1] >= n:
        return audio[..., :n]
    return torch.nn.functional.pad(audio, (0, n - audio.shape[-1]))


def _validate(path: Path, latents: torch.Tensor, meta: dict[str, str], channels: int | None) -> None:
    """Refuse contents that would crash or mislead a decoder (see the module docstring)."""
    if latents.dim() != 2 or not latents.is_floating_point():
        raise LatentFileError(
            f"{path}: latents must be a 2-D float tensor [C, T], got {latents.dtype} {tuple(latents.shape)}"
        )
    if channels is not None and latents.shape[0] != channels:
        hint = " (transposed: [T, C] instead of [C, T])" if latents.shape[1] == channels else ""
        raise LatentFileError(f"{path}: latents have {latents.shape[0]} channels, the model expects {channels}{hint}")
    t = latents.shape[1]
    if t == 0:
        raise LatentFileError(f"{path}: latents have T = 0 frames")
    if not torch.isfinite(latents).all():
        raise LatentFileError(f"{path}: latents contain NaN or inf")
    for key in ("original_length", "hop_length"):
        try:
            value = int(meta.get(key, ""))
        except ValueError:
            raise LatentFileError(f"{path}: header {key} {meta.get(key)!r} is not an integer") from None
        if value <= 0:
            raise LatentFileError(f"{path}: header {key} must be positive, got {value}")
    hop, n = int(meta["hop_length"]), int(meta["original_length"])
    if abs(n - t * hop) > 2 * hop:
        raise LatentFileError(
            f"{path}: header original_length {n} does not fit {t} frames of {hop} samples (expected about {t * hop})"
        )
