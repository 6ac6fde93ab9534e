"""losatok-plugin: LoSATok (low-dimensional semantic-acoustic audio tokenizer) for diffusers and audiocraft.

>>> from losatok_plugin import LoSATokVAE
>>> vae = LoSATokVAE.from_pretrained("path/to/losatok")        # or .from_reference_checkpoint("losatok_kl1e-2.pth")
>>> z = vae.encode(audio).latent_dist.mode()                    # [B, 128, T] at 25 Hz
>>> wav = vae.decode(z).sample                                  # [B, 1, 640 * T] at 16 kHz
"""

from .audio import AudioInputError
from .configuration import ConfigError, LoSATokConfig, tiny_config
from .models.losatok_vae import LoSATokFeatures, LoSATokGaussian, LoSATokVAE
from .reference_checkpoint import CheckpointError

__version__ = "0.1.0"

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
