"""Stage 3: a text-to-audio DiT on LoSATok latents, trained so that diffusers' stock pipelines sample it.

Latents come pre-encoded (``data/latent_shards.py``) and are normalised per channel with the shards'
``stats.json``; the exported pipeline's VAE holds the same statistics (``latent_norm_mean`` /
``latent_norm_std``), so training, sampling and decoding share one normalisation. The transformer, the
text encoder (built offline, trained jointly) and, for StableAudio, the projection model train together
on the family's objective (``losses/dit_objective.py``: StableAudio v-prediction, LongCat flow matching)
with condition dropout for classifier-free guidance and an EMA of the weights. The result is
``<output_dir>/pipeline`` (``dit_pipeline.py``), refreshed on a stop signal too: CPU runs end by wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..configuration import ConfigError
from ..data.latent_clips import LatentClipDataset, collate_latents
from ..data.latent_shards import LatentStats
from ..data.workers import ignore_stop_signals
from ..generation.pipelines import build_modules, sample_size
from ..losses.dit_objective import DiTObjective
from .config import DiTStageConfig
from .dit_pipeline import (
    clip_facts,
    export_checkpoint,
    export_pipeline,
    load_pipeline_weights,
    load_vae_for,
    log_samples,
    prompt_tokenizer,
    training_clips,
)
from .ema import ModuleEMA
from .engine import Hook, Stage, TrainState, saved
from .trainer import Trainer, adamw, cosine_with_warmup

__all__ = ["STAGE", "DiTObjective", "DiTStageConfig", "export_checkpoint"]  # recipes/dit import these from here


@dataclass
class DiTState(TrainState):
    dit: nn.ModuleDict = saved()  # the pipeline's trainable modules (inside ``objective``)
    ema: ModuleEMA | None = saved(optional=True)
    optimizer: torch.optim.Optimizer = saved()
    scheduler: torch.optim.lr_scheduler.LRScheduler = saved()
    objective: nn.Module | None = None
    tokenizer: object = None
    vae: nn.Module | None = None
    prompts: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # for generation_config.json


def build(cfg: DiTStageConfig, trainer: Trainer) -> DiTState:
    if not cfg.data.latents:
        raise ConfigError("data.latents must name a shard folder (recipes/dit/encode_latents.py)")
    acc = trainer.accelerator
    stats = LatentStats.load(cfg.data.latents)
    vae = load_vae_for(cfg, stats)
    if vae.latent_dim != stats.mean.numel():
        raise ConfigError(f"the shards have {stats.mean.numel()} channels, the VAE {vae.latent_dim}")
    rate = vae.frame_rate
    clips, prompts = training_clips(cfg, rate)
    tokenizer = prompt_tokenizer(cfg, trainer, prompts)
    modules = build_modules(cfg.model, vae.latent_dim, rate, len(tokenizer))
    if cfg.init_from:
        load_pipeline_weights(modules, cfg.init_from)
    ema = ModuleEMA(modules, cfg.ema_decay) if cfg.ema_decay else None
    d = cfg.data
    ds = LatentClipDataset(
        clips, prompts, stats, int(cfg.model.max_seconds * rate), rate, d.long_clips == "crop", d.posterior_sample
    )
    fixed = sample_size(cfg.model, rate) if cfg.model.family == "stable_audio" else None
    pad = stats.silence if (fixed and stats.silence is not None) else None
    loader = DataLoader(
        ds,
        batch_size=d.batch_size,
        shuffle=True,
        num_workers=d.num_workers,
        drop_last=len(ds) >= d.batch_size,
        collate_fn=partial(collate_latents, frames=fixed, pad=pad),
        worker_init_fn=ignore_stop_signals,
    )
    objective = DiTObjective(modules, tokenizer, cfg.model, cfg.objective)
    optimizer = adamw(objective.parameters(), cfg.optim)
    scheduler = cosine_with_warmup(optimizer, cfg.optim, cfg.run.max_steps)
    objective, optimizer, loader = acc.prepare(objective, optimizer, loader)
    if ema is not None:
        ema.to(acc.device)
    facts = clip_facts(cfg, clips, prompts, rate)
    return DiTState(
        trainer,
        cfg,
        loader,
        (objective,),
        modules,
        ema,
        optimizer,
        scheduler,
        objective,
        tokenizer,
        vae,
        prompts,
        facts,
    )


def step(state: DiTState, batch: dict):
    with state.trainer.accelerator.autocast():
        losses = state.objective(batch["z"], batch["mask"], batch["seconds"], batch["prompts"])
    params = state.objective.parameters()
    ok = state.trainer.optimizer_step(losses["dit/loss"], state.optimizer, params, state.cfg.optim.grad_clip)
    return losses if ok else None


def update(state: DiTState) -> float:
    state.scheduler.step()
    if state.ema is not None:  # the warm-up of training/ema.py: a short fine-tune exports what it learned
        state.ema.update(state.dit, state.trainer.step)
    return state.scheduler.get_last_lr()[0]


def _averaged(state: DiTState) -> nn.Module:
    return state.ema.copy if state.ema is not None else state.dit


def sample(state: DiTState, batch=None) -> None:  # noqa: ARG001 - a Hook
    log_samples(state.trainer, state.cfg, _averaged(state), state.tokenizer, state.vae, state.prompts, state.facts)


def export(state: DiTState, out: Path) -> None:
    extra = {**state.facts, "steps_trained": state.trainer.step}
    export_pipeline(state.cfg, _averaged(state), state.tokenizer, state.vae, out, extra)


STAGE = Stage(
    name="dit",
    config=DiTStageConfig,
    build=build,
    step=step,
    export=export,
    shown=("dit/loss",),
    update=update,
    hooks=(Hook(lambda cfg: cfg.run.sample_every, sample),),
    export_dir="pipeline",
    export_on_stop=True,
)
