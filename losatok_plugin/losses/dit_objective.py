"""The DiT training loss as one module (so that DDP sees every forward): the family's objective with
condition dropout, conditioned the way diffusers' stock pipelines condition at sampling time."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..generation.pipelines import DiTModelConfig, longcat_condition, stable_audio_condition, stable_audio_rotary
from .diffusion import edm_inputs, flow_inputs, karras_sigma, masked_mse, sample_u


class DiTObjective(nn.Module):
    """``forward(z, mask, seconds, prompts) -> {"dit/loss": ...}``.

    Args:
        modules: the pipeline's trainable modules (``transformer``, text encoder, StableAudio's projection).
        tokenizer: the prompt tokenizer.
        model: the DiT sizes and family (StableAudio: EDM v-prediction; LongCat: rectified flow).
        objective: ``timesteps`` (logit_normal | uniform), ``logit_mean``, ``logit_std``, ``cond_dropout``
            (a training config's ``objective`` section).
    """

    def __init__(self, modules: nn.ModuleDict, tokenizer, model: DiTModelConfig, objective: Any) -> None:
        super().__init__()
        self.net = modules
        self.tokenizer = tokenizer
        self.model_cfg, self.objective = model, objective

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
        m, o, dev = self.model_cfg, self.objective, z.device
        b = z.shape[0]
        drop = torch.rand(b, device=dev) < o.cond_dropout
        u = sample_u(b, o.timesteps, dev, mean=o.logit_mean, std=o.logit_std)
        noise = torch.randn_like(z)
        if m.family == "stable_audio":
            enc, glob = stable_audio_condition(self.net, self.tokenizer, prompts, seconds, dev)
            enc = torch.where(drop[:, None, None], torch.zeros_like(enc), enc)  # the pipeline's unconditional input
            sigma = karras_sigma(u, m.sigma_min, m.sigma_max)
            x_in, t, target = edm_inputs(z, noise, sigma, m.sigma_data)
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
