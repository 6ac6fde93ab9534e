"""The one training loop: every stage is ``build`` / ``step`` / ``export`` over an explicit train state.

A stage (``semantic_encoder.py``, ``sembo.py``, ``tokenizer.py``, ``dit.py``) is a :class:`Stage`:

- ``build(cfg, trainer) -> state``: a :class:`TrainState` dataclass holding the data loader, the
  modules, optimisers, schedulers and EMAs, already ``accelerator.prepare``-d. The fields declared with
  :func:`saved` are the checkpoint: modules and EMAs become ``<field>.safetensors``, optimisers and
  schedulers entries of ``train_state.pt``, so saving and resuming read the same list.
- ``step(state, batch) -> dict[str, Tensor] | None``: one micro-batch (forward, guarded backward and
  optimiser step); the logged losses by name, or None when a non-finite value skipped it.
- ``export(state, folder)``: the result of the run (a ``save_pretrained`` folder), on the main process.

:func:`run_stage` owns everything else, the same for every stage: the output-folder checks, resume,
gradient accumulation, the progress bar, logging, the stage's hooks (validation, samples), periodic and
signal checkpoints, the final checkpoint, the replica digest, the export and the barrier.

On SIGINT / SIGTERM every stage saves a checkpoint and returns that checkpoint's folder
(``<output_dir>/checkpoints/step_N``, what ``--resume`` continues); only a finished run returns its
export. A stage with ``export_on_stop`` (the DiT, whose CPU runs end by wall clock) also refreshes its
export before it returns; the other stages never do, so an existing ``final/`` always means a finished
stage (``recipes/mini/run_mini.sh`` relies on it). A finished run resumed with a larger ``max_steps`` renames
its export ``final_before_step_<N>`` before it trains on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import latest_checkpoint
from .errors import ResumeError
from .trainer import Trainer

log = logging.getLogger(__name__)


def saved(optional: bool = False, default: Any = None) -> Any:
    """Declare a :class:`TrainState` field part of the checkpoint, under the field's name.

    ``optional``: a checkpoint without it still resumes (an EMA switched on later keeps its fresh copy).
    """
    return field(default=default, metadata={"saved": True, "optional": optional})


@dataclass
class TrainState:
    """What a stage trains. Subclasses add their modules, optimisers and schedulers (mark the checkpointed
    ones with :func:`saved`).

    Attributes:
        trainer: the run's services (accelerator, step, logging).
        cfg: the stage config.
        loader: the training batches (prepared; resumable through ``trainer.batches``).
        models: the prepared modules whose gradients accumulate (``accelerator.accumulate``).
    """

    trainer: Trainer
    cfg: Any
    loader: Any
    models: tuple[nn.Module, ...]

    def saved_fields(self) -> list[tuple[str, Any, bool]]:
        """``(name, value, optional)`` of every :func:`saved` field that is set."""
        return [
            (f.name, getattr(self, f.name), f.metadata["optional"])
            for f in fields(self)
            if f.metadata.get("saved") and getattr(self, f.name) is not None
        ]


def _is_train_state(value: Any) -> bool:
    return isinstance(value, (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler))


def module_states(state: TrainState) -> dict[str, dict[str, torch.Tensor]]:
    """The checkpointed module / EMA weights by field name (unwrapped; plain tensor copies, so tied
    weights such as T5's embedding can be written by safetensors)."""
    acc = state.trainer.accelerator
    out = {}
    for name, value, _ in state.saved_fields():
        if _is_train_state(value):
            continue
        target = acc.unwrap_model(value) if isinstance(value, nn.Module) else value
        sd = target.checkpoint_state() if hasattr(target, "checkpoint_state") else target.state_dict()
        out[name] = {k: v.detach().clone() for k, v in sd.items()}
    return out


def save_state(state: TrainState) -> Path:
    """Write a checkpoint of every :func:`saved` field (see :meth:`Trainer.save`)."""
    train_state = {name: v.state_dict() for name, v, _ in state.saved_fields() if _is_train_state(v)}
    return state.trainer.save(module_states(state), train_state)


def restore_state(state: TrainState) -> None:
    """Load the latest checkpoint into every :func:`saved` field (and the step, RNG and data position)."""
    acc = state.trainer.accelerator
    modules, train_state = state.trainer.resume()
    for name, value, optional in state.saved_fields():
        source = train_state if _is_train_state(value) else modules
        if name not in source:
            if optional:
                continue
            raise ResumeError(f"the checkpoint has no {name!r} (it holds {sorted(modules) + sorted(train_state)})")
        target = acc.unwrap_model(value) if isinstance(value, nn.Module) else value
        if hasattr(target, "load_checkpoint_state"):
            target.load_checkpoint_state(source[name])
        elif isinstance(target, nn.Module):
            try:
                target.load_state_dict(source[name])
            except RuntimeError as e:  # a setting that shapes the module changed since the checkpoint
                why = " ".join(str(e).split())
                raise ResumeError(
                    f"the checkpoint's {name!r} does not fit this run's (a setting that shapes it changed since the "
                    f"run started, e.g. a size or a loss head such as loss_weights.spectrum): {why[:300]}"
                ) from None
        else:
            try:
                target.load_state_dict(source[name])
            except ValueError as e:  # an optimizer whose parameter groups changed since the checkpoint
                raise ResumeError(
                    f"the checkpoint's {name!r} does not fit this run's (the parameters it trains changed since the "
                    f"run started, e.g. freeze): {' '.join(str(e).split())[:200]}"
                ) from None


def step_schedulers(state: TrainState) -> float:
    """The default ``update``: step every saved scheduler; returns the first one's learning rate."""
    scheds = [v for _, v, _ in state.saved_fields() if isinstance(v, torch.optim.lr_scheduler.LRScheduler)]
    for s in scheds:
        s.step()
    return scheds[0].get_last_lr()[0]


@dataclass(frozen=True)
class Hook:
    """Something a stage does every ``every(cfg)`` optimiser steps (0: never), e.g. validation or samples."""

    every: Callable[[Any], int]
    run: Callable[[TrainState, Any], None]  # (state, the last batch)


@dataclass(frozen=True)
class Stage:
    """A training stage: its config class and the three functions of the module docstring.

    Attributes:
        name: the ``recipes/train.py`` command (``training/stages.py`` registers it).
        config: the stage config dataclass (loaded strictly from YAML).
        build / step / export: see the module docstring.
        shown: loss names shown on the progress bar.
        update: after each optimiser step (every accumulation cycle): schedulers, EMA; returns the
            learning rate to log. Default :func:`step_schedulers`.
        hooks: periodic extras after the step is logged.
        export_dir: the export folder inside ``run.output_dir``.
        export_on_stop: also export when stopped by a signal (see the module docstring).
    """

    name: str
    config: type
    build: Callable[[Any, Trainer], TrainState]
    step: Callable[[TrainState, Any], dict[str, torch.Tensor] | None]
    export: Callable[[TrainState, Path], None]
    shown: tuple[str, ...]
    update: Callable[[TrainState], float] = step_schedulers
    hooks: tuple[Hook, ...] = ()
    export_dir: str = "final"
    export_on_stop: bool = False


def _export(stage: Stage, state: TrainState) -> Path:
    trainer = state.trainer
    out = trainer.out / stage.export_dir
    if trainer.is_main:
        for name, sd in module_states(state).items():
            trainer.check_finite_weights(sd, f"the export {out} ({name})")
        stage.export(state, out)
        log.info("%s export: %s", stage.name, out)
    trainer.barrier()
    return out


def _set_aside_stale_export(stage: Stage, trainer: Trainer, max_steps: int) -> None:
    """A finished run resumed with a larger ``max_steps`` is no longer finished: its export is renamed
    ``<export_dir>_before_step_<N>`` (kept, not deleted; N is the step the run goes on from) so that ``final/``
    again means a finished stage, and a stop before the new end does not leave the old weights looking like
    the new run's result."""
    old = trainer.out / stage.export_dir
    if stage.export_on_stop or trainer.step >= max_steps or not old.exists():
        return
    if trainer.is_main:
        kept, n = old.with_name(f"{stage.export_dir}_before_step_{trainer.step}"), 1
        while kept.exists():
            kept, n = old.with_name(f"{stage.export_dir}_before_step_{trainer.step}.{n}"), n + 1
        old.rename(kept)
        log.info("the run goes on from step %d to %d: its earlier export is now %s", trainer.step, max_steps, kept)
    trainer.barrier()


def run_stage(stage: Stage, cfg: Any, resume: bool = False) -> Path:
    """Train ``stage`` to ``cfg.run.max_steps`` (or until SIGINT/SIGTERM, or ``cfg.run.stop_at``).

    ``run.stop_at`` ends the run at that step of the ``max_steps`` schedule as a signal would (checkpoint saved,
    learning-rate schedule unchanged), so that a run can be reproduced to the step it was shipped from; a resumed
    run already at or past it trains nothing.

    Returns:
        The export folder (``<output_dir>/<stage.export_dir>``) when the run reached ``max_steps``; the
        checkpoint folder it saved when a signal or ``stop_at`` stopped it, or its latest one when the resumed
        run is already past ``max_steps`` (nothing trained, nothing exported).
    """
    trainer = Trainer(cfg.run, cfg, resume=resume)  # checks the output folder before anything is built
    acc = trainer.accelerator
    state = stage.build(cfg, trainer)
    if resume:
        restore_state(state)
    stop_at = cfg.run.stop_at if 0 < cfg.run.stop_at < cfg.run.max_steps else None
    if stop_at is not None and trainer.step >= stop_at:
        if trainer.is_main:
            log.info("run.stop_at=%d: the run is at step %d already; nothing to train", stop_at, trainer.step)
        trainer.close()
        return latest_checkpoint(trainer.out)
    if trainer.step > cfg.run.max_steps:  # a shorter schedule than the run's (run_mini.sh's earlier phases)
        if trainer.is_main:
            log.info("the run is at step %d, past run.max_steps=%d; nothing to train", trainer.step, cfg.run.max_steps)
        trainer.close()
        return latest_checkpoint(trainer.out)
    _set_aside_stale_export(stage, trainer, cfg.run.max_steps)
    bar = trainer.progress(cfg.run.max_steps)
    batches = trainer.batches(state.loader)
    with trainer.stop.installed():
        while trainer.step < cfg.run.max_steps:
            with acc.accumulate(*state.models):
                batch = next(batches)
                losses = stage.step(state, batch)
            if losses is None or not acc.sync_gradients:
                continue
            lr = stage.update(state)
            trainer.step_done(bar, losses, lr, stage.shown)
            for hook in stage.hooks:
                every = hook.every(cfg)
                if every and trainer.step % every == 0:
                    hook.run(state, batch)
            signalled = trainer.should_stop()
            stop = signalled or (stop_at is not None and trainer.step >= stop_at)
            if trainer.step % cfg.run.save_every == 0 or stop:
                checkpoint = save_state(state)
            if stop:
                if trainer.is_main:
                    why = "by signal" if signalled else f"at run.stop_at (of {cfg.run.max_steps})"
                    log.info("stopped %s at step %d; checkpoint saved", why, trainer.step)
                bar.close()
                if stage.export_on_stop:
                    _export(stage, state)
                trainer.close()
                return checkpoint
    bar.close()
    if trainer.step % cfg.run.save_every:
        save_state(state)
    trainer.write_replica_digest({f"{n}.{k}": v for n, sd in module_states(state).items() for k, v in sd.items()})
    out = _export(stage, state)
    trainer.close()
    return out
