"""Training (the ``[train]`` extra): stage 0 (a small semantic encoder), SemBo (stage 1), the tokenizer
(stage 2) and DiTs on its latents, all run by one engine (``engine.py``) from the registry (``stages.py``)."""

from .config import (
    DataConfig,
    DiscriminatorConfig,
    DiTStageConfig,
    OptimConfig,
    RunConfig,
    SemanticEncoderStageConfig,
    SemboStageConfig,
    TokenizerStageConfig,
)
from .engine import Stage, TrainState, run_stage
from .stages import STAGES, get_stage, train, train_dit, train_semantic_encoder, train_sembo, train_tokenizer
from .yaml_config import load_dataclass, load_stage_config, load_yaml_config

__all__ = [
    "STAGES",
    "DataConfig",
    "DiTStageConfig",
    "DiscriminatorConfig",
    "OptimConfig",
    "RunConfig",
    "SemanticEncoderStageConfig",
    "SemboStageConfig",
    "Stage",
    "TokenizerStageConfig",
    "TrainState",
    "get_stage",
    "load_dataclass",
    "load_stage_config",
    "load_yaml_config",
    "run_stage",
    "train",
    "train_dit",
    "train_semantic_encoder",
    "train_sembo",
    "train_tokenizer",
]
