"""Validation of stage 0: phoneme error rate of greedy CTC and the accuracies of the supervision heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..configuration import LoSATokConfig


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance between two id sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def greedy_ctc(ids: torch.Tensor) -> list[int]:
    """Best-path decoding of ``ids [T]``: collapse repeats, drop blanks (id 0)."""
    out, last = [], -1
    for i in ids.tolist():
        if i != last and i != 0:
            out.append(i)
        last = i
    return out


@dataclass
class SupervisionMetrics:
    """Validation metrics of the stage-0 read-outs (PER: phoneme error rate of greedy CTC)."""

    per: float | None
    domain_acc: float | None
    lang_acc: float | None
    family_acc: float | None  # per-label accuracy of the multi-label instrument families
    pitch_f1: float | None
    sound_acc: float | None
    clips: int


@torch.no_grad()
def evaluate_supervision(
    encoder: nn.Module, heads: nn.Module, loader: DataLoader, device, model: LoSATokConfig | None = None
) -> SupervisionMetrics:
    """Metrics over every clip of ``loader`` (batches of ``collate_clips``); ``encoder``: ``(audio [B, N],
    lengths [B]) -> [B, T, D]``, ``heads``: ``SupervisionHeads``; ``model``: the frame arithmetic."""
    model = model or LoSATokConfig()
    encoder.eval(), heads.eval()
    errs = toks = 0
    hits = {k: [0, 0] for k in ("domain", "lang", "sound", "families")}
    tp = fp = fn = 0
    clips = 0
    for batch in loader:
        audio, length = batch["audio"].to(device), batch["length"].to(device)
        feats = encoder(audio, length)
        valid = model.valid_frame_mask(length, feats.shape[1])
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
    return SupervisionMetrics(
        errs / toks if toks else None,
        rate(hits["domain"]),
        rate(hits["lang"]),
        rate(hits["families"]),
        2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        rate(hits["sound"]),
        clips,
    )
