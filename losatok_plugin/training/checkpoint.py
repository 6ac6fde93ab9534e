"""Atomic training checkpoints: models (safetensors), optimisers, schedulers, step and RNG state.

Layout: ``<output_dir>/checkpoints/step_00001000/`` holding ``<name>.safetensors`` per module,
``train_state.pt`` (optimisers, schedulers, step; read back with ``weights_only=True``) and
``rng_rank<r>.pt`` per process, plus ``checkpoints/latest`` naming the newest complete one. A
checkpoint is written into a temporary folder and renamed into place, so a crash never leaves a
half-written checkpoint behind ``latest``.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as tensors / plain lists (``weights_only``-loadable)."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],  # fmt: skip
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    root = checkpoint_root(output_dir)
    pointer = root / "latest"
    if not pointer.is_file():
        return None
    path = root / pointer.read_text().strip()
    return path if (path / "train_state.pt").is_file() else None


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    modules: dict[str, torch.nn.Module | dict[str, torch.Tensor]],
    train_state: dict[str, Any],
    rank: int,
    is_main: bool,
    barrier,
    keep: int = 3,
) -> Path:
    """Write a checkpoint atomically (all ranks call this; ``barrier`` synchronises them)."""
    root = checkpoint_root(output_dir)
    name = f"step_{step:08d}"
    tmp = root / f".{name}.tmp"
    final = root / name
    if is_main:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    barrier()
    torch.save(rng_state(), tmp / f"rng_rank{rank}.pt")
    if is_main:
        for key, module in modules.items():
            sd = module.state_dict() if isinstance(module, torch.nn.Module) else module
            save_file({k: v.detach().cpu().contiguous() for k, v in sd.items()}, str(tmp / f"{key}.safetensors"))
        torch.save({**train_state, "step": step}, tmp / "train_state.pt")
    barrier()
    if is_main:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        pointer_tmp = root / "latest.tmp"
        pointer_tmp.write_text(name)
        os.replace(pointer_tmp, root / "latest")
        done = sorted(p for p in root.glob("step_*") if p.is_dir())
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def load_checkpoint(path: Path, rank: int) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read module state dicts and the train state (and restore this rank's RNG)."""
    modules = {p.stem: load_file(str(p)) for p in path.glob("*.safetensors")}
    state = torch.load(path / "train_state.pt", map_location="cpu", weights_only=True)
    rng_file = path / f"rng_rank{rank}.pt"
    if not rng_file.is_file():  # resumed with more processes than saved: reuse rank 0's stream
        rng_file = path / "rng_rank0.pt"
    set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=True))
    return modules, state
