"""The DiT stage's pipeline: its VAE and clips, samples during training, and the exported pipeline folder.

``<output_dir>/pipeline`` is a ``save_pretrained`` folder that ``DiffusionPipeline.from_pretrained``
restores (StableAudioPipeline or LongCatAudioDiTPipeline), plus ``generation_config.json`` (family,
domain, prompt kind, sampler defaults and the TTS duration rule); it is written from a live run
(``dit.py``) or from a checkpoint while training goes on (:func:`export_checkpoint`).
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
from ..generation.text import build_tokenizer, normalize_prompt, seconds_per_char
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


def prompt_tokenizer(cfg: DiTStageConfig, trainer, prompts: list[str]):
    """The prompt tokenizer: ``init_from``'s, the resumed run's (``<output_dir>/tokenizer``), or a new one
    built from the training prompts (saved there)."""
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


def load_pipeline_weights(modules: nn.ModuleDict, folder: str) -> None:
    """Copy a saved pipeline's weights into ``modules`` (fine-tuning starts from them)."""
    from diffusers import DiffusionPipeline

    src = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    for name in modules:
        modules[name].load_state_dict(getattr(src, name).state_dict())


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


def default_seconds(prompt: str, facts: dict, cfg: DiTStageConfig) -> float:
    """Sample length: the TTS duration rule (seconds per character) or half of ``model.max_seconds``."""
    rate = facts.get("seconds_per_char")
    if rate:
        return min(cfg.model.max_seconds, max(0.5, rate * sum(not ch.isspace() for ch in prompt)))
    return cfg.model.max_seconds / 2


def log_samples(trainer, cfg: DiTStageConfig, modules: nn.Module, tokenizer, vae, prompts: list[str], facts: dict):
    """Audio generated for ``sample.prompts`` (default: the first training prompt) by the stock pipeline
    around ``modules``, in TensorBoard (``sample/<k>``) and ``<output_dir>/samples/`` (main process)."""
    import soundfile as sf

    if not trainer.is_main:
        return
    mods = copy.deepcopy(modules).float().eval()
    vae = vae.to(trainer.device)
    pipe = build_pipeline(cfg.model.family, mods, tokenizer, vae, build_scheduler(cfg.model))
    for k, prompt in enumerate(cfg.sample.prompts or (prompts[0],)):
        prompt = normalize_prompt(prompt)
        secs = cfg.sample.seconds or default_seconds(prompt, facts, cfg)
        with torch.no_grad():
            audio = generate_audio(pipe, cfg.model.family, prompt, secs, cfg.sample.steps, cfg.sample.guidance, k)
        trainer.writer.add_audio(f"sample/{k}", audio.clamp(-1, 1), trainer.step, vae.sampling_rate)
        trainer.writer.add_text(f"sample/{k}/prompt", prompt, trainer.step)
        (trainer.out / "samples").mkdir(exist_ok=True)
        path = trainer.out / "samples" / f"sample{k}_{trainer.step:08d}.wav"
        sf.write(str(path), audio[0].clamp(-1, 1).numpy(), vae.sampling_rate)


def export_checkpoint(cfg: DiTStageConfig, out: str | Path | None = None, checkpoint: str | Path | None = None) -> Path:
    """Export the latest checkpoint of ``cfg.run.output_dir`` (or ``checkpoint``, a ``step_N`` folder of it; its
    EMA when kept) as a pipeline folder, without stopping or touching a running training. Default ``out``:
    ``<output_dir>/pipeline``."""
    from safetensors.torch import load_file
    from transformers import T5TokenizerFast

    run = Path(cfg.run.output_dir)
    ckpt = Path(checkpoint) if checkpoint is not None else latest_checkpoint(run)
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
