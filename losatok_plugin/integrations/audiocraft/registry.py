"""Make audiocraft's own builders build LoSATok conditioners from a solver config.

audiocraft 1.3.0 picks conditioner classes with a fixed ``if/elif`` over ``model:`` names inside
``audiocraft.models.builders.get_conditioner_provider`` and has no plugin registry. :func:`register`
therefore replaces that one function in ``audiocraft.models.builders`` (looked up there at call time by
``get_lm_model``, hence by the solvers and ``load_lm_model``) with a thin wrapper:

1. the wrapper takes the ``conditioners`` entries whose ``model`` is a registered name out of a copy of
   the config and lets audiocraft's original function build the rest;
2. it builds a :class:`LoSATokConditioner` for each of ours and puts it into the returned
   ``ConditioningProvider`` in config order.

No audiocraft file is edited. The hook is idempotent (registering again, or another name, reuses it) and
:func:`unregister` restores the original function.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ...configuration import ConfigError
from .conditioner import LoSATokConditioner

CONFIG_KEYS = ("model_path", "features", "max_duration", "excerpt_duration", "cache_path")
_MARK = "_losatok_model_names"  # attribute of the wrapper: the set of registered ``model:`` names


def build_conditioner(
    output_dim: int,
    args: Mapping[str, Any],
    device: str = "cpu",
    segment_duration: float | None = None,
) -> LoSATokConditioner:
    """Build a conditioner from the ``losatok:`` mapping of a conditioner config.

    Args:
        output_dim: the LM's width.
        args: ``model_path`` (required: a ``save_pretrained`` folder or an official checkpoint), and
            optionally ``features`` (``mu`` | ``unified_emb``), ``max_duration`` (s; default: the solver's
            ``dataset.segment_duration``), ``excerpt_duration`` (s), ``cache_path``. Unknown keys are refused.
        device: where the VAE runs (the solver's ``device``).
        segment_duration: the solver's training segment length, the default ``max_duration``.
    """
    args = dict(args)
    unknown = sorted(set(args) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in a losatok conditioner config; allowed: {list(CONFIG_KEYS)}")
    model_path = args.pop("model_path", None)
    if not model_path:
        raise ConfigError(
            "a losatok conditioner needs model_path: a save_pretrained folder or an official LoSATok checkpoint"
        )
    from ...loading import load_vae

    if args.get("max_duration") is None:  # missing or null: the training segment length
        args["max_duration"] = segment_duration
    return LoSATokConditioner(load_vae(model_path), output_dim, device=device, **args)


def _to_dict(node: Any) -> dict[str, Any]:
    import omegaconf

    if node is None:
        return {}
    if isinstance(node, omegaconf.DictConfig):
        return omegaconf.OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)


def _make_hook(original):
    import omegaconf
    from torch import nn

    def get_conditioner_provider(output_dim: int, cfg: omegaconf.DictConfig):
        names = getattr(get_conditioner_provider, _MARK)
        section = cfg.get("conditioners")
        ours = [
            k for k, v in (section or {}).items() if k != "args" and isinstance(v, Mapping) and v.get("model") in names
        ]
        if not ours:
            return original(output_dim, cfg)
        rest = copy.deepcopy(cfg)
        with omegaconf.open_dict(rest):
            for k in ours:
                del rest.conditioners[k]
        provider = original(output_dim, rest)
        segment = omegaconf.OmegaConf.select(cfg, "dataset.segment_duration", default=None)
        built = {}
        for k in ours:
            model = section[k]["model"]
            built[k] = build_conditioner(output_dim, _to_dict(section[k].get(model)), cfg.device, segment)
        order = [k for k in section.keys() if k != "args"]
        provider.conditioners = nn.ModuleDict({k: built[k] if k in built else provider.conditioners[k] for k in order})
        return provider

    get_conditioner_provider.__doc__ = (original.__doc__ or "") + " (with LoSATok conditioners: losatok_plugin)"
    get_conditioner_provider.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(get_conditioner_provider, _MARK, set())
    return get_conditioner_provider


def register(name: str = "losatok") -> None:
    """Make ``conditioners: {<key>: {model: <name>, <name>: {...}}}`` build a :class:`LoSATokConditioner`
    through ``audiocraft.models.builders.get_conditioner_provider``. Idempotent; call before building."""
    from audiocraft.models import builders

    current = builders.get_conditioner_provider
    if not hasattr(current, _MARK):
        current = _make_hook(current)
        builders.get_conditioner_provider = current
    getattr(current, _MARK).add(name)


def is_registered(name: str = "losatok") -> bool:
    from audiocraft.models import builders

    return name in getattr(builders.get_conditioner_provider, _MARK, ())


def unregister() -> None:
    """Restore audiocraft's original ``get_conditioner_provider`` (no-op when not registered)."""
    from audiocraft.models import builders

    current = builders.get_conditioner_provider
    if hasattr(current, _MARK):
        builders.get_conditioner_provider = current.__wrapped__
