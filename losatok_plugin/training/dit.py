"""Stage 3: a text-to-audio DiT on LoSATok latents, trained so that diffusers' stock pipelines sample it.

Latents come pre-encoded (``data/latent_shards.py``) and are normalised per channel with the shards'
``stats.json``; the exported pipeline's VAE holds the same statistics (``latent_norm_mean`` /
``latent_norm_std``), so training, sampling and decoding share one normalisation. The transformer, the
text encoder (built offline, trained jointly) and, for StableAudio, the projection model train together
on the family's objective (``losses/dit_objective.py``: StableAudio v-prediction, LongCat flow matching)
with condition dropout for classifier-free guidance and an EMA of the weights. The result is
``<output_dir>/pipeline`` (``dit_export.py``), refreshed on a stop signal too: CPU runs end by wall clock.
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
from ..generation.pipelines import build_modules, build_pipeline, build_scheduler, sample_size
from ..generation.text import build_tokenizer, normalize_prompt
from ..losses.dit_objective import DiTObjective
from .config import DiTStageConfig
from .dit_export import clip_facts, export_checkpoint, export_pipeline, generate_audio, load_vae_for, training_clips
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


def _tokenizer(cfg: DiTStageConfig, trainer: Trainer, prompts: list[str]):
    from transformers import T5TokenizerFast

    tok_dir = trainer.out / "tokenizer"
    if cfg.init_from:
        return T5TokenizerFast.from_pretrained(Path(cfg.init_from) / "tokenizer")
    if trainer.resuming and tok_dir.is_dir():  # the vocabulary the checkpoint was trained with
        return T5TokenizerFast.from_pretrained(tok_dir)
    tokenizer = build_tokenizer(prompts, cfg.data.prompt_kind, cfg.model.max_prompt_tokens)
    if trainer.is_main:
        tokenizer.save_pretrained(tok_dir)
    return tokenizer


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
    tokenizer = _tokenizer(cfg, trainer, prompts)
    modules = build_modules(cfg.model, vae.latent_dim, rate, len(tokenizer))
    if cfg.init_from:
        from diffusers import DiffusionPipeline

        src = DiffusionPipeline.from_pretrained(cfg.init_from, dtype=torch.float32)
        for name in modules:
            modules[name].load_state_dict(getattr(src, name).state_dict())
        del src
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
    """Generated audio for ``sample.prompts`` in TensorBoard and ``samples/`` (main process)."""
    import copy

    import soundfile as sf

    trainer, cfg = state.trainer, state.cfg
    if not trainer.is_main:
        return
    mods = copy.deepcopy(_averaged(state)).float().eval()
    vae = state.vae.to(trainer.device)
    pipe = build_pipeline(cfg.model.family, mods, state.tokenizer, vae, build_scheduler(cfg.model))
    for k, prompt in enumerate(cfg.sample.prompts or (state.prompts[0],)):
        prompt = normalize_prompt(prompt)
        secs = cfg.sample.seconds or _default_seconds(prompt, state.facts, cfg)
        with torch.no_grad():
            audio = generate_audio(pipe, cfg.model.family, prompt, secs, cfg.sample.steps, cfg.sample.guidance, k)
        trainer.writer.add_audio(f"sample/{k}", audio.clamp(-1, 1), trainer.step, vae.sampling_rate)
        trainer.writer.add_text(f"sample/{k}/prompt", prompt, trainer.step)
        (trainer.out / "samples").mkdir(exist_ok=True)
        path = trainer.out / "samples" / f"sample{k}_{trainer.step:08d}.wav"
        sf.write(str(path), audio[0].clamp(-1, 1).numpy(), vae.sampling_rate)


def _default_seconds(prompt: str, facts: dict, cfg: DiTStageConfig) -> float:
    rate = facts.get("seconds_per_char")
    if rate:
        return min(cfg.model.max_seconds, max(0.5, rate * sum(not ch.isspace() for ch in prompt)))
    return cfg.model.max_seconds / 2


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
