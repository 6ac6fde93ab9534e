"""Stage 0's read-outs and losses: linear heads on semantic-encoder features for the corpus' targets.

Heads are linear on the frame features (CTC, pitches) or on their masked mean (clip targets), so the
semantics have to live in the features, which is what stages 1 and 2 consume. The heads are discarded
at export. Loss names are logged as ``teacher/<target>`` (the names of the stage-0 logs already written).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.labels import N_PITCHES, LabelSpace

SUPERVISION_TARGETS = ("ctc", "domain", "lang", "families", "pitches", "sound")


class SupervisionHeads(nn.Module):
    """Linear read-outs of the semantic-encoder features ``[B, T, D]`` for each target of a :class:`LabelSpace`."""

    def __init__(self, dim: int, labels: LabelSpace, ctc_upsample: int = 1, spectrum_dim: int = 0) -> None:
        super().__init__()
        self.ctc_upsample = ctc_upsample
        # ``spectrum_dim`` > 0: a linear read-out of the mel patch each token embeds, which keeps spectral detail in
        # the features (the role of Dasheng's masked-autoencoder pre-training; labels alone drop it)
        self.spectrum = nn.Linear(dim, spectrum_dim) if spectrum_dim > 0 else None
        self.ctc = nn.Linear(dim, len(labels.phonemes) * ctc_upsample)
        self.domain = nn.Linear(dim, len(labels.domains))
        self.lang = nn.Linear(dim, max(1, len(labels.langs)))
        self.families = nn.Linear(dim, max(1, len(labels.families)))
        self.pitches = nn.Linear(dim, N_PITCHES)
        self.sound = nn.Linear(dim, max(1, len(labels.sound_classes)))

    def forward(self, feats: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """feats ``[B, T, D]``, valid ``[B, T]`` bool -> logits (frame heads ``[B, T, C]``, clip heads ``[B, C]``; with a
        spectrum read-out also ``spectrum`` ``[B, T, spectrum_dim]``).

        The CTC logits are ``[B, T * ctc_upsample, V]``: each 25 Hz token emits ``ctc_upsample`` CTC
        steps, so speech at 12-15 phonemes/s has room for blanks between symbols (at 25 Hz CTC needs a
        non-blank on most frames and stalls on its plateau).
        """
        w = valid.to(feats.dtype)[..., None]
        pooled = (feats * w).sum(1) / w.sum(1).clamp_min(1.0)
        b, t, _ = feats.shape
        out = {
            "ctc": self.ctc(feats).reshape(b, t * self.ctc_upsample, -1),
            "pitches": self.pitches(feats),
            "domain": self.domain(pooled),
            "lang": self.lang(pooled),
            "families": self.families(pooled),
            "sound": self.sound(pooled),
        }
        if self.spectrum is not None:
            out["spectrum"] = self.spectrum(feats)
        return out


def supervision_losses(logits: dict[str, torch.Tensor], batch: dict, valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masked losses keyed ``teacher/<target>``; a target absent from the batch contributes 0.

    Args:
        logits: :class:`SupervisionHeads` output.
        batch: a :func:`~losatok_plugin.data.supervised_clips.collate_clips` batch, plus ``spectrum`` ``[B, T, P]``
            (the encoder's ``token_patches``) for the spectrum read-out, when the heads have one.
        valid: ``[B, T]`` bool, True on frames inside each clip.
    """
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
    if "spectrum" in logits and "spectrum" in batch:  # mean squared error on the valid tokens
        out["spectrum"] = F.mse_loss(logits["spectrum"][valid], batch["spectrum"][valid].to(logits["spectrum"].dtype))
    return {f"teacher/{k}": v for k, v in out.items()}
