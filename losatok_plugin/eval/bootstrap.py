"""Paired bootstrap confidence intervals of the gap between two systems scored on the same clips.

A WER or DNSMOS gap of a point or two between two tokenizers on a few hundred prompts can be noise: the
clips differ far more from each other than the systems do. Both systems were scored on the same clips, so
the clips are resampled together (a paired, percentile bootstrap, Efron & Tibshirani 1993; Koehn 2004 for
corpus-level error rates), which keeps each clip's difficulty on both sides of the gap.

Two kinds of statistic:

* a corpus rate (WER): ``sum(errors) / sum(words)`` over the resampled clips, per system;
* a mean over clips (DNSMOS): ``mean(score)`` over the resampled clips, per system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class GapCI:
    """``other - base`` on all clips, and the bootstrap interval around it.

    Attributes:
        gap: the statistic of ``other`` minus that of ``base`` on all clips.
        lo, hi: the ``level`` percentile interval of the gap over ``n_boot`` resamples of the clips.
        level: e.g. 0.95; clips: how many clips were resampled.
    """

    gap: float
    lo: float
    hi: float
    level: float
    clips: int

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0 (the difference is unlikely to be noise)."""
        return self.lo > 0 or self.hi < 0

    def to_dict(self) -> dict[str, float | int]:
        return {k: round(v, 5) if isinstance(v, float) else v for k, v in asdict(self).items()}


def paired_gap_ci(
    base: Sequence[float],
    other: Sequence[float],
    weights: Sequence[float] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> GapCI:
    """Paired percentile bootstrap of ``stat(other) - stat(base)`` over clips.

    Args:
        base, other: one value per clip ``[K]``, the same clips in the same order (e.g. word errors, or DNSMOS).
        weights: ``[K]`` denominators for a corpus rate (reference words per clip): ``stat = sum(x) / sum(w)``;
            None: the mean over clips.
        n_boot: resamples; level: the interval's coverage; seed: the resampling seed (same seed, same interval).

    Raises:
        ValueError: lengths differ, no clips, ``level`` outside (0, 1), or weights that sum to 0.
    """
    a, b = np.asarray(base, dtype=np.float64), np.asarray(other, dtype=np.float64)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (a.shape == b.shape == w.shape) or a.ndim != 1:
        raise ValueError(f"paired values need equal 1-d lengths, got {a.shape}, {b.shape} and weights {w.shape}")
    if a.size == 0:
        raise ValueError("no clips to bootstrap")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if w.sum() <= 0:
        raise ValueError("the weights (reference words) sum to 0")
    gap = float((b.sum() - a.sum()) / w.sum())
    idx = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
    den = w[idx].sum(axis=1)
    # a resample may draw only clips without words: those resamples carry no rate and are left out
    ok = den > 0
    gaps = (b[idx].sum(axis=1) - a[idx].sum(axis=1))[ok] / den[ok]
    lo, hi = np.quantile(gaps, [(1 - level) / 2, (1 + level) / 2])
    return GapCI(gap=gap, lo=float(lo), hi=float(hi), level=level, clips=int(a.size))
