"""Crops drawn per domain in set proportions (``data.domain_shares``), clips weighted by duration.

A corpus counted in clips is not the corpus counted in hours: losatok-mini's v2 corpus holds 11,214 speech clips
(7.4 h) but 696 music clips (2.0 h) and 618 sound clips (0.6 h), so one crop per clip per epoch
(:class:`~losatok_plugin.data.EpochSampler`) gives music 5.6 % of the crops and sound 4.9 %. With
``domain_shares: {speech: 0.5, music: 0.3, sound: 0.2}`` a crop is music with probability 0.3, and within a domain a
clip is drawn in proportion to its usable length, so a long track is cut into many different crops (audiocraft's
``sample_on_duration`` does the same within one dataset).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch

from .dataset import EpochSampler
from .manifest import DOMAINS


class DomainSharesError(ValueError):
    """``data.domain_shares`` cannot be applied to this manifest (the message says why, in one line)."""


def check_domain_shares(shares: Mapping[str, float], where: str = "data.domain_shares") -> dict[str, float]:
    """Validate ``{domain: share}``: known domains, finite shares >= 0, a positive sum. Returns them normalised."""
    unknown = sorted(set(shares) - set(DOMAINS))
    if unknown:
        raise DomainSharesError(f"{where}: unknown domains {unknown}; known: {list(DOMAINS)}")
    out = {}
    for d, s in shares.items():
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not s >= 0 or s == float("inf"):
            raise DomainSharesError(f"{where}.{d} must be a finite number >= 0, got {s!r}")
        out[d] = float(s)
    total = sum(out.values())
    if total <= 0:
        raise DomainSharesError(f"{where}: the shares sum to 0; give at least one domain a share > 0")
    return {d: s / total for d, s in out.items()}


def domain_share_weights(
    domains: Sequence[str | None],
    frames: Sequence[int],
    shares: Mapping[str, float],
    paths: Sequence[str] = (),
    sources: Sequence[str | None] = (),
    source_alpha: float = 1.0,
) -> torch.Tensor:
    """Per-clip sampling weights: ``[N]`` floats summing to 1.

    Domain ``d`` gets ``share[d]`` of the weight. Within it, source ``s`` (the manifest's ``source``; clips without
    one form a source of their own) gets a part proportional to ``hours(s) ** source_alpha``, and a clip of ``s`` a
    part of that proportional to its length: ``source_alpha=1`` weights every clip of a domain by its length, ``0``
    gives every source of a domain the same share, between them small sources are lifted without being repeated
    as often as an equal share would (temperature sampling, as for languages in multilingual corpora). Domains
    missing from ``shares`` get no crops (with a warning naming them). A clip without a domain, or a domain with a
    share but no clips, is an error: the shares would silently not hold.

    Args:
        domains: each clip's manifest ``domain`` (``[N]``).
        frames: each clip's usable length in latent frames (``[N]``, >= 1).
        shares: ``{domain: share}`` (normalised here).
        paths: the clips' paths, for the error messages.
        sources: each clip's source (``[N]``; empty: one source per domain).
        source_alpha: the exponent on a source's length, in ``[0, 1]``.
    """
    if len(domains) != len(frames) or (sources and len(sources) != len(frames)):
        raise ValueError(f"{len(domains)} domains and {len(sources)} sources for {len(frames)} clips")
    if not 0.0 <= source_alpha <= 1.0:
        raise DomainSharesError(f"data.source_alpha must be in [0, 1], got {source_alpha}")
    shares = check_domain_shares(shares)
    missing = [i for i, d in enumerate(domains) if d is None]
    if missing:
        first = paths[missing[0]] if paths else f"clip {missing[0]}"
        raise DomainSharesError(
            f"data.domain_shares needs a domain on every manifest row; {len(missing)} rows have none (first: {first})"
        )
    unshared = sorted({d for d in domains if d not in shares})
    if unshared:  # allowed (train on some domains only), but never silently
        counts = ", ".join(f"{d} ({sum(x == d for x in domains)} clips)" for d in unshared)
        warnings.warn(
            f"data.domain_shares gives no share to {counts}: those clips get no crops", UserWarning, stacklevel=2
        )
    length = torch.tensor([float(max(f, 1)) for f in frames], dtype=torch.float64)
    source_of = list(sources) if sources else [None] * len(frames)
    weights = torch.zeros(len(frames), dtype=torch.float64)
    for d, share in shares.items():
        in_d = [i for i, x in enumerate(domains) if x == d]
        if share > 0 and not in_d:
            raise DomainSharesError(
                f"data.domain_shares gives {d} a share of {share:.2f} but the manifest has no {d} clips"
            )
        groups: dict[str | None, list[int]] = {}
        for i in in_d:
            groups.setdefault(source_of[i], []).append(i)
        mass = {s: float(length[idx].sum()) ** source_alpha for s, idx in groups.items()}
        total = sum(mass.values())
        for s, idx in groups.items():
            idx_t = torch.tensor(idx)
            weights[idx_t] = share * (mass[s] / total) * length[idx_t] / length[idx_t].sum()
    return (weights / weights.sum()).float()


def share_summary(weights: torch.Tensor, domains: Sequence[str | None], sources: Sequence[str | None] = ()) -> str:
    """The expected share of crops per domain and per source, in one line (logged when a run starts).

    Args:
        weights: ``[N]`` sampling weights (:func:`domain_share_weights`).
        domains: each clip's domain (``[N]``).
        sources: each clip's source (``[N]``; empty: domains only).

    Returns:
        e.g. ``"speech 50.0 % (flite 6.1 %, tuxpaint 20.3 %), music 50.0 % (...)"``, domains and sources sorted by name.
    """
    w = torch.as_tensor(weights, dtype=torch.float64)
    w = w / w.sum()
    per: dict[str, dict[str, float]] = {}
    for i, d in enumerate(domains):
        src = (sources[i] if sources else None) or "?"
        per.setdefault(str(d), {}).setdefault(str(src), 0.0)
        per[str(d)][str(src)] += float(w[i])
    parts = []
    for d in sorted(per):
        total = sum(per[d].values())
        inner = ", ".join(f"{s} {100 * v:.1f} %" for s, v in sorted(per[d].items())) if sources else ""
        parts.append(f"{d} {100 * total:.1f} %" + (f" ({inner})" if inner else ""))
    return ", ".join(parts)


class WeightedEpochSampler(EpochSampler):
    """``num_samples`` clips per epoch drawn with replacement by ``weights``; like
    :class:`~losatok_plugin.data.EpochSampler` the draw and each item's crop seed are a function of ``seed`` and the
    epoch (``set_epoch``), so a resumed run re-creates the epoch it stopped in.

    Args:
        weights: ``[N]`` non-negative sampling weights (:func:`domain_share_weights`).
        seed: the run's seed.
        num_samples: items per epoch (default ``N``: an epoch is as long as with one crop per clip).
    """

    def __init__(self, weights: torch.Tensor, seed: int = 0, num_samples: int | None = None) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        super().__init__(len(self.weights) if num_samples is None else num_samples, seed)

    def _order(self, g: torch.Generator) -> list[int]:
        return torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist()
