"""Stage 1: train the Semantic Bottleneck (SemBo) on frozen teacher features.

Loss: ``λ · cosine-MSE(recon, emb) + time-relation(low, emb)`` (losses/time_relation.py), AdamW with
betas (0.8, 0.99), warm-up + cosine schedule. Features come from a feature cache (fast) or from the
teacher run online on audio crops. The export (``<output_dir>/final``) is a ``save_pretrained``
LoSATokVAE holding the teacher and the trained bottleneck: stage 2's ``init_from``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data.crop_loader import crop_loader
from ..losses.time_relation import semantic_bottleneck_loss
from ..models.losatok_vae import LoSATokVAE
from .config import SemboStageConfig
from .engine import Stage, TrainState, saved
from .models import build_stage_model
from .trainer import Trainer, adamw, cosine_with_warmup


@dataclass
class SemboState(TrainState):
    bottleneck: nn.Module = saved()
    optimizer: torch.optim.Optimizer = saved()
    scheduler: torch.optim.lr_scheduler.LRScheduler = saved()
    teacher: nn.Module | None = None  # frozen, runs online when there is no feature cache
    vae: LoSATokVAE | None = None  # the exported model (its bottleneck is ``bottleneck``)


def build(cfg: SemboStageConfig, trainer: Trainer) -> SemboState:
    acc = trainer.accelerator
    vae = build_stage_model(cfg.model, cfg.teacher, frozen=("semantic_encoder",), teacher_type=cfg.teacher_type)
    teacher = vae.semantic_encoder.to(acc.device).eval()
    loader, dataset = crop_loader(cfg.data, cfg.run.seed, vae.hop_length, vae.sampling_rate, need_audio=False)
    trainer.report_skipped(dataset.skipped)
    optimizer = adamw(vae.bottleneck.parameters(), cfg.optim)
    scheduler = cosine_with_warmup(optimizer, cfg.optim, cfg.run.max_steps)
    bottleneck, optimizer, loader = acc.prepare(vae.bottleneck, optimizer, loader)
    return SemboState(trainer, cfg, loader, (bottleneck,), bottleneck, optimizer, scheduler, teacher, vae)


def step(state: SemboState, batch: dict):
    cfg = state.cfg
    if "semantic_emb" in batch:
        emb = batch["semantic_emb"]
    else:
        with torch.no_grad():
            emb = state.teacher(batch["audio"])
    with state.trainer.accelerator.autocast():
        out = state.bottleneck(emb)
        losses = semantic_bottleneck_loss(emb, out.recon, out.low, cfg.recon_weight, cfg.relation_weight)
    ok = state.trainer.optimizer_step(
        losses["sembo/total"], state.optimizer, state.bottleneck.parameters(), cfg.optim.grad_clip
    )
    return losses if ok else None


def export(state: SemboState, out: Path) -> None:
    state.vae.bottleneck.load_state_dict(state.trainer.accelerator.unwrap_model(state.bottleneck).state_dict())
    state.vae.requires_grad_(True)
    state.vae.cpu().save_pretrained(out)


STAGE = Stage(name="sembo", config=SemboStageConfig, build=build, step=step, export=export, shown=("sembo/total",))
