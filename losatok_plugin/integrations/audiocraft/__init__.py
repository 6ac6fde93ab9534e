"""LoSATok inside audiocraft: latents of a frozen LoSATokVAE as waveform conditioning.

>>> from losatok_plugin.integrations.audiocraft import register
>>> register()          # once, before audiocraft's builders run (idempotent)

after which a solver config may say::

    conditioners:
      self_wav:
        model: losatok
        losatok: {model_path: path/to/losatok, features: mu, max_duration: 10.0}

and ``audiocraft.models.builders.get_lm_model(cfg)`` builds a :class:`LoSATokConditioner` for it.
See ``recipes/audiocraft/README.md``.

audiocraft is imported only when one of these entry points is used; without it they raise an
``ImportError`` that says how to install it.
"""

from __future__ import annotations

from typing import Any

INSTALL_HINT = (
    "the audiocraft integration needs audiocraft 1.3.0, which must be installed without its torch pins: "
    "pip install 'losatok-plugin[audiocraft]' && pip install --no-deps -c constraints.txt "
    "audiocraft==1.3.0 xformers==0.0.33.post2  (`make install` does both; see recipes/audiocraft/README.md)"
)


def require_audiocraft() -> None:
    """Import audiocraft's conditioner module or raise an ``ImportError`` naming the extra to install."""
    try:
        import audiocraft.modules.conditioners  # noqa: F401
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} [{type(e).__name__}: {e}]") from e


def register(name: str = "losatok") -> None:
    """Let audiocraft's ``get_conditioner_provider`` build ``model: <name>`` conditioners (idempotent).

    See :func:`losatok_plugin.integrations.audiocraft.registry.register`.
    """
    require_audiocraft()
    from .registry import register as _register

    _register(name)


def is_registered(name: str = "losatok") -> bool:
    """Whether :func:`register` has hooked ``name`` into audiocraft's builders."""
    require_audiocraft()
    from .registry import is_registered as _is_registered

    return _is_registered(name)


def unregister() -> None:
    """Undo :func:`register`: audiocraft's original builder function is restored."""
    require_audiocraft()
    from .registry import unregister as _unregister

    _unregister()


def __getattr__(attr: str) -> Any:
    # The conditioner subclasses audiocraft classes, so it can only be defined once audiocraft imports.
    if attr in ("LoSATokConditioner", "LatentCache", "build_conditioner"):
        require_audiocraft()
        from . import conditioner, registry

        return getattr(conditioner, attr, None) or getattr(registry, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = [
    "INSTALL_HINT",
    "LatentCache",
    "LoSATokConditioner",
    "build_conditioner",
    "is_registered",
    "register",
    "unregister",
]
