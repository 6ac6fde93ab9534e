"""Training configs from YAML: nested dataclasses built strictly (unknown keys are errors), dotted overrides.

A ``model:`` section (a :class:`~losatok_plugin.configuration.LoSATokConfig`) is a variant name of
:data:`~losatok_plugin.configuration.MODEL_VARIANTS` (``model: mini``), a mapping of fields over the
official sizes (``model: {}``), or both (``model: {variant: mini, latent_channels: 256}``).

An ablation is a small override file: ``base: ../configs/sembo_mini.yaml`` (relative to the file) plus the keys
it changes; mappings merge key by key (``model: mini`` under ``model: {latent_channels: 64}`` keeps the variant),
anything else replaces the base's value. Bases may chain; a cycle is an error.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from types import UnionType
from typing import Any

from ..checkpoints import read_mapping
from ..configuration import ConfigError, LoSATokConfig


def model_config(data: str | Mapping[str, Any] | None, where: str = "model") -> LoSATokConfig:
    """A ``model:`` section -> :class:`LoSATokConfig` (variant name, field mapping, or ``variant`` + fields)."""
    try:
        if isinstance(data, str):
            return LoSATokConfig.variant(data)
        hints = typing.get_type_hints(LoSATokConfig)
        data = {k: _number(hints[k], v, f"{where}.{k}") if k in hints else v for k, v in dict(data or {}).items()}
        name = data.pop("variant", None)
        return LoSATokConfig.variant(name, **data) if name is not None else LoSATokConfig.from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}" if where else str(e)) from None


def load_dataclass(cls: type, data: Mapping[str, Any] | None, where: str = "") -> Any:
    """Build a (nested) config dataclass from a mapping, strictly.

    Unknown keys raise :class:`ConfigError` naming the dotted path and the known keys; nested dataclass
    fields are built recursively; lists become tuples where the field default is a tuple.
    """
    if cls is LoSATokConfig:
        return model_config(data, where)
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown config keys {[f'{where}.{k}' if where else k for k in unknown]}; "
            f"known keys{' of ' + where if where else ''}: {sorted(known)}"
        )
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        path = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = load_dataclass(hint, value, path)
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = _number(hint, value, path)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def _number(hint: Any, value: Any, path: str) -> Any:
    """``value`` as the number a ``float`` / ``int`` field wants. YAML reads ``1e-4`` (no dot) as a string, which
    would reach the optimiser as one; a string that is no number is a one-line :class:`ConfigError`."""
    types = (
        set(typing.get_args(hint)) - {type(None)} if typing.get_origin(hint) in (typing.Union, UnionType) else {hint}
    )
    if isinstance(value, bool) or not types & {float, int}:
        return value
    if float in types and isinstance(value, (int, str)):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{path} must be a number, got {value!r}") from None
    if types == {int} and isinstance(value, (str, float)):
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{path} must be an integer, got {value!r}") from None
        if not number.is_integer():
            raise ConfigError(f"{path} must be an integer, got {value!r}")
        return int(number)
    return value


def _merge(base: dict, over: Mapping[str, Any]) -> dict:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, str) and key == "model":
            old = {"variant": old}  # ``model: mini`` in the base, fields in the override
        out[key] = _merge(old, value) if isinstance(value, Mapping) and isinstance(old, Mapping) else value
    return out


def read_layered(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping of a config file with its ``base:`` chain applied (the file's keys win over its base's)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"config base cycle: {' -> '.join(str(p) for p in (*_seen, path))}")
    data = read_mapping(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base must be a path string, got {base!r}")
    return _merge(read_layered(path.parent / base, (*_seen, path)), data)


def load_yaml_config(cls: type, path: str | Path, overrides: list[str] | None = None) -> Any:
    """Read a YAML file into ``cls`` strictly; ``overrides`` are ``dotted.key=value`` strings (YAML values).

    ``model.embed_dim=64`` on a config that says ``model: mini`` overrides one field of the variant. A ``base:``
    key layers the file over another config (:func:`read_layered`).
    """
    import yaml

    data = read_layered(path)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if isinstance(node.get(part), str):  # ``model: mini`` + ``model.x=...``: the variant plus x
                node[part] = {"variant": node[part]}
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return load_dataclass(cls, data)


def load_stage_config(cls: type, path: str | Path, overrides: list[str] | None = None):
    """Load a stage config YAML (a stage's config dataclass, e.g. ``TokenizerStageConfig``)."""
    return load_yaml_config(cls, path, overrides)
