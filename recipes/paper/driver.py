"""The resumable step runner of ``python -m recipes.paper.run``: named steps, done-markers, results JSON.

A step is done when its marker ``<work>/markers/<step>.json`` exists (written atomically after the step
returned, with its wall clock and command); a rerun skips done steps, and a training step that was
interrupted resumes from its checkpoints (the engine's ``--resume``). Steps shared by experiments (the
probe tasks, the SemBo run) run once. Every measured number goes to ``<results>/<experiment>.json`` through
:meth:`Context.record`, beside the command and wall clock of the step that measured it.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from losatok_plugin.fileio import atomic_write_text


@dataclass
class Budget:
    """How much each experiment trains and measures (``--budget``)."""

    name: str
    sembo_steps: int
    tokenizer_steps: int
    teacher_steps: int
    dit_steps: int
    dit_eval_every: int  # FD checkpoints every this many DiT steps
    max_train: int | None  # probe clips per task and split (None: all)
    max_test: int | None
    seeds: tuple[int, ...]
    train_fraction: float  # each probe seed fits on this fraction of the training clips
    recon_clips: int
    fd_clips: int  # generated clips per checkpoint
    sample_steps: int  # sampler steps of the generated clips
    overrides: dict[str, list[str]] = field(default_factory=dict)  # per stage: extra dotted overrides
    dit_seeds: tuple[int, ...] = (0,)  # latent_width: training seeds of each DiT (a subset of experiments.DIT_SEEDS)


BUDGETS: dict[str, Budget] = {
    # proves the pipeline end to end in minutes on a shared CPU; its numbers mean nothing
    "tiny": Budget("tiny", 2, 2, 2, 4, 2, 16, 8, (0, 1), 0.8, 4, 2, 2),
    # what this 2-core CPU allows in a few hours per experiment
    "small": Budget("small", 1000, 3000, 2000, 3000, 500, 300, None, (0, 1, 2), 0.8, 24, 8, 20),
    # what a fifth to a half of one shared core allowed in about 90 minutes for sembo_vs_pca + dual_level (issue
    # 17, 2026-11-29): the probe sets of "small", far fewer SemBo / tokenizer steps (generator-only: the
    # discriminator joins at tokenizer_mini.yaml's warm-up, 20k when this ran, 1.5k since), the tokenizer's lr
    # warm-up cut to 50 steps to fit in them
    "cpu1h": Budget(
        "cpu1h",
        500,
        350,
        500,  # the wide teacher: a fine-tune of --teacher widened (latent_width, 2026-11-29 session 5)
        3000,
        500,
        300,
        None,
        (0, 1, 2),
        0.8,
        8,
        32,  # FD clips per checkpoint (8 in the first latent_width run: FDs within their noise; see REPORT.md)
        20,
        {"tokenizer": ["optim.warmup_steps=50", "run.save_every=125"]},
        (0, 1, 2),
    ),
    # the intended run on the retrained stage-0 teacher (a GPU or a long CPU session)
    "full": Budget("full", 4000, 20000, 8000, 20000, 2000, None, None, (0, 1, 2, 3, 4), 0.8, 64, 32, 50),
}


@dataclass
class Context:
    """Where an experiment run reads and writes, and what it was asked for."""

    work: Path  # checkpoints, features, generated audio (not committed)
    results: Path  # <experiment>.json (committed)
    budget: Budget
    teacher: str  # stage-0 export folder (LoSATokVAE with the teacher)
    corpus: Path  # train/valid/test/test_real manifests
    wide_teacher: str = ""  # latent_width: a wider stage-0 export ("" = train one)
    feature_cache: str = ""  # cached features of ``teacher`` on the train clips ("" = run it online)
    progress: bool = True

    def run_dir(self, name: str) -> Path:
        return self.work / name

    def record(self, experiment: str, key: str, value: Any) -> None:
        """Set ``measurements[key]`` of ``<results>/<experiment>.json`` (read-modify-write, atomic)."""
        data = self.read(experiment)
        data.setdefault("measurements", {})[key] = value
        self._write(experiment, data)

    def read(self, experiment: str) -> dict[str, Any]:
        path = self.results / f"{experiment}.json"
        data = json.loads(path.read_text()) if path.is_file() else {}
        if data.get("budget") not in (None, self.budget.name):
            raise ValueError(
                f"{path} holds budget {data['budget']!r}, this run is {self.budget.name!r}: "
                "use another --results folder or delete it"
            )
        data.update(experiment=experiment, budget=self.budget.name, budget_spec=asdict(self.budget))
        data["inputs"] = {
            "teacher": str(self.teacher),
            "corpus": str(self.corpus),
            "feature_cache": self.feature_cache,
            "wide_teacher": self.wide_teacher,
        }
        return data

    def _write(self, experiment: str, data: dict[str, Any]) -> None:
        self.results.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.results / f"{experiment}.json", json.dumps(data, indent=1, sort_keys=True))

    def log_step(self, experiment: str, step: str, info: dict[str, Any]) -> None:
        data = self.read(experiment)
        data.setdefault("steps", {})[step] = info
        self._write(experiment, data)


@dataclass
class Step:
    """``run(ctx)`` does the work; ``command(ctx)`` is the shell line that does the same (for the report)."""

    name: str
    run: Callable[[Context], None]
    command: Callable[[Context], str]
    needs: tuple[str, ...] = ()  # steps that must be done first (added to the plan when missing)


def marker(ctx: Context, step: str) -> Path:
    return ctx.work / "markers" / f"{step}.json"


def is_done(ctx: Context, step: str) -> bool:
    return marker(ctx, step).is_file()


def plan(
    steps: dict[str, Step], experiments: dict[str, Sequence[str]], only: Sequence[str] | None
) -> list[tuple[str, str]]:
    """``[(experiment, step), ...]`` in run order: each selected experiment's steps after their ``needs``."""
    names = list(only) if only else list(experiments)
    unknown = sorted(set(names) - set(experiments))
    if unknown:
        raise ValueError(f"unknown experiments {unknown}; experiments: {', '.join(experiments)}")
    order: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(exp: str, name: str, stack: tuple[str, ...] = ()) -> None:
        if name in seen:
            return
        if name in stack:
            raise ValueError(f"step dependency cycle: {' -> '.join((*stack, name))}")
        for dep in steps[name].needs:
            add(exp, dep, (*stack, name))
        seen.add(name)
        order.append((exp, name))

    for exp in names:
        for name in experiments[exp]:
            add(exp, name)
    return order


def run_plan(
    ctx: Context,
    steps: dict[str, Step],
    experiments: dict[str, Sequence[str]],
    only: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Run the steps not yet done (see :func:`plan`); returns the names of the steps that ran."""
    ran = []
    for exp, name in plan(steps, experiments, only):
        if is_done(ctx, name):
            log(f"[paper] {exp}/{name}: done, skipped")
            continue
        step = steps[name]
        log(f"[paper] {exp}/{name}: running  ({step.command(ctx)})")
        t0 = time.perf_counter()
        step.run(ctx)
        info = {"wall_s": round(time.perf_counter() - t0, 2), "command": step.command(ctx), "budget": ctx.budget.name}
        for e, names in experiments.items():  # every experiment that lists the step records it
            if name in names or any(name in steps[n].needs for n in names):
                ctx.log_step(e, name, info)
        marker(ctx, name).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker(ctx, name), json.dumps(info))
        ran.append(name)
    return ran


def shell(*parts: str | Path) -> str:
    """A copy-pasteable command line."""
    return " ".join(shlex.quote(str(p)) for p in parts)
