"""The LoSATok encoder (audio -> latent mean and logvar) rewritten so that it exports to ONNX.

Same numbers as ``LoSATokVAE.encode`` (to float32 rounding), three rewrites:

- the two mel front ends take their STFT from :class:`~losatok_plugin.nn.conv_stft.ConvSTFT` (a strided
  conv over a fixed windowed DFT basis) instead of ``torch.stft``; reflect padding, the mel filterbank
  product, the dB floor at ``max - top_db`` (per item, or over the batch under the
  ``semantic_batch_global_db_floor`` compatibility flag) and ``log(max(x, 1e-7))`` are plain ops;
- the semantic encoder's chunking (independent chunks of ``chunk_tokens`` = 252 tokens = 10.08 s, each
  restarting the positional embedding, plus a shorter tail) has a data-dependent number of chunks and a
  tail of any length. Here the token sequence is zero-padded to a whole number of chunks and all chunks
  run as one batch; the tail's padded tokens are masked out as attention keys, so each valid token sees
  exactly the keys it sees in PyTorch (where the tail runs alone), and the padded outputs are cut off.
  Input shorter than one chunk runs as one chunk of its own length (no padding: a 4 s clip costs 4 s of
  attention, not 10.08 s);
- the long-audio windowing of the PyTorch path (mel STFTs 60 s at a time, at most 4 chunks per batch) is
  dropped: the graph encodes in one pass and its memory grows with the input.

Not covered: zero-padded batches with per-item ``lengths`` (every item of a batch is encoded at the
batch's full length; encode different lengths separately) and semantic encoders other than Dasheng
(transformers teachers: their feature extractors are not rewritten).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.dasheng_encoder import DashengEncoder
from ..models.losatok_vae import LoSATokVAE
from ..nn.conv_stft import ConvSTFT
from ..nn.mel import power_to_db


def encoder_export_blocker(vae: LoSATokVAE) -> str | None:
    """Why ``vae``'s encoder cannot be exported (one line), or ``None`` when it can."""
    if not isinstance(vae.semantic_encoder, DashengEncoder):
        return (
            f"the encoder export covers the Dasheng semantic encoder only; this model's is "
            f"{vae.config.semantic_encoder_type!r} (a transformers teacher): encode in PyTorch"
        )
    return None


class ExportableEncoder(nn.Module):
    """``LoSATokVAE.encode`` without FFTs or data-dependent control flow: audio ``[B, 1, N]`` float32 at
    16 kHz -> ``(mean, logvar)`` each ``[B, C, T]``, T = (1 + N // 160) // 4 (normalised per channel when
    the config holds ``latent_norm_mean`` / ``latent_norm_std``, like ``encode``)."""

    def __init__(self, vae: LoSATokVAE) -> None:
        super().__init__()
        blocker = encoder_export_blocker(vae)
        if blocker:
            raise ValueError(blocker)
        self.semantic = vae.semantic_encoder
        self.bottleneck = vae.bottleneck
        self.acoustic = vae.acoustic
        self.gaussian = vae.gaussian
        self.semantic_stft = ConvSTFT(self.semantic.front_end.n_fft, self.semantic.front_end.hop_length)
        self.acoustic_stft = ConvSTFT(self.acoustic.mel.n_fft, self.acoustic.mel.hop_length)
        norm = None
        if vae.normalizes_latents:
            mean = torch.tensor(vae.config.latent_norm_mean).float()[None, :, None]
            std = torch.tensor(vae.config.latent_norm_std).float()[None, :, None]
            norm = torch.stack([mean, std])
        self.register_buffer("latent_norm", norm, persistent=False)  # [2, 1, C, 1] or None

    @staticmethod
    def _mel(stft: ConvSTFT, fb: torch.Tensor, x: torch.Tensor, power: bool) -> torch.Tensor:
        """Centred mel of ``x [B, N]``: ``[B, n_mels, 1 + N // hop]`` (power or magnitude)."""
        pad = stft.n_fft // 2
        spec = stft.power(F.pad(x[:, None], (pad, pad), mode="reflect")[:, 0])
        if not power:
            spec = spec.sqrt()
        # the filterbank product as a 1×1 conv: torch.export's matmul decomposition guards on batch != 1
        return F.conv1d(spec, fb.t()[:, :, None])

    def semantic_low(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, N]`` -> SemBo's ``semantic_emb_low`` ``[B, (1 + N // hop) // patch, C]``."""
        sem = self.semantic
        mel = self._mel(self.semantic_stft, sem.front_end.fb, x, power=True)
        db = power_to_db(mel, sem.top_db, batch_global_floor=sem.batch_global_db_floor)
        mel = sem.init_bn(db)
        b, f, frames = mel.shape
        patch = sem.patch_time
        n_tokens = frames // patch
        # chunk length: the semantic chunk, or the whole input when it is shorter (one chunk, unpadded, as
        # the PyTorch tail runs), so a short clip does not pay for a 10.08 s chunk; sym_min keeps it symbolic
        chunk = torch.sym_min(sem.chunk_tokens, n_tokens)
        k = (n_tokens + chunk - 1) // chunk  # chunks, the last one zero-padded
        mel = F.pad(mel[..., : n_tokens * patch], (0, (k * chunk - n_tokens) * patch))
        chunks = mel.reshape(b, f, k, chunk * patch).transpose(1, 2).reshape(b * k, f, chunk * patch)
        valid = torch.arange(k * chunk, device=x.device) < n_tokens  # [k·chunk]
        mask = valid.reshape(1, k, chunk).expand(b, k, chunk).reshape(b * k, chunk)
        emb = sem.forward_chunk(chunks, mask)  # [B·k, chunk, D]
        low = self.bottleneck.encode(emb)
        return low.reshape(b, k * chunk, low.shape[-1])[:, :n_tokens]

    def acoustic_low(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, N]`` -> ``acoustic_emb_low`` ``[B, (1 + N // hop) // patch, C]``."""
        ac = self.acoustic
        mel = torch.log(torch.clamp(self._mel(self.acoustic_stft, ac.mel.fb, x, power=False), min=1e-7))
        patch = ac.patch_embed.kernel_size[1]
        mel = mel[..., : (mel.shape[-1] // patch) * patch]
        emb = ac.patch_embed(mel.unsqueeze(1)).flatten(2).transpose(1, 2)
        return ac.to_low(ac.norm(emb))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio ``[B, 1, N]`` float32 -> mean, logvar ``[B, C, T]`` float32."""
        x = audio[:, 0]
        semantic, acoustic = self.semantic_low(x), self.acoustic_low(x)
        t = min(semantic.shape[1], acoustic.shape[1])
        params = self.gaussian(semantic[:, :t] + acoustic[:, :t])
        mean, logvar = params.mean, params.logvar  # [B, C, T]
        if self.latent_norm is not None:
            mean = (mean - self.latent_norm[0]) / self.latent_norm[1]
            logvar = logvar - 2 * torch.log(self.latent_norm[1])
        return mean, logvar
