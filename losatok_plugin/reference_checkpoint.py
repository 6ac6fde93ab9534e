"""Loading official-layout LoSATok checkpoints (SPEC §4) into :class:`LoSATokVAE`.

Accepted: a ``.pth``/``.pt`` pickle (read with ``torch.load(weights_only=True)``: no code runs) or a
``.safetensors`` file, or an in-memory state dict; holding ``{"state_dict": ...}`` or the raw dict;
keys optionally prefixed by ``module.`` / ``model.``. The semantic encoder's BatchNorm may be named
``init_bn.*`` (Hugging Face MiDashengLM) or ``init_bn.1.*`` (dasheng package); its mel buffers and
``outputlayer.*`` may be present or absent. Buffers we recompute (windows, filterbanks) are checked
against the file when present, never required.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .configuration import LoSATokConfig

if TYPE_CHECKING:
    from .models.losatok_vae import LoSATokVAE


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model (names the offending keys)."""


# (reference prefix, our prefix), first match wins. Order matters: longer prefixes first.
_PREFIX_MAP: tuple[tuple[str, str], ...] = (
    ("semantic_encoder.encoder.init_bn.1.", "semantic_encoder.init_bn."),
    ("semantic_encoder.encoder.", "semantic_encoder."),
    ("semantic_encoder.bottleneck.", "bottleneck."),
    ("dasheng_tokenizer.encoder.patch_embed.", "acoustic.patch_embed."),
    ("dasheng_tokenizer.encoder.norm.", "acoustic.norm."),
    ("dasheng_tokenizer.upsampler.", "decoder.upsampler."),
    ("dasheng_tokenizer.decoder.backbone.", "decoder.backbone."),
    ("dasheng_tokenizer.decoder.head.out.", "decoder.head.out."),
    ("fc_a.", "acoustic.to_low."),
    ("fc_mu.", "gaussian.fc_mu."),
    ("fc_logvar.", "gaussian.fc_logvar."),
)

# Reference buffers that we recompute: reference key -> (our module path, our buffer name).
_RECOMPUTED: dict[str, tuple[str, str]] = {
    "dasheng_tokenizer.encoder.front_end.mel_spec.spectrogram.window": ("acoustic.mel", "window"),
    "dasheng_tokenizer.encoder.front_end.mel_spec.mel_scale.fb": ("acoustic.mel", "fb"),
    "dasheng_tokenizer.decoder.head.istft.window": ("decoder.head.istft", "window"),
    "semantic_encoder.encoder.front_end.0.spectrogram.window": ("semantic_encoder.front_end", "window"),
    "semantic_encoder.encoder.front_end.0.mel_scale.fb": ("semantic_encoder.front_end", "fb"),
}

# Present in some releases, unused by LoSATok (MiDashengLM's classification head).
_IGNORED = re.compile(r"^semantic_encoder\.encoder\.outputlayer\.")


def read_state_dict(checkpoint: str | Path | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file or dict into a flat ``{key: tensor}`` with wrapper prefixes removed."""
    if isinstance(checkpoint, Mapping):
        obj: Any = checkpoint
        source = "state dict"
    else:
        path = Path(checkpoint)
        source = str(path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        obj = _read_file(path)
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{source} does not hold a state dict (got {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source} is not a state dict of tensors; offending entries: {bad[:5]}")
    state = dict(obj)
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _read_file(path: Path) -> Any:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} cannot be loaded safely (weights_only=True refused it, or it is not a torch checkpoint): "
            f"{str(e).splitlines()[0]}"
        ) from None
    except Exception as e:  # noqa: BLE001 - any failure inside torch's reader means "not a checkpoint"
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{path} is truncated or not a torch checkpoint: {first}") from None


def convert_reference_state_dict(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """Map reference keys to ours.

    Returns:
        ``(converted, recomputed_buffers, unknown_keys)``: our state dict, the reference's copies of
        buffers we recompute (reference key -> tensor), and keys that match no known layout.
    """
    converted: dict[str, torch.Tensor] = {}
    recomputed: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if key in _RECOMPUTED:
            recomputed[key] = value
            continue
        if _IGNORED.match(key):
            continue
        for src, dst in _PREFIX_MAP:
            if key.startswith(src):
                converted[dst + key[len(src) :]] = value
                break
        else:
            unknown.append(key)
    return converted, recomputed, unknown


def load_reference_checkpoint(
    checkpoint: str | Path | Mapping[str, Any],
    config: LoSATokConfig | Mapping[str, Any] | str | Path | None = None,
    model_cls: type[LoSATokVAE] | None = None,
) -> LoSATokVAE:
    """Build a ready (eval-mode) :class:`LoSATokVAE` from an official-layout checkpoint.

    Args:
        checkpoint: path to ``.pth``/``.pt``/``.safetensors``, or a state dict.
        config: ``None`` (official sizes), a :class:`LoSATokConfig`, a dict (ours or a reference
            format) or a path to a JSON/YAML config (fixture ``config.json`` or the official yml).
        model_cls: the class to build (``LoSATokVAE`` or a subclass).

    Raises:
        CheckpointError: unreadable file, missing/unexpected keys (named), wrong shapes (key and
            both shapes named), or recomputed buffers that disagree with the file.
    """
    if model_cls is None:
        from .models.losatok_vae import LoSATokVAE as model_cls  # noqa: N813
    cfg = config if isinstance(config, LoSATokConfig) else LoSATokConfig.from_reference(config)
    state = read_state_dict(checkpoint)
    converted, recomputed, unknown = convert_reference_state_dict(state)
    pos = converted.get("semantic_encoder.time_pos_embed")
    if pos is not None and pos.dim() == 4 and pos.shape[-1] != cfg.semantic_chunk_tokens:
        # The chunk length is a property of the trained encoder: read it from the checkpoint.
        cfg = LoSATokConfig.from_dict({**cfg.to_dict(), "semantic_chunk_tokens": int(pos.shape[-1])})
    model = model_cls(**cfg.to_dict())
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    # Report names as the Hugging Face layout spells them (init_bn.*, not init_bn.1.*).
    reverse = {dst: src for src, dst in _PREFIX_MAP if dst != "semantic_encoder.init_bn."}
    if missing or unexpected or unknown:
        parts = []
        if missing:
            parts.append(f"missing weights {_reference_names(missing, reverse)}")
        if unexpected or unknown:
            parts.append(f"unexpected weights {sorted(unknown + _reference_names(unexpected, reverse))}")
        raise CheckpointError("checkpoint does not match the configured model: " + "; ".join(parts))
    mismatched = [
        f"{_reference_names([k], reverse)[0]}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in converted.items()
        if v.shape != expected[k].shape
    ]
    if mismatched:
        raise CheckpointError("wrong-shape weights: " + "; ".join(mismatched))
    for ref_key, value in recomputed.items():
        module_path, buffer = _RECOMPUTED[ref_key]
        ours = getattr(model.get_submodule(module_path), buffer)
        if value.shape != ours.shape or not torch.allclose(value.float(), ours.float(), atol=1e-5, rtol=1e-4):
            raise CheckpointError(
                f"buffer {ref_key} {tuple(value.shape)} disagrees with the recomputed {tuple(ours.shape)}: "
                "the checkpoint was made with different front-end settings than the config"
            )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in converted.items()}, strict=True)
    return model.eval()


def _reference_names(keys: list[str], reverse: Mapping[str, str]) -> list[str]:
    """Our keys -> the reference names a user would see in their checkpoint."""
    out = []
    for key in keys:
        for dst, src in sorted(reverse.items(), key=lambda kv: -len(kv[0])):
            if key.startswith(dst):
                out.append(src + key[len(dst) :])
                break
        else:
            out.append(key)
    return out
