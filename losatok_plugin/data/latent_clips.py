"""DiT training clips: pre-encoded latents (``latent_shards.py``) with their prompts, normalised and padded."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from ..configuration import ConfigError
from ..generation.text import prompt_for
from .latent_shards import LatentStats, load_shards


class LatentClipDataset(Dataset):
    """Normalised latents ``[C, T]`` (``T ≤ max_frames``; longer clips cropped at random, or from the
    start with ``crop=False``), prompt and seconds per clip; ``posterior``: ``z ~ N(mu, exp(logvar))``."""

    def __init__(
        self,
        clips,
        prompts: list[str],
        stats: LatentStats,
        max_frames: int,
        frame_rate: float,
        crop: bool,
        posterior: bool,
    ) -> None:
        self.clips, self.prompts, self.stats = clips, prompts, stats
        self.max_frames, self.frame_rate, self.crop, self.posterior = max_frames, frame_rate, crop, posterior

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict:
        c = self.clips[i]
        z = c.mu
        if self.posterior:
            z = z + torch.randn_like(z) * (0.5 * c.logvar).exp()
        if z.shape[1] > self.max_frames:
            t0 = random.randint(0, z.shape[1] - self.max_frames) if self.crop else 0
            z = z[:, t0 : t0 + self.max_frames]
        z = (z - self.stats.mean[:, None]) / self.stats.std[:, None]
        return {"z": z, "prompt": self.prompts[i], "seconds": z.shape[1] / self.frame_rate}


def collate_latents(items: list[dict], frames: int | None, pad: torch.Tensor | None) -> dict:
    """Pad to ``frames`` (StableAudio: its fixed length, with the silence latent) or to the longest (LongCat:
    zeros + mask). Returns ``z [B, C, T]``, ``mask [B, T]`` bool, ``seconds [B]`` and ``prompts``."""
    t = frames or max(it["z"].shape[1] for it in items)
    c = items[0]["z"].shape[0]
    z = torch.zeros(len(items), c, t) if pad is None else pad.view(1, c, 1).repeat(len(items), 1, t)
    mask = torch.zeros(len(items), t, dtype=torch.bool)
    for j, it in enumerate(items):
        n = it["z"].shape[1]
        z[j, :, :n] = it["z"]
        mask[j, :n] = True
    seconds = torch.tensor([it["seconds"] for it in items], dtype=torch.float32)
    return {"z": z, "mask": mask, "seconds": seconds, "prompts": [it["prompt"] for it in items]}


def load_clips(
    latents: str,
    domain: str,
    labels: Sequence[str],
    min_frames: float,
    max_frames: int,
    skip_long: bool,
):
    """Clips of ``domain`` (and one of ``labels``, when given) with usable prompts, at least ``min_frames``
    long (and at most ``max_frames`` with ``skip_long``); ``(clips, prompts)``. None usable: ConfigError."""
    wanted = set(labels)
    keep = (lambda m: m.get("label") in wanted) if wanted else None
    kept, prompts = [], []
    for c in load_shards(latents, domain=domain, keep=keep):
        p = prompt_for(c.meta, domain)
        t = c.mu.shape[1]
        if not p or t < min_frames or (skip_long and t > max_frames):
            continue
        kept.append(c)
        prompts.append(p)
    if not kept:
        raise ConfigError(f"no usable {domain} clips in {latents}")
    return kept, prompts
