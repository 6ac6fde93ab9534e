"""The DiT stage's result: a stock diffusers pipeline folder, from a live run or from a checkpoint.

``<output_dir>/pipeline`` is a ``save_pretrained`` folder that ``DiffusionPipeline.from_pretrained``
restores (StableAudioPipeline or LongCatAudioDiTPipeline), plus ``generation_config.json`` (family,
domain, prompt kind, sampler defaults and the TTS duration rule).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from ..configuration import ConfigError
from ..data.latent_clips import load_clips
from ..data.latent_shards import LatentStats
from ..generation.pipelines import build_modules, build_pipeline, build_scheduler
from ..generation.text import seconds_per_char
from .checkpoint import latest_checkpoint
from .config import DiTStageConfig

GENERATION_CONFIG = "generation_config.json"


def load_vae_for(cfg: DiTStageConfig, stats: LatentStats | None = None):
    """The LoSATok VAE of the shards; with ``stats``, configured to speak normalised latents."""
    from ..loading import load_vae
    from ..models.losatok_vae import LoSATokVAE

    vae = load_vae(cfg.vae or "losatok-mini")
    if stats is not None:
        kw = {k: v for k, v in dict(vae.config).items() if not k.startswith("_")}
        kw.update(latent_norm_mean=stats.mean.tolist(), latent_norm_std=stats.std.tolist())
        normed = LoSATokVAE(**kw)
        normed.load_state_dict(vae.state_dict())
        vae = normed
    return vae.eval()


def training_clips(cfg: DiTStageConfig, frame_rate: float):
    """``(clips, prompts)`` of the config's shards (``data/latent_clips.py``)."""
    d = cfg.data
    max_frames = int(cfg.model.max_seconds * frame_rate)
    return load_clips(
        d.latents, d.domain, d.labels, d.min_seconds * frame_rate, max_frames, skip_long=d.long_clips == "skip"
    )


def clip_facts(cfg: DiTStageConfig, clips, prompts: list[str], frame_rate: float) -> dict:
    """What ``generation_config.json`` says about the training clips (the TTS duration rule, examples)."""
    seconds = [c.mu.shape[1] / frame_rate for c in clips]
    return {
        "seconds_per_char": seconds_per_char(prompts, seconds) if cfg.data.prompt_kind == "chars" else None,
        "example_prompts": sorted(set(prompts))[:5],
        "train_clips": len(clips),
    }


def export_pipeline(cfg: DiTStageConfig, modules: nn.Module, tokenizer, vae, out: Path, extra: dict) -> Path:
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


def generate_audio(pipe, family: str, prompt: str, seconds: float, steps: int, guidance: float, seed: int):
    """Run the stock pipeline; returns audio ``[1, N]`` (float32 CPU)."""
    g = torch.Generator().manual_seed(seed)
    pipe.set_progress_bar_config(disable=True)
    length = {"audio_end_in_s": seconds} if family == "stable_audio" else {"audio_duration_s": seconds}
    out = pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, generator=g, output_type="pt", **length)
    return out.audios[0].float().cpu()


def export_checkpoint(cfg: DiTStageConfig, out: str | Path | None = None) -> Path:
    """Export the latest checkpoint of ``cfg.run.output_dir`` (its EMA when kept) as a pipeline folder,
    without stopping or touching a running training. Default ``out``: ``<output_dir>/pipeline``."""
    from safetensors.torch import load_file
    from transformers import T5TokenizerFast

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
    clips, prompts = training_clips(cfg, vae.frame_rate)
    extra = {**clip_facts(cfg, clips, prompts, vae.frame_rate), "steps_trained": step}
    return export_pipeline(cfg, modules, tokenizer, vae, Path(out) if out else run / "pipeline", extra)
