"""Verdicts of the paper's claims, computed from measured numbers only.

``reproduced in direction``: the measured difference has the paper's sign and exceeds the seeds' spread
and the measurement's resolution (for probes: one held-out clip per task, see ``report.compare``);
``not reproduced``: it has the opposite sign and exceeds both; ``inconclusive``: within either (or too few
seeds / points to tell).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

REPRODUCED = "reproduced in direction"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"


def paired(a: Sequence[float], b: Sequence[float], expect: int = 1, floor: float = 0.0) -> dict:
    """``a`` vs ``b`` measured with the same seeds (element i = seed i); the paper says ``sign(a - b) == expect``.

    The spread is the sample std (ddof 1) of the per-seed differences; fewer than 2 seeds is inconclusive.
    ``floor``: the smallest difference the measurement resolves (the seeds share one held-out set, so their
    spread alone says nothing about a difference of a clip or two); ``|diff| <= max(std, floor)`` is
    inconclusive. Returns ``{"verdict", "diff", "std", "floor", "n"}``.
    """
    if len(a) != len(b):
        raise ValueError(f"paired verdict needs the same seeds on both sides, got {len(a)} and {len(b)} values")
    if expect not in (1, -1):
        raise ValueError("expect must be +1 or -1")
    n = len(a)
    diffs = [x - y for x, y in zip(a, b)]
    diff = sum(diffs) / n if n else math.nan
    std = math.sqrt(sum((d - diff) ** 2 for d in diffs) / (n - 1)) if n > 1 else math.nan
    if n < 2 or abs(diff) <= max(std, floor):
        verdict = INCONCLUSIVE
    else:
        verdict = REPRODUCED if diff * expect > 0 else NOT_REPRODUCED
    return {"verdict": verdict, "diff": diff, "std": std, "floor": floor, "n": n}


def threshold(value: float, limit: float, below: bool = True) -> dict:
    """A claim about one measured ``value`` (no seeds): reproduced when it is below (or above) ``limit``."""
    if math.isnan(value):
        return {"verdict": INCONCLUSIVE, "value": value, "limit": limit}
    ok = value < limit if below else value > limit
    return {"verdict": REPRODUCED if ok else NOT_REPRODUCED, "value": value, "limit": limit}


def first_reach(curve: Sequence[dict], target: float) -> int | None:
    """The first ``step`` of ``curve`` (rows ``{"step", "fd"}``, any order) whose ``fd`` is ≤ ``target``."""
    for row in sorted(curve, key=lambda r: r["step"]):
        if row["fd"] <= target:
            return int(row["step"])
    return None


def width_verdict(curve_a: Sequence[dict], curve_b: Sequence[dict]) -> dict:
    """The paper: the 128-d model (a) reaches the wide model (b)'s final FD well before b's last step.

    Reproduced when (a) reaches b's final FD at a step before b's last; not reproduced when (a) never reaches
    it, or only at the last step; inconclusive with fewer than 2 checkpoints on either side.
    """
    if len(curve_a) < 2 or len(curve_b) < 2:
        return {"verdict": INCONCLUSIVE, "reach_step": None, "target": None, "last_step": None}
    last_b = max(curve_b, key=lambda r: r["step"])
    step = first_reach(curve_a, last_b["fd"])
    verdict = REPRODUCED if step is not None and step < last_b["step"] else NOT_REPRODUCED
    return {"verdict": verdict, "reach_step": step, "target": last_b["fd"], "last_step": int(last_b["step"])}
