"""Training dataset: random fixed-length crops on the latent-frame grid, optional cached teacher features.

Crops start on multiples of ``hop`` (640 samples = one 25 Hz latent frame) so that audio crops and
cached feature windows line up exactly. Files that cannot be read are skipped at construction and
reported in ``dataset.skipped`` (path, reason); so are files shorter than one crop, unless
``short_clips="repeat"``, which loops them (audio and cached features alike) to the crop length.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence

import soundfile as sf
import torch
from torch.utils.data import Dataset

from .audio_io import AudioReadError, load_audio
from .feature_cache import FeatureCache
from .manifest import ManifestEntry


class AudioCropDataset(Dataset):
    """Random crops of ``crop_frames`` latent frames.

    Items: ``{"audio": [crop_frames * hop]`` (if ``return_audio``), ``"semantic_emb": [crop_frames, D]``
    (if a feature cache is given), ``"index": int}``.

    Args:
        entries: manifest entries.
        crop_frames: crop length in latent frames (25 per second).
        sample_rate: model rate (16000).
        hop: samples per latent frame (640).
        feature_cache: cached teacher features (``None``: the trainer runs the teacher online).
        return_audio: load audio (False for SemBo training on cached features only).
        short_clips: ``"skip"`` files shorter than one crop, or ``"repeat"`` them (looped to the crop).
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        crop_frames: int,
        sample_rate: int = 16000,
        hop: int = 640,
        feature_cache: FeatureCache | None = None,
        return_audio: bool = True,
        short_clips: str = "skip",
    ) -> None:
        if short_clips not in ("skip", "repeat"):
            raise ValueError(f"short_clips must be 'skip' or 'repeat', got {short_clips!r}")
        if crop_frames < 1:
            raise ValueError("crop_frames must be >= 1")
        if not return_audio and feature_cache is None:
            raise ValueError("return_audio=False needs a feature cache")
        self.crop_frames, self.sample_rate, self.hop = crop_frames, sample_rate, hop
        self.cache, self.return_audio = feature_cache, return_audio
        self.items: list[tuple[ManifestEntry, int, int]] = []  # entry, native sample rate, usable frames
        self.skipped: list[tuple[str, str]] = []
        for e in entries:
            try:
                info = sf.info(e.path)
            except Exception as err:  # noqa: BLE001
                self.skipped.append((e.path, f"unreadable: {err}"))
                continue
            frames = math.floor(info.frames * sample_rate / info.samplerate) // hop
            if self.cache is not None:
                if e.path not in self.cache:
                    self.skipped.append((e.path, "not in the feature cache"))
                    continue
                frames = min(frames, self.cache.frames(e.path))
            if frames < crop_frames and (short_clips == "skip" or frames < 1):
                self.skipped.append((e.path, f"shorter than one crop ({frames} < {crop_frames} frames)"))
                continue
            self.items.append((e, info.samplerate, frames))
        if not self.items:
            raise ValueError(f"no usable files ({len(self.skipped)} skipped: {self.skipped[:3]})")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        for _attempt in range(10):
            try:
                return self._load(i)
            except AudioReadError as err:  # decodable header, corrupt data: warn and take another file
                warnings.warn(f"skipping unreadable audio ({err})", UserWarning, stacklevel=2)
                i = random.randrange(len(self.items))
        raise AudioReadError("10 consecutive unreadable files")

    def _load(self, i: int) -> dict[str, torch.Tensor | int]:
        entry, native_sr, frames = self.items[i]
        take = min(frames, self.crop_frames)  # < crop_frames only for looped short clips
        start = random.randint(0, frames - take)
        out: dict[str, torch.Tensor | int] = {"index": i}
        reps = math.ceil(self.crop_frames / take)
        if self.return_audio:
            n = take * self.hop
            s0 = start * self.hop
            if native_sr == self.sample_rate:
                audio = load_audio(entry.path, self.sample_rate, start=s0, frames=n)
            else:  # read a little more in the native rate, resample, trim
                ratio = native_sr / self.sample_rate
                audio = load_audio(
                    entry.path, self.sample_rate, start=int(s0 * ratio), frames=int(math.ceil(n * ratio)) + 1
                )
            if audio.shape[0] < n:
                audio = torch.nn.functional.pad(audio, (0, n - audio.shape[0]))
            out["audio"] = audio[:n].repeat(reps)[: self.crop_frames * self.hop]
        if self.cache is not None:
            emb = self.cache.get(entry.path, start, take)
            out["semantic_emb"] = emb.repeat(reps, 1)[: self.crop_frames]
        return out
