"""Building diffusers' stock audio pipelines around LoSATok, and their conditioning as training sees it.

Two families, each the transformer of a stock pipeline, trained with that pipeline's sampler objective
(:mod:`losatok_plugin.losses.diffusion`):

* ``stable_audio``: ``StableAudioDiTModel`` in ``StableAudioPipeline`` (T5 text encoder +
  ``StableAudioProjectionModel`` for text and ``seconds_start``/``seconds_total``), v-prediction under
  ``EDMDPMSolverMultistepScheduler``. Latents ``[B, C, T]``, fixed length ``sample_size``.
* ``longcat``: ``LongCatAudioDiTTransformer`` in ``LongCatAudioDiTPipeline`` (UMT5 text encoder),
  rectified flow under ``FlowMatchEulerDiscreteScheduler``. Latents ``[B, T, C]``, any length, masks.

The conditioning functions below repeat, line for line, what each pipeline's ``__call__`` computes
from a prompt (``encode_prompt`` and friends), so the model is trained on exactly what it is sampled
with; the overfit tests sample through the stock pipelines to check it.

Latent normalisation lives in the VAE's config (``latent_norm_mean``/``latent_norm_std``): neither stock
pipeline scales latents itself, so the VAE it holds decodes normalised latents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FAMILIES = ("stable_audio", "longcat")


@dataclass
class DiTModelConfig:
    """Sizes of the DiT, its text encoder and (StableAudio) projection."""

    family: str = "longcat"  # stable_audio | longcat
    width: int = 256  # transformer width (StableAudio: heads · head_dim)
    depth: int = 4
    heads: int = 4
    text_dim: int = 128  # text encoder width
    text_layers: int = 2
    text_heads: int = 4
    max_prompt_tokens: int = 128
    max_seconds: float = 10.0  # StableAudio: sample_size = ceil(max_seconds · frame_rate); both: CLI limit
    text_conv: bool = False  # LongCat: ConvNeXt blocks over the text embedding
    sigma_min: float = 0.002  # EDM schedule (StableAudio)
    sigma_max: float = 80.0
    sigma_data: float = 1.0  # latents are normalised to unit variance

    def __post_init__(self) -> None:
        from ..configuration import ConfigError

        if self.family not in FAMILIES:
            raise ConfigError(f"model.family must be one of {FAMILIES}, got {self.family!r}")
        if self.width % self.heads or (self.width // self.heads) % 4:
            raise ConfigError("model.width / model.heads must be a multiple of 4 (rotary embedding halves)")
        if self.text_dim % self.text_heads:
            raise ConfigError("model.text_dim must be a multiple of model.text_heads")


def build_modules(cfg: DiTModelConfig, latent_dim: int, frame_rate: float, vocab_size: int) -> nn.ModuleDict:
    """Freshly initialised trainable modules: ``transformer``, ``text_encoder`` (+ ``projection_model``)."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    text_kw = dict(
        vocab_size=vocab_size,
        d_model=cfg.text_dim,
        d_kv=cfg.text_dim // cfg.text_heads,
        d_ff=2 * cfg.text_dim,
        num_layers=cfg.text_layers,
        num_heads=cfg.text_heads,
        dropout_rate=0.0,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    if cfg.family == "stable_audio":
        from diffusers import StableAudioDiTModel
        from diffusers.pipelines.stable_audio.modeling_stable_audio import StableAudioProjectionModel

        cond = cfg.text_dim
        transformer = StableAudioDiTModel(
            sample_size=sample_size(cfg, frame_rate),
            in_channels=latent_dim,
            out_channels=latent_dim,
            num_layers=cfg.depth,
            attention_head_dim=cfg.width // cfg.heads,
            num_attention_heads=cfg.heads,
            num_key_value_attention_heads=cfg.heads,
            cross_attention_dim=cfg.width,
            time_proj_dim=cfg.width,
            global_states_input_dim=2 * cond,
            cross_attention_input_dim=cond,
        )
        projection = StableAudioProjectionModel(
            text_encoder_dim=cfg.text_dim, conditioning_dim=cond, min_value=0, max_value=math.ceil(cfg.max_seconds)
        )
        text = T5EncoderModel(T5Config(**text_kw))
        return nn.ModuleDict({"transformer": transformer, "text_encoder": text, "projection_model": projection})
    from diffusers import LongCatAudioDiTTransformer

    transformer = LongCatAudioDiTTransformer(
        dit_dim=cfg.width,
        dit_depth=cfg.depth,
        dit_heads=cfg.heads,
        dit_text_dim=cfg.text_dim,
        latent_dim=latent_dim,
        text_conv=cfg.text_conv,
        use_latent_condition=False,
    )
    text = UMT5EncoderModel(UMT5Config(**text_kw))
    return nn.ModuleDict({"transformer": transformer, "text_encoder": text})


def sample_size(cfg: DiTModelConfig, frame_rate: float) -> int:
    """StableAudio's fixed latent length: frames of ``max_seconds``."""
    return math.ceil(cfg.max_seconds * frame_rate)


def build_scheduler(cfg: DiTModelConfig):
    if cfg.family == "stable_audio":
        from diffusers import EDMDPMSolverMultistepScheduler

        return EDMDPMSolverMultistepScheduler(
            sigma_min=cfg.sigma_min,
            sigma_max=cfg.sigma_max,
            sigma_data=cfg.sigma_data,
            prediction_type="v_prediction",
            solver_order=2,
        )
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(shift=1.0, invert_sigmas=True)


def build_pipeline(family: str, modules: nn.ModuleDict, tokenizer, vae, scheduler):
    """A stock ``StableAudioPipeline`` or ``LongCatAudioDiTPipeline`` over ``modules`` and a LoSATok ``vae``."""
    if family == "stable_audio":
        from diffusers import StableAudioPipeline

        return StableAudioPipeline(
            vae=vae,
            text_encoder=modules["text_encoder"],
            projection_model=modules["projection_model"],
            tokenizer=tokenizer,
            transformer=modules["transformer"],
            scheduler=scheduler,
        )
    from diffusers import LongCatAudioDiTPipeline

    return LongCatAudioDiTPipeline(
        vae=vae,
        text_encoder=modules["text_encoder"],
        tokenizer=tokenizer,
        transformer=modules["transformer"],
        scheduler=scheduler,
    )


# -- conditioning, as each pipeline computes it --------------------------------------------------------
def stable_audio_condition(modules, tokenizer, prompts: list[str], seconds: torch.Tensor, device):
    """``(encoder_hidden_states [B, L+2, D], global_hidden_states [B, 1, 2D])`` as ``StableAudioPipeline`` builds them."""
    tok = tokenizer(
        prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    ids, mask = tok.input_ids.to(device), tok.attention_mask.to(device)
    text = modules["text_encoder"](ids, attention_mask=mask)[0]
    proj = modules["projection_model"]
    text = proj(text_hidden_states=text).text_hidden_states * mask.unsqueeze(-1).to(text.dtype)
    secs = proj(start_seconds=torch.zeros_like(seconds), end_seconds=seconds)
    start, end = secs.seconds_start_hidden_states, secs.seconds_end_hidden_states
    return torch.cat([text, start, end], dim=1), torch.cat([start, end], dim=2)


def stable_audio_rotary(transformer, frames: int):
    """The rotary embedding ``StableAudioPipeline`` passes for ``frames`` latent frames (+1 global token)."""
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    return get_1d_rotary_pos_embed(
        transformer.config.attention_head_dim // 2, frames + 1, use_real=True, repeat_interleave_real=False
    )


def longcat_condition(modules, tokenizer, prompts: list[str], device):
    """``(prompt_embeds [B, L, D], text_mask [B, L] bool)`` as ``LongCatAudioDiTPipeline.encode_prompt`` builds them."""
    tok = tokenizer(
        prompts, padding="longest", truncation=True, max_length=tokenizer.model_max_length, return_tensors="pt"
    )
    ids, mask = tok.input_ids.to(device), tok.attention_mask.to(device)
    out = modules["text_encoder"](input_ids=ids, attention_mask=mask, output_hidden_states=True)
    emb = F.layer_norm(out.last_hidden_state, (out.last_hidden_state.shape[-1],), eps=1e-6)
    first = out.hidden_states[0]
    emb = emb + F.layer_norm(first, (first.shape[-1],), eps=1e-6)
    return emb, mask.bool()
