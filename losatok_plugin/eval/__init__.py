"""Evaluation: reconstruction metrics and plots (heavier tools live behind the ``[eval]`` extra)."""

from .metrics import align_lengths, mel_distance, si_sdr

__all__ = ["align_lengths", "mel_distance", "si_sdr"]
