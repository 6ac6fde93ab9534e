"""Dual-level semantic supervision of the acoustic branch (SPEC §1.3).

``L_H = MSE(acoustic_emb, sg(semantic_emb))`` at 1280-d and ``L_L = MSE(acoustic_emb_low,
sg(semantic_emb_low))`` at 128-d. Modes: ``both`` (default), ``high_only``, ``low_only``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SEMANTIC_LOSS_MODES = ("both", "high_only", "low_only")


def dual_semantic_loss(
    acoustic_emb: torch.Tensor,
    semantic_emb: torch.Tensor,
    acoustic_emb_low: torch.Tensor,
    semantic_emb_low: torch.Tensor,
    mode: str = "both",
) -> dict[str, torch.Tensor]:
    """Dual-level semantic loss.

    Args:
        acoustic_emb, semantic_emb: ``[B, T, D]``.
        acoustic_emb_low, semantic_emb_low: ``[B, T, C]``.
        mode: one of :data:`SEMANTIC_LOSS_MODES`.

    Returns:
        ``{"semantic/high", "semantic/low", "semantic/total"}``; total follows ``mode``.
    """
    if mode not in SEMANTIC_LOSS_MODES:
        raise ValueError(f"semantic loss mode must be one of {SEMANTIC_LOSS_MODES}, got {mode!r}")
    high = F.mse_loss(acoustic_emb, semantic_emb.detach())
    low = F.mse_loss(acoustic_emb_low, semantic_emb_low.detach())
    total = {"both": high + low, "high_only": high, "low_only": low}[mode]
    return {"semantic/high": high, "semantic/low": low, "semantic/total": total}
