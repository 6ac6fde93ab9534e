"""The stage registry: the one list of what ``recipes/train.py STAGE`` can train.

A new stage is one file defining ``STAGE = Stage(...)`` (``engine.py``) plus a YAML config, and one line
here. ``teacher`` is the older command name of stage 0, kept as an alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import dit, semantic_encoder, sembo, tokenizer
from .engine import Stage, run_stage

STAGES: dict[str, Stage] = {
    s.STAGE.name: s.STAGE
    for s in (semantic_encoder, sembo, tokenizer, dit)  # stage 0, 1, 2, then generation on the latents
}
ALIASES = {"teacher": "semantic_encoder"}
DESCRIPTIONS = {
    "semantic_encoder": "stage 0: a small semantic encoder on the corpus' labels (mini recipe; alias: teacher)",
    "sembo": "stage 1: the semantic bottleneck on frozen teacher features",
    "tokenizer": "stage 2: acoustic branch, Gaussian head and decoder (GAN)",
    "dit": "a text-to-audio DiT on the tokenizer's latents (diffusers pipeline)",
}


def get_stage(name: str) -> Stage:
    """The registered stage ``name`` (or alias); ``KeyError`` naming the known stages otherwise."""
    name = ALIASES.get(name, name)
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; stages: {', '.join([*STAGES, *ALIASES])}")
    return STAGES[name]


def train(name: str, cfg: Any, resume: bool = False) -> Path:
    """Train stage ``name`` with ``cfg`` (its config class); see :func:`~.engine.run_stage`."""
    return run_stage(get_stage(name), cfg, resume)


def train_semantic_encoder(cfg: Any, resume: bool = False) -> Path:
    """Stage 0; returns ``<output_dir>/final`` (see :func:`~.engine.run_stage` for signals)."""
    return run_stage(semantic_encoder.STAGE, cfg, resume)


def train_sembo(cfg: Any, resume: bool = False) -> Path:
    """Stage 1; returns ``<output_dir>/final`` (see :func:`~.engine.run_stage` for signals)."""
    return run_stage(sembo.STAGE, cfg, resume)


def train_tokenizer(cfg: Any, resume: bool = False) -> Path:
    """Stage 2; returns ``<output_dir>/final`` (see :func:`~.engine.run_stage` for signals)."""
    return run_stage(tokenizer.STAGE, cfg, resume)


def train_dit(cfg: Any, resume: bool = False) -> Path:
    """The DiT stage; returns ``<output_dir>/pipeline`` (see :func:`~.engine.run_stage` for signals)."""
    return run_stage(dit.STAGE, cfg, resume)
