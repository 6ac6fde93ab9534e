"""Stage 2's adversarial update, as two steps that can be run and tested alone.

:func:`discriminator_step` updates the discriminators on real audio and detached reconstructions;
:func:`generator_step` computes the generator losses (mel, multi-resolution STFT and teacher features when
weighted, semantic, KL and, with the discriminators, adversarial + feature matching), weights them by the config's
``loss_weights`` (keyed by the logged names) and updates the trainable generator parts. Both take the
tokenizer's train state (``training/tokenizer.py``) and return their logged losses, or None when a
non-finite value skipped the update (:meth:`Trainer.optimizer_step`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..losses import dual_semantic_loss, kl_loss, teacher_feature_loss
from ..losses.adversarial import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from ..models.losatok_vae import LoSATokVAE
from ..models.vae_head import LoSATokGaussian

TRAINABLE = ("acoustic", "gaussian", "decoder")
FROZEN = ("semantic_encoder", "bottleneck")
GENERATOR_LOSSES = ("mel", "stft", "teacher", "semantic", "kl", "adv", "fm")


def trainable_state(vae: LoSATokVAE) -> dict[str, torch.Tensor]:
    """The weights stage 2 trains (keys of the VAE's state dict under :data:`TRAINABLE`)."""
    return {k: v for k, v in vae.state_dict().items() if k.split(".")[0] in TRAINABLE}


class StepFeatures(dict):
    """The encode's features as a plain dict with attribute access: accelerate's mixed-precision wrapper
    rebuilds a forward's Mapping outputs as ``type(out)(dict)``, which a ``BaseOutput`` dataclass refuses."""

    __getattr__ = dict.__getitem__


class GeneratorStep(nn.Module):
    """The VAE's training forward, wrapped so that DDP sees one ``forward`` per step.

    ``audio [B, N]`` (N a multiple of 640), optional cached ``semantic_emb [B, T, D]`` ->
    ``(features, posterior sample z [B, C, T], reconstruction [B, 640·T])``. Checkpointed as the VAE's
    trainable weights (``generator.safetensors``, VAE keys), restored with ``strict=False``.
    """

    def __init__(self, vae: LoSATokVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, audio: torch.Tensor, semantic_emb: torch.Tensor | None = None, sample: bool = True):
        """audio ``[B, N]``, semantic_emb ``[B, T, D]`` or None -> (features, z ``[B, C, T]``, audio ``[B, 640·T]``)."""
        feats = self.vae.encode_features(audio, semantic_emb=semantic_emb)
        z = LoSATokGaussian.from_channels_last(feats.mu, feats.logvar).sample() if sample else feats.mu.transpose(1, 2)
        return StepFeatures(feats), z, self.vae.decoder(z)

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        return trainable_state(self.vae)

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        self.vae.load_state_dict(state, strict=False)


def random_window(target: torch.Tensor, recon: torch.Tensor, seconds: float, sample_rate: int):
    """The same random window of real and reconstructed audio ``[B, N]`` (``seconds`` <= 0: everything)."""
    n = int(seconds * sample_rate)
    if n <= 0 or n >= target.shape[-1]:
        return target, recon
    start = int(torch.randint(0, target.shape[-1] - n + 1, ()).item())
    return target[..., start : start + n], recon[..., start : start + n]


def split_real_fake(items, n: int):
    """Split batched (real ‖ fake) discriminator outputs into the real and the fake halves."""
    return [t[:n] for t in items], [t[n:] for t in items]


def discriminator_step(state: Any, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
    """One discriminator update on ``real`` and ``fake.detach()`` ``[B, n]``; returns the ``disc`` loss.

    ``state``: the tokenizer's train state (``trainer``, ``discriminator``, ``opt_d``, ``opt_g``, ``cfg``).
    """
    trainer, disc, d_cfg = state.trainer, state.discriminator, state.cfg.discriminator
    with trainer.accelerator.autocast():
        logits, _ = disc(torch.cat([real, fake.detach()]))
        r, f = split_real_fake(logits, real.shape[0])
        loss = discriminator_loss(r, f, d_cfg.gan_loss)
    clear = (state.opt_g, state.opt_d)
    ok = trainer.optimizer_step(loss, state.opt_d, disc.parameters(), d_cfg.optim.grad_clip, clear=clear)
    return loss if ok else None


def generator_step(
    state: Any, feats, target: torch.Tensor, recon: torch.Tensor, window: tuple[torch.Tensor, torch.Tensor] | None
) -> dict[str, torch.Tensor] | None:
    """One generator update; returns ``mel``, ``semantic``, ``kl`` (+ ``stft`` and ``teacher`` when weighted, ``adv``
    and ``fm`` with ``window``) and ``total``.

    Args:
        state: the tokenizer's train state.
        feats: the VAE's training features (``encode_features`` output).
        target / recon: real and reconstructed audio ``[B, N]``.
        window: the (real, fake) windows the discriminators judge; None before they join.
    """
    trainer, cfg, w = state.trainer, state.cfg, state.cfg.loss_weights
    losses: dict[str, torch.Tensor] = {}
    with trainer.accelerator.autocast():
        losses["mel"] = state.mel_loss(recon.float(), target.float())
        if w["stft"] > 0:
            losses["stft"] = state.stft_loss(recon.float(), target.float())
        if w["teacher"] > 0:
            teacher = trainer.accelerator.unwrap_model(state.generator).vae.semantic_encoder
            losses["teacher"] = teacher_feature_loss(teacher, recon, feats.semantic_emb)
        losses["semantic"] = dual_semantic_loss(
            feats.acoustic_emb,
            feats.semantic_emb,
            feats.acoustic_emb_low,
            feats.semantic_emb_low,
            cfg.semantic_loss_mode,
        )["semantic/total"]
        losses["kl"] = kl_loss(feats.mu.float(), feats.logvar.float(), cfg.kl_clamp)
        if window is not None:
            n = window[0].shape[0]
            logits, fmaps = state.discriminator(torch.cat(list(window)))
            _, fake = split_real_fake(logits, n)
            real_f, fake_f = zip(*[split_real_fake(f, n) for f in fmaps])
            losses["adv"] = generator_adversarial_loss(fake, cfg.discriminator.gan_loss)
            losses["fm"] = feature_matching_loss(list(real_f), list(fake_f))
        total = sum(w[k] * losses[k] for k in GENERATOR_LOSSES if k in losses)
    losses["total"] = total
    params = [p for p in state.generator.parameters() if p.requires_grad]
    if not trainer.optimizer_step(total, state.opt_g, params, cfg.optim.grad_clip, clear=(state.opt_g, state.opt_d)):
        return None
    state.opt_d.zero_grad(set_to_none=True)  # the generator pass also left gradients in D
    return losses
