"""The run's services: accelerate set-up, schedules, signals, logging, non-finite guards, checkpoint plumbing.

:class:`Trainer` is what the engine (``engine.py``) and a stage's ``build`` / ``step`` / ``export`` see of
the run: the accelerator, the step counter, the output folder, TensorBoard and ``metrics.jsonl``, and
guarded optimiser steps. Nothing lives in module globals, so a run can be started in-process by tests.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..fileio import atomic_write_text
from .checkpoint import complete_checkpoints, latest_checkpoint, load_checkpoint, save_checkpoint, step_of
from .config import OptimConfig, RunConfig
from .errors import NonFiniteError, ResumeError, RunExistsError, TrainingError

log = logging.getLogger(__name__)


def cosine_with_warmup(optimizer: torch.optim.Optimizer, cfg: OptimConfig, max_steps: int):
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr_ratio · lr``, optionally cooled down at the end.

    The cosine reaches its floor at ``cfg.schedule_steps`` (0: ``max_steps``). With ``cfg.cooldown_steps = K``
    the last K steps before ``max_steps`` scale that schedule linearly down to the floor (a warmup-stable-decay
    style cool-down): a run can stop part-way down a long cosine and still end annealed, and every step before
    the cool-down has the same lr as the uncut schedule, so such a run resumes a checkpoint of the longer one.
    ``cfg.rewarm_steps = R`` continues a run that was already annealed (resumed at ``cfg.rewarm_at`` with a
    larger ``max_steps``): the R steps from ``rewarm_at`` ramp the schedule's lr linearly up from 0 instead of
    jumping to it; the steps before ``rewarm_at`` are unchanged.
    """
    length = cfg.schedule_steps or max_steps
    cool_from = max_steps - cfg.cooldown_steps if cfg.cooldown_steps else None

    def cosine(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / max(cfg.warmup_steps, 1)
        progress = min(1.0, (step - cfg.warmup_steps) / max(length - cfg.warmup_steps, 1))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def scheduled(step: int) -> float:
        if cool_from is None or step <= cool_from:
            return cosine(step)
        left = max(0.0, (max_steps - step) / cfg.cooldown_steps)
        return cfg.min_lr_ratio + (cosine(step) - cfg.min_lr_ratio) * left

    def factor(step: int) -> float:
        if cfg.rewarm_steps and cfg.rewarm_at <= step < cfg.rewarm_at + cfg.rewarm_steps:
            return scheduled(step) * (step - cfg.rewarm_at) / cfg.rewarm_steps
        return scheduled(step)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def adamw(params, cfg: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def infinite(loader: DataLoader) -> Iterator[Any]:
    """Cycle over a DataLoader forever (a new shuffle each epoch). :meth:`Trainer.batches` also resumes."""
    while True:
        yield from loader


def distributed_launch() -> bool:
    """True under torchrun / ``accelerate launch`` / MPI with more than one process."""
    keys = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    return any(int(os.environ.get(k, "1") or 1) > 1 for k in keys)


def use_cpu(run: RunConfig) -> bool:
    """CPU when asked, or when several processes were launched on a machine without CUDA: accelerate
    only forms a CPU process group (gloo) when told ``cpu=True``; without it every process would train
    alone in the same folder."""
    return run.cpu or (distributed_launch() and not torch.cuda.is_available())


EARLIER_RUN_FILES = ("checkpoints", "final", "metrics.jsonl", "replicas", "skipped_files.tsv", "tb", "samples")


class StopFlag:
    """Set by SIGINT / SIGTERM; the loop saves a checkpoint and exits at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:  # noqa: ARG002
        self.requested = True

    @contextmanager
    def installed(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (e.g. some test runners): no handler
                pass
        try:
            yield self
        finally:
            for sig, prev in self._previous.items():
                signal.signal(sig, prev)


class Trainer:
    """Accelerator, logging and checkpoint helpers shared by both stages."""

    def __init__(self, run: RunConfig, config: Any, resume: bool | None = None) -> None:
        """``resume``: True continues ``<output_dir>/checkpoints`` (an error when nothing is resumable),
        False starts a new run (an error when the folder holds an earlier run, unless ``run.overwrite``);
        None decides at :meth:`resume` or at the first :meth:`progress` / :meth:`save` call."""
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, GradientState
        from accelerate.utils import set_seed

        # A run that stopped with an error in this process (tests, notebooks) did not reach close().
        AcceleratorState._reset_state()
        GradientState._reset_state()
        self.run = run
        self.out = Path(run.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=run.mixed_precision,
            gradient_accumulation_steps=run.grad_accum_steps,
            cpu=use_cpu(run),
        )
        if distributed_launch() and self.accelerator.num_processes == 1:
            raise TrainingError(
                f"launched as {os.environ.get('WORLD_SIZE')} processes but accelerate formed no process group "
                f"(distributed type {self.accelerator.distributed_type}); refusing to train independent copies"
            )
        set_seed(run.seed + self.accelerator.process_index)
        self.step = 0
        self.nonfinite_steps = 0
        self.stop = StopFlag()
        self._config = config
        self._begun: bool | None = None  # None: not decided; True: resuming; False: new run
        self._resume_path: Path | None = None
        self._data_position: tuple[int, int] = (0, 0)  # (epoch, batches of that epoch consumed)
        self._last_log: tuple[int, float] | None = None
        self._writer = None
        if resume is not None:
            self._begin(resume)

    def _begin(self, resuming: bool) -> None:
        """Check the output folder once, before anything is written into it, then write config.json."""
        if self._begun is not None:
            return
        self._begun = resuming
        done = complete_checkpoints(self.out)
        if resuming:
            self._resume_path = latest_checkpoint(self.out)
            if self._resume_path is None:
                raise ResumeError(
                    f"--resume: nothing to resume in {self.out / 'checkpoints'} (no complete checkpoint); "
                    "start without --resume"
                )
        elif done or (self.out / "final" / "config.json").is_file():
            what = f"checkpoints up to step {step_of(done[-1])}" if done else "a final export"
            if not self.run.overwrite:
                raise RunExistsError(
                    f"{self.out} holds an earlier run ({what}): pass --resume to continue it, --overwrite "
                    "(run.overwrite=true) to delete it and start over, or choose another run.output_dir"
                )
            self.barrier()
            if self.is_main:
                for name in EARLIER_RUN_FILES:
                    path = self.out / name
                    if path.is_dir():
                        shutil.rmtree(path)
                    elif path.exists():
                        path.unlink()
                log.info("--overwrite: removed the earlier run in %s (%s)", self.out, what)
        elif self.is_main and (self.out / "metrics.jsonl").is_file():
            (self.out / "metrics.jsonl").unlink()  # a run killed before its first checkpoint: nothing to keep
        self.barrier()
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg = self._config
            cfg_dict = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
            atomic_write_text(self.out / "config.json", json.dumps(cfg_dict, indent=2, default=str))
        self.barrier()

    @property
    def resuming(self) -> bool:
        """True when this run continues a checkpoint (``--resume``)."""
        return bool(self._begun)

    # -- process info ---------------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()

    def should_stop(self) -> bool:
        """True on every rank when any rank received SIGINT/SIGTERM."""
        flag = torch.tensor([1.0 if self.stop.requested else 0.0], device=self.device)
        if self.accelerator.num_processes > 1:
            flag = self.accelerator.reduce(flag, reduction="sum")
        return bool(flag.item() > 0)

    # -- logging --------------------------------------------------------------------------------------
    @property
    def writer(self):
        if self._writer is None and self.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:  # pragma: no cover - tensorboard is in the [train] extra
                raise ImportError(
                    "TensorBoard logging needs the [train] extra: pip install 'losatok-plugin[train]'"
                ) from e
            self._writer = SummaryWriter(str(self.out / "tb"))
        return self._writer

    def log_scalars(self, losses: dict[str, float], extra: dict[str, float] | None = None) -> None:
        """TensorBoard scalars (every loss term, by its logged name) and a JSONL line per call."""
        if not self.is_main:
            return
        now = time.perf_counter()
        if self._last_log is not None and self.step > self._last_log[0]:
            extra = {**(extra or {}), "steps_per_s": (self.step - self._last_log[0]) / (now - self._last_log[1])}
        self._last_log = (self.step, now)
        row = {"step": self.step, **losses, **(extra or {})}
        for k, v in row.items():
            if k != "step":
                self.writer.add_scalar(k, v, self.step)
        with (self.out / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    def log_audio_example(self, tag: str, original: torch.Tensor, recon: torch.Tensor, sample_rate: int) -> None:
        """Audio pair and a mel-spectrogram comparison image in TensorBoard."""
        if not self.is_main:
            return
        import matplotlib

        matplotlib.use("Agg")
        from ..eval.plots import plot_mel_comparison

        self.writer.add_audio(f"{tag}/original", original.float().cpu().clamp(-1, 1), self.step, sample_rate)
        self.writer.add_audio(f"{tag}/reconstruction", recon.float().cpu().clamp(-1, 1), self.step, sample_rate)
        png = plot_mel_comparison(original, recon, self.out / "samples" / f"{tag}_{self.step:08d}.png", title=tag)
        import numpy as np
        from PIL import Image

        self.writer.add_image(f"{tag}/mel", np.asarray(Image.open(png).convert("RGB")), self.step, dataformats="HWC")

    def progress(self, total: int):
        """The training progress bar (starting at the current step)."""
        self._begin(False)
        from tqdm import tqdm

        return tqdm(
            total=total,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not (self.is_main and self.run.progress),
            dynamic_ncols=True,
        )

    def step_done(
        self, bar, losses: dict[str, torch.Tensor], lr: float, shown: tuple[str, ...]
    ) -> dict[str, float] | None:
        """Count a finished optimiser step; every ``log_every`` steps (and at step 1) reduce ``losses``
        over processes, log them with ``lr`` and show ``shown`` on the progress bar. Returns the logged values."""
        self.step += 1
        bar.update(1)
        if self.step % self.run.log_every and self.step != 1:
            return None
        values = {k: self.accelerator.reduce(v.detach().float(), "mean").item() for k, v in losses.items()}
        extra = {"lr": lr, **({"nonfinite_steps": self.nonfinite_steps} if self.nonfinite_steps else {})}
        self.log_scalars(values, extra)
        bar.set_postfix({k.split("/")[-1]: f"{values[k]:.4f}" for k in shown})
        return values

    # -- data ---------------------------------------------------------------------------------------------
    def report_skipped(self, skipped: list[tuple[str, str]]) -> None:
        """Write the files a stage's data left out (path, reason) to ``<output_dir>/skipped_files.tsv``."""
        self._begin(False)  # every rank calls this
        if skipped and self.is_main:
            lines = "".join(f"{p}\t{r}\n" for p, r in skipped)
            atomic_write_text(self.out / "skipped_files.tsv", lines)
            log.info("skipped %d files (see %s)", len(skipped), self.out / "skipped_files.tsv")

    def batches(self, loader: DataLoader) -> Iterator[Any]:
        """Batches forever, epoch after epoch; after :meth:`resume`, from where the checkpoint stopped.

        The position (epoch, batches consumed in it) is saved with every checkpoint. With
        :class:`~losatok_plugin.data.EpochSampler` epoch ``e``'s order and its random crops are a
        function of the seed and ``e``, so a resumed run reads the same batches, cropped the same way,
        as an uninterrupted one (also with worker processes). Other samplers: the position is kept, the
        order after a resume is a new shuffle.
        """
        from accelerate import skip_first_batches

        epoch, done = self._data_position
        while True:
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
            source = skip_first_batches(loader, done) if done else loader
            for batch in source:
                done += 1
                self._data_position = (epoch, done)
                yield batch
            epoch, done = epoch + 1, 0
            self._data_position = (epoch, 0)

    # -- non-finite values ----------------------------------------------------------------------------
    def skip_nonfinite(self, *values: torch.Tensor | None, optimizers: tuple = ()) -> bool:
        """True on every rank when any of ``values`` (losses, a gradient norm) is NaN/inf on any rank.

        The caller then skips the step: no ``backward`` / ``optimizer.step`` with these values; the
        gradients of ``optimizers`` are cleared here. Skipped steps are counted (logged as
        ``nonfinite_steps``); past ``run.max_nonfinite_steps`` the run stops with :class:`NonFiniteError`.
        """
        bad = any(v is not None and not bool(torch.isfinite(v.detach()).all()) for v in values)
        flag = torch.tensor([1.0 if bad else 0.0], device=self.device)
        if self.accelerator.num_processes > 1:
            flag = self.accelerator.reduce(flag, reduction="sum")
        if flag.item() == 0:
            return False
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        self.nonfinite_steps += 1
        limit = self.run.max_nonfinite_steps
        if self.is_main:
            log.warning(
                "step %d: non-finite loss or gradient, step skipped (%d so far, limit %d)",
                self.step + 1,
                self.nonfinite_steps,
                limit,
            )
        if self.nonfinite_steps > limit:
            raise NonFiniteError(
                f"{self.nonfinite_steps} steps had a non-finite loss or gradient (run.max_nonfinite_steps={limit}); "
                "stopping. Check the data (skipped_files.tsv), lower optim.lr or raise the limit"
            )
        return True

    def grad_clip_and_check(self, parameters, max_norm: float, optimizers: tuple) -> bool:
        """Clip gradients (when ``max_norm`` > 0) and return True (step skipped) if their norm is not finite.

        fp16 runs leave inf gradients to accelerate's loss scaler, which skips those steps itself.
        """
        params = [p for p in parameters if p.grad is not None]
        if max_norm > 0:
            norm = self.accelerator.clip_grad_norm_(params, max_norm)
        elif self.run.mixed_precision != "fp16" and params:
            norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().float().norm() for p in params]))
        else:
            norm = None
        if self.run.mixed_precision == "fp16":
            return False
        return self.skip_nonfinite(norm, optimizers=optimizers)

    def optimizer_step(
        self, loss: torch.Tensor, optimizer, parameters, max_norm: float, clear: tuple | None = None
    ) -> bool:
        """One guarded update inside ``accelerator.accumulate``: non-finite check of ``loss`` -> backward ->
        clip + non-finite check of the gradients (on sync steps) -> ``optimizer.step()`` -> ``zero_grad``.

        Returns False when the step was skipped (see :meth:`skip_nonfinite`); the gradients of ``clear``
        (default: ``optimizer`` alone) are then cleared and the caller moves on to the next batch.
        """
        clear = clear if clear is not None else (optimizer,)
        if self.skip_nonfinite(loss, optimizers=clear):
            return False
        self.accelerator.backward(loss)
        if self.accelerator.sync_gradients and self.grad_clip_and_check(parameters, max_norm, clear):
            return False
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return True

    @staticmethod
    def check_finite_weights(state: dict[str, torch.Tensor], what: str) -> None:
        """Raise :class:`NonFiniteError` naming the first tensor of ``state`` with NaN/inf values."""
        for k, v in state.items():
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise NonFiniteError(f"refusing to write {what}: weight {k} holds NaN/inf values")

    # -- checkpoints ----------------------------------------------------------------------------------
    def save(self, modules: dict[str, Any], train_state: dict[str, Any]) -> Path:
        """Checkpoint ``modules`` (unwrapped) and ``train_state`` plus the step, the data position and the
        skipped-step count. Non-finite weights are refused (:class:`NonFiniteError`), a failed write
        raises :class:`CheckpointSaveError` with the earlier checkpoints intact."""
        self._begin(False)
        unwrapped = {
            k: (self.accelerator.unwrap_model(v) if isinstance(v, torch.nn.Module) else v) for k, v in modules.items()
        }
        for k, v in unwrapped.items():
            self.check_finite_weights(v.state_dict() if isinstance(v, torch.nn.Module) else v, f"checkpoint {k}")
        position = {"data_position": list(self._data_position), "nonfinite_steps": self.nonfinite_steps}
        train_state = {**train_state, **position}
        return save_checkpoint(
            self.out,
            self.step,
            unwrapped,
            train_state,
            rank=self.accelerator.process_index,
            is_main=self.is_main,
            barrier=self.barrier,
            keep=self.run.keep_checkpoints,
            any_failed=self._any,
        )

    def _any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank."""
        if self.accelerator.num_processes == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        return bool(self.accelerator.reduce(t, reduction="sum").item() > 0)

    def resume(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]] | None:
        """Load the latest complete checkpoint (falling back to the newest complete ``step_*`` folder, with
        a warning, when ``checkpoints/latest`` is broken); :class:`ResumeError` when there is none.

        Restores the step, the RNG state, the data position (see :meth:`batches`) and drops the lines of
        ``metrics.jsonl`` after the checkpoint's step, so a resumed run never logs a step twice.
        Returns the module state dicts and the train state.
        """
        self._begin(True)
        path = self._resume_path or latest_checkpoint(self.out)
        if path is None:
            raise ResumeError(f"--resume: nothing to resume in {self.out / 'checkpoints'}")
        modules, state = load_checkpoint(path, self.accelerator.process_index)
        self.step = int(state["step"])
        self.nonfinite_steps = int(state.get("nonfinite_steps", 0))
        if "data_position" in state:
            self._data_position = (int(state["data_position"][0]), int(state["data_position"][1]))
        if self.is_main:
            self._truncate_metrics(self.step)
            log.info("resumed from %s at step %d", path, self.step)
        self.barrier()
        return modules, state

    def _truncate_metrics(self, step: int) -> None:
        metrics = self.out / "metrics.jsonl"
        if not metrics.is_file():
            return
        kept = []
        for line in metrics.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= step:
                    kept.append(line + "\n")
            except (ValueError, KeyError, TypeError):  # a line cut by a kill
                continue
        atomic_write_text(metrics, "".join(kept))

    def write_replica_digest(self, state: dict[str, torch.Tensor]) -> str:
        """Hash this rank's copy of the trained weights into ``replicas/rank<r>.sha256`` (DDP sanity check)."""
        import hashlib

        h = hashlib.sha256()
        for k in sorted(state):
            h.update(k.encode())
            h.update(state[k].detach().cpu().contiguous().float().numpy().tobytes())
        path = self.out / "replicas" / f"rank{self.accelerator.process_index}.sha256"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(h.hexdigest())
        return h.hexdigest()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.accelerator.end_training()
        # Let a later train() in the same process (tests, notebooks) choose another precision / accumulation.
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state()
        GradientState._reset_state()
