"""Evaluation: reconstruction metrics, representation probes, redundancy analysis, Fréchet distance."""

from .metrics import align_lengths, mel_distance, pesq_wb, si_sdr, stft_distance, stoi

__all__ = ["align_lengths", "mel_distance", "pesq_wb", "si_sdr", "stft_distance", "stoi"]
