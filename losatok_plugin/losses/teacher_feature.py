"""Teacher-feature loss on the reconstruction: what the frozen semantic encoder hears in it against the input.

``L = mean |teacher(recon) - sg(teacher(audio))|`` over the common ``[B, T, D]`` tokens. Not in the paper's
recipe (its decoder sees only mel, STFT and GAN losses): a perceptual loss in the sense of the phonetic and
SSL-feature losses of speech enhancement and TTS vocoders, with the tokenizer's own teacher as the listener,
so that the reconstruction keeps what the teacher was trained to recognise (phonemes, language, instrument,
pitch, sound class). The teacher stays frozen; the gradient reaches the decoder through its mel front end.
"""

from __future__ import annotations

import torch
from torch import nn


def teacher_feature_loss(teacher: nn.Module, recon: torch.Tensor, target_emb: torch.Tensor) -> torch.Tensor:
    """L1 between the teacher's features of ``recon`` and the given features of the input.

    Args:
        teacher: the frozen semantic encoder (audio ``[B, N]`` -> ``[B, T, D]``), in eval mode.
        recon: reconstructed audio ``[B, N]`` (gradient flows to it).
        target_emb: the teacher's features of the input ``[B, T', D]`` (detached here).

    Returns:
        0-d tensor: mean absolute difference over the first ``min(T, T')`` tokens.
    """
    emb = teacher(recon.float())
    t = min(emb.shape[1], target_emb.shape[1])
    return (emb[:, :t].float() - target_emb[:, :t].detach().float()).abs().mean()
