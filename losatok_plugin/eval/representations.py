"""Representations of audio for understanding probes, redundancy analysis and Fréchet distances.

Any LoSATok representation is reachable by name: ``z`` / ``mu`` (the 128-d latent), ``unified_emb``
(1280-d), ``semantic_emb`` (the frozen teacher), ``semantic_emb_low`` (SemBo's output),
``acoustic_emb``, ``acoustic_emb_low``, ``unified_emb_low``. :class:`XaresEncoder` wraps one of them
in the XARES encoder contract.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm

from ..data.audio_io import AudioReadError, load_audio
from ..data.manifest import ManifestEntry
from ..models.losatok_vae import LoSATokFeatures, LoSATokVAE

# Every tensor of LoSATokFeatures (``lengths`` is a [B] count, not a representation).
REPRESENTATIONS = tuple(name for name in LoSATokFeatures.__dataclass_fields__ if name != "lengths")


def check_representation(name: str) -> str:
    if name not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {name!r}; known: {', '.join(REPRESENTATIONS)}")
    return name


def representation_dim(model: LoSATokVAE, name: str) -> int:
    check_representation(name)
    high = ("semantic_emb", "acoustic_emb", "unified_emb")
    return model.config.embed_dim if name in high else model.config.latent_channels


class XaresEncoder:
    """XARES-compatible encoder: ``sampling_rate``, ``output_dim``, ``hop_size_in_ms`` (40) and
    ``__call__(audio [B, N]) -> [B, T, D]``; robust to 10 minutes of audio (the semantic encoder
    works in 10.08 s chunks; nothing grows quadratically with length).
    """

    hop_size_in_ms = 40

    def __init__(self, model: LoSATokVAE, representation: str = "mu", max_seconds: float = 600.0) -> None:
        self.model = model.eval()
        self.representation = check_representation(representation)
        self.sampling_rate = model.sampling_rate
        self.output_dim = representation_dim(model, representation)
        self.hop_size_in_ms = 1000 * model.hop_length / model.sampling_rate
        self.max_seconds = max_seconds

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        """audio ``[B, N]`` (or ``[N]``) at 16 kHz -> ``[B, T, output_dim]``, T = (1 + N // 160) // 4."""
        audio = torch.atleast_2d(torch.as_tensor(audio))
        if audio.shape[-1] > self.max_seconds * self.sampling_rate:
            raise ValueError(f"audio longer than {self.max_seconds} s; split it first")
        with torch.inference_mode():
            return self.model.encode_features(audio)[self.representation]


def extract(
    model: LoSATokVAE, entries: Sequence[ManifestEntry], representation: str, progress: bool = True
) -> tuple[list[torch.Tensor], list[int], list[tuple[str, str]]]:
    """Per-file features ``[T, D]`` for every readable entry.

    Returns ``(features, indices of the entries they belong to, skipped (path, reason))``.
    """
    encoder = XaresEncoder(model, representation)
    feats, kept, skipped = [], [], []
    for i, e in enumerate(tqdm(entries, desc=f"extracting {representation}", unit="file", disable=not progress)):
        try:
            audio = load_audio(e.path, model.sampling_rate)
            feats.append(encoder(audio[None].to(model.device))[0].float().cpu())
            kept.append(i)
        except (AudioReadError, ValueError) as err:
            skipped.append((e.path, str(err)))
    return feats, kept, skipped
