"""LoSATok architecture configuration: one dataclass, the single source of the architecture fields.

The same fields are the ``config.json`` of a ``save_pretrained`` directory (diffusers ``ConfigMixin``) and the
keyword arguments of ``LoSATokVAE``. Official sizes are the defaults; :func:`tiny_config` gives a test-size
model. Reference configs (the official ``16k_16k_25Hz_losatok.yml`` and the parity fixture's ``config.json``)
are converted by :meth:`LoSATokConfig.from_reference`, which delegates to
:func:`losatok_plugin.checkpoints.reference_config_fields` (the module that knows every file format).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from .checkpoints import CONFIG_FORMATS, read_mapping, reference_config_fields
from .errors import ConfigError

__all__ = [
    "CONFIG_FORMATS",
    "MODEL_EXTRA_FIELDS",
    "ConfigError",
    "LoSATokConfig",
    "MODEL_VARIANTS",
    "tiny_config",
]


@dataclass
class LoSATokConfig:
    """Sizes of every LoSATok component. Defaults are the official 803.6M-parameter model.

    Token rate = ``sampling_rate / hop_length`` = 25 Hz. ``hop_length`` is derived and validated:
    semantic hop × patch time == acoustic hop × patch time == ISTFT hop × upsample factor.
    """

    sampling_rate: int = 16000
    latent_channels: int = 128
    # Width shared by the semantic encoder output, the acoustic branch and the decoder input.
    embed_dim: int = 1280
    # Semantic encoder (MiDashengLM audio encoder = Dasheng-0.6B design).
    semantic_depth: int = 32
    semantic_num_heads: int = 16
    semantic_mlp_ratio: float = 4.0
    semantic_n_fft: int = 512
    semantic_hop: int = 160
    semantic_n_mels: int = 64
    semantic_f_max: float = 8000.0
    semantic_top_db: float = 120.0
    semantic_patch_time: int = 4
    semantic_chunk_tokens: int = 252
    # Compatibility flag: the reference takes the -120 dB floor's maximum over the whole batch tensor.
    # False (default) is the correct per-item floor; both agree for batch size 1.
    semantic_batch_global_db_floor: bool = False
    # Semantic Bottleneck (SemBo) hidden width.
    bottleneck_hidden_dim: int = 512
    # Acoustic branch.
    acoustic_n_fft: int = 1024
    acoustic_hop: int = 160
    acoustic_n_mels: int = 128
    acoustic_patch_time: int = 4
    # Vocos decoder.
    decoder_dim: int = 1280
    decoder_depth: int = 12
    decoder_intermediate_dim: int = 5120
    upsample_tokens: int = 2
    istft_n_fft: int = 1280
    istft_hop: int = 320
    # Fixed by the design; stored so that pipelines can read them from config.json.
    audio_channels: int = 1
    hop_length: int = 640
    # The frozen teacher: "dasheng" (MiDashengLM / Dasheng, the sizes above) or a transformers encoder
    # ("whisper", "hubert", "wavlm", "wav2vec2") built from ``semantic_encoder_hf_config``.
    semantic_encoder_type: str = "dasheng"
    semantic_encoder_hf_config: dict | None = None
    # False: no bottleneck (the paper's high-dimensional baseline, as DashengTokenizer): SemBo and the acoustic
    # branch's projection become identities and the latent is the unified embed_dim-wide embedding
    # (latent_channels must equal embed_dim). Left out of to_dict() / config.json when True (the default).
    semantic_bottleneck: bool = True

    def __post_init__(self) -> None:
        self.validate()

    # ----------------------------------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        """Latent frames per second (25.0 for the official model)."""
        return self.sampling_rate / self.hop_length

    @property
    def semantic_chunk_frames(self) -> int:
        """Mel frames per independent semantic chunk (1008 = 10.08 s officially)."""
        return self.semantic_chunk_tokens * self.semantic_patch_time

    # -- derived quantities: the one place that knows the frame arithmetic -------------------------
    def num_frames(self, num_samples: int | torch.Tensor) -> int | torch.Tensor:
        """Latent frames T for ``num_samples`` samples (int or ``[B]`` tensor): ``(1 + N // 160) // 4``."""
        return (1 + num_samples // self.semantic_hop) // self.semantic_patch_time

    def valid_frame_mask(self, lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``[B]`` valid samples -> ``[B, num_frames]`` bool, True on frames inside each item."""
        return torch.arange(num_frames, device=lengths.device)[None] < self.num_frames(lengths)[:, None]

    @property
    def min_samples(self) -> int:
        """Shortest input (samples at ``sampling_rate``) that yields one latent frame."""
        return max(
            self.semantic_hop * (self.semantic_patch_time - 1),
            self.acoustic_hop * (self.acoustic_patch_time - 1),
            self.semantic_n_fft // 2 + 1,  # reflect padding needs more samples than the pad
            self.acoustic_n_fft // 2 + 1,
        )

    def validate(self) -> None:
        """Raise :class:`ConfigError` when sizes are inconsistent."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"config field {f.name!r} must be an int, got {value!r}")
            if f.type in ("int", int, "float", float) and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"config field {f.name!r} must be positive, got {value!r}")
        if self.embed_dim % self.semantic_num_heads:
            raise ConfigError(
                f"embed_dim {self.embed_dim} is not divisible by semantic_num_heads {self.semantic_num_heads}"
            )
        hops = {
            "semantic_hop*semantic_patch_time": self.semantic_hop * self.semantic_patch_time,
            "acoustic_hop*acoustic_patch_time": self.acoustic_hop * self.acoustic_patch_time,
            "istft_hop*upsample_tokens": self.istft_hop * self.upsample_tokens,
        }
        if len(set(hops.values())) != 1:
            raise ConfigError(f"token hops disagree: {hops}")
        derived = next(iter(hops.values()))
        if self.hop_length != derived:
            raise ConfigError(f"hop_length {self.hop_length} != derived token hop {derived} ({hops})")
        if self.audio_channels != 1:
            raise ConfigError("LoSATok is mono: audio_channels must be 1")
        if self.istft_n_fft < self.istft_hop or (self.istft_n_fft - self.istft_hop) % 2:
            raise ConfigError("istft_n_fft - istft_hop must be a non-negative even number")
        kinds = ("dasheng", "whisper", "hubert", "wavlm", "wav2vec2")
        if self.semantic_encoder_type not in kinds:
            raise ConfigError(f"semantic_encoder_type {self.semantic_encoder_type!r} is not one of {kinds}")
        if (self.semantic_encoder_type != "dasheng") != (self.semantic_encoder_hf_config is not None):
            raise ConfigError("semantic_encoder_hf_config is required for (and only for) transformers teachers")
        if not isinstance(self.semantic_bottleneck, bool):
            raise ConfigError(f"semantic_bottleneck must be true or false, got {self.semantic_bottleneck!r}")
        if not self.semantic_bottleneck and self.latent_channels != self.embed_dim:
            raise ConfigError(
                f"semantic_bottleneck=false decodes from the unified embedding: latent_channels "
                f"({self.latent_channels}) must equal embed_dim ({self.embed_dim})"
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; ``semantic_bottleneck`` only when False (configs of bottleneck models unchanged)."""
        d = dataclasses.asdict(self)
        if d["semantic_bottleneck"]:
            del d["semantic_bottleneck"]
        return d

    @classmethod
    def variant(cls, name: str, **overrides: Any) -> LoSATokConfig:
        """The sizes of variant ``name`` of :data:`MODEL_VARIANTS` (official, mini, tiny) with ``overrides``
        (strict: unknown keys raise :class:`ConfigError`)."""
        if name not in MODEL_VARIANTS:
            raise ConfigError(f"unknown model variant {name!r}; variants: {', '.join(MODEL_VARIANTS)}")
        return cls.from_dict({**MODEL_VARIANTS[name], **overrides})

    # ----------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoSATokConfig:
        """Strict constructor: unknown keys are an error (typos never pass silently).

        ``hop_length`` may be omitted; it is then derived from the decoder sizes.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown LoSATok config keys {unknown}; known keys: {sorted(known)}")
        data = dict(data)
        if "hop_length" not in data:
            data["hop_length"] = int(data.get("istft_hop", cls.istft_hop)) * int(
                data.get("upsample_tokens", cls.upsample_tokens)
            )
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path, format: str | None = None) -> LoSATokConfig:  # noqa: A002
        """Load a JSON or YAML file in our format or in a reference format (see :meth:`from_reference`)."""
        return cls.from_reference(read_mapping(path), format=format)

    @classmethod
    def from_reference(
        cls,
        data: Mapping[str, Any] | str | Path | None,
        format: str | None = None,  # noqa: A002 - the word users look for
    ) -> LoSATokConfig:
        """Convert a configuration in any supported format to ours.

        Accepts ``None`` (official sizes), a path to a JSON/YAML file, or a dict in one of the formats of
        :data:`~losatok_plugin.checkpoints.CONFIG_FORMATS`: ``"losatok"`` (our fields), ``"dasheng_tokenizer"``
        (the reference ``DashengTokenizerConfig`` dict: ``embed_dim``, ``decoder_dim``, ``depth``...),
        ``"official_yml"`` (``16k_16k_25Hz_losatok.yml``, marked by ``AudioVAE.config_dict``) or
        ``"parity_fixture"`` (the fixture's ``config.json``, marked by ``config_dict``). The conversion lives in
        :func:`losatok_plugin.checkpoints.reference_config_fields`.

        The format is ``format`` when given, else told by an unambiguous marker: the two wrapper keys
        above, or keys that only one flat format has. Unknown keys are an error in every format (a typo
        such as ``semantic_depht`` is named, never dropped); keys that fit neither flat format alone
        ask for ``format=``.
        """
        if data is None:
            return cls()
        if isinstance(data, (str, Path)):
            return cls.from_file(data, format=format)
        return cls.from_dict(reference_config_fields(data, [f.name for f in fields(cls)], format=format))

    @classmethod
    def from_model_config(cls, config: Mapping[str, Any]) -> LoSATokConfig:
        """The architecture part of a model's ``config.json`` (diffusers' ``_*`` keys and the pipeline-facing
        extras of :data:`MODEL_EXTRA_FIELDS` dropped; anything else unknown is an error)."""
        return cls.from_dict({k: v for k, v in config.items() if not k.startswith("_") and k not in MODEL_EXTRA_FIELDS})


# Fields of a LoSATokVAE config.json that are not architecture: the latent normalisation a DiT is trained
# in, and the aliases LongCat-AudioDiT's pipeline reads (``sample_rate`` = sampling_rate,
# ``downsampling_ratio`` = hop_length).
MODEL_EXTRA_FIELDS = ("latent_norm_mean", "latent_norm_std", "sample_rate", "downsampling_ratio")


# Named model sizes: YAML configs say ``model: mini`` (or ``model: {variant: mini, latent_channels: 256}``)
# instead of copying the block. Each entry overrides the official defaults of :class:`LoSATokConfig`.
MODEL_VARIANTS: dict[str, dict[str, Any]] = {
    # the official 803.6M-parameter model (MiDashengLM teacher, 1280 wide)
    "official": {},
    # losatok-mini (losatok_plugin/pretrained/losatok-mini): a 256-wide teacher, trains on a 2-core CPU
    "mini": {
        "latent_channels": 128,
        "embed_dim": 256,
        "semantic_depth": 4,
        "semantic_num_heads": 4,
        "bottleneck_hidden_dim": 512,
        "decoder_dim": 256,
        "decoder_depth": 6,
        "decoder_intermediate_dim": 768,
    },
    # a few hundred thousand parameters with the official signal path (tests and demos)
    "tiny": {
        "latent_channels": 16,
        "embed_dim": 64,
        "semantic_depth": 2,
        "semantic_num_heads": 4,
        "bottleneck_hidden_dim": 64,
        "decoder_dim": 64,
        "decoder_depth": 2,
        "decoder_intermediate_dim": 128,
    },
}


def tiny_config(**overrides: Any) -> LoSATokConfig:
    """A few-hundred-thousand-parameter model with the official signal path (for tests and demos):
    ``LoSATokConfig.variant("tiny", **overrides)``."""
    return LoSATokConfig.variant("tiny", **overrides)
