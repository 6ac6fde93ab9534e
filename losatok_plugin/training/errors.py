"""Errors a training run stops with: each message is one line that says what to do."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """Base class: ``recipes/train.py`` prints these as one line and exits with status 1."""


class RunExistsError(TrainingError):
    """A new run (no ``--resume``) was started in an output folder that holds an earlier run."""


class ResumeError(TrainingError):
    """``--resume`` found nothing to resume."""


class CheckpointSaveError(TrainingError):
    """A checkpoint could not be written (full disk, permissions...); earlier checkpoints are intact."""


class NonFiniteError(TrainingError):
    """Too many steps with a non-finite loss or gradient, or non-finite weights about to be saved."""
