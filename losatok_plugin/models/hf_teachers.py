"""Frozen semantic teachers from transformers: Whisper (encoder only), HuBERT, WavLM, wav2vec 2.0.

All map 16 kHz audio ``[B, N]`` to ``[B, T, D]`` on LoSATok's 25 Hz grid, T = (1 + N // 160) // 4.
These encoders run at 50 Hz; the documented rule to reach 25 Hz is: **average each pair of
consecutive frames** (frames 2t and 2t+1 -> token t), then trim, or repeat the last token, to T.
Whisper sees fixed 30 s windows (``max_source_positions`` · 2 mel frames); longer audio is encoded
window by window and the valid frames are concatenated.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import LoSATokConfig

# Every teacher emits the official 25 Hz token grid: its frame arithmetic is LoSATokConfig's.
_FRAMING = LoSATokConfig()

HF_KINDS = ("whisper", "hubert", "wavlm", "wav2vec2")


def _model_class(kind: str):
    import transformers as tf

    return {"hubert": tf.HubertModel, "wavlm": tf.WavLMModel, "wav2vec2": tf.Wav2Vec2Model}[kind]


def pairs_to_grid(x: torch.Tensor, tokens: int) -> torch.Tensor:
    """50 Hz ``[B, T50, D]`` -> 25 Hz ``[B, tokens, D]``: mean of frame pairs, then trim / repeat-last."""
    if x.shape[1] % 2:
        x = torch.cat([x, x[:, -1:]], dim=1)
    x = 0.5 * (x[:, 0::2] + x[:, 1::2])
    if x.shape[1] >= tokens:
        return x[:, :tokens]
    return torch.cat([x, x[:, -1:].expand(-1, tokens - x.shape[1], -1)], dim=1)


class HFTeacher(nn.Module):
    """A transformers speech encoder as a frozen LoSATok teacher.

    Args:
        kind: ``whisper`` | ``hubert`` | ``wavlm`` | ``wav2vec2``.
        config: the transformers config as a dict (as stored in ``config.json`` of the model).
    """

    def __init__(self, kind: str, config: dict[str, Any]) -> None:
        super().__init__()
        import transformers as tf

        if kind not in HF_KINDS:
            raise ValueError(f"unknown transformers teacher {kind!r}; known: {HF_KINDS}")
        self.kind = kind
        cfg = dict(config)
        cfg.pop("model_type", None)
        if kind == "whisper":
            from transformers.models.whisper.modeling_whisper import WhisperEncoder

            self.hf_config = tf.WhisperConfig(**cfg)
            self.model = WhisperEncoder(self.hf_config)
            self.window_frames = 2 * self.hf_config.max_source_positions  # mel frames per window
            self._extractor = tf.WhisperFeatureExtractor(
                feature_size=self.hf_config.num_mel_bins, chunk_length=self.window_frames * 160 // 16000
            )
        else:
            self.hf_config = {"hubert": tf.HubertConfig, "wavlm": tf.WavLMConfig, "wav2vec2": tf.Wav2Vec2Config}[kind](
                **cfg
            )
            self.model = _model_class(kind)(self.hf_config)
        self.output_dim = self.hf_config.d_model if kind == "whisper" else self.hf_config.hidden_size
        self.sample_rate = 16000
        # wav2vec2-family checkpoints with layer-norm feature extractors expect normalised input
        self.normalize = kind != "whisper" and getattr(self.hf_config, "feat_extract_norm", "group") == "layer"

    @classmethod
    def from_pretrained(cls, kind: str, path: str) -> HFTeacher:
        """Load weights with transformers' ``from_pretrained(local_dir)`` (no network)."""
        import transformers as tf

        if kind == "whisper":
            full = tf.WhisperModel.from_pretrained(path, local_files_only=True)
            teacher = cls(kind, full.config.to_dict())
            teacher.model.load_state_dict(full.get_encoder().state_dict())
        else:
            loaded = _model_class(kind).from_pretrained(path, local_files_only=True)
            teacher = cls(kind, loaded.config.to_dict())
            teacher.model.load_state_dict(loaded.state_dict())
        return teacher.eval()

    def config_dict(self) -> dict[str, Any]:
        return self.hf_config.to_dict()

    def _encode_one(self, x: torch.Tensor) -> torch.Tensor:
        """One clip ``[N]`` -> 50 Hz ``[T50, D]``."""
        if self.kind == "whisper":
            win = self.window_frames * 160
            outs = []
            for s in range(0, x.shape[-1], win):
                seg = x[s : s + win].float().cpu().numpy()
                feats = self._extractor(seg, sampling_rate=16000, return_tensors="pt").input_features
                h = self.model(feats.to(x.device, self.model.conv1.weight.dtype)).last_hidden_state[0]
                valid = -(-min(win, x.shape[-1] - s) // 320)  # ceil: encoder frames covering the samples
                outs.append(h[:valid])
            return torch.cat(outs)
        if self.normalize:
            x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
        x = F.pad(x, (0, max(0, 400 - x.shape[-1])))
        return self.model(x[None]).last_hidden_state[0]

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None, project=None) -> torch.Tensor:
        """audio ``[B, N]`` 16 kHz -> ``[B, (1 + N // 160) // 4, D]``; items past ``lengths`` are zero.

        ``project`` (e.g. SemBo's encoder) maps each item's features before they are stacked.
        """
        n = audio.shape[-1]
        tokens = _FRAMING.num_frames(n)
        out = None
        for b in range(audio.shape[0]):
            length = n if lengths is None else int(lengths[b])
            valid = _FRAMING.num_frames(length)
            h = pairs_to_grid(self._encode_one(audio[b, :length])[None], valid)
            h = project(h) if project is not None else h
            if out is None:
                out = audio.new_zeros(audio.shape[0], tokens, h.shape[-1])
            out[b, :valid] = h[0].to(out.dtype)
        return out
