"""Training recipes (the ``[train]`` extra): the small teacher (stage 0), SemBo (stage 1) and the tokenizer (stage 2)."""

from .config import (
    DataConfig,
    DiscriminatorConfig,
    OptimConfig,
    RunConfig,
    SemboStageConfig,
    TeacherStageConfig,
    TokenizerStageConfig,
)
from .sembo import train_sembo
from .teacher import train_teacher
from .tokenizer import train_tokenizer

__all__ = [
    "DataConfig",
    "DiscriminatorConfig",
    "OptimConfig",
    "RunConfig",
    "SemboStageConfig",
    "TeacherStageConfig",
    "TokenizerStageConfig",
    "train_sembo",
    "train_teacher",
    "train_tokenizer",
]
