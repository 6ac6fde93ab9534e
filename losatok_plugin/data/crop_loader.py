"""The DataLoader of random audio crops (and cached teacher features) that stages 1 and 2 train on."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.utils.data import DataLoader

from .dataset import AudioCropDataset, EpochSampler
from .domain_shares import WeightedEpochSampler, domain_share_weights, share_summary
from .feature_cache import FeatureCache
from .manifest import read_manifest
from .workers import ignore_stop_signals

log = logging.getLogger(__name__)


def crop_loader(
    data: Any, seed: int, hop: int, sample_rate: int, need_audio: bool
) -> tuple[DataLoader, AudioCropDataset]:
    """Crops of ``data.train_manifest``, shuffled per epoch by ``seed`` (a resumable order).

    Args:
        data: a training ``DataConfig`` (``train_manifest``, ``feature_cache``, ``crop_seconds``,
            ``batch_size``, ``num_workers``, ``short_clips``, ``domain_shares``, ``source_alpha``).
        seed: the run's seed (epoch order, crops and worker seeds).
        hop: samples per latent frame (640); crops start on this grid.
        sample_rate: the model's rate (16 kHz).
        need_audio: load audio even when a feature cache is given (stage 2 reconstructs it).

    Returns:
        ``(loader, dataset)``; batches hold ``audio [B, N]`` and/or ``semantic_emb [B, T, D]``, and
        ``dataset.skipped`` lists the files left out (path, reason).
    """
    cache = FeatureCache(data.feature_cache) if data.feature_cache else None
    crop_frames = max(1, round(data.crop_seconds * sample_rate / hop))
    dataset = AudioCropDataset(
        read_manifest(data.train_manifest),
        crop_frames,
        sample_rate=sample_rate,
        hop=hop,
        feature_cache=cache,
        return_audio=need_audio or cache is None,
        short_clips=data.short_clips,
    )
    sampler = EpochSampler(len(dataset), seed)
    if data.domain_shares:  # crops per domain in set proportions, clips by duration
        e = [item[0] for item in dataset.items]
        domains, sources = [x.domain for x in e], [x.extra.get("source") for x in e]
        weights = domain_share_weights(
            domains,
            [item[2] for item in dataset.items],
            data.domain_shares,
            paths=[x.path for x in e],
            sources=sources,
            source_alpha=data.source_alpha,
        )
        sampler = WeightedEpochSampler(weights, seed)
        log.info("expected crops per domain and source: %s", share_summary(weights, domains, sources))
    loader = DataLoader(
        dataset,
        batch_size=data.batch_size,
        sampler=sampler,
        generator=torch.Generator().manual_seed(seed),  # worker seeds: not from the global RNG
        drop_last=len(dataset) >= data.batch_size,
        num_workers=data.num_workers,
        persistent_workers=data.num_workers > 0,
        worker_init_fn=ignore_stop_signals,
    )
    return loader, dataset
