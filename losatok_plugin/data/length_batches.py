"""Batches of clips of similar length under a padded-seconds budget (length bucketing).

A batch of whole clips is padded to its longest clip, so a random batch that mixes 1.5 s speech with
a 12 s music excerpt spends most of its compute on padding (the corpus' mean clip is ~3.4 s; a random
batch of 16 is almost always padded to the 12 s cap). :class:`LengthBatchSampler` sorts clips by length
(with a little per-epoch noise, so neighbours change between epochs), packs them greedily while
``count * longest <= batch_seconds`` and shuffles the batch order: the fairseq/ESPnet "batch by frames"
scheme. Like :class:`~losatok_plugin.data.dataset.EpochSampler` its output is a function of the seed
and the epoch, so a resumed run reads the same batches; items are ``(index, seed)`` pairs for
:func:`~losatok_plugin.data.dataset.item_rng`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches (lists of ``(index, seed)``) of similar-length clips; ``len(batch) * longest <= batch_seconds``.

    Args:
        durations: seconds per clip, already capped at the longest crop the dataset returns.
        batch_seconds: padded seconds per batch (a clip longer than this forms a batch alone).
        seed: order and crops are functions of ``seed`` and the epoch (:meth:`set_epoch`).
        shuffle: False keeps the batches in length order (validation).
        jitter: relative noise on the sort key per epoch (0 = the same batches every epoch).
    """

    def __init__(
        self,
        durations: Sequence[float],
        batch_seconds: float,
        seed: int = 0,
        shuffle: bool = True,
        jitter: float = 0.1,
    ) -> None:
        if batch_seconds <= 0:
            raise ValueError(f"batch_seconds must be > 0, got {batch_seconds}")
        self.durations = torch.tensor([float(d) for d in durations], dtype=torch.float64)
        if len(self.durations) and not torch.all(self.durations > 0):
            raise ValueError("every clip duration must be > 0")
        self.batch_seconds, self.seed, self.shuffle, self.jitter = float(batch_seconds), seed, shuffle, jitter
        self.epoch = 0
        self._cache: tuple[int, list[list[tuple[int, int]]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[tuple[int, int]]]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.durations)
        noise = 1.0 + self.jitter * (2 * torch.rand(n, generator=g, dtype=torch.float64) - 1) if self.shuffle else 1.0
        order = torch.argsort(self.durations * noise, stable=True).tolist()
        seeds = torch.randint(0, 2**62, (n,), generator=g).tolist()
        batches, current, longest = [], [], 0.0
        for i in order:
            d = float(self.durations[i])
            if current and (len(current) + 1) * max(longest, d) > self.batch_seconds:
                batches.append(current)
                current, longest = [], 0.0
            current.append((i, seeds[i]))
            longest = max(longest, d)
        if current:
            batches.append(current)
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=g).tolist()
            batches = [batches[j] for j in perm]
        self._cache = (self.epoch, batches)
        return batches

    def __len__(self) -> int:
        return len(self._batches())

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter(self._batches())
