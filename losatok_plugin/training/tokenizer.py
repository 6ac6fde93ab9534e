"""Stage 2: train the tokenizer (acoustic branch, Gaussian head, Vocos decoder) with teacher and SemBo frozen.

Generator loss = Σ weight[name] · loss[name] over the logged names
``mel`` (multi-scale mel L1), ``semantic`` (dual-level, mode both/high_only/low_only), ``kl``
(optional per-dim clamp), ``adv`` and ``fm`` (multi-period + multi-resolution STFT discriminators,
hinge or least squares; they join after ``discriminator.warmup_steps``). Optional EMA of generator
weights; gradient clipping on both sides. The export (``<output_dir>/final``) is a ``save_pretrained``
LoSATokVAE.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
from ..losses import dual_semantic_loss, kl_loss
from ..losses.adversarial import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from ..losses.mel import MultiScaleMelLoss
from ..models.losatok_vae import LoSATokVAE
from ..models.vae_head import GaussianParams
from .config import DiscriminatorConfig, TokenizerStageConfig
from .ema import EMA
from .engine import Trainer, adamw, cosine_with_warmup
from .models import build_stage_model
from .sembo import make_loader, report_skipped

TRAINABLE = ("acoustic", "gaussian", "decoder")
FROZEN = ("semantic_encoder", "bottleneck")


class GeneratorStep(nn.Module):
    """The VAE's training forward, wrapped so that DDP sees one ``forward`` per step.

    ``audio [B, N]`` (N a multiple of 640), optional cached ``semantic_emb [B, T, D]`` ->
    ``(features, posterior sample z [B, C, T], reconstruction [B, 640·T])``.
    """

    def __init__(self, vae: LoSATokVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, audio: torch.Tensor, semantic_emb: torch.Tensor | None = None, sample: bool = True):
        """audio ``[B, N]``, semantic_emb ``[B, T, D]`` or None -> (features, z ``[B, C, T]``, audio ``[B, 640·T]``)."""
        feats = self.vae.encode_features(audio, semantic_emb=semantic_emb)
        params = GaussianParams(feats.mu, feats.logvar)
        z = params.sample() if sample else params.mu
        z = z.transpose(1, 2)
        return feats, z, self.vae.decoder(z)


class Discriminators(nn.Module):
    """MPD and/or MRD as one module: ``[B, N] -> (logits list, feature-map lists)``."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.parts = nn.ModuleList()
        if cfg.use_mpd:
            self.parts.append(MultiPeriodDiscriminator(tuple(cfg.periods), cfg.channels))
        if cfg.use_mrd:
            self.parts.append(MultiResolutionDiscriminator(tuple(tuple(r) for r in cfg.resolutions), cfg.channels))
        if not len(self.parts):
            raise ValueError("enable at least one discriminator (use_mpd / use_mrd)")

    def forward(self, x: torch.Tensor):
        """x ``[B, N]`` -> lists of logits and of feature-map lists over all sub-discriminators."""
        logits, feats = [], []
        for part in self.parts:
            lo, fe = part(x)
            logits += lo
            feats += fe
        return logits, feats


def _window(target: torch.Tensor, recon: torch.Tensor, seconds: float, sample_rate: int):
    """The same random window of real and reconstructed audio (``seconds`` <= 0: everything)."""
    n = int(seconds * sample_rate)
    if n <= 0 or n >= target.shape[-1]:
        return target, recon
    start = int(torch.randint(0, target.shape[-1] - n + 1, ()).item())
    return target[..., start : start + n], recon[..., start : start + n]


def _split(items, n: int):
    """Split batched (real ‖ fake) discriminator outputs into the real and the fake halves."""
    return [t[:n] for t in items], [t[n:] for t in items]


def trainable_state(vae: LoSATokVAE) -> dict[str, torch.Tensor]:
    return {k: v for k, v in vae.state_dict().items() if k.split(".")[0] in TRAINABLE}


def train_tokenizer(cfg: TokenizerStageConfig, resume: bool = False) -> Path:
    """Run stage 2 to ``cfg.run.max_steps`` (or until SIGINT/SIGTERM); returns the export folder."""
    trainer = Trainer(cfg.run, cfg, resume=resume)
    acc = trainer.accelerator
    vae = build_stage_model(cfg.model, cfg.init_from, frozen=FROZEN, optional=TRAINABLE)
    vae.train()
    gen = GeneratorStep(vae)
    disc = Discriminators(cfg.discriminator)
    mel_loss = MultiScaleMelLoss(vae.sampling_rate).to(acc.device)
    loader, dataset = make_loader(cfg, vae.hop_length, vae.sampling_rate, need_audio=True)
    report_skipped(trainer, dataset)
    opt_g = adamw([p for p in gen.parameters() if p.requires_grad], cfg.optim)
    opt_d = adamw(disc.parameters(), cfg.discriminator.optim)
    sched_g = cosine_with_warmup(opt_g, cfg.optim, cfg.run.max_steps)
    sched_d = cosine_with_warmup(opt_d, cfg.discriminator.optim, cfg.run.max_steps)
    gen, disc, opt_g, opt_d, loader = acc.prepare(gen, disc, opt_g, opt_d, loader)
    ema = EMA(acc.unwrap_model(gen).vae, cfg.ema_decay) if cfg.ema_decay else None
    if resume and (restored := trainer.resume()) is not None:
        modules, state = restored
        acc.unwrap_model(gen).vae.load_state_dict(modules["generator"], strict=False)
        acc.unwrap_model(disc).load_state_dict(modules["discriminator"])
        if ema is not None and "ema" in modules:
            ema.shadow = {k: v.float() for k, v in modules["ema"].items()}
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        sched_g.load_state_dict(state["sched_g"])
        sched_d.load_state_dict(state["sched_d"])
    w = cfg.loss_weights
    kind = cfg.discriminator.gan_loss

    def save() -> Path:
        modules = {"generator": trainable_state(acc.unwrap_model(gen).vae), "discriminator": disc}
        if ema is not None:
            modules["ema"] = ema.shadow
        return trainer.save(
            modules,
            {
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "sched_g": sched_g.state_dict(),
                "sched_d": sched_d.state_dict(),
            },
        )

    bar = trainer.progress(cfg.run.max_steps)
    batches = trainer.batches(loader)
    with trainer.stop.installed():
        while trainer.step < cfg.run.max_steps:
            use_disc = trainer.step >= cfg.discriminator.warmup_steps and (w["adv"] > 0 or w["fm"] > 0)
            with acc.accumulate(gen, disc):
                batch = next(batches)
                audio = batch["audio"]
                with acc.autocast():
                    feats, _, recon = gen(audio, batch.get("semantic_emb"), cfg.sample_posterior)
                target = audio[:, : recon.shape[-1]]
                losses: dict[str, torch.Tensor] = {}
                if trainer.skip_nonfinite(recon, optimizers=(opt_g, opt_d)):
                    continue
                if use_disc:  # discriminator update on detached reconstructions
                    d_real, d_fake = _window(target, recon, cfg.discriminator.segment_seconds, vae.sampling_rate)
                    with acc.autocast():
                        logits, _ = disc(torch.cat([d_real, d_fake.detach()]))
                        real, fake = _split(logits, target.shape[0])
                        losses["disc"] = discriminator_loss(real, fake, kind)
                    d_params = disc.parameters()
                    if not trainer.optimizer_step(
                        losses["disc"], opt_d, d_params, cfg.discriminator.optim.grad_clip, clear=(opt_g, opt_d)
                    ):
                        continue
                with acc.autocast():
                    losses["mel"] = mel_loss(recon.float(), target.float())
                    losses["semantic"] = dual_semantic_loss(
                        feats.acoustic_emb,
                        feats.semantic_emb,
                        feats.acoustic_emb_low,
                        feats.semantic_emb_low,
                        cfg.semantic_loss_mode,
                    )["semantic/total"]
                    losses["kl"] = kl_loss(feats.mu.float(), feats.logvar.float(), cfg.kl_clamp)
                    if use_disc:
                        logits, fmaps = disc(torch.cat([d_real, d_fake]))
                        _, fake = _split(logits, target.shape[0])
                        real_f, fake_f = zip(*[_split(f, target.shape[0]) for f in fmaps])
                        losses["adv"] = generator_adversarial_loss(fake, kind)
                        losses["fm"] = feature_matching_loss(list(real_f), list(fake_f))
                    total = sum(w[k] * losses[k] for k in ("mel", "semantic", "kl", "adv", "fm") if k in losses)
                losses["total"] = total
                g_params = [p for p in gen.parameters() if p.requires_grad]
                if not trainer.optimizer_step(total, opt_g, g_params, cfg.optim.grad_clip, clear=(opt_g, opt_d)):
                    continue
                opt_d.zero_grad(set_to_none=True)  # the generator pass also left gradients in D
            if not acc.sync_gradients:
                continue
            sched_g.step()
            if use_disc:
                sched_d.step()
            if ema is not None:
                ema.update(acc.unwrap_model(gen).vae, trainer.step)
            trainer.step_done(bar, losses, sched_g.get_last_lr()[0], ("mel", "total"))
            if cfg.run.sample_every and trainer.step % cfg.run.sample_every == 0:
                with torch.no_grad():
                    _, _, example = acc.unwrap_model(gen)(
                        audio[:1], None if "semantic_emb" not in batch else batch["semantic_emb"][:1], False
                    )
                trainer.log_audio_example("train_example", audio[0, : example.shape[-1]], example[0], vae.sampling_rate)
            if trainer.stop_requested(save, bar):
                return trainer.out / "checkpoints"
    bar.close()
    trainer.final_checkpoint(save)
    trainer.write_replica_digest(trainable_state(acc.unwrap_model(gen).vae) | acc.unwrap_model(disc).state_dict())
    export = trainer.out / "final"
    if trainer.is_main:
        final = acc.unwrap_model(gen).vae
        if ema is not None:
            ema.copy_to(final)
        trainer.check_finite_weights(trainable_state(final), f"the export {export}")
        final.requires_grad_(True)
        final.eval().cpu().save_pretrained(export)
        print(f"[losatok] tokenizer export: {export}", flush=True)
    trainer.barrier()
    trainer.close()
    return export
