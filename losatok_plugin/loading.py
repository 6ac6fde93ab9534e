"""Turn a model spec into a model: :func:`load_vae` (the one function the CLI, the demo, evaluation, the
audiocraft conditioner and the teacher registry call).

Accepted specs (the same everywhere a model is named: the CLI's ``--model``, training configs'
``init_from``, the audiocraft ``model_path``, ``LoSATokVAE.from_pretrained``): ``None`` or ``losatok-mini``
(the embedded model shipped in ``losatok_plugin/pretrained/``, offline), a ``save_pretrained`` folder, an
official checkpoint file (``losatok_kl1e-2.pth``, any ``.pth/.pt/.ckpt/.bin/.safetensors`` in the official
layout) or a folder holding one as downloaded. What a spec points at and what its files hold is
:mod:`losatok_plugin.checkpoints` (below the model layer); this module sits above it and builds models.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoints import (  # noqa: F401 - re-exported: the old import path of the spec helpers
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    PRETRAINED_DIR,
    PRETRAINED_WEIGHTS,
    CheckpointError,
    ModelNotFoundError,
    check_model_spec,
    embedded_model_path,
    locate_model,
    read_pretrained_weights,
    read_reference_checkpoint,
    resolve_model_spec,
    safetensors_numels,
)

if TYPE_CHECKING:
    import torch

    from .configuration import LoSATokConfig
    from .models.losatok_vae import LoSATokVAE


def load_vae(spec: str | Path | None = None, config: Any = None, **kwargs: Any) -> LoSATokVAE:
    """Load a LoSATokVAE from ``spec`` (see the module docstring; None = the embedded ``losatok-mini``).

    Args:
        spec: short name, folder or checkpoint file.
        config: for official checkpoints: a :class:`LoSATokConfig`, dict or path (default: the official
            yml found next to the checkpoint, else the official sizes).
        **kwargs: passed to diffusers' ``from_pretrained`` for a ``save_pretrained`` folder (e.g. ``torch_dtype``).

    Raises:
        ModelNotFoundError: nothing loadable at ``spec`` (one line saying what was expected).
        CheckpointError: a checkpoint that cannot be read or does not fit the model.
    """
    source = locate_model(spec, config)
    from .models.losatok_vae import LoSATokVAE

    if source.kind == "pretrained":
        return LoSATokVAE.from_pretrained(source.path, **kwargs)
    return LoSATokVAE.from_reference_checkpoint(source.path, source.config)


def load_reference_checkpoint(
    checkpoint: str | Path | dict[str, torch.Tensor], config: Any = None, model_cls: type | None = None
) -> LoSATokVAE:
    """``LoSATokVAE.from_reference_checkpoint`` (or ``model_cls``'s): an official-layout checkpoint -> model."""
    if model_cls is None:
        from .models.losatok_vae import LoSATokVAE as model_cls  # noqa: N813
    return model_cls.from_reference_checkpoint(checkpoint, config)


def load_model_part(
    spec: str | Path | None, prefix: str, config: Any = None
) -> tuple[LoSATokConfig, dict[str, torch.Tensor]]:
    """The architecture config and the ``prefix*`` tensors (our key names, prefix kept) of the model at ``spec``.

    Reads ``config.json`` and only the requested tensors (a pretrained folder) or the converted checkpoint (an
    official one); no model is built. Used to take one submodule (``prefix="semantic_encoder."``).
    """
    from .configuration import LoSATokConfig

    source = locate_model(spec, config)
    if source.kind == "pretrained":
        raw, state = read_pretrained_weights(source.path, prefix)
        return LoSATokConfig.from_model_config(raw), state
    cfg = source.config if isinstance(source.config, LoSATokConfig) else LoSATokConfig.from_reference(source.config)
    weights = read_reference_checkpoint(source.path, cfg.to_dict())
    state = {k: v for k, v in weights.state_dict.items() if k.startswith(prefix)}
    return LoSATokConfig.from_dict(weights.config), state


_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def describe_model(spec: str | Path | None = None) -> dict:
    """Path, config dict and parameter counts of a model, cheaply where possible.

    A ``save_pretrained`` folder (or short name) is described from ``config.json`` and the safetensors
    header alone (fast: no torch import); other specs are loaded.

    Returns:
        ``{"path", "config", "parameters", "semantic_parameters"}``.
    """
    path = resolve_model_spec(DEFAULT_MODEL if spec is None else spec)
    weights = path / PRETRAINED_WEIGHTS
    if path.is_dir() and (path / "config.json").is_file() and weights.is_file():
        config = json.loads((path / "config.json").read_text())
        numels = {k: n for k, n in safetensors_numels(weights).items() if not k.endswith(_BUFFER_SUFFIXES)}
        semantic = sum(n for k, n in numels.items() if k.startswith("semantic_encoder."))
        return {
            "path": str(path),
            "config": config,
            "parameters": sum(numels.values()),
            "semantic_parameters": semantic,
        }
    model = load_vae(spec)
    return {
        "path": str(path),
        "config": {k: v for k, v in dict(model.config).items() if not k.startswith("_")},
        "parameters": sum(p.numel() for p in model.parameters()),
        "semantic_parameters": sum(p.numel() for p in model.semantic_encoder.parameters()),
    }


@dataclass
class ModelInfo:
    """What ``losatok info`` prints: where the model is, its config dict and its parameter counts."""

    path: str
    config: dict[str, Any]
    parameters: int
    semantic_parameters: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def table(self) -> str:
        cfg = self.config
        return "\n".join(
            [
                f"model            {self.path}",
                f"parameters       {self.parameters / 1e6:.2f} M (semantic encoder {self.semantic_parameters / 1e6:.2f} M)",
                f"sample rate      {cfg['sampling_rate']} Hz, mono",
                f"frame rate       {cfg['sampling_rate'] / cfg['hop_length']:g} Hz (hop {cfg['hop_length']} samples)",
                f"latent           {cfg['latent_channels']} channels (float, Gaussian mean)",
                f"semantic width   {cfg['embed_dim']}, depth {cfg['semantic_depth']}; decoder width "
                f"{cfg['decoder_dim']}, depth {cfg['decoder_depth']}",
            ]
        )


def model_info(spec: str | Path | None = None) -> ModelInfo:
    """:func:`describe_model` as a report with ``to_json()`` / ``table()`` (no torch for a pretrained folder)."""
    return ModelInfo(**describe_model(spec))
