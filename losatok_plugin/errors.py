"""The package's error types for configs, checkpoints and model specs, in one module that imports nothing.

Each is a ``ValueError`` / ``FileNotFoundError`` whose message is one line naming what is wrong, so that the
CLI can print it as is. Re-exported where users meet them (``losatok_plugin.ConfigError``, ...).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration is malformed: unknown keys, wrong types or inconsistent sizes."""


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model (names the offending keys)."""


class ModelNotFoundError(FileNotFoundError):
    """A model spec names nothing loadable (the message says what was expected)."""

    def __str__(self) -> str:  # FileNotFoundError's default str adds errno noise
        return str(self.args[0]) if self.args else ""
