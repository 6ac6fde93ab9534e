"""Stage 0 at small scale: a Dasheng-architecture semantic teacher trained with the corpus' supervision.

The official LoSATok freezes MiDashengLM's audio encoder. Without it, the mini recipe trains the same
encoder code at small width on targets the offline corpus provides (``losatok_plugin/data/labels.py``):
phoneme CTC, domain, language, instrument families, frame pitches and sound classes. Heads are linear
on the frame features (CTC, pitches) or on their masked mean (clip targets), so the semantics have to
live in the features, which is what stages 1 and 2 consume. The heads are discarded at export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import EpochSampler, NoUsableFilesError, load_audio, read_manifest, screen_audio
from ..data.dataset import item_rng
from ..data.labels import N_PITCHES, LabelSpace
from ..data.manifest import ManifestEntry
from ..models.losatok_vae import LoSATokVAE
from .config import TeacherStageConfig
from .engine import Trainer, adamw, cosine_with_warmup

FRAME_HOP = 640  # samples per teacher token at 16 kHz


def token_frames(samples):
    """Teacher tokens for ``samples`` (int or ``[B]`` tensor), as ``LoSATokVAE.num_frames``."""
    return (1 + samples // 160) // 4


def valid_tokens(num_tokens: int, lengths: torch.Tensor) -> torch.Tensor:
    """``[B, num_tokens]`` bool: True on tokens inside each item's ``lengths`` (samples)."""
    return torch.arange(num_tokens, device=lengths.device)[None] < token_frames(lengths)[:, None]


class SupervisedClips(Dataset):
    """Whole clips (cut to ``max_seconds``) with their targets.

    Items: ``audio [N]``, ``length`` (samples) and the targets of :meth:`LabelSpace.targets`.
    """

    def __init__(self, entries: list[ManifestEntry], labels: LabelSpace, max_seconds: float, train: bool = True):
        self.entries, self.labels, self.train = entries, labels, train
        self.max_samples = int(max_seconds * 16000) // FRAME_HOP * FRAME_HOP

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        i, rng = item_rng(item)
        e = self.entries[i]
        audio = load_audio(e.path)
        start, whole = 0, True
        if audio.shape[0] > self.max_samples:
            span = audio.shape[0] - self.max_samples
            start = rng.randint(0, span) // FRAME_HOP * FRAME_HOP if self.train else 0
            audio, whole = audio[start : start + self.max_samples], False
        n = max(audio.shape[0], FRAME_HOP)
        audio = F.pad(audio, (0, n - audio.shape[0]))
        frames = token_frames(n)
        return {"audio": audio, "length": n, **self.labels.targets(e, start / 16000, frames, whole_clip=whole)}


def collate(items: list[dict]) -> dict:
    """Pad audio to the longest item and pitch rolls to its frame count (padding targets are -1)."""
    n = max(it["length"] for it in items)
    frames = token_frames(n)
    out = {
        "audio": torch.stack([F.pad(it["audio"], (0, n - it["length"])) for it in items]),
        "length": torch.tensor([it["length"] for it in items]),
        "pitches": torch.stack(
            [F.pad(it["pitches"], (0, 0, 0, frames - it["pitches"].shape[0]), value=-1.0) for it in items]
        ),
        "phonemes": [it["phonemes"] for it in items],
    }
    for k in ("domain", "lang", "sound"):
        out[k] = torch.stack([it[k] for it in items])
    out["families"] = torch.stack([it["families"] for it in items])
    return out


class TeacherHeads(nn.Module):
    """Linear read-outs of the teacher features ``[B, T, D]`` for each target of a :class:`LabelSpace`."""

    def __init__(self, dim: int, labels: LabelSpace, ctc_upsample: int = 1) -> None:
        super().__init__()
        self.ctc_upsample = ctc_upsample
        self.ctc = nn.Linear(dim, len(labels.phonemes) * ctc_upsample)
        self.domain = nn.Linear(dim, len(labels.domains))
        self.lang = nn.Linear(dim, max(1, len(labels.langs)))
        self.families = nn.Linear(dim, max(1, len(labels.families)))
        self.pitches = nn.Linear(dim, N_PITCHES)
        self.sound = nn.Linear(dim, max(1, len(labels.sound_classes)))

    def forward(self, feats: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """feats ``[B, T, D]``, valid ``[B, T]`` bool -> logits (frame heads ``[B, T, C]``, clip heads ``[B, C]``).

        The CTC logits are ``[B, T * ctc_upsample, V]``: each 25 Hz token emits ``ctc_upsample`` CTC
        steps, so speech at 12-15 phonemes/s has room for blanks between symbols (at 25 Hz CTC needs a
        non-blank on most frames and stalls on its plateau).
        """
        w = valid.to(feats.dtype)[..., None]
        pooled = (feats * w).sum(1) / w.sum(1).clamp_min(1.0)
        b, t, _ = feats.shape
        return {
            "ctc": self.ctc(feats).reshape(b, t * self.ctc_upsample, -1),
            "pitches": self.pitches(feats),
            "domain": self.domain(pooled),
            "lang": self.lang(pooled),
            "families": self.families(pooled),
            "sound": self.sound(pooled),
        }


def teacher_losses(logits: dict[str, torch.Tensor], batch: dict, valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masked losses keyed ``teacher/<target>``; a target absent from the batch contributes 0."""
    zero = logits["domain"].sum() * 0.0
    out: dict[str, torch.Tensor] = {}
    has = [i for i, p in enumerate(batch["phonemes"]) if len(p) > 0]
    if has:
        lp = logits["ctc"][has].log_softmax(-1).transpose(0, 1)  # [T * k, b, V]
        k = logits["ctc"].shape[1] // valid.shape[1]
        targets = torch.cat([batch["phonemes"][i] for i in has])
        out["ctc"] = F.ctc_loss(
            lp,
            targets,
            valid[has].sum(1) * k,
            torch.tensor([len(batch["phonemes"][i]) for i in has]),
            blank=0,
            zero_infinity=True,
        )
    else:
        out["ctc"] = zero
    for k in ("domain", "lang", "sound"):
        m = batch[k] >= 0
        out[k] = F.cross_entropy(logits[k][m], batch[k][m]) if m.any() else zero
    m = batch["families"][:, 0] >= 0 if batch["families"].shape[1] else torch.zeros(len(valid), dtype=torch.bool)
    out["families"] = (
        F.binary_cross_entropy_with_logits(logits["families"][m], batch["families"][m]) if m.any() else zero
    )
    roll = batch["pitches"]
    m = (roll[..., 0] >= 0) & valid
    out["pitches"] = F.binary_cross_entropy_with_logits(logits["pitches"][m], roll[m]) if m.any() else zero
    return {f"teacher/{k}": v for k, v in out.items()}


def edit_distance(a: list[int], b: list[int]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def greedy_ctc(ids: torch.Tensor) -> list[int]:
    """Best-path decoding: collapse repeats, drop blanks (id 0)."""
    out, last = [], -1
    for i in ids.tolist():
        if i != last and i != 0:
            out.append(i)
        last = i
    return out


@dataclass
class TeacherMetrics:
    """Validation metrics of the teacher's read-outs (PER: phoneme error rate of greedy CTC)."""

    per: float | None
    domain_acc: float | None
    lang_acc: float | None
    family_acc: float | None  # per-label accuracy of the multi-label instrument families
    pitch_f1: float | None
    sound_acc: float | None
    clips: int


@torch.no_grad()
def evaluate_teacher(encoder: nn.Module, heads: TeacherHeads, loader: DataLoader, device) -> TeacherMetrics:
    """Metrics over every clip of ``loader``."""
    encoder.eval(), heads.eval()
    errs = toks = 0
    hits = {k: [0, 0] for k in ("domain", "lang", "sound", "families")}
    tp = fp = fn = 0
    clips = 0
    for batch in loader:
        audio, length = batch["audio"].to(device), batch["length"].to(device)
        feats = encoder(audio, length)
        valid = valid_tokens(feats.shape[1], length)
        logits = heads(feats, valid)
        clips += len(audio)
        best = logits["ctc"].argmax(-1).cpu()
        for i, ref in enumerate(batch["phonemes"]):
            if len(ref):
                k = best.shape[1] // valid.shape[1]
                errs += edit_distance(greedy_ctc(best[i, : int(valid[i].sum()) * k]), ref.tolist())
                toks += len(ref)
        for k in ("domain", "lang", "sound"):
            m = batch[k] >= 0
            hits[k][0] += int((logits[k].argmax(-1).cpu()[m] == batch[k][m]).sum())
            hits[k][1] += int(m.sum())
        fam = batch["families"]
        if fam.shape[1]:
            m = fam[:, 0] >= 0
            hits["families"][0] += int(((logits["families"].cpu()[m] > 0).float() == fam[m]).sum())
            hits["families"][1] += int(m.sum()) * fam.shape[1]
        roll, m = batch["pitches"], (batch["pitches"][..., 0] >= 0) & valid.cpu()
        pred = logits["pitches"].cpu() > 0
        tp += int((pred & (roll > 0.5))[m].sum())
        fp += int((pred & (roll < 0.5))[m].sum())
        fn += int((~pred & (roll > 0.5))[m].sum())
    encoder.train(), heads.train()
    rate = lambda h: h[0] / h[1] if h[1] else None  # noqa: E731
    return TeacherMetrics(
        errs / toks if toks else None,
        rate(hits["domain"]),
        rate(hits["lang"]),
        rate(hits["families"]),
        2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        rate(hits["sound"]),
        clips,
    )


def _loader(entries, labels, cfg: TeacherStageConfig, train: bool) -> DataLoader:
    ds = SupervisedClips(entries, labels, cfg.max_seconds, train=train)
    sampler = EpochSampler(len(ds), cfg.run.seed) if train else None  # resumable order (Trainer.batches)
    return DataLoader(
        ds,
        batch_size=cfg.data.batch_size,
        sampler=sampler,
        drop_last=train and len(ds) >= cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        collate_fn=collate,
        persistent_workers=cfg.data.num_workers > 0,
        generator=torch.Generator().manual_seed(cfg.run.seed),
    )


def train_teacher(cfg: TeacherStageConfig, resume: bool = False) -> Path:
    """Run stage 0 to ``cfg.run.max_steps`` (or until SIGINT/SIGTERM); returns the export folder.

    The export (``<output_dir>/final``) is a LoSATokVAE folder holding the teacher (other parts at
    random init), plus ``labels.json`` and ``teacher_metrics.json`` (validation read-out metrics).
    """
    trainer = Trainer(cfg.run, cfg, resume=resume)
    acc = trainer.accelerator
    readable, skipped = screen_audio(read_manifest(cfg.data.train_manifest))
    trainer.report_skipped(skipped)
    if not readable:
        raise NoUsableFilesError(skipped)
    train_entries = [e for e, _ in readable]
    labels = LabelSpace.from_entries(train_entries)
    if trainer.is_main:
        labels.save(trainer.out / "labels.json")
    vae = LoSATokVAE(**cfg.model.to_dict())
    encoder = vae.semantic_encoder
    if cfg.init_from and not resume:
        from ..loading import load_vae

        encoder.load_state_dict(load_vae(cfg.init_from).semantic_encoder.state_dict())
    heads = TeacherHeads(encoder.output_dim, labels, cfg.ctc_upsample)
    loader = _loader(train_entries, labels, cfg, train=True)
    valid_loader = (
        _loader(read_manifest(cfg.data.valid_manifest), labels, cfg, False) if cfg.data.valid_manifest else None
    )
    params = list(encoder.parameters()) + list(heads.parameters())
    optimizer = adamw(params, cfg.optim)
    scheduler = cosine_with_warmup(optimizer, cfg.optim, cfg.run.max_steps)
    encoder, heads, optimizer, loader = acc.prepare(encoder, heads, optimizer, loader)
    if resume and (restored := trainer.resume()) is not None:
        modules, state = restored
        acc.unwrap_model(encoder).load_state_dict(modules["encoder"])
        acc.unwrap_model(heads).load_state_dict(modules["heads"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])

    def save() -> Path:
        return trainer.save(
            {"encoder": encoder, "heads": heads},
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
        )

    def validate() -> TeacherMetrics | None:
        if valid_loader is None or not trainer.is_main:
            return None
        m = evaluate_teacher(acc.unwrap_model(encoder), acc.unwrap_model(heads), valid_loader, acc.device)
        trainer.log_scalars({f"teacher_valid/{k}": v for k, v in m.__dict__.items() if v is not None and k != "clips"})
        return m

    bar = trainer.progress(cfg.run.max_steps)
    batches = trainer.batches(loader)
    last: dict[int, TeacherMetrics | None] = {}
    with trainer.stop.installed():
        while trainer.step < cfg.run.max_steps:
            with acc.accumulate(encoder, heads):
                batch = next(batches)
                with acc.autocast():
                    feats = encoder(batch["audio"], batch["length"])
                    valid = valid_tokens(feats.shape[1], batch["length"])
                    logits = heads(feats, valid)
                losses = teacher_losses({k: v.float() for k, v in logits.items()}, batch, valid)
                total = sum(cfg.loss_weights[k.split("/")[1]] * v for k, v in losses.items())
                losses["teacher/total"] = total
                if not trainer.optimizer_step(total, optimizer, params, cfg.optim.grad_clip):
                    continue
            if not acc.sync_gradients:
                continue
            scheduler.step()
            trainer.step_done(bar, losses, scheduler.get_last_lr()[0], ("teacher/total", "teacher/ctc"))
            if cfg.eval_every and trainer.step % cfg.eval_every == 0:
                last = {trainer.step: validate()}
            if trainer.stop_requested(save, bar):
                return trainer.out / "checkpoints"
    bar.close()
    trainer.final_checkpoint(save)
    export = trainer.out / "final"
    if trainer.is_main:
        metrics = last[trainer.step] if trainer.step in last else validate()
        trainer.check_finite_weights(acc.unwrap_model(encoder).state_dict(), f"the export {export}")
        vae.semantic_encoder.load_state_dict(acc.unwrap_model(encoder).state_dict())
        vae.cpu().save_pretrained(export)
        labels.save(export / "labels.json")
        heads_state = {k: v.cpu() for k, v in acc.unwrap_model(heads).state_dict().items()}
        from safetensors.torch import save_file

        save_file(heads_state, str(export / "teacher_heads.safetensors"))
        (export / "teacher_metrics.json").write_text(
            json.dumps({"step": trainer.step, "valid": metrics.__dict__ if metrics else None}, indent=2)
        )
        print(f"[losatok] teacher export: {export}; validation: {metrics}", flush=True)
    trainer.barrier()
    trainer.close()
    return export
