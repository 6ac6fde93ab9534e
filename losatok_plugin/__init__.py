"""losatok-plugin: LoSATok (low-dimensional semantic-acoustic audio tokenizer) for diffusers and audiocraft.

>>> from losatok_plugin import LoSATokVAE
>>> vae = LoSATokVAE.from_pretrained("losatok-mini")              # the embedded model, offline
>>> vae = LoSATokVAE.from_reference_checkpoint("losatok_kl1e-2.pth")  # official weights
>>> z = vae.encode(audio).latent_dist.mode()                    # [B, 128, T] at 25 Hz
>>> wav = vae.decode(z).sample                                  # [B, 1, 640 * T] at 16 kHz

The public names are imported on first use (PEP 562), so that ``import losatok_plugin`` and the
``losatok`` command start without importing torch and diffusers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "AudioInputError": ".audio",
    "CheckpointError": ".errors",
    "ConfigError": ".errors",
    "LoSATokConfig": ".configuration",
    "tiny_config": ".configuration",
    "LoSATokFeatures": ".models.losatok_vae",
    "LoSATokGaussian": ".models.losatok_vae",
    "LoSATokVAE": ".models.losatok_vae",
}

__all__ = [
    "AudioInputError",
    "CheckpointError",
    "ConfigError",
    "LoSATokConfig",
    "LoSATokFeatures",
    "LoSATokGaussian",
    "LoSATokVAE",
    "__version__",
    "tiny_config",
]

if TYPE_CHECKING:
    from .audio import AudioInputError
    from .configuration import LoSATokConfig, tiny_config
    from .errors import CheckpointError, ConfigError
    from .models.losatok_vae import LoSATokFeatures, LoSATokGaussian, LoSATokVAE


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
