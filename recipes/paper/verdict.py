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


def spread(row: dict) -> float:
    """The uncertainty of one FD-curve point: the std (ddof 1) of its per-seed FDs when there are 2 or more,
    else its bootstrap std, else 0."""
    seeds = row.get("fd_seeds") or []
    if len(seeds) > 1:
        m = sum(seeds) / len(seeds)
        return math.sqrt(sum((x - m) ** 2 for x in seeds) / (len(seeds) - 1))
    return float(row.get("fd_boot_std") or 0.0)


def width_verdict(curve_a: Sequence[dict], curve_b: Sequence[dict]) -> dict:
    """The paper: the 128-d model (a) reaches the wide model (b)'s final FD well before b's last step.

    ``tol`` at a step combines the spreads (:func:`spread`) of (a) there and of (b)'s final point. Reproduced
    when (a) is below b's final FD by more than ``tol`` at a step before b's last; inconclusive when it gets
    there only within ``tol`` (or with fewer than 2 checkpoints on either side); not reproduced when (a) never
    comes within ``tol`` of it before b's last step.
    """
    none = {"verdict": INCONCLUSIVE, "reach_step": None, "target": None, "last_step": None}
    if len(curve_a) < 2 or len(curve_b) < 2:
        return none
    last_b = max(curve_b, key=lambda r: r["step"])
    target, last = last_b["fd"], int(last_b["step"])
    early = [r for r in sorted(curve_a, key=lambda r: r["step"]) if r["step"] < last]
    tol = {int(r["step"]): math.hypot(spread(r), spread(last_b)) for r in early}
    clear = next((int(r["step"]) for r in early if r["fd"] < target - tol[int(r["step"])]), None)
    near = next((int(r["step"]) for r in early if r["fd"] <= target + tol[int(r["step"])]), None)
    if clear is not None:
        verdict, step = REPRODUCED, clear
    elif near is not None:
        verdict, step = INCONCLUSIVE, near
    else:
        verdict, step = NOT_REPRODUCED, None
    out = {"verdict": verdict, "reach_step": step, "target": target, "last_step": last}
    if step is not None and tol[step] > 0:
        out["tol"] = tol[step]
    return out
