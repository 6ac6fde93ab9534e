"""Stage 3: a text-to-audio DiT on LoSATok latents, trained so that diffusers' stock pipelines sample it.

Latents come pre-encoded (``losatok_plugin.data.latent_shards``) and are normalised per channel with
the shards' ``stats.json``; the exported pipeline's VAE holds the same statistics
(``latent_norm_mean``/``latent_norm_std``), so training, sampling and decoding share one normalisation.
The transformer, the text encoder (built offline, trained jointly) and, for StableAudio, the
projection model train together on the family's objective (``losses/diffusion.py``), with condition
dropout for classifier-free guidance, an EMA of the weights, atomic checkpoints, resume, TensorBoard
curves and generated audio samples. The result is ``<output_dir>/pipeline``: a ``save_pretrained``
folder that ``DiffusionPipeline.from_pretrained`` restores (StableAudioPipeline or LongCatAudioDiTPipeline).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..configuration import ConfigError
from ..data.latent_shards import LatentStats, load_shards
from ..generation.pipelines import (
    DiTModelConfig,
    build_modules,
    build_pipeline,
    build_scheduler,
    longcat_condition,
    sample_size,
    stable_audio_condition,
    stable_audio_rotary,
)
from ..generation.text import build_tokenizer, normalize_prompt, prompt_for, seconds_per_char
from ..losses.diffusion import edm_inputs, flow_inputs, karras_sigma, masked_mse, sample_u
from .config import OptimConfig, RunConfig
from .ema import ema_decay_at
from .engine import Trainer, adamw, cosine_with_warmup

GENERATION_CONFIG = "generation_config.json"


@dataclass
class DiTDataConfig:
    """Which latents, which clips, how they are batched."""

    latents: str = ""  # shard folder (with stats.json), see recipes/dit/encode_latents.py
    domain: str = "speech"  # speech (TTS) | music (TTM) | sound (TTA)
    labels: tuple[str, ...] = ()  # keep only clips with one of these labels (e.g. TTS languages "en-us")
    prompt_kind: str = "words"  # chars (transcripts) | words (captions)
    long_clips: str = "crop"  # clips longer than model.max_seconds: "crop" (random window) or "skip"
    min_seconds: float = 0.3
    posterior_sample: bool = False  # train on z ~ N(mu, exp(logvar)) instead of mu
    batch_size: int = 16
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.domain not in ("speech", "music", "sound"):
            raise ConfigError(f"data.domain must be speech, music or sound, got {self.domain!r}")
        if self.long_clips not in ("crop", "skip"):
            raise ConfigError("data.long_clips must be 'crop' or 'skip'")


@dataclass
class ObjectiveConfig:
    timesteps: str = "logit_normal"  # logit_normal | uniform
    logit_mean: float = 0.0
    logit_std: float = 1.0
    cond_dropout: float = 0.1  # probability of training a clip without its prompt (classifier-free guidance)

    def __post_init__(self) -> None:
        if self.timesteps not in ("logit_normal", "uniform"):
            raise ConfigError("objective.timesteps must be 'logit_normal' or 'uniform'")


@dataclass
class SampleConfig:
    """Generated audio in TensorBoard and ``samples/`` every ``run.sample_every`` steps."""

    prompts: tuple[str, ...] = ()  # "" or none: the first training prompt
    seconds: float = 0.0  # 0: the clip duration rule (TTS) or model.max_seconds / 2
    steps: int = 20
    guidance: float = 3.0


@dataclass
class DiTStageConfig:
    """Stage 3: a text-conditioned DiT on a LoSATok model's latents."""

    vae: str = ""  # LoSATokVAE folder the shards were encoded with ("" = the embedded losatok-mini)
    init_from: str = ""  # a saved pipeline folder to fine-tune (its tokenizer and weights); "" = from scratch
    model: DiTModelConfig = field(default_factory=DiTModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    data: DiTDataConfig = field(default_factory=DiTDataConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    ema_decay: float | None = 0.999
    export_fp16: bool = False  # store the exported transformer and VAE in float16 (text encoder stays fp32)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-4, betas=(0.9, 0.99), warmup_steps=200))
    run: RunConfig = field(default_factory=RunConfig)


# -- data ---------------------------------------------------------------------------------------------
class LatentClipDataset(Dataset):
    """Normalised latents ``[C, T]`` (``T ≤ max_frames``), prompt and seconds per clip."""

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


def collate(items: list[dict], frames: int | None, pad: torch.Tensor | None) -> dict:
    """Pad to ``frames`` (StableAudio: its fixed length, with the silence latent) or to the longest (LongCat: zeros + mask)."""
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


def load_clips(cfg: DiTStageConfig, frame_rate: float):
    """Clips of the configured domain with usable prompts; ``(clips, prompts)``."""
    labels = set(cfg.data.labels)
    keep = (lambda m: m.get("label") in labels) if labels else None
    clips = load_shards(cfg.data.latents, domain=cfg.data.domain, keep=keep)
    max_frames = int(cfg.model.max_seconds * frame_rate)
    kept, prompts = [], []
    for c in clips:
        p = prompt_for(c.meta, cfg.data.domain)
        t = c.mu.shape[1]
        if not p or t < cfg.data.min_seconds * frame_rate or (cfg.data.long_clips == "skip" and t > max_frames):
            continue
        kept.append(c)
        prompts.append(p)
    if not kept:
        raise ConfigError(f"no usable {cfg.data.domain} clips in {cfg.data.latents}")
    return kept, prompts


# -- the loss, as one module so that DDP sees every forward ------------------------------------------
class DiTObjective(nn.Module):
    """``forward(batch) -> {"dit/loss": ...}``: the family's objective with condition dropout."""

    def __init__(self, modules: nn.ModuleDict, cfg: DiTStageConfig, tokenizer) -> None:
        super().__init__()
        self.net = modules
        self.cfg = cfg
        self.tokenizer = tokenizer

    def forward(self, z: torch.Tensor, mask: torch.Tensor, seconds: torch.Tensor, prompts: list[str]) -> dict:
        """One training loss.

        Args:
            z: normalised latents ``[B, C, T]`` (channels first, as the pipelines' VAE returns them).
            mask: ``[B, T]`` bool, True on valid frames (LongCat: padding is left out of the loss; StableAudio
                trains on its fixed length, padded with the silence latent).
            seconds: ``[B]`` float, each clip's duration (StableAudio's ``seconds_total`` conditioning).
            prompts: ``B`` prompt strings; with probability ``objective.cond_dropout`` an item's text encoding
                is zeroed, the unconditional input the pipelines use for classifier-free guidance.

        Returns:
            ``{"dit/loss": scalar}``.
        """
        cfg, dev = self.cfg, z.device
        b = z.shape[0]
        drop = torch.rand(b, device=dev) < cfg.objective.cond_dropout
        u = sample_u(b, cfg.objective.timesteps, dev, mean=cfg.objective.logit_mean, std=cfg.objective.logit_std)
        noise = torch.randn_like(z)
        if cfg.model.family == "stable_audio":
            enc, glob = stable_audio_condition(self.net, self.tokenizer, prompts, seconds, dev)
            enc = torch.where(drop[:, None, None], torch.zeros_like(enc), enc)  # the pipeline's unconditional input
            sigma = karras_sigma(u, cfg.model.sigma_min, cfg.model.sigma_max)
            x_in, t, target = edm_inputs(z, noise, sigma, cfg.model.sigma_data)
            rotary = stable_audio_rotary(self.net["transformer"], z.shape[-1])
            pred = self.net["transformer"](
                x_in, t, encoder_hidden_states=enc, global_hidden_states=glob, rotary_embedding=rotary
            ).sample
            return {"dit/loss": masked_mse(pred, target, None)}
        emb, text_mask = longcat_condition(self.net, self.tokenizer, prompts, dev)
        emb = torch.where(drop[:, None, None], torch.zeros_like(emb), emb)  # the pipeline's unconditional input
        x1, n = z.transpose(1, 2), noise.transpose(1, 2)  # LongCat works channels last [B, T, C]
        x_t, target = flow_inputs(x1, n, u)
        pred = self.net["transformer"](
            hidden_states=x_t,
            encoder_hidden_states=emb,
            encoder_attention_mask=text_mask,
            timestep=u,
            attention_mask=mask,
        ).sample
        return {"dit/loss": masked_mse(pred, target, mask[..., None])}


# -- pipeline export ----------------------------------------------------------------------------------
def load_vae_for(cfg: DiTStageConfig, stats: LatentStats | None = None):
    """The LoSATok VAE of the shards; with ``stats``, configured to speak normalised latents."""
    from ..loading import load_vae
    from ..models.losatok_vae import LoSATokVAE

    spec = cfg.vae or "losatok-mini"
    vae = load_vae(spec)
    if stats is not None:
        kw = {k: v for k, v in dict(vae.config).items() if not k.startswith("_")}
        kw.update(latent_norm_mean=stats.mean.tolist(), latent_norm_std=stats.std.tolist())
        normed = LoSATokVAE(**kw)
        normed.load_state_dict(vae.state_dict())
        vae = normed
    return vae.eval()


def export_pipeline(cfg: DiTStageConfig, modules: nn.ModuleDict, tokenizer, vae, out: Path, extra: dict) -> Path:
    """``save_pretrained`` the stock pipeline (and ``generation_config.json``) into ``out``."""
    modules = copy.deepcopy(modules).cpu().float().eval()
    pipe = build_pipeline(cfg.model.family, modules, tokenizer, vae.cpu(), build_scheduler(cfg.model))
    pipe.save_pretrained(out)
    if cfg.export_fp16:
        modules["transformer"].half().save_pretrained(out / "transformer")
        copy.deepcopy(vae).half().save_pretrained(out / "vae")
    gen = {
        "family": cfg.model.family,
        "domain": cfg.data.domain,
        "prompt_kind": cfg.data.prompt_kind,
        "max_seconds": cfg.model.max_seconds,
        "steps": cfg.sample.steps,
        "guidance": cfg.sample.guidance,
        **extra,
    }
    (out / GENERATION_CONFIG).write_text(json.dumps(gen, indent=2))
    return out


def generate_latents(pipe, family: str, prompt: str, seconds: float, steps: int, guidance: float, seed: int):
    """Run the stock pipeline; returns audio ``[1, N]`` (float32 CPU)."""
    g = torch.Generator().manual_seed(seed)
    pipe.set_progress_bar_config(disable=True)
    if family == "stable_audio":
        out = pipe(
            prompt,
            audio_end_in_s=seconds,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=g,
            output_type="pt",
        )
    else:
        out = pipe(
            prompt,
            audio_duration_s=seconds,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=g,
            output_type="pt",
        )
    return out.audios[0].float().cpu()


def export_checkpoint(cfg: DiTStageConfig, out: str | Path | None = None) -> Path:
    """Export the latest checkpoint of ``cfg.run.output_dir`` (its EMA when kept) as a pipeline folder,
    without stopping or touching a running training. Default ``out``: ``<output_dir>/pipeline``."""
    from safetensors.torch import load_file
    from transformers import T5TokenizerFast

    from .checkpoint import latest_checkpoint

    run = Path(cfg.run.output_dir)
    ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise ConfigError(f"no checkpoint in {run}")
    stats = LatentStats.load(cfg.data.latents)
    vae = load_vae_for(cfg, stats)
    tokenizer = T5TokenizerFast.from_pretrained(run / "tokenizer")
    modules = build_modules(cfg.model, vae.latent_dim, vae.frame_rate, len(tokenizer))
    name = "ema" if (ckpt / "ema.safetensors").is_file() else "dit"
    modules.load_state_dict(load_file(str(ckpt / f"{name}.safetensors")))
    step = int(ckpt.name.split("_")[-1])
    clips, prompts = load_clips(cfg, vae.frame_rate)
    seconds = [c.mu.shape[1] / vae.frame_rate for c in clips]
    extra = {
        "seconds_per_char": seconds_per_char(prompts, seconds) if cfg.data.prompt_kind == "chars" else None,
        "example_prompts": sorted(set(prompts))[:5],
        "train_clips": len(clips),
        "steps_trained": step,
    }
    return export_pipeline(cfg, modules, tokenizer, vae, Path(out) if out else run / "pipeline", extra)


# -- the stage ----------------------------------------------------------------------------------------
def train_dit(cfg: DiTStageConfig, resume: bool = False) -> Path:
    """Run stage 3 to ``cfg.run.max_steps`` (or until SIGINT/SIGTERM); returns the exported pipeline folder."""
    if not cfg.data.latents:
        raise ConfigError("data.latents must name a shard folder (recipes/dit/encode_latents.py)")
    trainer = Trainer(cfg.run, cfg, resume=resume)  # checks the output folder (earlier run, --overwrite) first
    acc = trainer.accelerator
    stats = LatentStats.load(cfg.data.latents)
    vae = load_vae_for(cfg, stats)
    if vae.latent_dim != stats.mean.numel():
        raise ConfigError(f"the shards have {stats.mean.numel()} channels, the VAE {vae.latent_dim}")
    frame_rate = vae.frame_rate
    clips, prompts = load_clips(cfg, frame_rate)
    tok_dir = trainer.out / "tokenizer"
    if cfg.init_from:
        from transformers import T5TokenizerFast

        tokenizer = T5TokenizerFast.from_pretrained(Path(cfg.init_from) / "tokenizer")
    elif resume and tok_dir.is_dir():  # the vocabulary the checkpoint was trained with
        from transformers import T5TokenizerFast

        tokenizer = T5TokenizerFast.from_pretrained(tok_dir)
    else:
        tokenizer = build_tokenizer(prompts, cfg.data.prompt_kind, cfg.model.max_prompt_tokens)
        if trainer.is_main:
            tokenizer.save_pretrained(tok_dir)
    modules = build_modules(cfg.model, vae.latent_dim, frame_rate, len(tokenizer))
    if cfg.init_from:
        from diffusers import DiffusionPipeline

        src = DiffusionPipeline.from_pretrained(cfg.init_from, dtype=torch.float32)
        for name in modules:
            modules[name].load_state_dict(getattr(src, name).state_dict())
        del src
    ema = copy.deepcopy(modules).requires_grad_(False) if cfg.ema_decay else None
    seconds = [c.mu.shape[1] / frame_rate for c in clips]
    extra = {
        "seconds_per_char": seconds_per_char(prompts, seconds) if cfg.data.prompt_kind == "chars" else None,
        "example_prompts": sorted(set(prompts))[:5],
        "train_clips": len(clips),
    }
    max_frames = int(cfg.model.max_seconds * frame_rate)
    dataset = LatentClipDataset(
        clips, prompts, stats, max_frames, frame_rate, cfg.data.long_clips == "crop", cfg.data.posterior_sample
    )
    fixed = sample_size(cfg.model, frame_rate) if cfg.model.family == "stable_audio" else None
    pad = stats.silence if (fixed and stats.silence is not None) else None
    loader = DataLoader(
        dataset,
        batch_size=cfg.data.batch_size,
        shuffle=True,
        num_workers=cfg.data.num_workers,
        drop_last=len(dataset) >= cfg.data.batch_size,
        collate_fn=lambda b: collate(b, fixed, pad),
    )
    objective = DiTObjective(modules, cfg, tokenizer)
    optimizer = adamw(objective.parameters(), cfg.optim)
    scheduler = cosine_with_warmup(optimizer, cfg.optim, cfg.run.max_steps)
    objective, optimizer, loader = acc.prepare(objective, optimizer, loader)
    if ema is not None:
        ema.to(acc.device)
    if resume and (restored := trainer.resume()) is not None:
        state_modules, state = restored
        modules.load_state_dict(state_modules["dit"])
        if ema is not None and "ema" in state_modules:
            ema.load_state_dict(state_modules["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])

    def save() -> Path:
        # T5 ties its input embedding to ``shared``: plain copies, since safetensors refuses shared storage.
        mods = {"dit": _untied(modules)} | ({"ema": _untied(ema)} if ema is not None else {})
        return trainer.save(mods, {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})

    def export() -> Path:
        out = trainer.out / "pipeline"
        if trainer.is_main:
            trainer.check_finite_weights((ema if ema is not None else modules).state_dict(), f"the export {out}")
            export_pipeline(
                cfg, ema if ema is not None else modules, tokenizer, vae, out, {**extra, "steps_trained": trainer.step}
            )
            print(f"[losatok] pipeline: {out}", flush=True)
        trainer.barrier()
        return out

    def log_sample() -> None:
        if not trainer.is_main:
            return
        mods = copy.deepcopy(ema if ema is not None else modules).float().eval()
        pipe = build_pipeline(cfg.model.family, mods, tokenizer, vae.to(acc.device), build_scheduler(cfg.model))
        for k, prompt in enumerate(cfg.sample.prompts or (prompts[0],)):
            prompt = normalize_prompt(prompt)
            secs = cfg.sample.seconds or _default_seconds(prompt, extra, cfg)
            with torch.no_grad():
                audio = generate_latents(
                    pipe, cfg.model.family, prompt, secs, cfg.sample.steps, cfg.sample.guidance, seed=k
                )
            trainer.writer.add_audio(f"sample/{k}", audio.clamp(-1, 1), trainer.step, vae.sampling_rate)
            trainer.writer.add_text(f"sample/{k}/prompt", prompt, trainer.step)
            import soundfile as sf

            (trainer.out / "samples").mkdir(exist_ok=True)
            sf.write(
                str(trainer.out / "samples" / f"sample{k}_{trainer.step:08d}.wav"),
                audio[0].clamp(-1, 1).numpy(),
                vae.sampling_rate,
            )

    decay = cfg.ema_decay or 0.0
    bar = trainer.progress(cfg.run.max_steps)
    batches = trainer.batches(loader)
    with trainer.stop.installed():
        while trainer.step < cfg.run.max_steps:
            with acc.accumulate(objective):
                batch = next(batches)
                with acc.autocast():
                    losses = objective(batch["z"], batch["mask"], batch["seconds"], batch["prompts"])
                if not trainer.optimizer_step(
                    losses["dit/loss"], optimizer, objective.parameters(), cfg.optim.grad_clip
                ):
                    continue
            if not acc.sync_gradients:
                continue
            scheduler.step()
            if ema is not None:  # the warm-up of training/ema.py: a short fine-tune exports what it learned
                weight = 1 - ema_decay_at(decay, trainer.step)
                with torch.no_grad():
                    for pe, p in zip(ema.parameters(), modules.parameters()):
                        pe.lerp_(p.detach(), weight)
            trainer.step_done(bar, losses, scheduler.get_last_lr()[0], ("dit/loss",))
            if cfg.run.sample_every and trainer.step % cfg.run.sample_every == 0:
                log_sample()
            if trainer.checkpoint_or_stop(save):
                bar.close()
                out = export()
                trainer.close()
                return out
    bar.close()
    trainer.final_checkpoint(save)
    out = export()
    trainer.close()
    return out


def _untied(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _default_seconds(prompt: str, extra: dict, cfg: DiTStageConfig) -> float:
    rate = extra.get("seconds_per_char")
    if rate:
        return min(cfg.model.max_seconds, max(0.5, rate * sum(not ch.isspace() for ch in prompt)))
    return cfg.model.max_seconds / 2
