"""Training recipes (the ``[train]`` extra): SemBo (stage 1) and the tokenizer (stage 2) on accelerate."""

from .config import DataConfig, DiscriminatorConfig, OptimConfig, RunConfig, SemboStageConfig, TokenizerStageConfig
from .sembo import train_sembo
from .tokenizer import train_tokenizer

__all__ = [
    "DataConfig",
    "DiscriminatorConfig",
    "OptimConfig",
    "RunConfig",
    "SemboStageConfig",
    "TokenizerStageConfig",
    "train_sembo",
    "train_tokenizer",
]
