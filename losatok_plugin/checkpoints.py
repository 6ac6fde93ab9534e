"""Model files: where a model spec points, and what its files hold (config dicts and state dicts).

The one module that knows every on-disk model format, and that never builds a model (it sits below
``models/``: the model class and :func:`losatok_plugin.loading.load_vae` call into it, never the reverse,
so there is no import circle). It owns:

- **specs**: a short name (``losatok-mini``, the embedded default), a ``save_pretrained`` folder, an official
  checkpoint file (``losatok_kl1e-2.pth``; an official ``16k_16k_25Hz_losatok.yml`` next to it or in
  ``../config/`` is its config) or a folder as downloaded from the official model page / a clone of the
  official repository (``losatok_kl1e-*.pth`` in it or in ``ckpts/``): :func:`locate_model`.
- **state dicts**: ``.pth``/``.pt`` pickles read with ``torch.load(weights_only=True)`` (no code runs),
  ``.safetensors`` files, wrapper prefixes (``module.``, ``model.``) removed: :func:`read_state_dict`.
- **the official key map**: reference names -> ours (:func:`convert_reference_state_dict`) and the check of a
  converted state dict against a built model (:func:`load_reference_weights`).
- **reference configs -> our config fields**: the official yml, the reference ``DashengTokenizerConfig`` dict
  and the parity fixture's ``config.json`` (:func:`reference_config_fields`, used by
  ``LoSATokConfig.from_reference``, which passes its field names in).
- **a pretrained folder's config and selected tensors** (:func:`read_pretrained_weights`: one submodule
  without building the model).
- **dasheng release files** (``{"model", "config"}``): :func:`read_dasheng_release`.

Reference layout accepted by the key map: keys optionally prefixed by ``module.`` / ``model.``; the semantic
encoder's BatchNorm named ``init_bn.*`` (Hugging Face MiDashengLM) or ``init_bn.1.*`` (dasheng package); its
mel buffers and ``outputlayer.*`` present or absent. Buffers we recompute (windows, filterbanks) are checked
against the file when present, never required.

torch is imported inside the functions that read tensors, so that resolving a spec (the CLI's first step)
answers a typo at once.
"""

from __future__ import annotations

import json
import pickle
import re
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, ConfigError, ModelNotFoundError

if TYPE_CHECKING:
    import torch
    from torch import nn

# -- specs ------------------------------------------------------------------------------------------
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
EMBEDDED_MODELS = {"losatok-mini": PRETRAINED_DIR / "losatok-mini"}
DEFAULT_MODEL = "losatok-mini"
OFFICIAL_CHECKPOINTS = ("losatok_kl1e-2.pth", "losatok_kl1e-3.pth")
OFFICIAL_CONFIG = "16k_16k_25Hz_losatok.yml"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
PRETRAINED_WEIGHTS = "diffusion_pytorch_model.safetensors"  # what diffusers' save_pretrained writes


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


def official_files(folder: Path) -> tuple[list[Path], Path | None]:
    """Official checkpoints and config in a downloaded folder (or a clone of the official repo)."""
    checkpoints, config = [], None
    for where in (folder, folder / "ckpts"):
        checkpoints += [where / n for n in OFFICIAL_CHECKPOINTS if (where / n).is_file()]
    for where in (folder, folder / "config", folder.parent / "config"):
        if (where / OFFICIAL_CONFIG).is_file():
            config = where / OFFICIAL_CONFIG
            break
    return checkpoints, config


@dataclass
class ModelSource:
    """What a model spec points at.

    Attributes:
        kind: ``"pretrained"`` (a ``save_pretrained`` folder) or ``"reference"`` (an official-layout checkpoint).
        path: the folder (pretrained) or the checkpoint file (reference).
        config: for a reference checkpoint, its config (given, or the official yml found next to it; None =
            the official sizes); None for a pretrained folder (its ``config.json``).
    """

    kind: str
    path: Path
    config: Any = None


def locate_model(spec: str | Path | None = None, config: Any = None) -> ModelSource:
    """Resolve a model spec (see the module docstring; None = the embedded default ``losatok-mini``).

    Args:
        spec: short name, folder or checkpoint file.
        config: for official checkpoints: a ``LoSATokConfig``, dict or path (default: the official yml found
            next to the checkpoint, else the official sizes).

    Raises:
        ModelNotFoundError: nothing loadable at ``spec`` (one line saying what was expected).
    """
    spec = DEFAULT_MODEL if spec is None else spec
    path = check_model_spec(spec)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource("pretrained", path)
        checkpoints, found_config = official_files(path)
        if len(checkpoints) > 1:
            names = ", ".join(str(c) for c in checkpoints)
            raise ModelNotFoundError(f"{path} holds several official checkpoints ({names}): pass the one you want")
        if checkpoints:
            return ModelSource("reference", checkpoints[0], config or found_config)
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
        return ModelSource("reference", path, config if config is not None else official_files(path.parent)[1])
    raise ModelNotFoundError(f"{path} is neither a folder nor a file: not a model")


# -- state dicts ------------------------------------------------------------------------------------
def read_state_dict(checkpoint: str | Path | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file or dict into a flat ``{key: tensor}`` with wrapper prefixes removed."""
    import torch

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
    import torch

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


def safetensors_numels(path: Path) -> dict[str, int]:
    """Element count per tensor from a safetensors header (no torch, no weight reading)."""
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


# -- the official key map ---------------------------------------------------------------------------
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


@dataclass
class ReferenceWeights:
    """An official-layout checkpoint read and renamed, not yet loaded into a model.

    Attributes:
        config: our config fields (``LoSATokConfig.from_dict`` takes them); ``semantic_chunk_tokens`` follows
            the checkpoint's ``time_pos_embed``.
        state_dict: tensors under our key names.
        recomputed: the file's copies of buffers we recompute (reference key -> tensor), checked at load.
        unknown: reference keys that match no known layout (an error at load).
    """

    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    recomputed: dict[str, torch.Tensor] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


def read_reference_checkpoint(
    checkpoint: str | Path | Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> ReferenceWeights:
    """Read an official-layout checkpoint (``.pth``/``.pt``/``.safetensors`` or a state dict) and rename its keys.

    Args:
        checkpoint: the file, or a state dict in the reference layout.
        config: our config fields (``LoSATokConfig.to_dict()``; None = the official sizes). A reference-format
            config is converted first by ``LoSATokConfig.from_reference``.
    """
    fields = dict(config or {})
    converted, recomputed, unknown = convert_reference_state_dict(read_state_dict(checkpoint))
    pos = converted.get("semantic_encoder.time_pos_embed")
    if pos is not None and pos.dim() == 4:
        # The chunk length is a property of the trained encoder: read it from the checkpoint.
        fields["semantic_chunk_tokens"] = int(pos.shape[-1])
    return ReferenceWeights(fields, converted, recomputed, unknown)


def load_reference_weights(model: nn.Module, weights: ReferenceWeights) -> nn.Module:
    """Check ``weights`` against ``model`` (built from ``weights.config``) and load them, strictly.

    Raises:
        CheckpointError: missing/unexpected keys (named as the reference spells them), wrong shapes (key and
            both shapes named), or recomputed buffers that disagree with the file.
    """
    import torch

    converted = weights.state_dict
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    # Report names as the Hugging Face layout spells them (init_bn.*, not init_bn.1.*).
    reverse = {dst: src for src, dst in _PREFIX_MAP if dst != "semantic_encoder.init_bn."}
    if missing or unexpected or weights.unknown:
        parts = []
        if missing:
            parts.append(f"missing weights {_reference_names(missing, reverse)}")
        if unexpected or weights.unknown:
            parts.append(f"unexpected weights {sorted(weights.unknown + _reference_names(unexpected, reverse))}")
        raise CheckpointError("checkpoint does not match the configured model: " + "; ".join(parts))
    mismatched = [
        f"{_reference_names([k], reverse)[0]}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in converted.items()
        if v.shape != expected[k].shape
    ]
    if mismatched:
        raise CheckpointError("wrong-shape weights: " + "; ".join(mismatched))
    for ref_key, value in weights.recomputed.items():
        module_path, buffer = _RECOMPUTED[ref_key]
        ours = getattr(model.get_submodule(module_path), buffer)
        if value.shape != ours.shape or not torch.allclose(value.float(), ours.float(), atol=1e-5, rtol=1e-4):
            raise CheckpointError(
                f"buffer {ref_key} {tuple(value.shape)} disagrees with the recomputed {tuple(ours.shape)}: "
                "the checkpoint was made with different front-end settings than the config"
            )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in converted.items()}, strict=True)
    return model


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


# -- a pretrained folder's config and (part of its) weights, without building the model -------------
def read_pretrained_weights(folder: str | Path, prefix: str = "") -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``config.json`` and the ``prefix*`` tensors of a ``save_pretrained`` folder.

    Only the requested tensors are read from the safetensors file, so taking one submodule
    (``prefix="semantic_encoder."``) never materialises the rest of the model.

    Returns:
        ``(config, state_dict)``: the raw ``config.json`` (diffusers keys included) and the tensors.
    """
    folder = Path(folder)
    config = read_mapping(folder / "config.json")
    weights = folder / PRETRAINED_WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder} has config.json but no {PRETRAINED_WEIGHTS}")
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}  # noqa: SIM118
    return config, state


# -- dasheng release files --------------------------------------------------------------------------
DASHENG_SIZES = {  # dasheng package variants: (embed_dim, depth, num_heads)
    "dasheng_base": (768, 12, 12),
    "dasheng_06B": (1280, 32, 16),
    "dasheng_12B": (1536, 40, 24),
}


def read_dasheng_release(
    path: str | Path, name: str = "dasheng_base"
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A dasheng package release file ``{"model": state_dict, "config": dict}`` (read with ``weights_only``).

    Returns:
        ``(encoder_kwargs, state_dict)``: ``DashengEncoder`` sizes (``embed_dim``, ``depth``, ``num_heads``,
        ``chunk_tokens``, from the file's config, else the variant ``name``'s) and its weights under our names
        (``init_bn.1.*`` -> ``init_bn.*``; recomputed mel buffers and the classification head dropped).
    """
    import torch

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
    sizes = {
        "embed_dim": int(cfg.get("embed_dim", embed)),
        "depth": int(cfg.get("depth", depth)),
        "num_heads": int(cfg.get("num_heads", heads)),
        "chunk_tokens": int(pos.shape[-1]) if pos is not None else 252,
    }
    ours = {
        k.replace("init_bn.1.", "init_bn."): v
        for k, v in state.items()
        if not k.startswith(("front_end.", "outputlayer."))  # recomputed mel buffers / the classification head
    }
    return sizes, ours


# -- reference configs -> our config fields ---------------------------------------------------------
CONFIG_FORMATS = ("losatok", "dasheng_tokenizer", "official_yml", "parity_fixture")

# Keys of the reference ``DashengTokenizerConfig`` (the official yml's ``AudioVAE.config_dict``), with the
# transformers ``PretrainedConfig`` bookkeeping keys it may carry.
REFERENCE_TOKENIZER_KEYS = frozenset(
    (
        "decoder_depth decoder_embed_dim decoder_dim decoder_intermediate_size depth embed_dim hop_length istft_hop "
        "istft_n_fft n_mels_patch num_heads upsample_tokens patch_stride_time sample_rate model_type dtype torch_dtype "
        "transformers_version architectures _name_or_path"
    ).split()
)
REFERENCE_SEMANTIC_KEYS = frozenset(
    {"type", "embed_dim", "depth", "num_heads", "patch_size", "patch_stride", "target_length", "n_mels"}
)
# The reference semantic encoder's defaults (MiDashengLM): 1008 mel frames per chunk, 4 frames per token.
_REFERENCE_TARGET_LENGTH = 1008
_REFERENCE_PATCH_STRIDE = (64, 4)

# (our field, reference tokenizer key) renamed one to one.
_TOKENIZER_FIELDS = (
    ("latent_channels", "decoder_dim"),
    ("embed_dim", "embed_dim"),
    ("acoustic_hop", "hop_length"),
    ("acoustic_n_mels", "n_mels_patch"),
    ("acoustic_patch_time", "patch_stride_time"),
    ("decoder_dim", "decoder_embed_dim"),
    ("decoder_depth", "decoder_depth"),
    ("decoder_intermediate_dim", "decoder_intermediate_size"),
    ("upsample_tokens", "upsample_tokens"),
    ("istft_n_fft", "istft_n_fft"),
    ("istft_hop", "istft_hop"),
)


def detect_config_format(data: Mapping[str, Any], our_keys: Collection[str]) -> str:
    """Which of :data:`CONFIG_FORMATS` ``data`` is in, from unambiguous markers only.

    ``our_keys`` are the ``LoSATokConfig`` field names (passed in: this module sits below the config class).

    Raises :class:`ConfigError` when the keys do not decide (they then name the keys and ask for
    ``format=``).
    """
    if "AudioVAE.config_dict" in data:
        return "official_yml"
    if "config_dict" in data:
        return "parity_fixture"
    ours = set(our_keys)
    keys = set(data)
    ours_only = sorted(keys & (ours - REFERENCE_TOKENIZER_KEYS))
    reference_only = sorted(keys & (REFERENCE_TOKENIZER_KEYS - ours))
    unknown = sorted(keys - ours - REFERENCE_TOKENIZER_KEYS)
    if reference_only and not ours_only:
        if unknown:
            raise ConfigError(
                f"unknown keys {unknown} in the reference tokenizer config (dasheng_tokenizer); "
                f"known keys: {sorted(REFERENCE_TOKENIZER_KEYS)}"
            )
        return "dasheng_tokenizer"
    if ours_only and reference_only:
        raise ConfigError(
            f"config mixes LoSATok keys {ours_only} and reference keys {reference_only}: pass "
            f"format= one of {', '.join(CONFIG_FORMATS)}"
        )
    if not ours_only and not reference_only and unknown and not keys & ours:
        raise ConfigError(
            f"unrecognised config format: unknown keys {unknown}; expected LoSATok fields, a reference "
            "DashengTokenizerConfig dict, the official yml (AudioVAE.config_dict) or the parity fixture "
            "config.json (config_dict)"
        )
    return "losatok"  # our fields (from_dict names any unknown key)


def reference_config_fields(
    data: Mapping[str, Any],
    our_keys: Collection[str],
    format: str | None = None,  # noqa: A002 - the word users look for
) -> dict[str, Any]:
    """A config in any of :data:`CONFIG_FORMATS` -> our config fields (absent fields take our defaults).

    ``"losatok"`` (our fields, returned as given: ``LoSATokConfig.from_dict`` names unknown keys),
    ``"dasheng_tokenizer"`` (the reference ``DashengTokenizerConfig`` dict: ``embed_dim``, ``decoder_dim``,
    ``depth``...), ``"official_yml"`` (``16k_16k_25Hz_losatok.yml``, marked by ``AudioVAE.config_dict``) or
    ``"parity_fixture"`` (the fixture's ``config.json``, marked by ``config_dict``). The format is ``format``
    when given, else told by an unambiguous marker (:func:`detect_config_format`; ``our_keys`` are the
    ``LoSATokConfig`` field names). Unknown keys are an error in every format.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"config must be None, a dict or a path, got {type(data).__name__}")
    fmt = format or detect_config_format(data, our_keys)
    if fmt not in CONFIG_FORMATS:
        raise ConfigError(f"unknown config format {fmt!r}; formats: {', '.join(CONFIG_FORMATS)}")
    if fmt == "losatok":
        return dict(data)
    if fmt == "official_yml":
        tok = data.get("AudioVAE.config_dict")
        sr = data.get("AudioVAE.sample_rate", data.get("sample_rate", 16000))
    elif fmt == "parity_fixture":
        tok = data.get("config_dict")
        sr = data.get("sample_rate", 16000)
    else:
        tok, sr = data, data.get("sample_rate", 16000)
    if not isinstance(tok, Mapping) or "embed_dim" not in tok and "decoder_dim" not in tok:
        raise ConfigError(
            "unrecognised config format: expected LoSATok fields, a reference DashengTokenizerConfig dict, "
            "the official yml (AudioVAE.config_dict) or the parity fixture config.json (config_dict)"
        )
    unknown = sorted(set(tok) - REFERENCE_TOKENIZER_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown keys {unknown} in the reference tokenizer config ({fmt}); known keys: "
            f"{sorted(REFERENCE_TOKENIZER_KEYS)}"
        )
    sem: Mapping[str, Any] = {}
    if isinstance(data.get("semantic_encoder"), Mapping):
        sem = data["semantic_encoder"]
        if fmt == "parity_fixture":
            unknown = sorted(set(sem) - REFERENCE_SEMANTIC_KEYS)
            if unknown:
                known = sorted(REFERENCE_SEMANTIC_KEYS)
                raise ConfigError(f"unknown keys {unknown} in semantic_encoder; known: {known}")
    # 1280: the reference tokenizer's default width (MiDashengLM)
    if "embed_dim" in sem and int(sem["embed_dim"]) != int(tok.get("embed_dim", 1280)):
        raise ConfigError("semantic_encoder.embed_dim must equal the tokenizer embed_dim")
    if int(tok.get("upsample_tokens", 2)) < 1:
        raise ConfigError("upsample_tokens < 1 (no upsampler) is not supported by LoSATok checkpoints")
    out: dict[str, Any] = {"sampling_rate": int(sr)}
    for ours, theirs in _TOKENIZER_FIELDS:
        if theirs in tok:
            out[ours] = int(tok[theirs])
    for ours, theirs in (("semantic_depth", "depth"), ("semantic_num_heads", "num_heads")):
        if theirs in sem or theirs in tok:
            out[ours] = int(sem.get(theirs, tok.get(theirs)))
    if "n_mels" in sem:
        out["semantic_n_mels"] = int(sem["n_mels"])
    if "patch_stride" in sem or "target_length" in sem:
        patch_time = int(sem.get("patch_stride", _REFERENCE_PATCH_STRIDE)[-1])
        out["semantic_patch_time"] = patch_time
        out["semantic_chunk_tokens"] = int(sem.get("target_length", _REFERENCE_TARGET_LENGTH)) // patch_time
    if "hidden_dim" in data:
        out["bottleneck_hidden_dim"] = int(data["hidden_dim"])
    return out


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML file holding a mapping (one-line :class:`ConfigError` otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text()
    if path.suffix.lower() in (".yml", ".yaml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a mapping")
    return data
