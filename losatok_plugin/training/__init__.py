"""Training recipes (the ``[train]`` extra): the small teacher (stage 0), SemBo (stage 1), the tokenizer (stage 2) and DiTs on its latents."""

from .config import (
    DataConfig,
    DiscriminatorConfig,
    OptimConfig,
    RunConfig,
    SemboStageConfig,
    TeacherStageConfig,
    TokenizerStageConfig,
)
from .dit import DiTStageConfig, train_dit
from .sembo import train_sembo
from .teacher import train_teacher
from .tokenizer import train_tokenizer

__all__ = [
    "DataConfig",
    "DiTStageConfig",
    "DiscriminatorConfig",
    "OptimConfig",
    "RunConfig",
    "SemboStageConfig",
    "TeacherStageConfig",
    "TokenizerStageConfig",
    "train_dit",
    "train_sembo",
    "train_teacher",
    "train_tokenizer",
]
