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

from .checkpoints import DASHENG_SIZES, CheckpointError, read_dasheng_release
from .loading import load_model_part
from .models.dasheng_encoder import DashengEncoder
from .models.hf_teachers import HF_KINDS, HFTeacher
from .models.losatok_vae import build_semantic_encoder

TEACHERS = ("midashenglm", *DASHENG_SIZES, *HF_KINDS)


def check_teacher_name(name: str) -> str:
    if name not in TEACHERS:
        raise ValueError(f"unknown teacher {name!r}; known teachers: {', '.join(TEACHERS)}")
    return name


def _load_checked(module: nn.Module, state: dict[str, torch.Tensor], where: str) -> nn.Module:
    """Load ``state`` into ``module`` strictly, naming missing / unexpected / wrong-shape keys."""
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{where}: missing weights {missing[:8]}, unexpected weights {unexpected[:8]}")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(f"{where}: {k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}")
    module.load_state_dict(state)
    return module


def load_dasheng_release(path: str | Path, name: str = "dasheng_base") -> DashengEncoder:
    """A dasheng package release file ``{"model": state_dict, "config": dict}`` (``weights_only``)."""
    sizes, state = read_dasheng_release(path, name)
    return _load_checked(DashengEncoder(**sizes), state, str(path)).eval()


def load_semantic_encoder(spec: str | Path) -> nn.Module:
    """The semantic encoder of the LoSATok model at ``spec`` (folder, short name or official checkpoint).

    Built from the model's config and loaded from its ``semantic_encoder.*`` tensors only: the rest of the
    model is never read into memory. Returned frozen and in eval mode.
    """
    prefix = "semantic_encoder."
    cfg, state = load_model_part(spec, prefix)
    encoder = build_semantic_encoder(cfg)
    _load_checked(encoder, {k[len(prefix) :]: v for k, v in state.items()}, str(spec))
    return encoder.requires_grad_(False).eval()  # frozen, as inside the model


def load_teacher(name: str, path: str | Path) -> nn.Module:
    """Load teacher ``name`` from ``path`` (see the table above); frozen and in eval mode."""
    check_teacher_name(name)
    if name == "midashenglm":
        teacher: nn.Module = load_semantic_encoder(path)
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
            "semantic_depth": teacher.depth,
            "semantic_num_heads": teacher.num_heads,
            "semantic_chunk_tokens": teacher.chunk_tokens,
            "semantic_encoder_type": "dasheng",
            "semantic_encoder_hf_config": None,
        }
    raise TypeError(f"not a LoSATok teacher: {type(teacher).__name__}")
