"""Discriminators for adversarial tokenizer training."""

from .multi_period import MultiPeriodDiscriminator
from .multi_resolution import MultiResolutionDiscriminator

__all__ = ["MultiPeriodDiscriminator", "MultiResolutionDiscriminator"]
