"""The frozen semantic encoder: MiDashengLM's audio encoder (the Dasheng transformer).

Signal path (SPEC §1.1): 64-band power mel (n_fft 512, hop 160) in dB floored at max − 120 dB →
BatchNorm over mel bins → Conv2d patch embed (64 × 4) → + time / frequency positional embeddings →
pre-norm transformer blocks → LayerNorm. Audio is processed in independent chunks of
``chunk_tokens`` tokens (252 tokens = 1008 mel frames = 10.08 s), each restarting the positional
embedding, exactly as the released models were trained.

State-dict keys follow the Hugging Face MiDashengLM naming (``init_bn.*``, ``patch_embed.proj.*``,
``blocks.N.*``); the mel buffers are recomputed and not stored.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.attention import TransformerBlock
from ..nn.fp32 import BatchNorm1dFloat32
from ..nn.mel import MelSpectrogram, db_peak, power_to_db

MEL_WINDOW_FRAMES = 6000  # STFTs of long audio are computed 60 s at a time (memory stays flat)


class PatchEmbed(nn.Module):
    """``Conv2d(1, D, (n_mels, patch_time), stride = kernel)``: ``[B, 1, F, t] -> [B, D, 1, t // patch_time]``."""

    def __init__(self, n_mels: int, patch_time: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, embed_dim, (n_mels, patch_time), stride=(n_mels, patch_time))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``[B, 1, n_mels, t]`` -> ``[B, D, 1, t // patch_time]``."""
        return self.proj(x)


class DashengEncoder(nn.Module):
    """Dasheng audio transformer: ``[B, N]`` 16 kHz audio -> ``[B, T, D]`` at 25 Hz.

    Args:
        embed_dim: width D (1280 for Dasheng-0.6B / MiDashengLM).
        depth: number of transformer blocks.
        num_heads: attention heads.
        mlp_ratio: MLP width multiplier.
        sample_rate, n_fft, hop_length, n_mels, f_max, top_db: front-end settings.
        patch_time: mel frames per token.
        chunk_tokens: tokens per independent chunk (the length of ``time_pos_embed``).
        batch_global_db_floor: reproduce the reference's batch-global −120 dB floor (compat flag).
    """

    def __init__(
        self,
        embed_dim: int = 1280,
        depth: int = 32,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        sample_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 160,
        n_mels: int = 64,
        f_max: float = 8000.0,
        top_db: float = 120.0,
        patch_time: int = 4,
        chunk_tokens: int = 252,
        batch_global_db_floor: bool = False,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.depth, self.num_heads = depth, num_heads
        self._sample_rate = sample_rate
        self.patch_time = patch_time
        self.top_db = top_db
        self.chunks_per_batch = 4
        self.batch_global_db_floor = batch_global_db_floor
        self.front_end = MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, f_max=f_max, power=2.0)
        # BatchNorm over the mel bins; BatchNorm1d on [B, F, t] equals the reference's BatchNorm2d on
        # the rearranged [B, F, 1, t]. Kept in float32 with the mel front end (see nn/fp32.py).
        self.init_bn = BatchNorm1dFloat32(n_mels, momentum=0.01)
        self.patch_embed = PatchEmbed(n_mels, patch_time, embed_dim)
        self.time_pos_embed = nn.Parameter(torch.randn(1, embed_dim, 1, chunk_tokens) * 0.02)
        self.freq_pos_embed = nn.Parameter(torch.randn(1, embed_dim, 1, 1) * 0.02)
        self.blocks = nn.ModuleList([TransformerBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    @property
    def output_dim(self) -> int:
        """Width D of the output (the teacher interface)."""
        return self.embed_dim

    @property
    def sample_rate(self) -> int:
        """Input sample rate in Hz."""
        return self._sample_rate

    @property
    def chunk_tokens(self) -> int:
        """Tokens per independent chunk, read from the positional embedding (252 officially)."""
        return self.time_pos_embed.shape[-1]

    def log_mel(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """audio ``[B, N]`` (``lengths``: valid samples per item) -> BatchNorm-ed dB mel ``[B, n_mels, 1 + N // hop]``."""
        return self._mel_reader(audio, lengths)(0, 1 + audio.shape[-1] // self.front_end.hop_length)

    @property
    def token_patch_dim(self) -> int:
        """Values per token of :meth:`token_patches`: ``n_mels * patch_time`` (64 * 4)."""
        return self.init_bn.num_features * self.patch_time

    def token_patches(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The normalised mel each token embeds: audio ``[B, N]`` -> ``[B, (1 + N // hop) // patch_time,
        n_mels * patch_time]`` (bins of frame 0, then frame 1, ...), normalised as the encoder's forward does (batch
        statistics in training mode, running statistics in eval mode) but never updating the running statistics (a
        read-out target for stage 0; no gradient)."""
        with torch.no_grad():
            hop = self.front_end.hop_length
            power = self.front_end.frames_of(audio, 0, 1 + audio.shape[-1] // hop, lengths)
            valid = None if lengths is None else 1 + lengths // hop
            peak = db_peak(power, batch_global_floor=self.batch_global_db_floor, valid_frames=valid, first_frame=0)
            bn = self.init_bn
            batch = bn.training or bn.running_mean is None
            stats = [None if x is None or batch else x.float() for x in (bn.running_mean, bn.running_var)]
            affine = [None if x is None else x.float() for x in (bn.weight, bn.bias)]
            db = power_to_db(power, self.top_db, peak=peak).float()
            mel = F.batch_norm(db, *stats, *affine, training=batch, eps=bn.eps)
            b, n_mels, frames = mel.shape
            t = frames // self.patch_time
            mel = mel[..., : t * self.patch_time].reshape(b, n_mels, t, self.patch_time)
            return mel.permute(0, 2, 3, 1).reshape(b, t, self.patch_time * n_mels)

    def _mel_reader(self, audio: torch.Tensor, lengths: torch.Tensor | None) -> Callable[[int, int], torch.Tensor]:
        """``read(f0, f1)`` -> frames ``f0..f1-1`` of :meth:`log_mel` ``[B, n_mels, f1 - f0]``, memory flat in N.

        The dB floor is relative to the maximum over the whole clip, so a first pass takes that maximum
        ``MEL_WINDOW_FRAMES`` (60 s) at a time; ``read`` then computes its frames from their own samples.
        A clip of one window keeps that window's power and is not transformed twice.
        """
        hop = self.front_end.hop_length
        n_frames = 1 + audio.shape[-1] // hop
        valid = None if lengths is None else 1 + lengths // hop
        peak = cached = None
        for f0 in range(0, n_frames, MEL_WINDOW_FRAMES):
            f1 = min(f0 + MEL_WINDOW_FRAMES, n_frames)
            power = self.front_end.frames_of(audio, f0, f1, lengths)
            top = db_peak(power, batch_global_floor=self.batch_global_db_floor, valid_frames=valid, first_frame=f0)
            peak = top if peak is None else torch.maximum(peak, top)
            cached = power if f1 - f0 == n_frames else None
            del power

        def read(f0: int, f1: int) -> torch.Tensor:
            power = cached[..., f0:f1] if cached is not None else self.front_end.frames_of(audio, f0, f1, lengths)
            return self.init_bn(power_to_db(power, self.top_db, peak=peak))

        return read

    def forward_chunk(self, mel: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """One chunk: normalised mel ``[B, n_mels, t]`` (t ≤ chunk frames) -> ``[B, t // patch_time, D]``."""
        x = self.patch_embed(mel.unsqueeze(1).to(self.patch_embed.proj.weight.dtype))  # float32 mel -> model dtype
        t = x.shape[-1]
        x = x + self.time_pos_embed[..., :t] + self.freq_pos_embed
        x = x.flatten(2).transpose(1, 2)
        for block in self.blocks:
            x = block(x, key_padding_mask)
        return self.norm(x)

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor | None = None, project: Callable | None = None
    ) -> torch.Tensor:
        """audio: ``[B, N]`` float at 16 kHz -> semantic embedding ``[B, (1 + N // 160) // 4, D]``.

        ``lengths`` (``[B]`` valid samples) marks padding: padded tokens are masked out of attention
        (valid outputs equal those of each item alone) and set to zero. ``project`` (e.g. SemBo's
        encoder) is applied chunk by chunk, so long audio never holds the full-width sequence.
        """
        project = project or (lambda e: e)
        read = self._mel_reader(audio, lengths)  # mel frames on demand: no full-length mel is kept
        b, frames = audio.shape[0], 1 + audio.shape[-1] // self.front_end.hop_length
        chunk_frames = self.chunk_tokens * self.patch_time
        n_full = frames // chunk_frames
        n_tokens = frames // self.patch_time
        valid = None
        if lengths is not None:
            valid = ((1 + lengths // self.front_end.hop_length) // self.patch_time).to(audio.device)  # [B]
        outputs = []
        # Full chunks are independent: run up to ``chunks_per_batch`` of them as one batch (bigger
        # GEMMs, same numbers, bounded activation memory).
        for start in range(0, n_full, self.chunks_per_batch):
            k = min(self.chunks_per_batch, n_full - start)
            group = read(start * chunk_frames, (start + k) * chunk_frames)
            f = group.shape[1]
            group = group.reshape(b, f, k, chunk_frames)
            group = group.permute(0, 2, 1, 3).reshape(b * k, f, chunk_frames)
            mask = self._chunk_mask(valid, start * self.chunk_tokens, k, self.chunk_tokens)
            outputs.append(project(self.forward_chunk(group, mask).reshape(b, k * self.chunk_tokens, self.embed_dim)))
        if frames - n_full * chunk_frames >= self.patch_time:  # a tail shorter than one patch yields no token
            tail = read(n_full * chunk_frames, frames)
            mask = self._chunk_mask(valid, n_full * self.chunk_tokens, 1, tail.shape[-1] // self.patch_time)
            outputs.append(project(self.forward_chunk(tail, mask)))
        x = torch.cat(outputs, dim=1)
        if valid is not None:
            x = x * (torch.arange(n_tokens, device=x.device) < valid[:, None])[..., None].to(x.dtype)
        return x

    @staticmethod
    def _chunk_mask(valid: torch.Tensor | None, first: int, k: int, length: int) -> torch.Tensor | None:
        """Key-padding mask ``[B·k, length]`` (True = valid) for ``k`` chunks starting at token ``first``."""
        if valid is None:
            return None
        pos = first + torch.arange(k * length, device=valid.device).view(k, length)  # [k, L]
        mask = (pos[None] < valid[:, None, None]).reshape(-1, length)  # [B·k, L]
        if bool(mask.all()):
            return None
        mask[~mask.any(dim=1)] = True  # fully padded chunks: attend anywhere (outputs are zeroed later)
        return mask
