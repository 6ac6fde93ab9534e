"""LoSATokVAE: the whole tokenizer as a diffusers ``AutoencoderKL``-style model.

audio [B, 1, N] 16 kHz ──► semantic encoder (frozen) ─► semantic_emb [B, T, 1280] ─► SemBo ─► semantic_emb_low [B, T, 128]
                     └──► acoustic branch ──────────► acoustic_emb [B, T, 1280] ─► to_low ─► acoustic_emb_low [B, T, 128]
unified_emb_low = acoustic_emb_low + semantic_emb_low ─► Gaussian head ─► mu, logvar [B, T, 128]
latent z [B, 128, T] (channels first, like ``AutoencoderOobleck``) ─► Vocos decoder ─► audio [B, 1, 640·T]

T = (1 + N // 160) // 4 tokens (25 Hz). The semantic encoder and bottleneck are frozen teachers: they
always run without gradient and stay in eval mode even under ``model.train()``.

This module's path (``losatok_plugin.models.losatok_vae``) is what diffusers writes into a saved
pipeline's ``model_index.json``: keep it stable.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from diffusers.utils import logging as diffusers_logging
from torch import nn

from ..audio import AudioInputError, finite_items, prepare_waveform
from ..checkpoints import EMBEDDED_MODELS, load_reference_weights, read_reference_checkpoint, resolve_model_spec
from ..configuration import MODEL_EXTRA_FIELDS, ConfigError, LoSATokConfig
from .acoustic_branch import AcousticBranch
from .dasheng_encoder import DashengEncoder
from .hf_teachers import HFTeacher
from .semantic_bottleneck import IdentityBottleneck, SemanticBottleneck
from .vae_head import GaussianHead, LoSATokGaussian
from .vocos_decoder import VocosDecoder


@dataclass
class LoSATokFeatures(BaseOutput):
    """Every representation of one encode, channels last ``[B, T, D]`` (reference names and layout).

    This is the one public output in the reference's ``[B, T, D]`` layout; every latent boundary (``encode``,
    ``decode``, latent files, audiocraft, pipelines) is channels first ``[B, C, T]``.

    ``z`` equals ``mu`` (deterministic encode). High-level tensors have ``embed_dim`` channels
    (1280), low-level ones ``latent_channels`` (128). Indexable like a dict: ``feats["mu"]``.
    """

    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    semantic_emb: torch.Tensor
    acoustic_emb: torch.Tensor
    unified_emb: torch.Tensor
    semantic_emb_low: torch.Tensor
    acoustic_emb_low: torch.Tensor
    unified_emb_low: torch.Tensor
    lengths: torch.Tensor | None = None  # [B] valid tokens per item (only when ``lengths`` was given)


class _IslandCastNotice(logging.Filter):
    """diffusers warns on every ``.to(dtype)`` of a class with ``_keep_in_fp32_modules`` that the cast
    may break them; LoSATokVAE's islands keep float32 under ``.to()`` as well (``nn/fp32.py``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "modules in LoSATokVAE that should be kept in float32" not in record.getMessage()


diffusers_logging.get_logger("diffusers.models.modeling_utils").addFilter(_IslandCastNotice())


def build_semantic_encoder(cfg: LoSATokConfig) -> nn.Module:
    """The frozen teacher named by the config: ``[B, N], lengths -> [B, T, embed_dim]``."""
    if cfg.semantic_encoder_type != "dasheng":
        teacher = HFTeacher(cfg.semantic_encoder_type, cfg.semantic_encoder_hf_config)
        if teacher.output_dim != cfg.embed_dim:
            raise ConfigError(f"embed_dim {cfg.embed_dim} != {cfg.semantic_encoder_type} width {teacher.output_dim}")
        return teacher
    return DashengEncoder(
        embed_dim=cfg.embed_dim,
        depth=cfg.semantic_depth,
        num_heads=cfg.semantic_num_heads,
        mlp_ratio=cfg.semantic_mlp_ratio,
        sample_rate=cfg.sampling_rate,
        n_fft=cfg.semantic_n_fft,
        hop_length=cfg.semantic_hop,
        n_mels=cfg.semantic_n_mels,
        f_max=cfg.semantic_f_max,
        top_db=cfg.semantic_top_db,
        patch_time=cfg.semantic_patch_time,
        chunk_tokens=cfg.semantic_chunk_tokens,
        batch_global_db_floor=cfg.semantic_batch_global_db_floor,
    )


class NonFiniteOutputError(AudioInputError):
    """Finite input gave NaN/inf output (values far outside the trained range, e.g. audio × 1e18)."""


def _check_finite(out: torch.Tensor, where: str, what: str, inp: torch.Tensor) -> None:
    """Raise :class:`NonFiniteOutputError` naming the batch items whose ``out [B, ...]`` is not finite."""
    bad_rows = ~finite_items(out.detach())
    if not bool(bad_rows.any()):
        return
    items = bad_rows.nonzero().flatten().tolist()
    peak = float(inp.detach().abs().flatten(1)[bad_rows].max())
    raise NonFiniteOutputError(
        f"{where} produced NaN/inf {what} for batch item(s) {items}: the input is finite but far outside the range "
        f"the model handles (peak |value| {peak:.3g}; audio belongs in [-1, 1], latents near unit scale)"
    )


def _init_signature() -> inspect.Signature:
    """``LoSATokVAE.__init__``'s signature: ``self``, every :class:`LoSATokConfig` field with its default, in
    the dataclass's order, then the :data:`MODEL_EXTRA_FIELDS` (default None). diffusers' ``register_to_config``
    reads it to fill config.json with the defaults, and ``from_pretrained`` to pick the config keys it passes."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("self", kind)]
    params += [inspect.Parameter(f.name, kind, default=f.default, annotation=f.type) for f in fields(LoSATokConfig)]
    params += [inspect.Parameter(n, kind, default=None, annotation=_EXTRA_ANNOTATIONS[n]) for n in MODEL_EXTRA_FIELDS]
    return inspect.Signature(params)


_EXTRA_ANNOTATIONS = {
    "latent_norm_mean": "list[float] | None",
    "latent_norm_std": "list[float] | None",
    "sample_rate": "int | None",
    "downsampling_ratio": "int | None",
}
_INIT_SIGNATURE = _init_signature()


class LoSATokVAE(ModelMixin, ConfigMixin):
    """LoSATok: 16 kHz mono audio ↔ 128-d latents at 25 Hz, with semantic features on the side.

    Config fields are those of :class:`~losatok_plugin.configuration.LoSATokConfig` (official sizes by
    default). ``config.sampling_rate`` (16000), ``config.hop_length`` (640), ``config.latent_channels``
    (128) and ``config.audio_channels`` (1) are what diffusers' audio pipelines read.
    """

    _supports_gradient_checkpointing = False
    # float32 islands (module names, matched per dotted component by diffusers' loader): the mel front
    # ends with their log / dB floors, the BatchNorm over dB, the ISTFT head (projection, exp, phases,
    # ISTFT and window normalisation) and the Gaussian head. Their classes also keep float32 under
    # ``.to(torch.bfloat16)`` (see ``nn/fp32.py``); everything else runs in the model's dtype.
    _keep_in_fp32_modules = ["front_end", "init_bn", "mel", "head", "gaussian"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Keyword arguments: the fields of :class:`LoSATokConfig` (its defaults: the official sizes) and
        :data:`~losatok_plugin.configuration.MODEL_EXTRA_FIELDS` (``latent_norm_mean`` / ``latent_norm_std``:
        ``[C]`` per-channel latent statistics, see :attr:`normalizes_latents`; ``sample_rate`` /
        ``downsampling_ratio``: aliases that must agree with ``sampling_rate`` / ``hop_length``). The signature
        is generated from the dataclass (:func:`_init_signature`), so the two cannot drift apart; unknown
        names are a ``TypeError``."""
        super().__init__()
        bound = _INIT_SIGNATURE.bind(self, *args, **kwargs)
        bound.apply_defaults()  # exactly the values register_to_config records
        given = dict(bound.arguments)
        given.pop("self")
        extras = {k: given.pop(k) for k in MODEL_EXTRA_FIELDS}
        latent_norm_mean, latent_norm_std = extras["latent_norm_mean"], extras["latent_norm_std"]
        cfg = LoSATokConfig.from_dict(given)
        # LongCat-AudioDiT's pipeline reads ``config.sample_rate`` / ``config.downsampling_ratio``
        # (StableAudio's reads ``sampling_rate`` / ``hop_length``): stored as aliases that must agree.
        for alias, value in (("sample_rate", cfg.sampling_rate), ("downsampling_ratio", cfg.hop_length)):
            if extras[alias] is not None and int(extras[alias]) != value:
                raise ConfigError(f"{alias}={extras[alias]} disagrees with the model's {value}")
        self.register_to_config(sample_rate=cfg.sampling_rate, downsampling_ratio=cfg.hop_length)
        if (latent_norm_mean is None) != (latent_norm_std is None):
            raise ConfigError("latent_norm_mean and latent_norm_std must be given together")
        if latent_norm_mean is not None:
            mean, std = torch.tensor(latent_norm_mean).float(), torch.tensor(latent_norm_std).float()
            if mean.shape != (cfg.latent_channels,) or std.shape != (cfg.latent_channels,) or not bool((std > 0).all()):
                raise ConfigError(f"latent_norm_mean/std must be {cfg.latent_channels} values (std > 0)")
            self.register_to_config(latent_norm_mean=mean.tolist(), latent_norm_std=std.tolist())
        self.semantic_encoder = build_semantic_encoder(cfg)
        if cfg.semantic_bottleneck:
            self.bottleneck = SemanticBottleneck(cfg.embed_dim, cfg.latent_channels, cfg.bottleneck_hidden_dim)
        else:
            self.bottleneck = IdentityBottleneck()
        self.acoustic = AcousticBranch(
            embed_dim=cfg.embed_dim,
            latent_dim=cfg.latent_channels,
            sample_rate=cfg.sampling_rate,
            n_fft=cfg.acoustic_n_fft,
            hop_length=cfg.acoustic_hop,
            n_mels=cfg.acoustic_n_mels,
            patch_time=cfg.acoustic_patch_time,
        )
        if not cfg.semantic_bottleneck:  # the latent is the unified embed_dim-wide embedding itself
            self.acoustic.to_low = nn.Identity()
        self.gaussian = GaussianHead(cfg.latent_channels)
        self.decoder = VocosDecoder(
            latent_dim=cfg.latent_channels,
            embed_dim=cfg.embed_dim,
            dim=cfg.decoder_dim,
            intermediate_dim=cfg.decoder_intermediate_dim,
            num_layers=cfg.decoder_depth,
            upsample=cfg.upsample_tokens,
            n_fft=cfg.istft_n_fft,
            hop_length=cfg.istft_hop,
        )
        self.arch = cfg  # the architecture as a LoSATokConfig (derived quantities live there)
        self._min_samples = cfg.min_samples
        self.semantic_encoder.requires_grad_(False)
        self.semantic_encoder.eval()
        # Long latents are decoded in windows (memory flat in length); see _decode_windows.
        self.decode_window_frames = 750  # 30 s
        self.decode_context_frames = 32

    # The constructor's signature is the dataclass's (see _init_signature); register_to_config must see it.
    __init__.__signature__ = _INIT_SIGNATURE
    __init__ = register_to_config(__init__)

    # -- facade properties ------------------------------------------------------------------------
    @property
    def sampling_rate(self) -> int:
        """Audio sample rate in Hz (16000)."""
        return self.config.sampling_rate

    sample_rate = sampling_rate

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame (640)."""
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        """Latent frames per second (25.0)."""
        return self.config.sampling_rate / self.config.hop_length

    @property
    def latent_dim(self) -> int:
        """Latent channels C (128)."""
        return self.config.latent_channels

    @property
    def normalizes_latents(self) -> bool:
        """True when ``latent_norm_mean``/``latent_norm_std`` are set: ``encode`` then returns
        ``(mu - mean) / std`` and ``decode`` takes such normalised latents (the space a DiT is trained in)."""
        return self.config.latent_norm_mean is not None

    def _norm_stats(self, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel ``(mean, std)`` as ``[1, C, 1]`` on ``ref``'s device and dtype."""
        mean = torch.tensor(self.config.latent_norm_mean, device=ref.device, dtype=ref.dtype)
        std = torch.tensor(self.config.latent_norm_std, device=ref.device, dtype=ref.dtype)
        return mean[None, :, None], std[None, :, None]

    @property
    def min_samples(self) -> int:
        """Shortest input (in samples at 16 kHz) that yields one latent frame."""
        return self._min_samples

    def num_frames(self, num_samples: int | torch.Tensor) -> int | torch.Tensor:
        """Latent frames T for an input of ``num_samples`` samples (int or ``[B]`` tensor): ``(1 + N // 160) // 4``."""
        return self.arch.num_frames(num_samples)

    def train(self, mode: bool = True) -> LoSATokVAE:
        """Like ``nn.Module.train`` but the frozen semantic encoder always stays in eval mode."""
        super().train(mode)
        self.semantic_encoder.eval()
        return self

    # -- encoder ------------------------------------------------------------------------------------
    def prepare_audio(self, audio: torch.Tensor | np.ndarray, sampling_rate: int | None = None) -> torch.Tensor:
        """Validate a waveform (see :mod:`losatok_plugin.audio`) -> ``[B, N]`` on the model's device, float32
        (float64 for a float64 model): the mel front ends are float32 islands whatever the model's dtype."""
        x = prepare_waveform(audio, self.config.sampling_rate, self._min_samples, sampling_rate)
        return x.to(device=self.device, dtype=torch.float64 if self.dtype == torch.float64 else torch.float32)

    def prepare_lengths(
        self, lengths: torch.Tensor | np.ndarray | list[int], batch: int, n: int, sampling_rate: int | None = None
    ) -> torch.Tensor:
        """Validate per-item valid lengths (samples at the input rate) -> ``[B]`` int64 at 16 kHz."""
        lengths = torch.as_tensor(lengths).reshape(-1)
        if lengths.is_floating_point() or lengths.numel() != batch:
            raise AudioInputError(f"lengths must be {batch} integers (samples per item), got {tuple(lengths.shape)}")
        if sampling_rate is not None and int(sampling_rate) != self.config.sampling_rate:
            lengths = torch.round(lengths.double() * self.config.sampling_rate / sampling_rate).long()
        lengths = lengths.long().clamp(max=n)
        if int(lengths.min()) < self._min_samples:
            raise AudioInputError(
                f"every item needs at least {self._min_samples} valid samples; got lengths {lengths.tolist()}"
            )
        return lengths

    def encode_features(
        self,
        audio: torch.Tensor | np.ndarray,
        sampling_rate: int | None = None,
        semantic_emb: torch.Tensor | None = None,
        lengths: torch.Tensor | np.ndarray | list[int] | None = None,
    ) -> LoSATokFeatures:
        """All encoder representations of ``audio``.

        Args:
            audio: ``[B, 1, N]``, ``[B, N]`` or ``[N]`` float at 16 kHz (see :meth:`prepare_audio`).
            sampling_rate: rate of ``audio`` if not 16000 (resampled with torchaudio).
            semantic_emb: precomputed teacher features ``[B, T', D]`` (a feature cache); the frozen
                semantic encoder is then skipped.
            lengths: ``[B]`` valid samples per item of a zero-padded batch. Padding never changes the
                valid outputs (each item is framed, normalised and attended as if alone); padded
                frames are zero and ``features.lengths`` holds the valid token counts.

        Returns:
            :class:`LoSATokFeatures`, every tensor ``[B, T, D]`` (channels last: the reference's names and
            layout, unlike ``encode``'s ``[B, C, T]``; ``feats.mu.transpose(1, 2)`` is ``encode``'s mean for an
            un-normalised model), T = (1 + N // 160) // 4.
        """
        x = self.prepare_audio(audio, sampling_rate)
        if lengths is not None:
            lengths = self.prepare_lengths(lengths, x.shape[0], x.shape[-1], sampling_rate).to(x.device)
        with torch.no_grad():
            if semantic_emb is None:
                semantic_emb = self.semantic_encoder(x, lengths)
            else:
                semantic_emb = semantic_emb.to(device=x.device, dtype=self.dtype)
            semantic_low = self.bottleneck.encode(semantic_emb)
        acoustic = self.acoustic(x, lengths)
        t = min(semantic_emb.shape[1], acoustic.high.shape[1])
        semantic_emb, semantic_low = semantic_emb[:, :t], semantic_low[:, :t]
        acoustic_high, acoustic_low = acoustic.high[:, :t], acoustic.low[:, :t]
        unified_low = acoustic_low + semantic_low
        posterior = self.gaussian(unified_low)
        mu, logvar = posterior.mean.transpose(1, 2), posterior.logvar.transpose(1, 2)  # the reference's [B, T, C]
        _check_finite(mu, "encode_features", "latents", x)
        feats = dict(
            z=mu,
            mu=mu,
            logvar=logvar,
            semantic_emb=semantic_emb,
            acoustic_emb=acoustic_high,
            unified_emb=semantic_emb + acoustic_high,
            semantic_emb_low=semantic_low,
            acoustic_emb_low=acoustic_low,
            unified_emb_low=unified_low,
        )
        if lengths is None:
            return LoSATokFeatures(**feats)
        tokens = torch.clamp(self.num_frames(lengths), max=t)
        keep = self.arch.valid_frame_mask(lengths, t)[..., None].to(x.dtype)  # [B, T, 1]
        return LoSATokFeatures(**{k: v * keep for k, v in feats.items()}, lengths=tokens)

    def encode(
        self,
        audio: torch.Tensor | np.ndarray,
        return_dict: bool = True,
        sampling_rate: int | None = None,
        lengths: torch.Tensor | np.ndarray | list[int] | None = None,
    ) -> AutoencoderKLOutput | tuple[LoSATokGaussian]:
        """Encode audio to the latent posterior.

        Args:
            audio: ``[B, 1, N]`` (or ``[B, N]``) float audio at 16 kHz.
            return_dict: return an ``AutoencoderKLOutput`` (else a 1-tuple).
            sampling_rate: rate of ``audio`` if not 16000.
            lengths: ``[B]`` valid samples per item of a padded batch (see :meth:`encode_features`);
                ``latent_dist.lengths`` then holds the valid latent frames per item.

        Returns:
            ``latent_dist`` with ``.mean`` = mu ``[B, C, T]`` and ``.logvar`` ``[B, C, T]`` (clamped ±20);
            normalised per channel when the config holds ``latent_norm_mean``/``latent_norm_std``.
        """
        x = self.prepare_audio(audio, sampling_rate)
        if lengths is not None:
            lengths = self.prepare_lengths(lengths, x.shape[0], x.shape[-1], sampling_rate).to(x.device)
        # Only the 128-d path: the 1280-d sequences are projected chunk by chunk and never kept whole.
        with torch.no_grad():
            semantic_low = self.semantic_encoder(x, lengths, project=self.bottleneck.encode)
        acoustic_low = self.acoustic.low(x, lengths)
        t = min(semantic_low.shape[1], acoustic_low.shape[1])
        dist = self.gaussian(acoustic_low[:, :t] + semantic_low[:, :t])
        tokens = None
        if lengths is not None or self.normalizes_latents:
            mu, logvar = dist.mean, dist.logvar  # [B, C, T]
            keep = None
            if lengths is not None:
                tokens = torch.clamp(self.num_frames(lengths), max=t)
                keep = self.arch.valid_frame_mask(lengths, t)[:, None].to(mu.dtype)  # [B, 1, T]
                mu, logvar = mu * keep, logvar * keep
            if self.normalizes_latents:
                mean, std = self._norm_stats(mu)
                mu, logvar = (mu - mean) / std, logvar - 2 * torch.log(std)
                if keep is not None:  # keep padded frames at exactly zero
                    mu, logvar = mu * keep, logvar * keep
            dist = LoSATokGaussian(torch.cat([mu, logvar], dim=1))
        _check_finite(dist.mean, "encode", "latents", x)
        dist.lengths = tokens
        if not return_dict:
            return (dist,)
        return AutoencoderKLOutput(latent_dist=dist)

    # -- decoder ------------------------------------------------------------------------------------
    def decode(self, z: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple[torch.Tensor]:
        """Decode latents to audio.

        Args:
            z: ``[B, C, T]`` latents (channels first), C = ``latent_channels``; normalised latents
                (``z · std + mean`` is decoded) when the config holds ``latent_norm_mean``/``latent_norm_std``.
            return_dict: return a ``DecoderOutput`` (else a 1-tuple).

        Returns:
            ``sample``: audio ``[B, 1, hop_length · T]`` at 16 kHz.
        """
        audio = self._decode_windows(self._check_latents(z)).unsqueeze(1)
        _check_finite(audio, "decode", "audio", z)
        if not return_dict:
            return (audio,)
        return DecoderOutput(sample=audio)

    def _check_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Validate latents ``[B, C, T]`` (T ≥ 1, finite) -> on the model's device and dtype, un-normalised
        (``z · std + mean``) when the config holds ``latent_norm_mean``/``latent_norm_std``."""
        if not isinstance(z, torch.Tensor) or z.dim() != 3 or z.shape[1] != self.config.latent_channels:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise AudioInputError(
                f"decode expects latents [B, {self.config.latent_channels}, T] (channels first), got {shape}"
            )
        if z.shape[0] == 0:
            raise AudioInputError("decode got an empty batch (B = 0)")
        if z.shape[-1] == 0:
            raise AudioInputError("decode got latents with T = 0 frames")
        if not torch.isfinite(z).all():
            raise AudioInputError("latents contain NaN or inf")
        z = z.to(device=self.device, dtype=self.dtype)
        if self.normalizes_latents:
            mean, std = self._norm_stats(z)
            z = z * std + mean
        return z

    @property
    def stream_lookahead_frames(self) -> int:
        """Algorithmic latency of :meth:`decode_stream` in latent frames (``decode_context_frames``, 32 =
        1.28 s at 25 Hz): audio of frame t is emitted once frame t + 32 has arrived (or the stream ended)."""
        return self.decode_context_frames

    def decode_stream(self, latent_chunks: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Decode a stream of latent chunks; the concatenated output equals :meth:`decode` of the whole
        sequence to float precision.

        Each frame is decoded with :attr:`stream_lookahead_frames` (32) frames of context each side,
        more than the decoder's receptive field (±21 frames at the official depth), exactly as the
        windowed one-pass decode does, so chunk boundaries leave no trace. Memory is bounded: only the
        last 32 frames before the emitted position are kept.

        Args:
            latent_chunks: iterable of ``[B, C, t]`` latents (any ``t ≥ 1``, same ``B`` throughout).

        Yields:
            audio ``[B, 1, hop_length · k]`` float32 chunks at 16 kHz as soon as ``k ≥ 1`` frames have
            their look-ahead; the rest when the input ends. In total ``hop_length · T`` samples.
        """
        ctx, win = self.decode_context_frames, self.decode_window_frames
        buf: torch.Tensor | None = None  # latents of frames base .. total - 1
        base = done = total = 0
        for chunk in latent_chunks:
            chunk = self._check_latents(chunk)
            if buf is not None and chunk.shape[0] != buf.shape[0]:
                raise AudioInputError(f"decode_stream: batch size changed from {buf.shape[0]} to {chunk.shape[0]}")
            buf = chunk if buf is None else torch.cat([buf, chunk], dim=-1)
            total += chunk.shape[-1]
            while total - ctx > done:  # frames whose look-ahead has arrived
                end = min(total - ctx, done + win)
                yield self._decode_span(buf, done - base, end - base).unsqueeze(1)
                done = end
            keep_from = max(0, done - ctx)  # left context of the next span
            buf, base = buf[..., keep_from - base :], keep_from
        while buf is not None and done < total:  # end of stream: the true right edge
            end = min(total, done + win)
            yield self._decode_span(buf, done - base, end - base).unsqueeze(1)
            done = end

    def _decode_windows(self, z: torch.Tensor) -> torch.Tensor:
        """Decode ``[B, C, T]`` in windows of ``decode_window_frames`` latent frames with
        ``decode_context_frames`` of context each side, stitched exactly: the decoder's receptive field
        (transposed conv, 13 convs of kernel 7 at 50 Hz, ISTFT overlap) spans about ±21 latent frames,
        so with 32 frames of context every kept sample sees the same inputs as in one pass."""
        t = z.shape[-1]
        win, ctx, hop = self.decode_window_frames, self.decode_context_frames, self.config.hop_length
        if t <= win + 2 * ctx:
            return self.decoder(z)
        # written into one preallocated output (a list of spans and a cat would hold the audio twice)
        out = None
        for t0 in range(0, t, win):
            span = self._decode_span(z, t0, min(t0 + win, t))
            if out is None:
                out = span.new_empty(span.shape[0], hop * t)
            out[:, hop * t0 : hop * t0 + span.shape[-1]] = span
            del span
        return out

    def _decode_span(self, z: torch.Tensor, t0: int, t1: int) -> torch.Tensor:
        """Audio ``[B, hop · (t1 - t0)]`` of latent frames ``t0..t1-1`` of ``z [B, C, T]``, decoded with
        ``decode_context_frames`` of context each side (fewer at the ends of ``z``), so equal to those
        samples of a one-pass decode."""
        t = z.shape[-1]
        hop, ctx = self.config.hop_length, self.decode_context_frames
        a, b = max(0, t0 - ctx), min(t, t1 + ctx)
        return self.decoder(z[..., a:b])[:, (t0 - a) * hop : (t1 - a) * hop]

    def forward(
        self,
        sample: torch.Tensor,
        sample_posterior: bool = False,
        return_dict: bool = True,
        generator: torch.Generator | None = None,
    ) -> DecoderOutput | tuple[torch.Tensor]:
        """``decode(encode(sample))``: audio ``[B, 1, N]`` -> audio ``[B, 1, 640 · T]``.

        Args:
            sample: ``[B, 1, N]`` audio at 16 kHz.
            sample_posterior: decode a posterior sample instead of the mean.
            generator: RNG for the posterior sample.
        """
        dist = self.encode(sample).latent_dist
        z = dist.sample(generator=generator) if sample_posterior else dist.mode()
        return self.decode(z, return_dict=return_dict)

    # -- precision ----------------------------------------------------------------------------------
    def quantize(self, precision: str = "int8") -> LoSATokVAE:
        """Dynamic int8 quantization of the Linear layers outside the float32 islands, in place (see
        :mod:`losatok_plugin.models.precision`); returns the model. CPU inference only; a quantized
        model cannot be cast to another dtype or saved with ``save_pretrained``."""
        from .precision import PrecisionError, quantize_int8

        if precision != "int8":
            raise PrecisionError(f"quantize supports 'int8' only, got {precision!r} (bf16: model.to(torch.bfloat16))")
        return quantize_int8(self)

    def to(self, *args, **kwargs) -> LoSATokVAE:
        """``nn.Module.to`` / diffusers ``ModelMixin.to``; under a dtype cast the float32 islands keep float32."""
        from .precision import PrecisionError, is_quantized

        if any(isinstance(a, torch.dtype) for a in args) or "dtype" in kwargs:
            if is_quantized(self):
                raise PrecisionError("an int8-quantized model cannot be cast to another dtype: reload it")
        return super().to(*args, **kwargs)

    def to_json_string(self) -> str:
        """diffusers' config JSON without ``semantic_bottleneck`` when it is True (the default), so that the
        config.json of every bottleneck model stays as it was before the flag existed."""
        data = json.loads(super().to_json_string())
        if data.get("semantic_bottleneck", True) is True:
            data.pop("semantic_bottleneck", None)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, *args, **kwargs) -> None:
        """diffusers ``save_pretrained`` (``model.safetensors`` + ``config.json``); refused for int8 models."""
        from .precision import PrecisionError, is_quantized

        if is_quantized(self):
            raise PrecisionError(
                "an int8-quantized model cannot be saved: save the float model, quantize after loading"
            )
        return super().save_pretrained(*args, **kwargs)

    # -- loading ------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args: Any, **kwargs: Any) -> LoSATokVAE:
        """diffusers ``from_pretrained``; also accepts the shipped short names (``"losatok-mini"``), offline."""
        spec = pretrained_model_name_or_path
        if isinstance(spec, str) and spec in EMBEDDED_MODELS and not Path(spec).exists():
            spec = resolve_model_spec(spec)
        return super().from_pretrained(spec, *args, **kwargs)

    @classmethod
    def from_reference_checkpoint(
        cls,
        checkpoint: str | Path | dict[str, torch.Tensor],
        config: LoSATokConfig | dict[str, Any] | str | Path | None = None,
    ) -> LoSATokVAE:
        """Build a ready (eval-mode) model from an official-layout LoSATok checkpoint.

        Args:
            checkpoint: path to ``.pth``/``.pt``/``.safetensors``, or a state dict (reference key names).
            config: ``None`` (official sizes), a :class:`LoSATokConfig`, a dict (ours or a reference
                format) or a path to a JSON/YAML config (fixture ``config.json`` or the official yml).

        Raises:
            CheckpointError: unreadable file, missing/unexpected keys (named), wrong shapes (key and
                both shapes named), or recomputed buffers that disagree with the file.

        Reading and renaming live in :mod:`losatok_plugin.checkpoints`; this method only builds the model.
        """
        cfg = config if isinstance(config, LoSATokConfig) else LoSATokConfig.from_reference(config)
        weights = read_reference_checkpoint(checkpoint, cfg.to_dict())
        model = cls(**LoSATokConfig.from_dict(weights.config).to_dict())
        load_reference_weights(model, weights)
        return model.eval()
