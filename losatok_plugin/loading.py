"""Resolve a model spec to a LoSATokVAE: a short name, a ``save_pretrained`` folder, an official
checkpoint file, or a folder holding the official files as downloaded.

Accepted specs (the same everywhere a model is named: the CLI's ``--model``, training configs'
``init_from``, the audiocraft ``model_path``, ``LoSATokVAE.from_pretrained``):

- ``losatok-mini``: the embedded model shipped in ``losatok_plugin/pretrained/`` (offline).
- a folder with ``config.json`` (``save_pretrained``).
- an official checkpoint file ``losatok_kl1e-2.pth`` / ``losatok_kl1e-3.pth`` (or any ``.pth``, ``.pt``,
  ``.ckpt``, ``.bin``, ``.safetensors`` in the official layout); an official ``16k_16k_25Hz_losatok.yml``
  next to it (or in ``../config/``) is used as its config.
- a folder as downloaded from the official model page (https://huggingface.co/wxzyd123/LoSATok) or a
  clone of github.com/wxzyd123/LoSATok: ``losatok_kl1e-*.pth`` directly in it or in ``ckpts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models.losatok_vae import LoSATokVAE

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
EMBEDDED_MODELS = {"losatok-mini": PRETRAINED_DIR / "losatok-mini"}
DEFAULT_MODEL = "losatok-mini"
OFFICIAL_CHECKPOINTS = ("losatok_kl1e-2.pth", "losatok_kl1e-3.pth")
OFFICIAL_CONFIG = "16k_16k_25Hz_losatok.yml"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")


class ModelNotFoundError(FileNotFoundError):
    """A model spec names nothing loadable (the message says what was expected)."""

    def __str__(self) -> str:  # FileNotFoundError's default str adds errno noise
        return str(self.args[0]) if self.args else ""


def embedded_model_path(name: str) -> Path | None:
    """The folder of a shipped model named ``name`` (``losatok-mini``), or None."""
    path = EMBEDDED_MODELS.get(str(name))
    return path if path is not None and (path / "config.json").is_file() else None


def resolve_model_spec(spec: str | Path) -> Path:
    """A short name (``losatok-mini``) -> its shipped folder; anything else -> ``Path(spec)``.

    An existing file or folder of that name wins over a short name.
    """
    path = Path(spec)
    if not path.exists() and str(spec) in EMBEDDED_MODELS:
        embedded = embedded_model_path(str(spec))
        if embedded is None:
            raise ModelNotFoundError(f"the embedded model {spec!r} is not shipped in this installation")
        return embedded
    return path


def check_model_spec(spec: str | Path) -> Path:
    """Resolve ``spec`` and check that it exists, without importing torch (a typo answers at once).

    Raises:
        ModelNotFoundError: nothing at ``spec``.
    """
    path = resolve_model_spec(spec)
    if not path.exists():
        raise ModelNotFoundError(
            f"model not found: {spec} (expected a save_pretrained folder, a checkpoint file, or a short name: "
            f"{', '.join(EMBEDDED_MODELS)})"
        )
    return path


def _official_files(folder: Path) -> tuple[list[Path], Path | None]:
    """Official checkpoints and config in a downloaded folder (or a clone of the official repo)."""
    checkpoints, config = [], None
    for where in (folder, folder / "ckpts"):
        checkpoints += [where / n for n in OFFICIAL_CHECKPOINTS if (where / n).is_file()]
    for where in (folder, folder / "config", folder.parent / "config"):
        if (where / OFFICIAL_CONFIG).is_file():
            config = where / OFFICIAL_CONFIG
            break
    return checkpoints, config


def load_vae(spec: str | Path, config=None) -> LoSATokVAE:
    """Load a LoSATokVAE from ``spec`` (see the module docstring for what is accepted).

    Args:
        spec: short name, folder or checkpoint file.
        config: for official checkpoints: a :class:`LoSATokConfig`, dict or path (default: the official
            yml found next to the checkpoint, else the official sizes).

    Raises:
        ModelNotFoundError: nothing loadable at ``spec`` (one line saying what was expected).
        CheckpointError: a checkpoint that cannot be read or does not fit the model.
    """
    path = check_model_spec(spec)
    from .models.losatok_vae import LoSATokVAE

    if path.is_dir():
        if (path / "config.json").is_file():
            return LoSATokVAE.from_pretrained(path)
        checkpoints, found_config = _official_files(path)
        if len(checkpoints) > 1:
            names = ", ".join(str(c) for c in checkpoints)
            raise ModelNotFoundError(f"{path} holds several official checkpoints ({names}): pass the one you want")
        if checkpoints:
            return LoSATokVAE.from_reference_checkpoint(checkpoints[0], config or found_config)
        raise ModelNotFoundError(
            f"{path} is a folder without config.json or an official checkpoint ({' / '.join(OFFICIAL_CHECKPOINTS)}): "
            "not a LoSATok model"
        )
    if path.is_file():
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise ModelNotFoundError(
                f"{path} is not a model: expected a save_pretrained folder, a short name ({', '.join(EMBEDDED_MODELS)}) "
                f"or a checkpoint file ({' '.join(CHECKPOINT_SUFFIXES)})"
            )
        if config is None:
            config = _official_files(path.parent)[1]
        return LoSATokVAE.from_reference_checkpoint(path, config)
    raise ModelNotFoundError(f"{path} is neither a folder nor a file: not a model")


_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def _safetensors_numels(path: Path) -> dict[str, int]:
    """Element count per tensor from a safetensors header (no torch, no weight reading)."""
    import json
    import struct

    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    out = {}
    for key, entry in header.items():
        if key != "__metadata__":
            n = 1
            for d in entry["shape"]:
                n *= int(d)
            out[key] = n
    return out


def describe_model(spec: str | Path) -> dict:
    """Path, config dict and parameter counts of a model, cheaply where possible.

    A ``save_pretrained`` folder (or short name) is described from ``config.json`` and the safetensors
    header alone (fast: no torch import); other specs are loaded.

    Returns:
        ``{"path", "config", "parameters", "semantic_parameters"}``.
    """
    import json

    path = resolve_model_spec(spec)
    weights = path / "diffusion_pytorch_model.safetensors"
    if path.is_dir() and (path / "config.json").is_file() and weights.is_file():
        config = json.loads((path / "config.json").read_text())
        numels = {k: n for k, n in _safetensors_numels(weights).items() if not k.endswith(_BUFFER_SUFFIXES)}
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
