"""Atomic training checkpoints: models (safetensors), optimisers, schedulers, step and RNG state.

Layout: ``<output_dir>/checkpoints/step_00001000/`` holding ``<name>.safetensors`` per module,
``train_state.pt`` (optimisers, schedulers, step; read back with ``weights_only=True``) and
``rng_rank<r>.pt`` per process, plus ``checkpoints/latest`` naming the newest complete one. A
checkpoint is written into a temporary folder and renamed into place, so a crash never leaves a
half-written checkpoint behind ``latest``.
"""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..fileio import atomic_write_text
from .errors import CheckpointSaveError


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as tensors / plain lists (``weights_only``-loadable)."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
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


def step_of(path: Path) -> int | None:
    """The step number of a ``step_XXXXXXXX`` folder name, or None for any other name."""
    m = _STEP_NAME.fullmatch(path.name)
    return int(m.group(1)) if m else None


_STEP_NAME = re.compile(r"step_(\d+)")


def _recover_swaps(root: Path) -> None:
    """Finish or undo a re-save of the same step that a kill interrupted (see :func:`save_checkpoint`)."""
    for old in root.glob(".step_*.old"):
        final = root / old.name[1 : -len(".old")]
        try:
            if final.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, final)
        except OSError:  # another process got there first
            pass


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders, oldest first (sorted by step number, not by name)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    _recover_swaps(root)
    found = [p for p in root.iterdir() if p.is_dir() and step_of(p) is not None and (p / "train_state.pt").is_file()]
    return sorted(found, key=lambda p: step_of(p))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint ``checkpoints/latest`` names; if that pointer is missing or broken, the newest
    complete ``step_*`` folder (with a warning); None when there is no complete checkpoint."""
    root = checkpoint_root(output_dir)
    done = complete_checkpoints(output_dir)
    pointer = root / "latest"
    named = None
    if pointer.is_file():
        try:
            named = root / pointer.read_text().strip()
        except (OSError, UnicodeDecodeError):
            named = None
        if named is not None and named in done:
            return named
    if not done:
        return None
    if not pointer.is_file():
        why = "is missing"
    else:
        why = f"names {named.name if named else 'nothing readable'}, which is not a complete checkpoint"
    warnings.warn(f"{pointer} {why}; using the newest complete checkpoint {done[-1]}", UserWarning, stacklevel=2)
    return done[-1]


def _remove(path: Path, root: Path) -> None:
    """Delete a checkpoint folder: first renamed to a hidden name, so a kill mid-delete never leaves a
    partial ``step_*`` folder that looks complete."""
    trash = root / f".{path.name}.trash"
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    modules: dict[str, torch.nn.Module | dict[str, torch.Tensor]],
    train_state: dict[str, Any],
    rank: int,
    is_main: bool,
    barrier,
    keep: int = 3,
    any_failed=None,
) -> Path:
    """Write a checkpoint atomically (all ranks call this; ``barrier`` synchronises them).

    The files go into a hidden temporary folder that is renamed into place, then ``latest`` is
    replaced. Saving a step that already exists moves the old folder aside, renames the new one into
    place, and only then deletes the old one. Pruning keeps the newest ``keep`` checkpoints up to
    ``step`` (by step number; folders of later steps are not touched). A failed write (full disk...)
    removes the temporary folder and raises :class:`CheckpointSaveError` on every rank; earlier
    checkpoints stay intact. ``any_failed(flag) -> bool`` tells every rank whether any rank failed
    (default: this rank's own flag, for one process).
    """
    any_failed = any_failed or (lambda failed: failed)
    root = checkpoint_root(output_dir)
    name = f"step_{step:08d}"
    tmp = root / f".{name}.tmp"
    final = root / name
    error: BaseException | None = None
    if is_main:
        try:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        except OSError as e:
            error = e
    barrier()
    if not any_failed(error is not None):
        try:
            torch.save(rng_state(), tmp / f"rng_rank{rank}.pt")
            if is_main:
                for key, module in modules.items():
                    sd = module.state_dict() if isinstance(module, torch.nn.Module) else module
                    save_file(
                        {k: v.detach().cpu().contiguous() for k, v in sd.items()}, str(tmp / f"{key}.safetensors")
                    )
                torch.save({**train_state, "step": step}, tmp / "train_state.pt")
        except Exception as e:  # noqa: BLE001 - torch.save reports a full disk as RuntimeError("unexpected pos")
            error = e
    barrier()
    failed = any_failed(error is not None)
    if is_main and not failed:
        try:
            if final.exists():
                old = root / f".{name}.old"
                if old.exists():
                    shutil.rmtree(old)
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
            atomic_write_text(root / "latest", name)
        except OSError as e:
            error, failed = e, True
        if not failed:
            done = [p for p in complete_checkpoints(output_dir) if step_of(p) <= step]
            for old_ckpt in done[:-keep]:
                _remove(old_ckpt, root)
    failed = any_failed(failed)
    if failed:
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        barrier()
        reason = f"{type(error).__name__}: {error}" if error is not None else "another process failed to write"
        if getattr(error, "errno", None) == errno.ENOSPC or any(
            s in str(error) for s in ("unexpected pos", "No space left", "os error 28")
        ):
            reason = f"no space left on device ({error})"
        raise CheckpointSaveError(
            f"could not write checkpoint {final}: {reason}; the earlier checkpoints in {root} are intact"
        )
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
