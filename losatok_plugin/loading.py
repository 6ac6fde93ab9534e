"""Resolve a model spec (a ``save_pretrained`` folder or an official checkpoint file) to a LoSATokVAE."""

from __future__ import annotations

from pathlib import Path

from .models.losatok_vae import LoSATokVAE


def load_vae(spec: str | Path, config=None) -> LoSATokVAE:
    """Load ``spec``: a folder with ``config.json`` (``from_pretrained``) or a ``.pth``/``.safetensors``
    official-layout checkpoint (``from_reference_checkpoint``, with optional reference ``config``)."""
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is a folder without config.json: not a save_pretrained LoSATok model")
        return LoSATokVAE.from_pretrained(path)
    if path.is_file():
        return LoSATokVAE.from_reference_checkpoint(path, config)
    raise FileNotFoundError(f"model not found: {path} (expected a save_pretrained folder or a checkpoint file)")
