"""Pre-encoding for DiT training under one or many processes (``torchrun`` / ``accelerate launch``)."""

from __future__ import annotations

import logging

from ..checkpoints import DEFAULT_MODEL, EMBEDDED_MODELS
from ..data.latent_shards import LatentStats, encode_manifest, merge_stats, rank_from_env

logger = logging.getLogger(__name__)


def encode_and_merge(
    manifest: str,
    out: str,
    model: str | None = None,
    device: str = "cpu",
    shard_size: int = 64,
    batch_size: int = 8,
    min_seconds: float = 0.2,
) -> LatentStats | None:
    """Encode this rank's share of ``manifest`` into ``out``; after a barrier, rank 0 writes ``stats.json``.

    Returns the merged statistics on rank 0 (None on the others).
    """
    import torch

    from ..data import read_manifest
    from ..loading import load_vae

    rank, world = rank_from_env()
    state = None
    if world > 1:
        from accelerate import PartialState

        state = PartialState(cpu=device == "cpu")
        rank, world = state.process_index, state.num_processes
        if device.startswith("cuda"):
            device = str(state.device)
    spec = model or str(EMBEDDED_MODELS[DEFAULT_MODEL])
    vae = load_vae(spec).eval().to(device)
    entries = read_manifest(manifest)
    report = encode_manifest(
        vae,
        entries,
        out,
        rank=rank,
        world_size=world,
        model_id=str(spec),
        shard_size=shard_size,
        batch_size=batch_size,
        min_seconds=min_seconds,
    )
    logger.info(
        "rank %d: encoded %d, already done %d, skipped %d", rank, report.encoded, report.resumed, len(report.skipped)
    )
    if state is not None:
        state.wait_for_everyone()
    if rank != 0:
        return None
    with torch.inference_mode():
        stats = merge_stats(out, vae=vae, expected=len(entries))
    logger.info("%d clips, %d frames; stats.json and skipped.tsv in %s", stats.clips, stats.frames, out)
    return stats
