"""Training dataset: random fixed-length crops on the latent-frame grid, optional cached teacher features.

Crops start on multiples of ``hop`` (640 samples = one 25 Hz latent frame) so that audio crops and
cached feature windows line up exactly. Files that cannot be read or hold NaN / inf samples are skipped
at construction and reported in ``dataset.skipped`` (path, reason); so are files shorter than one crop, unless
``short_clips="repeat"``, which loops them (audio and cached features alike) to the crop length.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence
from typing import Any

import soundfile as sf
import torch
from torch.utils.data import Dataset, Sampler

from .audio_io import AudioReadError, load_audio, nonfinite_reason
from .feature_cache import FeatureCache
from .manifest import ManifestEntry


class NoUsableFilesError(ValueError):
    """Every file of a manifest was skipped: a run on nothing is an error, not a success."""

    def __init__(self, skipped: Sequence[tuple[str, str]]) -> None:
        first = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        super().__init__(f"no usable files: all {len(skipped)} files were skipped{first}")
        self.skipped = list(skipped)


def screen_audio(
    entries: Sequence[ManifestEntry],
) -> tuple[list[tuple[ManifestEntry, sf._SoundFileInfo]], list[tuple[str, str]]]:
    """Split manifest entries into readable ones (with their ``soundfile`` info) and skipped ones
    (path, reason): unreadable headers and files holding NaN / inf samples."""
    ok, skipped = [], []
    for e in entries:
        try:
            info = sf.info(e.path)
            reason = nonfinite_reason(e.path)
        except Exception as err:  # noqa: BLE001 - libsndfile raises several types for bad files
            skipped.append((e.path, f"unreadable: {err}"))
            continue
        if reason is not None:
            skipped.append((e.path, reason))
            continue
        ok.append((e, info))
    return ok, skipped


def item_rng(item) -> tuple[int, Any]:
    """A sampler item -> (dataset index, the RNG for that item's random choices).

    :class:`EpochSampler` yields ``(index, seed)`` pairs: each item's crop is then a function of the
    seed, the epoch and its position, not of the process' global RNG state (which the DataLoader's
    read-ahead and worker processes make unreproducible after a resume). Plain ints use ``random``.
    """
    if isinstance(item, (tuple, list)):
        return int(item[0]), random.Random(int(item[1]))
    return int(item), random  # the module-level functions (random.randint...) share its interface


class EpochSampler(Sampler[tuple[int, int]]):
    """A shuffle of ``range(n)`` that is a function of ``seed`` and the epoch (``set_epoch``); each
    index comes with a seed for its random crop (see :func:`item_rng`).

    Every process draws the same order (accelerate then gives each its share of the batches), and a
    resumed run re-creates the order and the crops of the epoch it stopped in.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def _order(self, g: torch.Generator) -> list[int]:
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = self._order(g)
        seeds = torch.randint(0, 2**62, (len(order),), generator=g).tolist()
        return iter(list(zip(order, seeds)))


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
        readable, self.skipped = screen_audio(entries)
        for e, info in readable:
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
            raise NoUsableFilesError(self.skipped)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor | int]:
        i, rng = item_rng(item)
        for _attempt in range(10):
            try:
                return self._load(i, rng)
            except AudioReadError as err:  # decodable header, corrupt data: warn and take another file
                warnings.warn(f"skipping unreadable audio ({err})", UserWarning, stacklevel=2)
                i = rng.randrange(len(self.items))
        raise AudioReadError("10 consecutive unreadable files")

    def _load(self, i: int, rng: Any) -> dict[str, torch.Tensor | int]:
        entry, native_sr, frames = self.items[i]
        take = min(frames, self.crop_frames)  # < crop_frames only for looped short clips
        start = rng.randint(0, frames - take)
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
