"""A wider stage-0 teacher from a trained one, without changing what it computes (Net2WiderNet).

Issue 17's latent-width experiment needs a teacher at least 4x wider than the 128-d latent. Training a
512-wide one from scratch costs hours of this CPU; widening the trained 256-wide one costs nothing and keeps
its training, and a short stage-0 fine-tune then lets the copies drift apart (``teacher_wide.yaml``).

Every old channel ``c`` of the residual stream becomes the two channels ``c`` and ``c + D``; each attention
head keeps its head (head ``h``'s old channels ``j`` become ``2 * j`` and ``2 * j + 1`` of its wider head's
span, so heads stay heads); every hidden MLP unit is copied twice. A layer that reads a doubled input halves
its weights; LayerNorm over duplicated channels sees the same mean and variance; the query weights are scaled
by ``1/sqrt(2)`` so that the wider heads' ``q·k / sqrt(head_dim)`` keeps its value. The output of the widened
encoder is therefore the old output with every channel twice (:func:`widen_encoder_state`, checked in
``tests/test_paper.py``). ``noise`` perturbs the widened weights so that the copies get different gradients.

    python -m recipes.paper.widen --teacher runs/teacher_mini/final --out runs/teacher_widened --factor 2
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch


def _index_maps(dim: int, heads: int, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(residual map, head map): for every new channel, the old channel it copies. The residual map is
    ``c' -> c' mod D``; the head map keeps each head's channels inside its own (wider) head."""
    residual = torch.arange(dim * factor) % dim
    head_dim = dim // heads
    new_head_dim = head_dim * factor
    c = torch.arange(dim * factor)
    head_map = (c // new_head_dim) * head_dim + (c % new_head_dim) // factor
    return residual, head_map


def widen_encoder_state(
    state: dict[str, torch.Tensor], dim: int, heads: int, factor: int = 2, noise: float = 0.0, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The state dict of a Dasheng encoder ``dim`` wide -> the same encoder ``factor * dim`` wide with
    ``heads`` heads (each ``factor`` times wider). Without ``noise`` the wide encoder's output
    ``[B, T, factor * D]`` is the old output ``[B, T, D]`` repeated along the channels (``out[..., c']`` =
    ``old[..., c' % D]``). ``noise``: relative std of a Gaussian perturbation of every widened matrix."""
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"widen: factor must be a whole number >= 1, got {factor!r}")
    if noise < 0:
        raise ValueError(f"widen: noise must be >= 0, got {noise}")
    res, head = _index_maps(dim, heads, factor)
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}

    def perturb(w: torch.Tensor) -> torch.Tensor:
        if noise <= 0 or w.ndim < 2:
            return w
        return w + noise * w.std() * torch.randn(w.shape, generator=gen, dtype=w.dtype)

    for name, w in state.items():
        w = w.detach().clone()
        if name.startswith("patch_embed.proj."):  # Conv2d(1, D, ...): output channels
            out[name] = perturb(w[res])
        elif name in ("time_pos_embed", "freq_pos_embed"):  # [1, D, 1, t]
            out[name] = w[:, res]
        elif name.endswith(("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")) or name.startswith("norm."):
            out[name] = w[res]
        elif name.endswith("attn.qkv.weight"):  # [3D, D]: q, k, v blocks, each read per head
            q, k, v = w.chunk(3, dim=0)
            q = q / math.sqrt(factor)  # q·k doubles in a head twice as wide; 1/sqrt(head_dim) shrinks by sqrt(2)
            wide = [part[head][:, res] / factor for part in (q, k, v)]
            out[name] = perturb(torch.cat(wide, dim=0))
        elif name.endswith("attn.qkv.bias"):
            q, k, v = w.chunk(3, dim=0)
            out[name] = torch.cat([(q / math.sqrt(factor))[head], k[head], v[head]])
        elif name.endswith("attn.proj.weight"):  # [D, D]: reads the concatenated heads, writes the residual
            out[name] = perturb(w[res][:, head] / factor)
        elif name.endswith("attn.proj.bias") or name.endswith("mlp.fc2.bias"):
            out[name] = w[res]
        elif name.endswith("mlp.fc1.weight"):  # [H, D]
            hidden = torch.arange(w.shape[0] * factor) % w.shape[0]
            out[name] = perturb(w[hidden][:, res] / factor)
        elif name.endswith("mlp.fc1.bias"):
            out[name] = w[torch.arange(w.shape[0] * factor) % w.shape[0]]
        elif name.endswith("mlp.fc2.weight"):  # [D, H]
            hidden = torch.arange(w.shape[1] * factor) % w.shape[1]
            out[name] = perturb(w[res][:, hidden] / factor)
        elif name.startswith(("init_bn.", "front_end.")):  # the mel front end: not widened
            out[name] = w
        else:
            raise KeyError(f"widen_encoder_state: no rule for parameter {name!r} {tuple(w.shape)}")
    return out


def widen_teacher(teacher: str | Path, out: str | Path, factor: int = 2, noise: float = 0.0, seed: int = 0):
    """Stage-0 export ``teacher`` -> a LoSATokVAE export ``out`` whose semantic encoder is ``factor`` times
    wider (same depth and heads); the other parts are freshly initialised (stage 0 trains only the encoder).
    Returns the new model."""
    from losatok_plugin.configuration import LoSATokConfig
    from losatok_plugin.loading import load_vae
    from losatok_plugin.models.losatok_vae import LoSATokVAE

    with torch.random.fork_rng():  # seeded initialisation of the fresh parts; the caller's RNG untouched
        torch.manual_seed(seed)
        old = load_vae(str(teacher))
        arch = old.arch.to_dict()
        dim, heads = arch["embed_dim"], arch["semantic_num_heads"]
        arch["embed_dim"] = dim * factor
        new = LoSATokVAE(**LoSATokConfig.from_dict(arch).to_dict())
    state = widen_encoder_state(old.semantic_encoder.state_dict(), dim, heads, factor, noise, seed)
    new.semantic_encoder.load_state_dict(state)
    new.save_pretrained(str(out))
    return new


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True, help="stage-0 export folder")
    p.add_argument("--out", required=True)
    p.add_argument("--factor", type=int, default=2)
    p.add_argument("--noise", type=float, default=0.0, help="relative std of the weight perturbation")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    model = widen_teacher(a.teacher, a.out, a.factor, a.noise, a.seed)
    print(f"[losatok] widened teacher ({model.arch.embed_dim} wide): {a.out}")


if __name__ == "__main__":
    main()
