"""``losatok generate``: a saved DiT pipeline folder + a prompt -> a wav file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..checkpoints import PRETRAINED_DIR
from .text import PromptError, check_prompt, normalize_prompt

GENERATION_CONFIG = "generation_config.json"


class GenerateError(ValueError):
    """Bad input to ``generate`` (prompt, duration, pipeline folder); the message says what to change."""


@dataclass
class GenerationResult:
    """The written file, its duration in seconds and the normalised prompt used."""

    path: Path
    seconds: float
    prompt: str


SHIPPED_PIPELINES = ("dit-tts-mini", "dit-ttm-mini", "dit-tta-mini")


def pipeline_folder(spec: str | Path) -> Path:
    """A shipped pipeline's short name (``dit-tts-mini``, ``dit-ttm-mini``, ``dit-tta-mini``) -> its folder
    in ``losatok_plugin/pretrained``; anything else -> ``Path(spec)``."""
    if str(spec) in SHIPPED_PIPELINES and not Path(spec).exists():
        return PRETRAINED_DIR / str(spec)
    return Path(spec)


def pipeline_info(folder: str | Path) -> dict:
    """``generation_config.json`` of a pipeline folder (family, domain, max_seconds, duration rule)."""
    folder = pipeline_folder(folder)
    if not folder.is_dir():
        raise GenerateError(f"pipeline folder not found: {folder}")
    if not (folder / "model_index.json").is_file():
        raise GenerateError(f"{folder} is not a saved pipeline (no model_index.json)")
    info = {}
    if (folder / GENERATION_CONFIG).is_file():
        info = json.loads((folder / GENERATION_CONFIG).read_text())
    if "family" not in info:
        index = json.loads((folder / "model_index.json").read_text())
        info["family"] = "stable_audio" if index.get("_class_name") == "StableAudioPipeline" else "longcat"
    return info


def load_pipeline(folder: str | Path, device: str = "cpu"):
    """``DiffusionPipeline.from_pretrained(folder)`` in float32 on ``device`` (the stock pipeline class)."""
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as diffusers_logging

    # diffusers loads a component of another library only once its module is imported: the pipeline's
    # model_index.json names losatok_plugin.models.losatok_vae, and the package itself imports lazily.
    import losatok_plugin.models.losatok_vae  # noqa: F401

    pipeline_info(folder)
    # The stock pipelines name their own VAE class in a type hint and log "Expected types for vae" for any
    # other; LoSATokVAE satisfies what they read from it, so that one warning is noise here.
    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        pipe = DiffusionPipeline.from_pretrained(str(pipeline_folder(folder)), dtype=torch.float32)
    finally:
        diffusers_logging.set_verbosity(level)
    return pipe.to(device)


def resolve_seconds(info: dict, prompt: str, seconds: float | None) -> float:
    """The clip length: ``seconds`` (checked against the model's maximum) or the pipeline's duration rule."""
    max_seconds = float(info.get("max_seconds") or 30.0)
    if seconds is None:
        rate = info.get("seconds_per_char")
        if not rate:
            raise GenerateError("this pipeline has no duration rule: pass --seconds")
        seconds = min(max_seconds, max(0.5, rate * sum(not c.isspace() for c in prompt)))
    if not seconds > 0:
        raise GenerateError(f"--seconds must be > 0, got {seconds}")
    if seconds > max_seconds:
        raise GenerateError(f"--seconds {seconds} is beyond this model's maximum of {max_seconds} s")
    return float(seconds)


def generate(
    pipeline: str | Path,
    prompt: str,
    out: str | Path,
    seconds: float | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    pipe=None,
) -> GenerationResult:
    """Generate ``seconds`` of audio for ``prompt`` with a saved pipeline and write a 16-bit wav.

    Args:
        pipeline: a ``save_pretrained`` pipeline folder (StableAudioPipeline or LongCatAudioDiTPipeline).
        prompt: text (a transcript for TTS pipelines, a caption otherwise); normalised like training prompts.
        out: wav path (parent folders are created).
        seconds: duration; None uses the pipeline's rule (TTS: seconds per character).
        steps, guidance: sampler steps and classifier-free guidance scale (defaults from the pipeline folder).
        seed: noise seed.
        pipe: an already loaded pipeline of ``pipeline`` (skips loading).
    """
    import soundfile as sf
    import torch

    info = pipeline_info(pipeline)
    text = normalize_prompt(prompt or "")
    if not text:
        raise GenerateError("the prompt is empty")
    seconds = resolve_seconds(info, text, seconds)
    steps = int(steps or info.get("steps", 20))
    if steps < 1:
        raise GenerateError(f"--steps must be >= 1, got {steps}")
    guidance = float(info.get("guidance", 3.0) if guidance is None else guidance)
    pipe = pipe if pipe is not None else load_pipeline(pipeline, device)
    try:
        check_prompt(pipe.tokenizer, text)
    except PromptError as e:
        raise GenerateError(str(e)) from None
    pipe.set_progress_bar_config(disable=not progress, desc="generate")
    g = torch.Generator(device="cpu").manual_seed(seed)
    sr, hop = pipe.vae.config.sampling_rate, pipe.vae.config.hop_length
    if info["family"] == "stable_audio":  # generates sample_size frames and cuts the requested seconds
        kw = {"audio_end_in_s": seconds}
    else:  # LongCat floors to whole latent frames: ask for enough frames (+ half a sample against rounding), cut below
        kw = {"audio_duration_s": (math.ceil(seconds * sr / hop - 1e-9) * hop + 0.5) / sr}
    with torch.inference_mode():
        audio = pipe(text, num_inference_steps=steps, guidance_scale=guidance, generator=g, output_type="pt", **kw)
    wav = audio.audios[0, 0].float().cpu().clamp(-1, 1)
    wav = wav[: int(round(seconds * sr))]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), wav.numpy(), sr, subtype="PCM_16")
    return GenerationResult(out, wav.numel() / sr, text)
