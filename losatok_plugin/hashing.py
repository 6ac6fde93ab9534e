"""Fingerprints of a model: its config and its weights, hashed one way everywhere.

Latent files store :func:`config_hash` and :func:`weights_hash` and refuse to decode with another model; the
audiocraft conditioning cache keys entries by :func:`encoder_fingerprint`; feature caches name their teacher
by :func:`tensor_fingerprint`. The values are part of files already written: changing how they are computed
makes those files unreadable, so the recipes below are fixed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import torch

DIGEST_CHARS = 16  # hex characters kept of each sha256


def _config_bytes(config: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(config), sort_keys=True, default=str).encode()


def _tensor_bytes(t: torch.Tensor, max_elements: int | None = None) -> bytes:
    """float32 bytes of ``t``, or of an even stride through it of about ``max_elements`` values."""
    t = t.detach()
    if max_elements is not None:
        flat = t.reshape(-1)
        t = flat[:: max(1, flat.numel() // max_elements)]
    return t.cpu().float().contiguous().numpy().tobytes()


def config_hash(model) -> str:
    """Hash of the architecture config (public keys only)."""

    # The LongCat aliases repeat other keys and unset latent normalisation leaves the latent space as
    # it was: neither changes the hash of files written before those keys existed.
    def kept(k: str, v) -> bool:
        if k.startswith("_") or k in ("sample_rate", "downsampling_ratio"):
            return False
        return not (k in ("latent_norm_mean", "latent_norm_std") and v is None)

    cfg = {k: v for k, v in dict(model.config).items() if kept(k, v)}
    return hashlib.sha256(_config_bytes(cfg)).hexdigest()[:DIGEST_CHARS]


def weights_hash(model) -> str:
    """Hash of the weights that turn latents into audio and of the latent head (cheap: no teacher); cached on
    the model."""
    cached = getattr(model, "_losatok_weights_hash", None)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    state = sorted(model.state_dict().items())
    for prefix in ("gaussian.", "decoder."):
        for k, v in state:
            if k.startswith(prefix):
                h.update(k.encode())
                h.update(_tensor_bytes(v))
    model._losatok_weights_hash = h.hexdigest()[:DIGEST_CHARS]
    return model._losatok_weights_hash


def encoder_fingerprint(vae) -> str:
    """Hash of the config and of every encoder-side tensor (a strided sample of each, so it stays cheap
    on the 0.8B official model): two models that encode differently get different fingerprints."""
    h = hashlib.sha256(_config_bytes({k: v for k, v in dict(vae.config).items() if not k.startswith("_")}))
    for name, t in sorted(vae.state_dict().items()):
        if name.startswith("decoder."):
            continue
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(_tensor_bytes(t, max_elements=4096))
    return h.hexdigest()[:DIGEST_CHARS]


def tensor_fingerprint(tensors: Iterable[torch.Tensor], head_bytes: int = 4096) -> str:
    """Hash of the first ``head_bytes`` float32 bytes of each tensor, in order (a cheap teacher identity)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(_tensor_bytes(t)[:head_bytes])
    return h.hexdigest()[:DIGEST_CHARS]
