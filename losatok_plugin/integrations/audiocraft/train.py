"""audiocraft's training entry point with the LoSATok conditioner registered.

``python -m losatok_plugin.integrations.audiocraft.train solver=musicgen/musicgen_losatok_32khz ...``
takes the same hydra arguments as ``python -m audiocraft.train`` (see recipes/audiocraft/README.md).
"""

from __future__ import annotations


def main() -> None:
    """Register the conditioner, then hand the command line to ``audiocraft.train.main``."""
    from . import register, require_audiocraft

    require_audiocraft()
    register()
    from audiocraft import train

    train.main()


if __name__ == "__main__":
    main()
