"""Assembling the model a stage trains: fresh sizes from the config, frozen parts from a checkpoint."""

from __future__ import annotations

import torch

from ..configuration import LoSATokConfig
from ..loading import load_vae
from ..models.losatok_vae import LoSATokVAE


def _copy(dst: torch.nn.Module, src: torch.nn.Module, name: str, strict: bool) -> bool:
    d, s = dst.state_dict(), src.state_dict()
    bad = [k for k in d if k not in s or s[k].shape != d[k].shape]
    if bad:
        if strict:
            raise ValueError(
                f"{name} of the source model does not fit the configured sizes (first mismatches: {bad[:3]}); "
                "make the config's model section match the teacher/bottleneck you load"
            )
        return False
    dst.load_state_dict(s, strict=True)
    return True


def build_stage_model(
    model_cfg: LoSATokConfig, source: str, frozen: tuple[str, ...], optional: tuple[str, ...] = ()
) -> LoSATokVAE:
    """A ``LoSATokVAE`` of ``model_cfg`` sizes with submodules copied from ``source``.

    Args:
        model_cfg: sizes of the model to train.
        source: LoSATokVAE folder or official checkpoint ("" = random initialisation, for tests).
        frozen: submodules that must be copied (shapes must match) and are frozen.
        optional: submodules copied when their shapes match (fine-tuning), else left at random init.
    """
    model = LoSATokVAE(**model_cfg.to_dict())
    if source:
        src = load_vae(source)
        for name in frozen:
            _copy(getattr(model, name), getattr(src, name), name, strict=True)
        for name in optional:
            if _copy(getattr(model, name), getattr(src, name), name, strict=False):
                print(f"[losatok] {name}: weights copied from {source} (shapes match)", flush=True)
        del src
    for name in frozen:
        getattr(model, name).requires_grad_(False)
    return model
