"""Stage 1: train the Semantic Bottleneck (SemBo) on frozen teacher features.

Loss: ``λ · cosine-MSE(recon, emb) + time-relation(low, emb)`` (losses/time_relation.py), AdamW with
betas (0.8, 0.99), warm-up + cosine schedule. Features come from a feature cache (fast) or from the
teacher run online on audio crops. The export (``<output_dir>/final``) is a ``save_pretrained``
LoSATokVAE holding the teacher and the trained bottleneck: stage 2's ``init_from``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..data import AudioCropDataset, EpochSampler, FeatureCache, read_manifest
from ..losses.time_relation import semantic_bottleneck_loss
from .config import SemboStageConfig
from .engine import Trainer, adamw, cosine_with_warmup
from .models import build_stage_model


def make_loader(cfg, hop: int, sample_rate: int, need_audio: bool) -> tuple[DataLoader, AudioCropDataset]:
    """Crops of the training manifest, shuffled per epoch by ``cfg.run.seed`` (resumable order)."""
    cache = FeatureCache(cfg.data.feature_cache) if cfg.data.feature_cache else None
    crop_frames = max(1, round(cfg.data.crop_seconds * sample_rate / hop))
    dataset = AudioCropDataset(
        read_manifest(cfg.data.train_manifest),
        crop_frames,
        sample_rate=sample_rate,
        hop=hop,
        feature_cache=cache,
        return_audio=need_audio or cache is None,
        short_clips=cfg.data.short_clips,
    )
    loader = DataLoader(
        dataset,
        batch_size=cfg.data.batch_size,
        sampler=EpochSampler(len(dataset), cfg.run.seed),
        generator=torch.Generator().manual_seed(cfg.run.seed),  # worker seeds: not from the global RNG
        drop_last=len(dataset) >= cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        persistent_workers=cfg.data.num_workers > 0,
    )
    return loader, dataset


def report_skipped(trainer: Trainer, dataset: AudioCropDataset) -> None:
    """``<output_dir>/skipped_files.tsv``: the files the dataset left out, with reasons."""
    trainer.report_skipped(dataset.skipped)


def train_sembo(cfg: SemboStageConfig, resume: bool = False) -> Path:
    """Run stage 1 to ``cfg.run.max_steps`` (or until SIGINT/SIGTERM); returns the export folder."""
    trainer = Trainer(cfg.run, cfg, resume=resume)
    acc = trainer.accelerator
    vae = build_stage_model(cfg.model, cfg.teacher, frozen=("semantic_encoder",), teacher_type=cfg.teacher_type)
    teacher = vae.semantic_encoder.to(acc.device).eval()
    bottleneck = vae.bottleneck
    loader, dataset = make_loader(cfg, vae.hop_length, vae.sampling_rate, need_audio=False)
    report_skipped(trainer, dataset)
    optimizer = adamw(bottleneck.parameters(), cfg.optim)
    scheduler = cosine_with_warmup(optimizer, cfg.optim, cfg.run.max_steps)
    bottleneck, optimizer, loader = acc.prepare(bottleneck, optimizer, loader)
    if resume and (restored := trainer.resume()) is not None:
        modules, state = restored
        acc.unwrap_model(bottleneck).load_state_dict(modules["bottleneck"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])

    def save() -> Path:
        return trainer.save(
            {"bottleneck": bottleneck},
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
        )

    bar = trainer.progress(cfg.run.max_steps)
    batches = trainer.batches(loader)
    with trainer.stop.installed():
        while trainer.step < cfg.run.max_steps:
            with acc.accumulate(bottleneck):
                batch = next(batches)
                if "semantic_emb" in batch:
                    emb = batch["semantic_emb"]
                else:
                    with torch.no_grad():
                        emb = teacher(batch["audio"])
                with acc.autocast():
                    out = bottleneck(emb)
                    losses = semantic_bottleneck_loss(emb, out.recon, out.low, cfg.recon_weight, cfg.relation_weight)
                if not trainer.optimizer_step(
                    losses["sembo/total"], optimizer, bottleneck.parameters(), cfg.optim.grad_clip
                ):
                    continue
            if not acc.sync_gradients:
                continue
            scheduler.step()
            trainer.step_done(bar, losses, scheduler.get_last_lr()[0], ("sembo/total",))
            if trainer.stop_requested(save, bar):
                return trainer.out / "checkpoints"
    bar.close()
    trainer.final_checkpoint(save)
    trainer.write_replica_digest(acc.unwrap_model(bottleneck).state_dict())
    export = trainer.out / "final"
    if trainer.is_main:
        trainer.check_finite_weights(acc.unwrap_model(bottleneck).state_dict(), f"the export {export}")
        vae.bottleneck.load_state_dict(acc.unwrap_model(bottleneck).state_dict())
        vae.requires_grad_(True)
        vae.cpu().save_pretrained(export)
        print(f"[losatok] SemBo export: {export}", flush=True)
    trainer.barrier()
    trainer.close()
    return export
