"""Loss functions. Each returns 0-d tensors or a flat dict keyed by the logged names."""

from .kl import kl_loss
from .semantic import SEMANTIC_LOSS_MODES, dual_semantic_loss
from .teacher_feature import teacher_feature_loss
from .time_relation import frame_similarity, semantic_bottleneck_loss, time_relation_loss

__all__ = [
    "SEMANTIC_LOSS_MODES",
    "dual_semantic_loss",
    "frame_similarity",
    "kl_loss",
    "semantic_bottleneck_loss",
    "teacher_feature_loss",
    "time_relation_loss",
]
