"""Assembling the model a stage trains: fresh sizes from the config, frozen parts from a checkpoint."""

from __future__ import annotations

import logging

import torch

from ..configuration import LoSATokConfig
from ..loading import load_vae
from ..models.losatok_vae import LoSATokVAE

log = logging.getLogger(__name__)


def _copy(dst: torch.nn.Module, src: torch.nn.Module, name: str, strict: bool) -> bool:
    d, s = dst.state_dict(), src.state_dict()
    if not d:  # a part without weights (the identity bottleneck of semantic_bottleneck=False): nothing to copy
        return True
    bad = [k for k in d if k not in s or s[k].shape != d[k].shape] + [k for k in s if k not in d]
    if bad:
        if strict:
            raise ValueError(
                f"{name} of the source model does not fit the configured sizes (first mismatches: {bad[:3]}); "
                "make the config's model section match the teacher/bottleneck you load"
            )
        return False
    dst.load_state_dict(s, strict=True)
    return True


def copy_parts(model: LoSATokVAE, donor: LoSATokVAE, parts: tuple[str, ...]) -> LoSATokVAE:
    """Copy submodules ``parts`` (e.g. ``("acoustic", "gaussian", "decoder")``) of ``donor`` into ``model``
    in place; a part whose keys or shapes differ raises ``ValueError``. Returns ``model``."""
    for name in parts:
        _copy(getattr(model, name), getattr(donor, name), name, strict=True)
    return model


TEACHER_FIELDS = (
    "embed_dim",
    "semantic_depth",
    "semantic_num_heads",
    "semantic_chunk_tokens",
    "semantic_encoder_type",
    "semantic_encoder_hf_config",
)


def _with_teacher(model_cfg: LoSATokConfig, fields: dict) -> LoSATokConfig:
    changed = {k: v for k, v in fields.items() if k in TEACHER_FIELDS and getattr(model_cfg, k) != v}
    if changed:
        log.info("model config follows the teacher: %s", sorted(changed))
    return LoSATokConfig.from_dict({**model_cfg.to_dict(), **changed})


def build_stage_model(
    model_cfg: LoSATokConfig,
    source: str,
    frozen: tuple[str, ...],
    optional: tuple[str, ...] = (),
    teacher_type: str | None = None,
) -> LoSATokVAE:
    """A ``LoSATokVAE`` of ``model_cfg`` sizes with submodules copied from ``source``.

    Args:
        model_cfg: sizes of the model to train (teacher fields follow the loaded teacher).
        source: LoSATokVAE folder or official checkpoint, or with ``teacher_type`` a teacher of the
            registry (``losatok_plugin.teachers``); "" = random initialisation (tests).
        frozen: submodules that must be copied (shapes must match) and are frozen.
        optional: submodules copied when their shapes match (fine-tuning), else left at random init.
        teacher_type: registry name of the teacher at ``source`` (stage 1); None: ``source`` is a
            LoSATokVAE whose teacher (and SemBo) are taken.
    """
    if source and teacher_type is not None and teacher_type != "midashenglm":
        from ..teachers import load_teacher, teacher_model_config

        teacher = load_teacher(teacher_type, source)
        model = LoSATokVAE(**_with_teacher(model_cfg, teacher_model_config(teacher)).to_dict())
        model.semantic_encoder.load_state_dict(teacher.state_dict())
        for name in frozen:
            getattr(model, name).requires_grad_(False)
        return model
    src = load_vae(source) if source else None
    if src is not None:
        model_cfg = _with_teacher(model_cfg, dict(src.config))
    model = LoSATokVAE(**model_cfg.to_dict())
    if src is not None:
        for name in frozen:
            _copy(getattr(model, name), getattr(src, name), name, strict=True)
        for name in optional:
            if _copy(getattr(model, name), getattr(src, name), name, strict=False):
                log.info("%s: weights copied from %s (shapes match)", name, source)
            else:
                log.warning(
                    "%s: the sizes in %s differ from the config's model section: it starts from random weights "
                    "(set the model sizes to the folder's config.json to continue its training)",
                    name,
                    source,
                )
        del src
    for name in frozen:
        getattr(model, name).requires_grad_(False)
    return model
