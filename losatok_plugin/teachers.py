"""One registry of frozen semantic teachers: 16 kHz audio in, ``[B, T, D]`` at 25 Hz out.

| name | weights from | width |
| --- | --- | --- |
| ``midashenglm`` | a LoSATokVAE folder or an official LoSATok checkpoint (its semantic encoder) | 1280 |
| ``dasheng_base`` / ``dasheng_06B`` / ``dasheng_12B`` | a dasheng release ``.pt`` (``{"model", "config"}``) | 768 / 1280 / 1536 |
| ``whisper`` / ``hubert`` / ``wavlm`` / ``wav2vec2`` | a transformers ``save_pretrained`` folder | the model's |

Every teacher is an ``nn.Module`` with ``output_dim``, ``sample_rate`` and
``forward(audio [B, N], lengths=None) -> [B, (1 + N // 160) // 4, D]``. :func:`teacher_model_config`
gives the LoSATok config fields that put a teacher inside :class:`LoSATokVAE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models.dasheng_encoder import DashengEncoder
from .models.hf_teachers import HF_KINDS, HFTeacher
from .reference_checkpoint import CheckpointError, read_state_dict

DASHENG_SIZES = {  # dasheng package variants: (embed_dim, depth, num_heads)
    "dasheng_base": (768, 12, 12),
    "dasheng_06B": (1280, 32, 16),
    "dasheng_12B": (1536, 40, 24),
}
TEACHERS = ("midashenglm", *DASHENG_SIZES, *HF_KINDS)


def check_teacher_name(name: str) -> str:
    if name not in TEACHERS:
        raise ValueError(f"unknown teacher {name!r}; known teachers: {', '.join(TEACHERS)}")
    return name


def load_dasheng_release(path: str | Path, name: str = "dasheng_base") -> DashengEncoder:
    """A dasheng package release file ``{"model": state_dict, "config": dict}`` (``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"dasheng checkpoint not found: {path}")
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path} is not a loadable dasheng release (.pt, weights_only): {e}") from None
    if not isinstance(blob, dict) or "model" not in blob:
        raise CheckpointError(f"{path} is not a dasheng release file (expected a dict with 'model' and 'config')")
    cfg = blob.get("config") or {}
    embed, depth, heads = DASHENG_SIZES[name]
    state = read_state_dict(blob["model"])
    pos = state.get("time_pos_embed")
    encoder = DashengEncoder(
        embed_dim=int(cfg.get("embed_dim", embed)),
        depth=int(cfg.get("depth", depth)),
        num_heads=int(cfg.get("num_heads", heads)),
        chunk_tokens=int(pos.shape[-1]) if pos is not None else 252,
    )
    ours = {}
    for k, v in state.items():
        if k.startswith(("front_end.", "outputlayer.")):
            continue  # recomputed mel buffers / the classification head
        ours[k.replace("init_bn.1.", "init_bn.")] = v
    expected = encoder.state_dict()
    missing, unexpected = sorted(set(expected) - set(ours)), sorted(set(ours) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: missing weights {missing[:8]}, unexpected weights {unexpected[:8]}")
    for k, v in ours.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(f"{path}: {k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}")
    encoder.load_state_dict(ours)
    return encoder.eval()


def load_teacher(name: str, path: str | Path) -> nn.Module:
    """Load teacher ``name`` from ``path`` (see the table above); frozen and in eval mode."""
    check_teacher_name(name)
    if name == "midashenglm":
        from .loading import load_vae

        teacher: nn.Module = load_vae(path).semantic_encoder
    elif name in DASHENG_SIZES:
        teacher = load_dasheng_release(path, name)
    else:
        if not Path(path).is_dir():
            raise FileNotFoundError(f"{name} teacher: {path} is not a transformers save_pretrained folder")
        teacher = HFTeacher.from_pretrained(name, str(path))
    teacher.requires_grad_(False)
    return teacher.eval()


def teacher_model_config(teacher: nn.Module) -> dict[str, Any]:
    """LoSATok config fields describing ``teacher`` (merge them into a model config)."""
    if isinstance(teacher, HFTeacher):
        return {
            "embed_dim": teacher.output_dim,
            "semantic_encoder_type": teacher.kind,
            "semantic_encoder_hf_config": teacher.config_dict(),
        }
    if isinstance(teacher, DashengEncoder):
        return {
            "embed_dim": teacher.embed_dim,
            "semantic_depth": len(teacher.blocks),
            "semantic_num_heads": teacher.blocks[0].attn.num_heads,
            "semantic_chunk_tokens": teacher.chunk_tokens,
            "semantic_encoder_type": "dasheng",
            "semantic_encoder_hf_config": None,
        }
    raise TypeError(f"not a LoSATok teacher: {type(teacher).__name__}")
