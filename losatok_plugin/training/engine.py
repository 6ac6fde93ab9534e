"""The shared training engine: accelerate set-up, schedules, signals, logging, checkpoint plumbing.

Stages (``sembo.py``, ``tokenizer.py``) are plain functions over an explicit :class:`Trainer` object;
nothing lives in module globals, so ``train()`` can be called in-process by tests.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import OptimConfig, RunConfig


def cosine_with_warmup(optimizer: torch.optim.Optimizer, cfg: OptimConfig, max_steps: int):
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr_ratio · lr`` at ``max_steps``."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / max(cfg.warmup_steps, 1)
        progress = min(1.0, (step - cfg.warmup_steps) / max(max_steps - cfg.warmup_steps, 1))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def adamw(params, cfg: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def infinite(loader: DataLoader) -> Iterator[Any]:
    """Cycle over a DataLoader forever (a new shuffle each epoch)."""
    while True:
        yield from loader


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

    def __init__(self, run: RunConfig, config: Any) -> None:
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.run = run
        self.out = Path(run.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=run.mixed_precision,
            gradient_accumulation_steps=run.grad_accum_steps,
            cpu=run.cpu,
        )
        set_seed(run.seed + self.accelerator.process_index)
        self.step = 0
        self.stop = StopFlag()
        self._last_log: tuple[int, float] | None = None
        self._writer = None
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg_dict = asdict(config) if is_dataclass(config) else dict(config)
            (self.out / "config.json").write_text(json.dumps(cfg_dict, indent=2, default=str))
        self.accelerator.wait_for_everyone()

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
                raise ImportError("TensorBoard logging needs the [train] extra: pip install 'losatok-plugin[train]'") from e
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
        from tqdm import tqdm

        return tqdm(
            total=total, initial=self.step, desc="train", unit="step", disable=not (self.is_main and self.run.progress),
            dynamic_ncols=True,
        )  # fmt: skip

    def step_done(self, bar, losses: dict[str, torch.Tensor], lr: float, shown: tuple[str, ...]) -> dict[str, float] | None:
        """Count a finished optimiser step; every ``log_every`` steps (and at step 1) reduce ``losses``
        over processes, log them with ``lr`` and show ``shown`` on the progress bar. Returns the logged values."""
        self.step += 1
        bar.update(1)
        if self.step % self.run.log_every and self.step != 1:
            return None
        values = {k: self.accelerator.reduce(v.detach().float(), "mean").item() for k, v in losses.items()}
        self.log_scalars(values, {"lr": lr})
        bar.set_postfix({k.split("/")[-1]: f"{values[k]:.4f}" for k in shown})
        return values

    def stop_requested(self, save, bar) -> bool:
        """:meth:`checkpoint_or_stop`, closing the bar and the trainer when stopping."""
        if not self.checkpoint_or_stop(save):
            return False
        bar.close()
        self.close()
        return True

    # -- checkpoints ----------------------------------------------------------------------------------
    def checkpoint_or_stop(self, save) -> bool:
        """After a step: checkpoint every ``save_every`` steps or on SIGINT/SIGTERM. True = stop now."""
        stop = self.should_stop()
        if self.step % self.run.save_every == 0 or stop:
            save()
        if stop and self.is_main:
            print(f"[losatok] stopped by signal at step {self.step}; checkpoint saved", flush=True)
        return stop

    def final_checkpoint(self, save) -> None:
        """At the end of training: a last checkpoint unless this step was just saved."""
        if self.step % self.run.save_every:
            save()

    def save(self, modules: dict[str, Any], train_state: dict[str, Any]) -> Path:
        unwrapped = {
            k: (self.accelerator.unwrap_model(v) if isinstance(v, torch.nn.Module) else v) for k, v in modules.items()
        }
        return save_checkpoint(
            self.out,
            self.step,
            unwrapped,
            train_state,
            rank=self.accelerator.process_index,
            is_main=self.is_main,
            barrier=self.barrier,
            keep=self.run.keep_checkpoints,
        )

    def resume(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]] | None:
        path = latest_checkpoint(self.out)
        if path is None:
            return None
        modules, state = load_checkpoint(path, self.accelerator.process_index)
        self.step = int(state["step"])
        if self.is_main:
            print(f"[losatok] resumed from {path} at step {self.step}", flush=True)
        return modules, state

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
