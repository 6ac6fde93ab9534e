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
- the graph takes its input already reflect-padded (``pad_samples`` = the larger STFT's ``n_fft // 2``) and
  the semantic dB floor's peak as a second input (the larger of it and the input's own peak is used). One
  pass feeds the padded clip and ``-inf``; the long-audio windowing of the PyTorch path (the clip's peak
  first, then whole semantic chunks from their own samples: ``DashengEncoder._mel_reader``) is done by
  :class:`~losatok_plugin.export.onnx.OnnxEncoder` around the graph, with :class:`SemanticPeak` (a second,
  small graph) for the peak pass. A window of the padded clip that starts on a chunk boundary then gives
  that window's tokens exactly, so memory stays flat in the length.

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
from ..nn.mel import db_peak, power_to_db, reflect_pad_items


def encoder_export_blocker(vae: LoSATokVAE) -> str | None:
    """Why ``vae``'s encoder cannot be exported (one line), or ``None`` when it can."""
    if not isinstance(vae.semantic_encoder, DashengEncoder):
        return (
            f"the encoder export covers the Dasheng semantic encoder only; this model's is "
            f"{vae.config.semantic_encoder_type!r} (a transformers teacher): encode in PyTorch"
        )
    return None


def pad_samples(vae: LoSATokVAE) -> int:
    """Samples of reflect padding the encoder graphs expect each side of their input: the larger of the two
    front ends' ``n_fft // 2`` (512 officially)."""
    return max(vae.semantic_encoder.front_end.n_fft, vae.acoustic.mel.n_fft) // 2


def _mel(stft: ConvSTFT, fb: torch.Tensor, x: torch.Tensor, power: bool = True) -> torch.Tensor:
    """Mel of ``x [B, N + n_fft]`` (reflect-padded by ``n_fft // 2``): ``[B, n_mels, 1 + N // hop]`` (power or
    magnitude)."""
    spec = stft.power(x)
    if not power:
        spec = spec.sqrt()
    # the filterbank product as a 1×1 conv: torch.export's matmul decomposition guards on batch != 1
    return F.conv1d(spec, fb.t()[:, :, None])


class _PaddedMel(nn.Module):
    """The semantic front end over reflect-padded input (shared by both graphs; holds only the front end's
    filterbank, not the semantic encoder, so the peak graph carries no transformer weights)."""

    def __init__(self, vae: LoSATokVAE) -> None:
        super().__init__()
        front = vae.semantic_encoder.front_end
        self.pad = pad_samples(vae)
        self.batch_global_db_floor = vae.semantic_encoder.batch_global_db_floor
        self.semantic_stft = ConvSTFT(front.n_fft, front.hop_length)
        self.register_buffer("semantic_fb", front.fb.detach().clone(), persistent=False)  # [bins, n_mels]

    def semantic_power(self, padded: torch.Tensor) -> torch.Tensor:
        """padded ``[B, N + 2·pad]`` -> power mel ``[B, n_mels, 1 + N // hop]`` (frames centred on ``N``'s samples)."""
        off = self.pad - self.semantic_stft.n_fft // 2  # the semantic STFT pads less than the acoustic one
        x = padded.narrow(-1, off, padded.shape[-1] - 2 * off)
        return _mel(self.semantic_stft, self.semantic_fb, x)


class SemanticPeak(_PaddedMel):
    """The semantic dB floor's peak of a (window of a) clip: padded audio ``[B, 1, N + 2·pad]`` -> ``[B]`` dB
    (per item, or the batch's maximum under ``semantic_batch_global_db_floor``). The maximum over windows is
    the clip's (:func:`~losatok_plugin.nn.mel.db_peak`)."""

    def forward(self, padded: torch.Tensor) -> torch.Tensor:
        """padded ``[B, 1, N + 2·pad]`` float32 -> peak ``[B]`` float32."""
        power = self.semantic_power(padded[:, 0])
        peak = db_peak(power, batch_global_floor=self.batch_global_db_floor)
        return peak.reshape(-1).expand(power.shape[0]) if peak.dim() == 0 else peak.reshape(-1)


class ExportableEncoder(_PaddedMel):
    """``LoSATokVAE.encode`` without FFTs or data-dependent control flow: reflect-padded audio
    ``[B, 1, N + 2·pad]`` float32 at 16 kHz (``pad`` = :func:`pad_samples`) and the semantic dB peak ``[B]``
    (``-inf``: the input's own) -> ``(mean, logvar)`` each ``[B, C, T]``, T = (1 + N // 160) // 4
    (normalised per channel when the config holds ``latent_norm_mean`` / ``latent_norm_std``, like
    ``encode``). :meth:`one_pass` takes plain audio."""

    def __init__(self, vae: LoSATokVAE) -> None:
        blocker = encoder_export_blocker(vae)
        if blocker:
            raise ValueError(blocker)
        super().__init__(vae)
        self.semantic = vae.semantic_encoder
        self.bottleneck = vae.bottleneck
        self.acoustic = vae.acoustic
        self.gaussian = vae.gaussian
        self.acoustic_stft = ConvSTFT(self.acoustic.mel.n_fft, self.acoustic.mel.hop_length)
        norm = None
        if vae.normalizes_latents:
            mean = torch.tensor(vae.config.latent_norm_mean).float()[None, :, None]
            std = torch.tensor(vae.config.latent_norm_std).float()[None, :, None]
            norm = torch.stack([mean, std])
        self.register_buffer("latent_norm", norm, persistent=False)  # [2, 1, C, 1] or None

    def semantic_low(self, padded: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
        """padded ``[B, N + 2·pad]``, peak ``[B]`` -> SemBo's ``semantic_emb_low`` ``[B, (1 + N // hop) // patch, C]``."""
        sem = self.semantic
        mel = self.semantic_power(padded)
        own = db_peak(mel, batch_global_floor=sem.batch_global_db_floor)  # [B, 1, 1], or [] over the batch
        mel = sem.init_bn(power_to_db(mel, sem.top_db, peak=torch.maximum(own, peak[:, None, None])))
        b, f, frames = mel.shape
        patch = sem.patch_time
        n_tokens = frames // patch
        # chunk length: the semantic chunk, or the whole input when it is shorter (one chunk, unpadded, as
        # the PyTorch tail runs), so a short clip does not pay for a 10.08 s chunk; sym_min keeps it symbolic
        chunk = torch.sym_min(sem.chunk_tokens, n_tokens)
        k = (n_tokens + chunk - 1) // chunk  # chunks, the last one zero-padded
        mel = F.pad(mel[..., : n_tokens * patch], (0, (k * chunk - n_tokens) * patch))
        chunks = mel.reshape(b, f, k, chunk * patch).transpose(1, 2).reshape(b * k, f, chunk * patch)
        valid = torch.arange(k * chunk, device=padded.device) < n_tokens  # [k·chunk]
        mask = valid.reshape(1, k, chunk).expand(b, k, chunk).reshape(b * k, chunk)
        emb = sem.forward_chunk(chunks, mask)  # [B·k, chunk, D]
        low = self.bottleneck.encode(emb)
        return low.reshape(b, k * chunk, low.shape[-1])[:, :n_tokens]

    def acoustic_low(self, padded: torch.Tensor) -> torch.Tensor:
        """padded ``[B, N + 2·pad]`` -> ``acoustic_emb_low`` ``[B, (1 + N // hop) // patch, C]``."""
        ac = self.acoustic
        off = self.pad - self.acoustic_stft.n_fft // 2
        x = padded.narrow(-1, off, padded.shape[-1] - 2 * off)
        mel = torch.log(torch.clamp(_mel(self.acoustic_stft, ac.mel.fb, x, power=False), min=1e-7))
        patch = ac.patch_embed.kernel_size[1]
        mel = mel[..., : (mel.shape[-1] // patch) * patch]
        emb = ac.patch_embed(mel.unsqueeze(1)).flatten(2).transpose(1, 2)
        return ac.to_low(ac.norm(emb))

    def one_pass(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio ``[B, 1, N]`` float32 -> mean, logvar ``[B, C, T]`` float32 (pads it, takes its own peak)."""
        padded = reflect_pad_items(audio[:, 0], self.pad)[:, None]
        return self(padded, torch.full((audio.shape[0],), float("-inf")))

    def forward(self, padded: torch.Tensor, peak: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """padded ``[B, 1, N + 2·pad]``, peak ``[B]`` float32 -> mean, logvar ``[B, C, T]`` float32."""
        x = padded[:, 0]
        semantic, acoustic = self.semantic_low(x, peak), self.acoustic_low(x)
        t = min(semantic.shape[1], acoustic.shape[1])
        params = self.gaussian(semantic[:, :t] + acoustic[:, :t])
        mean, logvar = params.mean, params.logvar  # [B, C, T]
        if self.latent_norm is not None:
            mean = (mean - self.latent_norm[0]) / self.latent_norm[1]
            logvar = logvar - 2 * torch.log(self.latent_norm[1])
        return mean, logvar
