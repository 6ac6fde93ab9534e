"""Stage 2: train the tokenizer (acoustic branch, Gaussian head, Vocos decoder) with teacher and SemBo frozen.

Generator loss = Σ weight[name] · loss[name] over the logged names ``mel`` (multi-scale mel L1), ``stft``
(multi-resolution STFT, computed only when weighted), ``teacher`` (the frozen teacher's features of the
reconstruction against the input's, only when weighted), ``semantic`` (dual-level, mode both/high_only/low_only),
``kl`` (optional per-dim clamp), ``adv`` and ``fm`` (multi-period + multi-resolution STFT discriminators, hinge
or least squares; they join after ``discriminator.warmup_steps``); the two updates are ``gan.py``'s. Optional EMA of generator weights;
gradient clipping on both sides. The export (``<output_dir>/final``) is a ``save_pretrained`` LoSATokVAE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..data.crop_loader import crop_loader
from ..discriminators import Discriminators
from ..errors import ConfigError
from ..losses.mel import MultiScaleMelLoss
from ..losses.stft import MultiResolutionSTFTLoss
from .config import TokenizerStageConfig
from .ema import EMA
from .engine import Hook, Stage, TrainState, saved
from .gan import FROZEN, TRAINABLE, GeneratorStep, discriminator_step, generator_step, random_window
from .models import build_stage_model
from .trainer import Trainer, adamw, cosine_with_warmup

DISCRIMINATOR_FILE = "discriminator.safetensors"
"""The discriminators' weights in a checkpoint (the engine names it after the ``discriminator`` field below) and
in an export that keeps them (``recipes/mini/export.py``)."""


@dataclass
class TokenizerState(TrainState):
    generator: GeneratorStep = saved()
    discriminator: Discriminators = saved()
    ema: EMA | None = saved(optional=True)
    opt_g: torch.optim.Optimizer = saved()
    opt_d: torch.optim.Optimizer = saved()
    sched_g: torch.optim.lr_scheduler.LRScheduler = saved()
    sched_d: torch.optim.lr_scheduler.LRScheduler = saved()
    mel_loss: nn.Module | None = None
    stft_loss: nn.Module | None = None


def build(cfg: TokenizerStageConfig, trainer: Trainer) -> TokenizerState:
    acc, d = trainer.accelerator, cfg.discriminator
    vae = build_stage_model(cfg.model, cfg.init_from, frozen=FROZEN, optional=TRAINABLE)
    vae.train()
    for name in cfg.freeze:  # parts kept out of the update (names checked by the config)
        getattr(vae, name).requires_grad_(False)
    gen = GeneratorStep(vae)
    disc = Discriminators(d.use_mpd, d.use_mrd, d.periods, d.resolutions, d.channels)
    if d.init_from and not trainer.resuming:
        load_discriminators(disc, d.init_from)
    mel_loss = MultiScaleMelLoss(vae.sampling_rate).to(acc.device)
    stft_loss = MultiResolutionSTFTLoss().to(acc.device)
    loader, dataset = crop_loader(cfg.data, cfg.run.seed, vae.hop_length, vae.sampling_rate, need_audio=True)
    trainer.report_skipped(dataset.skipped)
    opt_g = adamw([p for p in gen.parameters() if p.requires_grad], cfg.optim)
    opt_d = adamw(disc.parameters(), d.optim)
    sched_g = cosine_with_warmup(opt_g, cfg.optim, cfg.run.max_steps)
    sched_d = cosine_with_warmup(opt_d, d.optim, cfg.run.max_steps)
    gen, disc, opt_g, opt_d, loader = acc.prepare(gen, disc, opt_g, opt_d, loader)
    ema = EMA(acc.unwrap_model(gen).vae, cfg.ema_decay) if cfg.ema_decay else None
    return TokenizerState(
        trainer, cfg, loader, (gen, disc), gen, disc, ema, opt_g, opt_d, sched_g, sched_d, mel_loss, stft_loss
    )


def load_discriminators(disc: Discriminators, source: str | Path) -> None:
    """Copy trained discriminator weights into ``disc`` from a checkpoint folder or its ``discriminator.safetensors``.

    Raises:
        ConfigError: nothing there, or weights that do not fit (other periods, resolutions or channels).
    """
    path = Path(source)
    if path.is_dir():
        path = path / DISCRIMINATOR_FILE
    if not path.is_file():
        raise ConfigError(f"discriminator.init_from: no {path} (a checkpoint folder or its {DISCRIMINATOR_FILE})")
    try:
        disc.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ConfigError(
            f"discriminator.init_from: {path} does not fit these discriminators "
            f"(periods, resolutions, channels): {first[1].strip() if len(first) > 1 else first[0]}"
        ) from None


def uses_discriminators(state: TokenizerState) -> bool:
    """True once the discriminators have joined (after ``discriminator.warmup_steps``, with adv or fm weighted)."""
    w = state.cfg.loss_weights
    return state.trainer.step >= state.cfg.discriminator.warmup_steps and (w["adv"] > 0 or w["fm"] > 0)


def adversarial_step(state: TokenizerState) -> bool:
    """Whether this step runs the adversarial update: every ``discriminator.every``-th step once they joined.

    The discriminators' forward and backward passes cost several times the generator's on a CPU
    (``recipes/mini/README.md`` has the measured steps/s); the steps between are generator-only (mel,
    semantic, KL), as in the warm-up.
    """
    d = state.cfg.discriminator
    return uses_discriminators(state) and (state.trainer.step - d.warmup_steps) % d.every == 0


def discriminators_lead(state: TokenizerState) -> bool:
    """True in the ``discriminator.lead_steps`` after warm-up: the discriminators train, the generator ignores them."""
    d = state.cfg.discriminator
    return state.trainer.step < d.warmup_steps + d.lead_steps


def step(state: TokenizerState, batch: dict):
    trainer, cfg = state.trainer, state.cfg
    audio = batch["audio"]
    with trainer.accelerator.autocast():
        feats, _, recon = state.generator(audio, batch.get("semantic_emb"), cfg.sample_posterior)
    target = audio[:, : recon.shape[-1]]
    if trainer.skip_nonfinite(recon, optimizers=(state.opt_g, state.opt_d)):
        return None
    losses, window = {}, None
    if adversarial_step(state):
        window = random_window(target, recon, cfg.discriminator.segment_seconds, cfg.model.sampling_rate)
        losses["disc"] = discriminator_step(state, *window)
        if losses["disc"] is None:
            return None
    g = generator_step(state, feats, target, recon, None if discriminators_lead(state) else window)
    return None if g is None else {**losses, **g}


def update(state: TokenizerState) -> float:
    state.sched_g.step()
    if uses_discriminators(state):
        state.sched_d.step()
    if state.ema is not None:
        state.ema.update(state.trainer.accelerator.unwrap_model(state.generator).vae, state.trainer.step)
    return state.sched_g.get_last_lr()[0]


def sample(state: TokenizerState, batch: dict) -> None:
    """A training clip and its reconstruction (audio + mel image) in TensorBoard."""
    audio, emb = batch["audio"], batch.get("semantic_emb")
    with torch.no_grad():
        _, _, example = state.trainer.accelerator.unwrap_model(state.generator)(
            audio[:1], None if emb is None else emb[:1], False
        )
    state.trainer.log_audio_example(
        "train_example", audio[0, : example.shape[-1]], example[0], state.cfg.model.sampling_rate
    )


def export(state: TokenizerState, out: Path) -> None:
    final = state.trainer.accelerator.unwrap_model(state.generator).vae
    if state.ema is not None:
        state.ema.copy_to(final)
    final.requires_grad_(True)
    final.eval().cpu().save_pretrained(out)


STAGE = Stage(
    name="tokenizer",
    config=TokenizerStageConfig,
    build=build,
    step=step,
    export=export,
    shown=("mel", "total"),
    update=update,
    hooks=(Hook(lambda cfg: cfg.run.sample_every, sample),),
)
