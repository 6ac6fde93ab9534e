"""Write recipes/paper/REPORT.md and its PNG plots from recipes/paper/results/*.json, and nothing else.

    python -m recipes.paper.report [--results recipes/paper/results] [--out recipes/paper]

Every number in the report is read from a results JSON (written by run.py); the verdicts are computed here
from those numbers (verdict.py). An experiment without results is listed as not run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from losatok_plugin.fileio import atomic_write_text
from recipes.paper.verdict import paired, spread, threshold, width_verdict

HERE = Path(__file__).resolve().parent

# The paper's numbers (full scale; ../shared/SPEC.md §3), set beside ours.
PAPER = {
    "sembo_vs_pca": {
        "columns": ["ESC-50", "FSC", "GTZAN"],
        "rows": {
            "SemBo (128-d)": [93.70, 89.01, 89.49],
            "PCA to 128-d": [94.95, 78.06, 90.49],
            "SemBo without the time-relation loss": [87.70, 82.97, None],
        },
        "rank": "teacher (1280-d MiDashengLM) effective rank ≈ 257 on speech (20 % of its width)",
    },
    "dual_level": {
        "columns": ["ESC-50", "FSC", "GTZAN"],
        "rows": {
            "both (L_H + L_L)": [91.25, 59.87, 86.49],
            "without L_L (high_only)": [47.25, 6.30, 53.76],
            "without L_H (low_only)": [91.10, 54.79, 86.99],
        },
    },
    "latent_width": "a DiT on 128-d LoSATok latents reaches at ~21-28K steps what it reaches at 150K steps on 1280-d latents (TTA)",
}

CLAIMS = {
    "sembo_beats_pca_on_speech": (
        "SemBo keeps speech information a training-free PCA loses (FSC: SemBo 89.01 vs PCA 78.06)",
        "PCA-128 at or above SemBo on the speech probes by more than the seeds' std and one held-out clip per task",
    ),
    "relation_loss_helps": (
        "the time-relation loss improves the 128-d features (ESC +6.0, FSC +6.0)",
        "SemBo without the relation loss at or above SemBo (mean over tasks) by more than the seeds' std and one held-out clip per task",
    ),
    "teacher_is_redundant": (
        "the teacher's features are highly redundant (effective rank ≈ 20 % of the width on speech)",
        "an effective rank of half the teacher's width or more on speech",
    ),
    "low_level_term_needed": (
        "without L_L the latent loses its semantics (both − high_only: +44 / +54 / +33 points)",
        "high_only at or above both (mean over tasks) by more than the seeds' std and one held-out clip per task",
    ),
    "high_level_term_dispensable": (
        "low_only keeps the semantics (low_only ≫ high_only)",
        "high_only at or above low_only by more than the seeds' std and one held-out clip per task",
    ),
    "small_latent_trains_faster": (
        "the 128-d DiT reaches the wide DiT's final FD well before the wide DiT's last step",
        "(a) never coming within the spread (seeds' std, or the bootstrap's with one seed) of (b)'s final FD "
        "before (b)'s last checkpoint",
    ),
}


def load_results(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def fmt(x: float | None, scale: float = 100.0, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * scale:.{digits}f}"


def per_seed_mean(rows: list[dict], rep: str, tasks: set[tuple[str, str]]) -> list[float]:
    """Mean accuracy over ``tasks`` ((task, level) pairs) of ``rep``, one value per seed (sorted seeds)."""
    by_seed: dict[int, list[float]] = {}
    for r in rows:
        if r["representation"] == rep and (r["task"], r["level"]) in tasks:
            by_seed.setdefault(int(r.get("seed", 0)), []).append(r["accuracy"])
    return [sum(v) / len(v) for _, v in sorted(by_seed.items()) if len(v) == len(tasks)]


def shared_tasks(rows: list[dict], reps: list[str], prefix: str = "") -> set[tuple[str, str]]:
    sets = [{(r["task"], r["level"]) for r in rows if r["representation"] == rep} for rep in reps]
    common = set.intersection(*sets) if sets else set()
    return {t for t in common if t[0].startswith(prefix)}


def resolution(rows: list[dict], tasks: set[tuple[str, str]]) -> float:
    """One held-out item per task, averaged over ``tasks``: the smallest change of a mean-over-tasks accuracy
    that one clip (or frame) answered differently makes. Seeds share the held-out set, so a difference below
    this is not resolved however small the seeds' spread."""
    n_test = {(r["task"], r["level"]): r["n_test"] for r in rows if (r["task"], r["level"]) in tasks}
    return sum(1.0 / max(1, n) for n in n_test.values()) / len(n_test) if n_test else 0.0


def saturated(rows: list[dict], reps: list[str], tasks: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The tasks on which every one of ``reps`` scores 100 % on every seed: they cannot order the two, and
    averaging them in would only shrink the difference."""
    out = set()
    for t in tasks:
        accs = [r["accuracy"] for r in rows if (r["task"], r["level"]) == t and r["representation"] in reps]
        if accs and min(accs) >= 1.0 - 1e-9:
            out.add(t)
    return out


def compare(rows: list[dict], a: str, b: str, prefix: str = "") -> dict:
    """``a`` vs ``b`` (paper: a > b) on the mean accuracy over the tasks both have (names starting with
    ``prefix``), per seed; tasks where both are at 100 % on every seed are left out (listed as ``saturated``)."""
    shared = shared_tasks(rows, [a, b], prefix)
    full = saturated(rows, [a, b], shared)
    tasks = shared - full
    if not tasks:
        return {"verdict": "inconclusive", "diff": math.nan, "std": math.nan, "n": 0, "tasks": [], "saturated": []}
    floor = resolution(rows, tasks)
    v = paired(per_seed_mean(rows, a, tasks), per_seed_mean(rows, b, tasks), floor=floor)
    return {**v, "tasks": sorted(tasks), "saturated": sorted(full)}


def verdicts(results: dict[str, dict]) -> dict[str, dict]:
    """Every claim's verdict that the results allow (see :data:`CLAIMS`)."""
    out: dict[str, dict] = {}
    m = results.get("sembo_vs_pca", {}).get("measurements", {})
    rows = m.get("probe_rows", [])
    if rows:
        pca = next((r["representation"] for r in rows if r["representation"].startswith("pca")), "pca")
        out["sembo_beats_pca_on_speech"] = compare(rows, "sembo", pca, "speech_")
        out["relation_loss_helps"] = compare(rows, "sembo", "sembo_norel")
    speech = m.get("rank", {}).get("speech", {}).get("teacher")
    if speech:
        out["teacher_is_redundant"] = threshold(speech["effective_rank"] / speech["dim"], 0.5)
    rows = results.get("dual_level", {}).get("measurements", {}).get("probe_rows", [])
    if rows:
        out["low_level_term_needed"] = compare(rows, "both", "high_only")
        out["high_level_term_dispensable"] = compare(rows, "low_only", "high_only")
    w = results.get("latent_width", {}).get("measurements", {})
    if "fd_a" in w and "fd_b" in w:
        out["small_latent_trains_faster"] = width_verdict(w["fd_a"], w["fd_b"])
    return out


# -- plots --------------------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_probe_summary(summary: list[dict], path: Path, title: str) -> None:
    plt = _plt()
    tasks = list(dict.fromkeys(f"{r['task']} ({r['level']})" for r in summary))
    reps = list(dict.fromkeys(r["representation"] for r in summary))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(tasks)), 4))
    width = 0.8 / max(1, len(reps))
    for i, rep in enumerate(reps):
        vals = {f"{r['task']} ({r['level']})": r for r in summary if r["representation"] == rep}
        xs = [t + i * width for t in range(len(tasks))]
        ys = [vals[t]["accuracy_mean"] if t in vals else 0 for t in tasks]
        es = [vals[t]["accuracy_std"] if t in vals else 0 for t in tasks]
        ax.bar(xs, ys, width, yerr=es, label=rep, capsize=2)
    chance = [next((r["chance_mean"] for r in summary if f"{r['task']} ({r['level']})" == t), 0) for t in tasks]
    ax.scatter([t + 0.4 - width / 2 for t in range(len(tasks))], chance, marker="_", color="k", s=300, label="chance")
    ax.set_xticks([t + 0.4 - width / 2 for t in range(len(tasks))], tasks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (held-out)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_pca_curves(rank: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for domain, reps in rank.items():
        t = reps["teacher"]
        ax.plot(range(1, len(t["curve"]) + 1), t["curve"], label=f"{domain} (eff. rank {t['effective_rank']:.0f})")
    ax.set_xscale("log")
    ax.set_xlabel("principal components")
    ax.set_ylabel("explained variance")
    ax.set_title("teacher features: PCA curves per domain")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_fd_curves(w: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = w.get("latent_stats", {}).get("fd_floor", {})
    for key, label, color in (("fd_a", "(a) SemBo latent", "C0"), ("fd_b", "(b) no bottleneck", "C1")):
        curve = sorted(w[key], key=lambda r: r["step"])
        dim = w.get(f"latent_dim_{key[-1]}")
        ax.errorbar(
            [r["step"] for r in curve],
            [r["fd"] for r in curve],
            yerr=[spread(r) for r in curve],
            fmt="o-",
            capsize=3,
            color=color,
            label=f"{label} ({dim}-d)" if dim else label,
        )
        if f"recon_{key[-1]}" in floor:
            ax.axhline(floor[f"recon_{key[-1]}"], ls=":", color=color, label=f"{label[:3]} tokenizer's floor")
    if w["fd_b"]:
        ax.axhline(max(w["fd_b"], key=lambda r: r["step"])["fd"], ls="--", color="gray", label="(b) final")
    ax.set_xlabel("DiT steps")
    ax.set_ylabel("Fréchet distance (teacher embedding)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- markdown -----------------------------------------------------------------------------------------------
def probe_table(summary: list[dict]) -> list[str]:
    reps = list(dict.fromkeys(r["representation"] for r in summary))
    keys = list(dict.fromkeys((r["task"], r["level"]) for r in summary))
    cell = {(r["task"], r["level"], r["representation"]): r for r in summary}
    lines = [
        "| task (level) | clips train / test | chance | " + " | ".join(reps) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in reps) + " |",
    ]
    for task, level in keys:
        first = next(cell[(task, level, r)] for r in reps if (task, level, r) in cell)
        vals = [
            f"{fmt(cell[(task, level, r)]['accuracy_mean'])} ± {fmt(cell[(task, level, r)]['accuracy_std'])}"
            if (task, level, r) in cell
            else "-"
            for r in reps
        ]
        lines.append(
            f"| {task} ({level}) | {first['n_train']} / {first['n_test']} | {fmt(first['chance_mean'])} | "
            + " | ".join(vals)
            + " |"
        )
    return lines


def paper_table(p: dict) -> list[str]:
    lines = ["| paper (full scale) | " + " | ".join(p["columns"]) + " |", "|---" * (len(p["columns"]) + 1) + "|"]
    for name, vals in p["rows"].items():
        lines.append(f"| {name} | " + " | ".join("-" if v is None else f"{v:.2f}" for v in vals) + " |")
    return lines


def steps_table(data: dict) -> list[str]:
    lines = ["| step | wall clock | command |", "| --- | --- | --- |"]
    for name, info in data.get("steps", {}).items():
        lines.append(f"| {name} | {info['wall_s']:.0f} s | `{info['command']}` |")
    return lines


def claim_lines(key: str, v: dict | None) -> list[str]:
    claim, contradiction = CLAIMS[key]
    lines = [f"- **Claim**: {claim}.", f"  - *Would contradict the paper*: {contradiction}."]
    if v is None:
        lines.append("  - *Verdict*: not measured yet.")
        return lines
    if "diff" in v:
        detail = f"difference {fmt(v['diff'])} points ± {fmt(v['std'])} (std over {v['n']} seeds)"
        if v.get("floor"):
            detail += f"; resolution (one held-out clip per task) {fmt(v['floor'])} points"
        if v.get("tasks"):
            detail += f"; mean over {', '.join(f'{t} ({lv})' for t, lv in v['tasks'])}"
        if v.get("saturated"):
            detail += f"; left out at 100 % for both: {', '.join(f'{t} ({lv})' for t, lv in v['saturated'])}"
    elif "value" in v:
        detail = f"measured {v['value']:.3f} (limit {v['limit']})"
    else:
        tol = f" ± {v['tol']:.1f}" if v.get("tol") else ""
        target = "n/a" if v["target"] is None else f"{v['target']:.1f}{tol}"
        reach = "no checkpoint before it" if v["reach_step"] is None else f"step {v['reach_step']}"
        detail = f"(a) reaches (b)'s final FD {target} at {reach} (b's last step {v['last_step']})"
    lines.append(f"  - *Verdict*: **{v['verdict']}** — {detail}.")
    return lines


# What latent_width needs when it has no results, and the line that runs it.
LATENT_WIDTH_NEEDS = (
    "Needs a stage-0 teacher 512 wide, so that the no-bottleneck latent (b) is 4x the 128-d latent (a): the runner "
    "widens `--teacher` without changing its function (`widen.py`, every channel twice) and fine-tunes it for the "
    "budget's `teacher_steps` (`configs/teacher_wide.yaml`), or takes one with `--wide-teacher PATH`; then its "
    "SemBo, the two tokenizers, latents and two DiT runs (`python -m recipes.paper.run --only latent_width "
    "--budget B --teacher T --corpus C`)."
)


def fd_cell(row: dict | None) -> str:
    """``mean ± seeds' std (bootstrap std)`` of one FD-curve point (only the parts the row has)."""
    if row is None:
        return "—"
    seeds = row.get("fd_seeds") or []
    cell = f"{row['fd']:.1f}"
    if len(seeds) > 1:
        cell += f" ± {spread(row):.1f}"
    if row.get("fd_boot_std"):
        cell += f" ({row['fd_boot_std']:.1f})"
    return cell


def superseded_lines(path: Path, gen_clips: int | None) -> list[str]:
    """One paragraph on the first latent_width measurement, kept in ``results/superseded`` (if it is there);
    ``gen_clips``: the generated clips per checkpoint of the measurement that replaced it."""
    if not path.is_file():
        return []
    m = json.loads(path.read_text())["measurements"]
    ends = {}
    for k in ("a", "b"):
        curve = sorted(m[f"fd_{k}"], key=lambda r: r["step"])
        ends[k] = f"{curve[0]['fd']:.0f} at step {curve[0]['step']} → {curve[-1]['fd']:.0f} at {curve[-1]['step']}"
    return [
        "",
        f"A first measurement of the seed-0 DiTs (`results/superseded/{path.name}`) took the FD with "
        f"{m['fd_a'][0]['gen_clips']} generated clips against {m['fd_a'][0]['ref_clips']} held-out clips, one seed and "
        f"no spread: (a) {ends['a']}, (b) {ends['b']}. With no spread its differences could not be judged (the "
        f"bootstrap std with {gen_clips or 'more'} clips is the bracketed figure above, and larger with fewer clips), so it was "
        "replaced by the protocol above before that protocol's results were known.",
    ]


def floor_gap_lines(w: dict) -> list[str]:
    """How far each DiT's last FD is above its own tokenizer's reconstruction floor (an observation beside the
    verdict, which compares the raw FDs: the two decoders differ, so their floors do too)."""
    floor = w.get("latent_stats", {}).get("fd_floor")
    if not floor or not w.get("fd_a") or not w.get("fd_b"):
        return []
    gaps = []
    for k in ("a", "b"):
        last = max(w[f"fd_{k}"], key=lambda r: r["step"])
        gaps.append(f"({k}) {last['fd']:.1f} − {floor[f'recon_{k}']:.1f} = {last['fd'] - floor['recon_' + k]:.1f}")
    return [
        "",
        f"Above its own tokenizer's reconstruction floor at the last checkpoint: {gaps[0]}; {gaps[1]} (an "
        "observation, not part of the verdict).",
    ]


def width_budget_line(data: dict) -> str:
    b = data.get("budget_spec")
    if not b:
        return f"Budget `{data.get('budget', '?')}`."
    return (
        f"Budget `{b['name']}`: wide teacher {b['teacher_steps']} steps, SemBo {b['sembo_steps']} steps, each "
        f"tokenizer {b['tokenizer_steps']} steps, each DiT {b['dit_steps']} steps; FD every {b['dit_eval_every']} "
        f"DiT steps on {b['fd_clips']} generated clips ({b['sample_steps']} sampler steps each)."
    )


def latent_width_setup(w: dict, budget: dict | None) -> list[str]:
    """The lines that say what the FD curves are read against (from the ``latent_stats`` measurement; the
    widening's factor and noise are the runner's constants)."""
    from recipes.paper.experiments import WIDEN_FACTOR, WIDEN_NOISE

    st = w.get("latent_stats", {})
    lines = []
    valid = st.get("wide_teacher_valid")
    if valid:
        steps = f"{budget['teacher_steps']} steps" if budget else "the budget's steps"
        lines.append(
            f"- Wide teacher: `--teacher` widened {WIDEN_FACTOR}x by `widen.py` (same function, every channel "
            f"{WIDEN_FACTOR} times, weights perturbed by {100 * WIDEN_NOISE:.0f} %), then fine-tuned {steps} with "
            "`configs/teacher_wide.yaml`. Its validation after the "
            f"fine-tune: phoneme error rate {valid['teacher_valid/per']:.3f}, domain accuracy "
            f"{fmt(valid['teacher_valid/domain_acc'])} %, sound class {fmt(valid['teacher_valid/sound_acc'])} %."
        )
    for k, label in (("a", "(a) 128-d LoSATok latent"), ("b", "(b) no-bottleneck latent")):
        r = st.get("rank", {}).get(k)
        if r:
            lines.append(
                f"- {label}: {r['dim']} channels, effective rank {r['effective_rank']:.1f} over the "
                f"{r['frames']} frames of the DiT's training clips."
            )
    floor = st.get("fd_floor")
    if floor:
        lines += [
            "",
            f"FD floors: {floor['clips']} held-out clips that no DiT made, cropped to the generated length, against "
            "the same reference clips (bootstrap std in brackets). A DiT that generated the data distribution "
            "exactly would score about its tokenizer's row:",
            "",
            "| clips | FD |",
            "|---|---|",
            *(
                f"| {label} | {floor[k]:.1f}"
                + (f" ({floor[k + '_boot_std']:.1f})" if f"{k}_boot_std" in floor else "")
                + " |"
                for k, label in (
                    ("data", "the originals"),
                    ("recon_a", "reconstructed by tokenizer (a)"),
                    ("recon_b", "reconstructed by tokenizer (b)"),
                )
            ),
        ]
    return [*lines, ""] if lines else []


def budget_line(data: dict) -> str:
    """One sentence with the budget an experiment ran at (from its results JSON)."""
    b = data.get("budget_spec")
    if not b:
        return f"Budget `{data.get('budget', '?')}`."
    train = "all" if b["max_train"] is None else f"at most {b['max_train']}"
    test = "all" if b["max_test"] is None else f"at most {b['max_test']}"
    return (
        f"Budget `{b['name']}`: SemBo {b['sembo_steps']} steps, tokenizer {b['tokenizer_steps']} steps; probe clips "
        f"per task: {train} train, {test} held-out; seeds {', '.join(map(str, b['seeds']))}, each fitting on "
        f"{fmt(b['train_fraction'], digits=0)} % of the training clips; {b['recon_clips']} reconstruction clips per "
        "domain."
    )


def inputs_line(data: dict) -> str:
    i = data.get("inputs")
    if not i:
        return ""
    cache = f", teacher features of the train clips from `{i['feature_cache']}`" if i.get("feature_cache") else ""
    return f"Inputs: teacher `{i['teacher']}`, corpus `{i['corpus']}`{cache}."


def total_wall(data: dict) -> str:
    return f"Wall clock of the steps: {sum(s['wall_s'] for s in data.get('steps', {}).values()) / 60:.0f} min."


def limits_lines(results: dict[str, dict]) -> list[str]:
    """What bounds the measured numbers, from the results' own setup (budget, widths, held-out sizes)."""
    lines = [
        "## What limits these numbers",
        "",
        "- Every representation and tokenizer is trained once (one training seed): the ± is the spread over "
        "probe seeds (which training clips a probe fits on) on one fixed held-out set. It does not measure "
        "training-seed variance; the verdicts' resolution floor (one held-out clip per task) bounds what the "
        "held-out sets can resolve.",
        "- The probe tasks come from the offline corpus (`losatok_plugin/eval/probe_tasks.py`): speech language and "
        "voice of synthetic speakers and a clip-level phoneme bag, not spoken-intent classification (FSC); "
        "synthetic music and sound classes, and the source package of real clips, not ESC-50 or GTZAN.",
    ]
    setup = results.get("sembo_vs_pca", {}).get("measurements", {}).get("setup")
    if setup:
        ratio = setup["teacher_dim"] / setup["latent_dim"]
        lines.append(
            f"- The teacher is {setup['teacher_dim']}-d, so the {setup['latent_dim']}-d latent is a {ratio:.0f}x "
            f"compression (the paper: 1280 → 128, 10x): PCA to {setup['latent_dim']} keeps "
            f"{fmt(setup['pca_variance_kept'])} % of the variance, which leaves a trained bottleneck little to win."
        )
    w = results.get("latent_width", {})
    wb = w.get("budget_spec")
    if wb and "fd_a" in w.get("measurements", {}):
        lines.append(
            f"- latent_width: the DiTs are the mini TTA DiT (`configs/dit_width.yaml`) trained {wb['dit_steps']} "
            f"steps on the corpus' sound clips, the paper's 21-28K vs 150K steps scaled down about 50x; the two "
            f"tokenizers trained {wb['tokenizer_steps']} steps each from scratch, so each DiT's audio is bounded by "
            "a poor decoder (the FD floors above), and the wide teacher is the mini one widened (its channels start "
            "as copies: the wide latent is redundant by construction at first, as the paper says the 1280-d one is)."
        )
    b = results.get("dual_level", {}).get("budget_spec")
    if b:
        lines.append(
            f"- The tokenizers trained {b['tokenizer_steps']} steps each (generator only; acoustic branch and decoder "
            "from scratch on the frozen teacher + SemBo): far from converged, so their latents and reconstructions "
            "show the first steps of the three objectives, not where they end."
        )
    return lines


def write_report(results_dir: Path, out_dir: Path) -> Path:
    """REPORT.md + PNGs into ``out_dir`` from ``results_dir/*.json``; returns the REPORT.md path."""
    results = load_results(results_dir)
    v = verdicts(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    budgets = sorted({d.get("budget", "?") for d in results.values()})
    md = [
        "# The paper's claims at small scale (issue 17)",
        "",
        "Written by `python -m recipes.paper.report` from `recipes/paper/results/*.json` (written by "
        "`python -m recipes.paper.run`, `make paper`); edit neither by hand. "
        f"Budget(s) of these results: {', '.join(budgets) or 'none yet'} (`recipes/paper/driver.py: BUDGETS`). "
        "Probe accuracies are percent on held-out clips, mean ± std over seeds (each seed fits on a random "
        "80 % of the probe's training clips); the probe tasks are `losatok_plugin/eval/probe_tasks.py`.",
        "",
        "## Summary",
        "",
        "| claim | verdict |",
        "| --- | --- |",
    ]
    for key, (claim, _) in CLAIMS.items():
        md.append(f"| {claim} | {v[key]['verdict'] if key in v else 'not measured yet'} |")

    md += ["", "## 1. SemBo vs training-free compression (`sembo_vs_pca`)", ""]
    md += paper_table(PAPER["sembo_vs_pca"]) + ["", f"Paper: {PAPER['sembo_vs_pca']['rank']}.", ""]
    data = results.get("sembo_vs_pca")
    if data:
        m = data.get("measurements", {})
        md += [budget_line(data), inputs_line(data), total_wall(data), ""]
        setup = m.get("setup", {})
        if setup:
            md.append(
                f"Ours: teacher `{setup['teacher']}` ({setup['teacher_dim']}-d) → {setup['latent_dim']}-d; PCA fitted on "
                f"{setup['pca_train_frames']} training frames keeps {fmt(setup['pca_variance_kept'])} % of the variance."
            )
            md.append("")
        tf = m.get("teacher_features")
        if tf:
            md += [
                f"Teacher features of {tf['clips']} probe clips, {tf['from_cache']} of them (train clips) read from the "
                "feature cache and the others encoded; all rounded to float16 (the cache's storage).",
                "",
            ]
        if m.get("probes"):
            md += probe_table(m["probes"]) + ["", "![probes](sembo_vs_pca_probes.png)", ""]
            plot_probe_summary(m["probes"], out_dir / "sembo_vs_pca_probes.png", "SemBo vs training-free compression")
        if m.get("rank"):
            md += [
                "| domain | teacher dim | eff. rank | PCs 90 % | PCs 99 % | SemBo eff. rank |",
                "|---|---|---|---|---|---|",
            ]
            for domain, reps in m["rank"].items():
                t, s = reps["teacher"], reps.get("sembo", {})
                md.append(
                    f"| {domain} | {t['dim']} | {t['effective_rank']:.1f} | {t['pcs_90']} | {t['pcs_99']} | "
                    f"{s.get('effective_rank', float('nan')):.1f} |"
                )
            md += ["", "![PCA curves](teacher_pca_curves.png)", ""]
            plot_pca_curves(m["rank"], out_dir / "teacher_pca_curves.png")
        md += steps_table(data) + [""]
    else:
        md += ["Not run yet: `python -m recipes.paper.run --only sembo_vs_pca`.", ""]
    for key in ("sembo_beats_pca_on_speech", "relation_loss_helps", "teacher_is_redundant"):
        md += claim_lines(key, v.get(key))

    md += ["", "## 2. Dual-level supervision (`dual_level`)", ""]
    md += paper_table(PAPER["dual_level"]) + [""]
    data = results.get("dual_level")
    if data:
        m = data.get("measurements", {})
        md += [budget_line(data), inputs_line(data), total_wall(data), ""]
        if m.get("probes"):
            md += ["Probes on the latent `mu`:", ""] + probe_table(m["probes"])
            md += ["", "![dual-level probes](dual_level_probes.png)", ""]
            plot_probe_summary(m["probes"], out_dir / "dual_level_probes.png", "probes on mu per supervision mode")
        if m.get("recon"):
            md += ["| mode | clips | mel ↓ | STFT ↓ | SI-SDR ↑ | PESQ-wb ↑ | STOI ↑ |", "|---|---|---|---|---|---|---|"]
            for mode, summ in m["recon"].items():
                a = summ.get("all", {})
                cells = [f"{a[k]:.3f}" if k in a else "-" for k in ("mel", "stft", "si_sdr", "pesq_wb", "stoi")]
                md.append(f"| {mode} | {a.get('clips', 0)} | " + " | ".join(cells) + " |")
            md.append("")
        md += steps_table(data) + [""]
    else:
        md += ["Not run yet: `python -m recipes.paper.run --only dual_level`.", ""]
    for key in ("low_level_term_needed", "high_level_term_dispensable"):
        md += claim_lines(key, v.get(key))

    md += ["", "## 3. Latent width for generation (`latent_width`)", "", f"Paper: {PAPER['latent_width']}.", ""]
    data = results.get("latent_width")
    if data and "fd_a" in data.get("measurements", {}) and "fd_b" in data["measurements"]:
        w = data["measurements"]
        md += [width_budget_line(data), "", *latent_width_setup(w, data.get("budget_spec"))]
        md += [
            "FD of generated audio against the DiT's training clips: the mean over the DiT seeds ± their std "
            "(the bootstrap std over the generated clips in brackets), then each seed's FD.",
            "",
            "| step | FD (a) | FD (b) | (a) per seed | (b) per seed |",
            "|---|---|---|---|---|",
        ]
        fa = {r["step"]: r for r in w["fd_a"]}
        fb = {r["step"]: r for r in w["fd_b"]}
        for step in sorted(set(fa) | set(fb)):
            cells = [fd_cell(fa.get(step)), fd_cell(fb.get(step))]
            cells += [
                ", ".join(f"{x:.1f}" for x in (r or {}).get("fd_seeds", [])) for r in (fa.get(step), fb.get(step))
            ]
            md.append(f"| {step} | " + " | ".join(cells) + " |")
        md += floor_gap_lines(w)
        md += superseded_lines(results_dir / "superseded" / "latent_width_8clips.json", w["fd_a"][0].get("gen_clips"))
        md += ["", "![FD vs steps](latent_width_fd.png)", ""]
        plot_fd_curves(w, out_dir / "latent_width_fd.png")
        md += steps_table(data) + [""]
    else:
        md += ["Not run yet: `python -m recipes.paper.run --only latent_width`.", "", LATENT_WIDTH_NEEDS, ""]
    md += claim_lines("small_latent_trains_faster", v.get("small_latent_trains_faster"))
    md += ["", *limits_lines(results), ""]
    atomic_write_text(out_dir / "REPORT.md", "\n".join(md))
    atomic_write_text(out_dir / "verdicts.json", json.dumps(v, indent=1, default=str))
    return out_dir / "REPORT.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(HERE / "results"), help="folder of <experiment>.json")
    p.add_argument("--out", default=str(HERE), help="where REPORT.md and the PNGs go")
    args = p.parse_args(argv)
    print(write_report(Path(args.results), Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
