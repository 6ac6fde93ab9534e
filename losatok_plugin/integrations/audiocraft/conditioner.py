"""LoSATokConditioner: audiocraft waveform conditioning from a frozen LoSATokVAE.

WavCondition (wav ``[B, C, N]`` at any rate, ``length [B]`` valid samples, ``sample_rate [B]``)
──► mono, optional training excerpt, crop to ``max_duration`` (notice), resample to 16 kHz
──► frozen LoSATokVAE: mu ``[B, 128, T]`` or ``encode_features().unified_emb`` ``[B, T, 1280]`` (25 Hz)
──► ``output_proj`` (Linear, trained with the LM) ──► embeds ``[B, T, D]``, mask ``[B, T]``.

Padded frames and empty conditions (length 0: nullified by classifier-free-guidance dropout, or a
missing condition) are zero with mask 0; a batch of only empty conditions gives ``T = 1``.
This module imports audiocraft: reach it through :mod:`losatok_plugin.integrations.audiocraft`.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
from audiocraft.modules.conditioners import WavCondition, WaveformConditioner
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ...audio import downmix_channels
from ...fileio import atomic_path
from ...hashing import encoder_fingerprint
from ...models.losatok_vae import LoSATokVAE

# features name -> the config field giving its width
FEATURES = {"mu": "latent_channels", "unified_emb": "embed_dim"}
CACHE_FORMAT = "losatok-conditioning-cache"
CACHE_VERSION = "1"


class LatentCache:
    """Conditioning features of whole source files, so training does not re-encode (audiocraft's
    ``EmbeddingCache`` pattern: compute once per file, then slice the segment by ``seek_time``).

    One safetensors file per source file (``<sha1 of the resolved path>.<features>.safetensors``,
    tensor ``features [T, D]``, header with format, version, features and the encoder fingerprint;
    entries made by another model are recomputed), written atomically, plus a small in-memory LRU.

    Args:
        folder: cache directory (created).
        vae: the frozen model that encodes.
        features: ``"mu"`` or ``"unified_emb"``.
        memory_items: how many whole-file tensors to keep in memory.
    """

    def __init__(self, folder: str | Path, vae: LoSATokVAE, features: str, memory_items: int = 64) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.vae = vae
        self.features = features
        self.memory_items = memory_items
        self._memory: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._meta: dict[str, str] | None = None

    @property
    def meta(self) -> dict[str, str]:
        if self._meta is None:
            self._meta = {
                "format": CACHE_FORMAT,
                "version": CACHE_VERSION,
                "features": self.features,
                "encoder": encoder_fingerprint(self.vae),
            }
        return self._meta

    def file_for(self, path: str | Path) -> Path:
        key = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()
        return self.folder / f"{key}.{self.features}.safetensors"

    def _read(self, file: Path) -> torch.Tensor | None:
        try:
            with safe_open(str(file), framework="pt") as f:
                meta = f.metadata() or {}
                if any(meta.get(k) != v for k, v in self.meta.items()):
                    return None
                return f.get_tensor("features")
        except (SafetensorError, OSError, ValueError):
            return None

    def _compute(self, path: str | Path) -> torch.Tensor:
        from ...data.audio_io import load_audio

        audio = load_audio(path, self.vae.sampling_rate)
        feats = encode_frames(self.vae, audio[None], torch.tensor([audio.shape[-1]]), self.features)
        return feats[0].cpu().contiguous()

    def get(self, path: str | Path) -> torch.Tensor:
        """Features of the whole file ``[T, D]`` (CPU float32), from memory, disk, or computed and stored."""
        key = str(Path(path).resolve())
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        file = self.file_for(path)
        feats = self._read(file) if file.is_file() else None
        if feats is None:
            feats = self._compute(path)
            with atomic_path(file) as tmp:
                save_file({"features": feats}, str(tmp), metadata={**self.meta, "source": key})
        self._memory[key] = feats
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)
        return feats


def encode_frames(vae: LoSATokVAE, audio: torch.Tensor, lengths: torch.Tensor, features: str) -> list[torch.Tensor]:
    """Encode a zero-padded 16 kHz batch ``[b, N]`` with ``lengths [b]``; one ``[T_i, D]`` tensor per item."""
    with torch.no_grad(), torch.autocast(device_type=audio.device.type, enabled=False):
        if features == "mu":
            dist = vae.encode(audio, lengths=lengths).latent_dist
            seq, valid = dist.mean.transpose(1, 2), dist.lengths
        else:
            out = vae.encode_features(audio, lengths=lengths)
            seq, valid = out.unified_emb, out.lengths
    return [seq[i, : int(valid[i])].float() for i in range(seq.shape[0])]


class LoSATokConditioner(WaveformConditioner):
    """audiocraft conditioner: a frozen LoSATokVAE's latents of the conditioning audio, projected.

    The VAE is kept out of the module tree (like audiocraft's frozen T5 and demucs): it is not in the
    LM's ``state_dict``, optimizer or EMA, and no gradient reaches it; only ``output_proj`` trains.

    Args:
        vae: the LoSATok model (frozen here: ``requires_grad_(False)``, eval mode).
        output_dim: the LM's width D.
        features: ``"mu"`` (128-d latent mean) or ``"unified_emb"`` (1280-d unified features).
        max_duration: longest conditioning in seconds; longer conditions are cropped to their first
            ``max_duration`` seconds with a ``UserWarning``. ``None``: no limit.
        excerpt_duration: in training mode only, condition on a random excerpt of this many seconds
            (MusicGen-Style's remedy against the LM copying its own target); ``None``: the whole condition.
        cache_path: folder for a :class:`LatentCache` of whole-file features, used when every item of a
            batch has a ``path`` and a ``seek_time`` (audiocraft's music datasets provide both).
        device: where the VAE runs.
    """

    def __init__(
        self,
        vae: LoSATokVAE,
        output_dim: int,
        features: str = "mu",
        max_duration: float | None = 30.0,
        excerpt_duration: float | None = None,
        cache_path: str | Path | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if features not in FEATURES:
            raise ValueError(f"features must be one of {sorted(FEATURES)}, got {features!r}")
        for name, value in (("max_duration", max_duration), ("excerpt_duration", excerpt_duration)):
            if value is not None and not float(value) > 0:
                raise ValueError(f"{name} must be positive seconds or None, got {value!r}")
        super().__init__(dim=int(getattr(vae.config, FEATURES[features])), output_dim=output_dim, device=device)
        vae.requires_grad_(False)
        vae.eval()
        self.__dict__["vae"] = vae.to(device)  # not registered as a submodule, on purpose (see class doc)
        self.features = features
        self.max_duration = None if max_duration is None else float(max_duration)
        self.excerpt_duration = None if excerpt_duration is None else float(excerpt_duration)
        self.cache = LatentCache(cache_path, vae, features) if cache_path is not None else None

    @property
    def frame_rate(self) -> float:
        """Conditioning frames per second (25.0)."""
        return self.vae.frame_rate

    # -- audiocraft interface -------------------------------------------------------------------
    def tokenize(self, x: WavCondition) -> WavCondition:
        """Move the condition to the device; fill the latent cache for its files (before the forward)."""
        x = super().tokenize(x)
        if self._cache_usable(x):
            for p in x.path:
                self.cache.get(p)
        return x

    def forward(self, x: WavCondition) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition embeddings.

        Args:
            x: ``WavCondition``: ``wav [B, C, N]`` (or ``[B, N]``) float, ``length [B]`` valid samples per
                item (0 = no condition), ``sample_rate`` (one rate per item, or one for all), optional
                ``path`` / ``seek_time`` per item (for the cache).

        Returns:
            ``(embeds [B, T, D], mask [B, T] int)``: T = the longest item's frames at 25 Hz; padded
            frames and empty conditions are zero with mask 0.
        """
        wav, lengths, rates = self._check(x)
        device = self.output_proj.weight.device
        if self._cache_usable(x):
            frames = self._frames_from_cache(x, lengths, rates)
        else:
            frames = self._frames_from_audio(wav, lengths, rates, device)
        t = max([f.shape[0] for f in frames if f is not None], default=0) or 1
        dense = torch.zeros(len(frames), t, self.dim, device=device)
        mask = torch.zeros(len(frames), t, dtype=torch.int, device=device)
        for i, f in enumerate(frames):
            if f is not None and f.shape[0] > 0:
                dense[i, : f.shape[0]] = f.to(device)
                mask[i, : f.shape[0]] = 1
        embeds = self.output_proj(dense.to(self.output_proj.weight.dtype))
        return embeds * mask.unsqueeze(-1).to(embeds.dtype), mask

    # -- helpers ----------------------------------------------------------------------------------
    def _check(self, x: WavCondition) -> tuple[torch.Tensor, list[int], list[int]]:
        """-> mono ``wav [B, N]``, valid lengths and sample rates per item (validated)."""
        wav = x.wav
        if not isinstance(wav, torch.Tensor) or wav.dim() not in (2, 3):
            shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
            raise ValueError(f"LoSATokConditioner expects a WavCondition with wav [B, C, N] or [B, N], got {shape}")
        if wav.dim() == 3:
            wav = downmix_channels(wav, "condition", stacklevel=4)
        b, n = wav.shape
        lengths = [n] * b if x.length is None else [int(v) for v in torch.as_tensor(x.length).reshape(-1).tolist()]
        rates = [int(r) for r in x.sample_rate]
        if len(rates) == 1 and b > 1:
            rates = rates * b
        if len(lengths) != b or len(rates) != b:
            raise ValueError(f"WavCondition has {b} items but {len(lengths)} lengths and {len(rates)} sample rates")
        if any(r <= 0 for r in rates):
            raise ValueError(f"condition sample rates must be positive, got {rates}")
        return wav, [min(max(v, 0), n) for v in lengths], rates

    def _cache_usable(self, x: WavCondition) -> bool:
        b = x.wav.shape[0]
        return (
            self.cache is not None
            and len(x.path) == b
            and len(x.seek_time) == b
            and all(p is not None for p in x.path)
            and all(s is not None for s in x.seek_time)
            and x.wav.shape[-1] > 1  # a nullified condition: computed from the (empty) audio instead
        )

    def _window(self, duration: float) -> tuple[float, float]:
        """(start, duration) in seconds of the part of a condition of ``duration`` seconds that is used."""
        start = 0.0
        if self.training and self.excerpt_duration is not None and duration > self.excerpt_duration:
            start = float(torch.rand(())) * (duration - self.excerpt_duration)
            duration = self.excerpt_duration
        if self.max_duration is not None and duration > self.max_duration + 1e-9:
            warnings.warn(
                f"condition of {duration:.2f} s is longer than max_duration={self.max_duration:g} s: "
                f"cropped to its first {self.max_duration:g} s",
                UserWarning,
                stacklevel=4,
            )
            duration = self.max_duration
        return start, duration

    def _vae_on(self, device: torch.device) -> LoSATokVAE:
        if self.vae.device != device:
            self.__dict__["vae"] = self.vae.to(device)
        return self.vae

    def _frames_from_audio(
        self, wav: torch.Tensor, lengths: list[int], rates: list[int], device: torch.device
    ) -> list[torch.Tensor | None]:
        sr, vae = self.vae.sampling_rate, self._vae_on(device)
        clips, items = [], []
        for i, (n, rate) in enumerate(zip(lengths, rates)):
            if n == 0:
                continue
            start, duration = self._window(n / rate)
            a = int(round(start * rate))
            clip = wav[i, a : min(n, a + int(round(duration * rate)))].float()
            if not torch.isfinite(clip).all():
                raise ValueError(
                    "condition audio contains NaN or inf (audiocraft's MusicGen solver fills self_wav with NaN "
                    "when it trains from cached tokens: give the conditioner a cache_path)"
                )
            if rate != sr:
                import torchaudio

                clip = torchaudio.functional.resample(clip, rate, sr)
            if clip.shape[-1] < vae.min_samples:
                warnings.warn(
                    f"condition of {clip.shape[-1]} samples at {sr} Hz is shorter than one LoSATok frame "
                    f"({vae.min_samples} samples): treated as empty",
                    UserWarning,
                    stacklevel=3,
                )
                continue
            clips.append(clip)
            items.append(i)
        out: list[torch.Tensor | None] = [None] * len(lengths)
        if clips:
            batch = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True).to(device)
            sizes = torch.tensor([c.shape[-1] for c in clips])
            for i, f in zip(items, encode_frames(vae, batch, sizes, self.features)):
                out[i] = f
        return out

    def _frames_from_cache(self, x: WavCondition, lengths: list[int], rates: list[int]) -> list[torch.Tensor | None]:
        vae, out = self.vae, []
        for path, seek, n, rate in zip(x.path, x.seek_time, lengths, rates):
            if n == 0:
                out.append(None)
                continue
            start, duration = self._window(n / rate)
            first = int(round((float(seek) + start) * self.frame_rate))
            count = int(vae.num_frames(int(round(duration * vae.sampling_rate))))
            chunk = self.cache.get(path)[first : first + count]
            out.append(chunk if chunk.shape[0] > 0 else None)
        return out
