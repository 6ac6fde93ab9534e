"""Discriminators for adversarial tokenizer training."""

from .bundle import Discriminators
from .multi_period import MultiPeriodDiscriminator
from .multi_resolution import MultiResolutionDiscriminator

__all__ = ["Discriminators", "MultiPeriodDiscriminator", "MultiResolutionDiscriminator"]
