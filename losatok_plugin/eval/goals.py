"""The quality goals of losatok-mini v2 (issue 14), checked against held-out evaluation results.

Input is the ``sets`` part of ``recipes/mini/evaluate.py``'s ``results.json``::

    {set name: {"kind": "real" | "synthetic",
                "losatok": {domain: {"clips", "mel", "stft", "si_sdr", "pesq_wb", "stoi", ...}},
                "griffin_lim": {domain: {...}},
                "dnsmos": {"original" | "losatok" | "griffin_lim": {"ovrl", "sig", "bak", "clips"}},
                "wer_dnsmos": {...},  # DNSMOS on the WER clips, as "dnsmos"; the goal takes it when present
                "wer_dnsmos_gap_ci": {"losatok": {"gap", "lo", "hi", "level", "clips"}, ...},  # optional
                "wer": {"clips", "words", "wer": {"original" | "losatok" | "griffin_lim": float},
                        "gap_ci": {"losatok": {"gap", "lo", "hi", "level", "clips"}, ...}}}}  # optional

A gap's bootstrap interval (``gap_ci``, ``eval/bootstrap.py``), when the results hold one, is shown beside the
gap; the verdict is the point estimate's, as the issue states the goal.

Each goal comes back as a :class:`GoalCheck`: met (True / False) with the numbers, or ``None`` when the
results do not hold what it needs (no real music evaluated, no English transcripts...): not measured is
never reported as met.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

DOMAINS = ("speech", "music", "sound")


@dataclass(frozen=True)
class GoalThresholds:
    """Issue 14's numbers: real-speech STOI and PESQ-WB floors, WER points and DNSMOS drop allowed."""

    stoi: float = 0.88
    pesq_wb: float = 2.2
    pesq_wb_moonshot: float = 2.6
    wer_points: float = 3.0  # percentage points above the originals' WER
    dnsmos_drop: float = 0.3  # OVRL below the originals'


@dataclass
class GoalCheck:
    """One line of the checklist: ``goal`` text, ``met`` (None: not measured) and ``detail`` with numbers."""

    goal: str
    met: bool | None
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def _metric(sets: Mapping, name: str, system: str, domain: str, metric: str) -> float | None:
    return sets.get(name, {}).get(system, {}).get(domain, {}).get(metric)


def _real(sets: Mapping) -> list[str]:
    return [n for n, s in sets.items() if s.get("kind") == "real"]


def _mel_goals(sets: Mapping) -> list[GoalCheck]:
    out = []
    for name, s in sets.items():
        for domain in DOMAINS:
            ours, base = (_metric(sets, name, k, domain, "mel") for k in ("losatok", "griffin_lim"))
            goal = f"mel distance below the Griffin-Lim baseline: {name} ({s.get('kind', '?')}) {domain}"
            if ours is None or base is None:
                out.append(GoalCheck(goal, None, "not measured (no clips of this domain)"))
            else:
                out.append(GoalCheck(goal, ours < base, f"LoSATok {ours:.3f} vs baseline {base:.3f}"))
    return out


def _floor_goal(sets: Mapping, metric: str, label: str, floor: float, moonshot: float | None = None) -> list[GoalCheck]:
    goal = f"real speech {label} >= {floor:g}"
    names = _real(sets)
    values = [(n, _metric(sets, n, "losatok", "speech", metric)) for n in names]
    values = [(n, v) for n, v in values if v is not None]
    if not values:
        return [GoalCheck(goal, None, "not measured (no real speech)")]
    out = []
    for n, v in values:
        base = _metric(sets, n, "griffin_lim", "speech", metric)
        detail = f"{n}: LoSATok {v:.3f}" + ("" if base is None else f" (baseline {base:.3f})")
        if moonshot is not None:
            detail += f"; moonshot {moonshot:g} {'reached' if v >= moonshot else 'not reached'}"
        out.append(GoalCheck(goal, v >= floor, detail))
    return out


def _ci_text(ci: Mapping | None, scale: float = 1.0, fmt: str = "+.1f") -> str:
    """``", 95 % CI +4.1 to +10.8"`` of a stored :class:`~.bootstrap.GapCI` dict (``scale``: 100 for points)."""
    if not ci:
        return ""
    level = round(100 * ci["level"])
    return f", {level} % CI {scale * ci['lo']:{fmt}} to {scale * ci['hi']:{fmt}}"


def _wer_goal(sets: Mapping, points: float) -> list[GoalCheck]:
    goal = f"real English speech WER of the reconstructions within {points:g} points of the originals'"
    out = []
    for n in _real(sets):
        wer = sets[n].get("wer") or {}
        rates = wer.get("wer", {})
        if "original" not in rates or "losatok" not in rates or not wer.get("clips"):
            continue
        orig, ours, base = rates["original"], rates["losatok"], rates.get("griffin_lim")
        gap = 100 * (ours - orig)
        detail = (
            f"{n}, {wer['clips']} clips / {wer['words']} words: original {100 * orig:.1f} %, LoSATok {100 * ours:.1f} %"
        )
        detail += "" if base is None else f", baseline {100 * base:.1f} %"
        ci = _ci_text((wer.get("gap_ci") or {}).get("losatok"), scale=100)
        out.append(GoalCheck(goal, gap <= points, detail + f" (gap {gap:+.1f} points{ci})"))
    return out or [GoalCheck(goal, None, "not measured (no English real speech with transcripts)")]


def _dnsmos_sample(result: Mapping) -> tuple[Mapping, str]:
    """The larger of a set's two DNSMOS samples and its label: ``wer_dnsmos`` (the WER clips) or ``dnsmos``."""
    samples = [(result.get("wer_dnsmos") or {}, "WER clips"), (result.get("dnsmos") or {}, "clips")]
    return max(samples, key=lambda m: m[0].get("original", {}).get("clips", 0))


def _dnsmos_goal(sets: Mapping, drop: float) -> list[GoalCheck]:
    goal = f"real speech DNSMOS OVRL of the reconstructions within {drop:g} of the originals'"
    out = []
    for n in _real(sets):
        # the WER clips are the larger sample (100 vs 12 on the card); older results have only "dnsmos"
        mos, label = _dnsmos_sample(sets[n])
        orig, ours, base = (mos.get(k, {}).get("ovrl") for k in ("original", "losatok", "griffin_lim"))
        if orig is None or ours is None:
            continue
        detail = f"{n}, {mos['original'].get('clips', '?')} {label}: original {orig:.2f}, LoSATok {ours:.2f}"
        detail += "" if base is None else f", baseline {base:.2f}"
        # the interval belongs to the WER clips' sample; the 12-clip "dnsmos" sample has none
        cis = (sets[n].get("wer_dnsmos_gap_ci") or {}) if label == "WER clips" else {}
        ci = _ci_text(cis.get("losatok"), fmt="+.2f")
        out.append(GoalCheck(goal, orig - ours <= drop, detail + f" (difference {ours - orig:+.2f}{ci})"))
    return out or [GoalCheck(goal, None, "not measured (no real speech)")]


def _music_stft_goal(sets: Mapping) -> list[GoalCheck]:
    goal = "MR-STFT distance below the baseline on real music"
    out = []
    for n in _real(sets):
        ours, base = (_metric(sets, n, k, "music", "stft") for k in ("losatok", "griffin_lim"))
        if ours is not None and base is not None:
            out.append(GoalCheck(goal, ours < base, f"{n}: LoSATok {ours:.3f} vs baseline {base:.3f}"))
    return out or [GoalCheck(goal, None, "not measured (no real music)")]


def check_goals(sets: Mapping, thresholds: GoalThresholds = GoalThresholds()) -> list[GoalCheck]:
    """Every goal of issue 14 against ``sets`` (layout in the module docstring), in the issue's order."""
    t = thresholds
    checks = _mel_goals(sets)
    checks += _floor_goal(sets, "stoi", "STOI", t.stoi)
    checks += _floor_goal(sets, "pesq_wb", "PESQ-WB", t.pesq_wb, moonshot=t.pesq_wb_moonshot)
    checks += _wer_goal(sets, t.wer_points)
    checks += _dnsmos_goal(sets, t.dnsmos_drop)
    checks += _music_stft_goal(sets)
    return checks


def goals_markdown(checks: list[GoalCheck]) -> str:
    """The checklist: ``- [x] goal: detail — met`` / ``- [ ] ... — NOT met`` / ``- [ ] ... — not measured``."""
    lines = []
    for c in checks:
        mark, verdict = {True: ("x", "met"), False: (" ", "**not met**"), None: (" ", "not measured")}[c.met]
        lines.append(f"- [{mark}] {c.goal}: {c.detail} — {verdict}")
    met = sum(c.met is True for c in checks)
    lines.append(f"\n{met} of {len(checks)} goal lines met.")
    return "\n".join(lines)
