"""Pure model modules: no optimizers, loss weights or loggers."""

from .acoustic_branch import AcousticBranch, AcousticOutput
from .dasheng_encoder import DashengEncoder
from .losatok_vae import LoSATokFeatures, LoSATokGaussian, LoSATokVAE
from .semantic_bottleneck import BottleneckOutput, SemanticBottleneck
from .vae_head import GaussianHead, gaussian_kl
from .vocos_decoder import VocosDecoder

__all__ = [
    "AcousticBranch",
    "AcousticOutput",
    "BottleneckOutput",
    "DashengEncoder",
    "GaussianHead",
    "LoSATokFeatures",
    "LoSATokGaussian",
    "LoSATokVAE",
    "SemanticBottleneck",
    "VocosDecoder",
    "gaussian_kl",
]
