"""SemBo's training loss: cosine reconstruction + the time-relation loss (SPEC §1.2).

``total = λ · MSE(l2norm(recon), l2norm(sg(emb))) + MSE(S_low, sg(S_high))`` where
``S = l2norm(x) · l2norm(x)ᵀ`` is the ``[B, T, T]`` frame-to-frame cosine-similarity matrix.
The paper uses λ = 1e3, as the training configs do (``recon_weight: 1000.0`` in ``sembo_*.yaml``); the released
code uses λ = 1, which is this function's default so that the parity tests compare like with like.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def frame_similarity(x: torch.Tensor) -> torch.Tensor:
    """x ``[B, T, D]`` -> cosine similarity between frames ``[B, T, T]``."""
    x = F.normalize(x, dim=-1)
    return x @ x.transpose(-1, -2)


def time_relation_loss(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """MSE between the similarity matrices of ``low`` ``[B, T, d]`` and stop-grad ``high`` ``[B, T, D]``."""
    return F.mse_loss(frame_similarity(low), frame_similarity(high.detach()))


def semantic_bottleneck_loss(
    emb: torch.Tensor,
    recon: torch.Tensor,
    low: torch.Tensor,
    recon_weight: float = 1.0,
    relation_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """SemBo loss terms.

    Args:
        emb: teacher embedding ``[B, T, D]`` (stop-gradient target).
        recon: bottleneck reconstruction ``[B, T, D]``.
        low: bottleneck code ``[B, T, d]``.
        recon_weight: λ on the reconstruction term (paper 1e3, reference code 1).
        relation_weight: weight on the time-relation term (0 for the ablation without it).

    Returns:
        ``{"sembo/recon": ..., "sembo/time_relation": ..., "sembo/total": ...}`` (0-d tensors).
    """
    recon_term = F.mse_loss(F.normalize(recon, dim=-1), F.normalize(emb.detach(), dim=-1))
    relation = time_relation_loss(low, emb)
    total = recon_weight * recon_term + relation_weight * relation
    return {"sembo/recon": recon_term, "sembo/time_relation": relation, "sembo/total": total}
