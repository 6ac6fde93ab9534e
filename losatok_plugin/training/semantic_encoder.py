"""Stage 0 at small scale: train a Dasheng-architecture semantic encoder with the corpus' supervision.

The official LoSATok freezes MiDashengLM's audio encoder. Without it, the mini recipe trains the same
encoder code at small width on targets the offline corpus provides (``data/labels.py``): phoneme CTC,
domain, language, instrument families, frame pitches and sound classes, read out by linear heads
(``losses/supervision.py``; discarded at export). ``loss_weights.spectrum`` > 0 adds a linear read-out of the mel
patch each token embeds: labels alone let the features drop the spectral detail that stage 2's semantic losses
then take from the latent (Dasheng itself is pre-trained as a masked autoencoder). The export
(``<output_dir>/final``) is a LoSATokVAE folder whose ``semantic_encoder`` is the trained encoder (other parts at
random init), plus ``labels.json``, ``teacher_heads.safetensors`` and ``teacher_metrics.json`` (validation
metrics, ``eval/supervision.py``): stage 1's frozen teacher (``teacher_type: midashenglm``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from torch.utils.data import DataLoader

from ..data import NoUsableFilesError, read_manifest, screen_audio
from ..data.labels import LabelSpace
from ..data.supervised_clips import clip_loader
from ..eval.supervision import SupervisionMetrics, evaluate_supervision
from ..losses.supervision import SupervisionHeads, supervision_losses
from ..models.losatok_vae import LoSATokVAE
from .config import SemanticEncoderStageConfig
from .engine import Hook, Stage, TrainState, saved
from .trainer import Trainer, adamw, cosine_with_warmup


@dataclass
class SemanticEncoderState(TrainState):
    encoder: nn.Module = saved()
    heads: SupervisionHeads = saved()
    optimizer: object = saved()
    scheduler: object = saved()
    vae: LoSATokVAE | None = None  # the exported model (its encoder is ``encoder``)
    labels: LabelSpace | None = None
    valid_loader: DataLoader | None = None
    metrics: tuple[int, SupervisionMetrics | None] | None = None  # (step, last validation)


def build(cfg: SemanticEncoderStageConfig, trainer: Trainer) -> SemanticEncoderState:
    readable, skipped = screen_audio(read_manifest(cfg.data.train_manifest))
    trainer.report_skipped(skipped)
    if not readable:
        raise NoUsableFilesError(skipped)
    entries = [e for e, _ in readable]
    labels = LabelSpace.from_entries(entries)
    if trainer.is_main:
        labels.save(trainer.out / "labels.json")
    vae = LoSATokVAE(**cfg.model.to_dict())
    encoder = vae.semantic_encoder
    # LoSATokVAE freezes its semantic encoder (stages 1-2 and inference); here it is what trains.
    encoder.requires_grad_(True).train()
    if cfg.init_from and not trainer.resuming:  # a resumed run takes the encoder from its checkpoint
        from ..loading import load_vae

        encoder.load_state_dict(load_vae(cfg.init_from).semantic_encoder.state_dict())
    spectrum_dim = encoder.token_patch_dim if cfg.loss_weights["spectrum"] > 0 else 0
    heads = SupervisionHeads(encoder.output_dim, labels, cfg.ctc_upsample, spectrum_dim)
    d = cfg.data
    loader = clip_loader(
        entries,
        labels,
        cfg.max_seconds,
        d.batch_size,
        d.num_workers,
        cfg.run.seed,
        True,
        cfg.model,
        d.batch_seconds,
        augment=cfg.augment,
    )
    valid_loader = None
    if d.valid_manifest:
        valid = read_manifest(d.valid_manifest)
        valid_loader = clip_loader(
            valid, labels, cfg.max_seconds, d.batch_size, d.num_workers, cfg.run.seed, False, cfg.model, d.batch_seconds
        )
    optimizer = adamw(list(encoder.parameters()) + list(heads.parameters()), cfg.optim)
    scheduler = cosine_with_warmup(optimizer, cfg.optim, cfg.run.max_steps)
    encoder, heads, optimizer, loader = trainer.accelerator.prepare(encoder, heads, optimizer, loader)
    return SemanticEncoderState(
        trainer, cfg, loader, (encoder, heads), encoder, heads, optimizer, scheduler, vae, labels, valid_loader
    )


def step(state: SemanticEncoderState, batch: dict):
    acc, cfg = state.trainer.accelerator, state.cfg
    with acc.autocast():
        feats = state.encoder(batch["audio"], batch["length"])
        valid = cfg.model.valid_frame_mask(batch["length"], feats.shape[1])
        logits = state.heads(feats, valid)
    if "spectrum" in logits:  # the mel patch each token embeds, as the read-out's target
        batch = {**batch, "spectrum": acc.unwrap_model(state.encoder).token_patches(batch["audio"], batch["length"])}
    losses = supervision_losses({k: v.float() for k, v in logits.items()}, batch, valid)
    total = sum(cfg.loss_weights[k.split("/")[1]] * v for k, v in losses.items())
    losses["teacher/total"] = total
    params = [p for m in (state.encoder, state.heads) for p in m.parameters()]
    return losses if state.trainer.optimizer_step(total, state.optimizer, params, cfg.optim.grad_clip) else None


def validate(state: SemanticEncoderState, batch=None) -> None:  # noqa: ARG001 - a Hook
    """Validation metrics, logged as ``teacher_valid/<metric>`` and kept for the export."""
    trainer = state.trainer
    if state.valid_loader is None or not trainer.is_main:
        state.metrics = (trainer.step, None)
        return
    acc = trainer.accelerator
    m = evaluate_supervision(
        acc.unwrap_model(state.encoder), acc.unwrap_model(state.heads), state.valid_loader, acc.device, state.cfg.model
    )
    trainer.log_scalars({f"teacher_valid/{k}": v for k, v in m.__dict__.items() if v is not None and k != "clips"})
    state.metrics = (trainer.step, m)


def export(state: SemanticEncoderState, out: Path) -> None:
    from safetensors.torch import save_file

    acc, step = state.trainer.accelerator, state.trainer.step
    if state.metrics is None or state.metrics[0] != step:
        validate(state)
    metrics = state.metrics[1]
    state.vae.semantic_encoder.load_state_dict(acc.unwrap_model(state.encoder).state_dict())
    state.vae.cpu().save_pretrained(out)
    state.labels.save(out / "labels.json")
    heads = {k: v.cpu() for k, v in acc.unwrap_model(state.heads).state_dict().items()}
    save_file(heads, str(out / "teacher_heads.safetensors"))
    (out / "teacher_metrics.json").write_text(
        json.dumps({"step": step, "valid": metrics.__dict__ if metrics else None}, indent=2)
    )


STAGE = Stage(
    name="semantic_encoder",
    config=SemanticEncoderStageConfig,
    build=build,
    step=step,
    export=export,
    shown=("teacher/total", "teacher/ctc"),
    hooks=(Hook(lambda cfg: cfg.eval_every, validate),),
)
