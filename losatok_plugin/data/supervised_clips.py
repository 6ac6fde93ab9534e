"""Whole labelled clips for stage 0 (training a small semantic encoder on the corpus' supervision).

Items carry audio and the targets of :meth:`~losatok_plugin.data.labels.LabelSpace.targets` (phonemes,
domain, language, instrument families, frame pitches, sound class); :func:`collate_clips` pads a batch.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..configuration import LoSATokConfig
from .audio_io import load_audio
from .augment import SpeechAugmentConfig, augment_speech
from .dataset import EpochSampler, item_rng
from .labels import LabelSpace
from .length_batches import LengthBatchSampler
from .manifest import ManifestEntry
from .workers import ignore_stop_signals


class SupervisedClips(Dataset):
    """Whole clips (cut to ``max_seconds``) with their targets.

    Items: ``audio [N]``, ``length`` (samples) and the targets of :meth:`LabelSpace.targets` at the
    model's frame rate (``model``: the frame arithmetic, default the official sizes; 640 samples a frame).
    ``augment``: training speech clips are augmented (:func:`~losatok_plugin.data.augment.augment_speech`)
    before they are cut.
    """

    def __init__(
        self,
        entries: list[ManifestEntry],
        labels: LabelSpace,
        max_seconds: float,
        train: bool = True,
        model: LoSATokConfig | None = None,
        augment: SpeechAugmentConfig | None = None,
    ):
        self.entries, self.labels, self.train = entries, labels, train
        self.augment = augment if train and augment is not None and augment.prob > 0 else None
        self.model = model or LoSATokConfig()
        self.hop, self.rate = self.model.hop_length, self.model.sampling_rate
        self.max_samples = int(max_seconds * self.rate) // self.hop * self.hop

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        i, rng = item_rng(item)
        e = self.entries[i]
        audio = load_audio(e.path)
        if self.augment is not None and e.domain == "speech":
            audio = augment_speech(audio, self.rate, self.augment, rng)
        start, whole = 0, True
        if audio.shape[0] > self.max_samples:
            span = audio.shape[0] - self.max_samples
            start = rng.randint(0, span) // self.hop * self.hop if self.train else 0
            audio, whole = audio[start : start + self.max_samples], False
        n = max(audio.shape[0], self.hop)
        audio = F.pad(audio, (0, n - audio.shape[0]))
        frames = self.model.num_frames(n)
        return {"audio": audio, "length": n, **self.labels.targets(e, start / self.rate, frames, whole_clip=whole)}


def collate_clips(items: list[dict], model: LoSATokConfig | None = None) -> dict:
    """Pad audio to the longest item and pitch rolls to its frame count (padding targets are -1).

    Returns ``audio [B, N]``, ``length [B]``, ``pitches [B, T, 128]``, ``phonemes`` (B id tensors) and
    ``domain`` / ``lang`` / ``sound [B]``, ``families [B, F]``.
    """
    n = max(it["length"] for it in items)
    frames = (model or LoSATokConfig()).num_frames(n)
    out = {
        "audio": torch.stack([F.pad(it["audio"], (0, n - it["length"])) for it in items]),
        "length": torch.tensor([it["length"] for it in items]),
        "pitches": torch.stack(
            [F.pad(it["pitches"], (0, 0, 0, frames - it["pitches"].shape[0]), value=-1.0) for it in items]
        ),
        "phonemes": [it["phonemes"] for it in items],
    }
    for k in ("domain", "lang", "sound"):
        out[k] = torch.stack([it[k] for it in items])
    out["families"] = torch.stack([it["families"] for it in items])
    return out


def clip_loader(
    entries: list[ManifestEntry],
    labels: LabelSpace,
    max_seconds: float,
    batch_size: int,
    num_workers: int,
    seed: int,
    train: bool,
    model: LoSATokConfig | None = None,
    batch_seconds: float = 0.0,
    augment: SpeechAugmentConfig | None = None,
) -> DataLoader:
    """Batches of :class:`SupervisedClips`; training order per epoch from ``seed`` (resumable), validation in order.

    ``batch_seconds > 0`` batches clips of similar length (manifest durations, capped at ``max_seconds``;
    unknown ones count as ``max_seconds``) up to that many padded seconds per batch
    (:class:`~losatok_plugin.data.length_batches.LengthBatchSampler`) instead of ``batch_size`` clips.
    ``augment`` applies to training speech clips only (a speed change moves a clip's length by up to
    its factor, so a batch may hold that much more than ``batch_seconds``).
    """
    ds = SupervisedClips(entries, labels, max_seconds, train=train, model=model, augment=augment)
    if batch_seconds > 0:
        durations = [min(e.duration or max_seconds, max_seconds) for e in entries]
        return DataLoader(
            ds,
            batch_sampler=LengthBatchSampler(durations, batch_seconds, seed, shuffle=train),
            num_workers=num_workers,
            collate_fn=partial(collate_clips, model=model),
            persistent_workers=num_workers > 0,
            worker_init_fn=ignore_stop_signals,
        )
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=EpochSampler(len(ds), seed) if train else None,
        drop_last=train and len(ds) >= batch_size,
        num_workers=num_workers,
        collate_fn=partial(collate_clips, model=model),
        persistent_workers=num_workers > 0,
        worker_init_fn=ignore_stop_signals,
        generator=torch.Generator().manual_seed(seed),
    )
