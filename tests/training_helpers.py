"""Tiny corpora, configs and subprocess launchers shared by the training fault and recipe tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.data import build_manifest, write_manifest

from .helpers import write_corpus

REPO = Path(__file__).resolve().parents[1]


def tiny_corpus(root: Path, n: int = 4) -> dict[str, Path]:
    """``n`` 1.28 s clips + their manifest, and a tiny random ``LoSATokVAE`` folder (the teacher)."""
    write_corpus(root / "audio", n=n, seconds=1.28)
    manifest = write_manifest(build_manifest(root / "audio", progress=False)[0], root / "train.jsonl")
    teacher = root / "teacher"
    torch.manual_seed(0)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(teacher)
    return {"manifest": manifest, "teacher": teacher, "audio": root / "audio"}


def write_nonfinite_wav(path: Path, kind: str = "nan", seconds: float = 1.28, sr: int = 16000) -> Path:
    """A float32 WAV whose samples are fine except one NaN (``kind="nan"``) or +inf (``"inf"``)."""
    x = (0.3 * np.sin(2 * np.pi * 330 * np.arange(int(seconds * sr)) / sr)).astype("float32")
    x[len(x) // 2] = np.nan if kind == "nan" else np.inf
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype="FLOAT")
    return path


def stage_dict(out: Path, manifest: Path, steps: int, **extra) -> dict:
    """A tiny stage config (dict form) writing to ``out``; ``extra`` sections are merged one level deep."""
    d = {
        "model": tiny_config().to_dict(),
        "data": {"train_manifest": str(manifest), "crop_seconds": 0.64, "batch_size": 2},
        "optim": {"warmup_steps": 0, "lr": 1e-3},
        "run": {
            "output_dir": str(out),
            "max_steps": steps,
            "save_every": 1000,
            "log_every": 1,
            "progress": False,
            "cpu": True,
            "sample_every": 0,
        },
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return d


def metrics(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def train_cli(args: list[str], cwd: Path | None = None, new_group: bool = False) -> subprocess.Popen:
    """``python recipes/train.py ARGS`` as a child process (stdout and stderr together); ``new_group``: in
    a process group of its own (``os.killpg(proc.pid, sig)`` then signals it and its DataLoader workers)."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "recipes" / "train.py"), *args],
        env=env(),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=new_group,
    )


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    """Poll ``predicate()`` until True; fail with the child's output if it exits or time runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"training exited early ({proc.returncode}): {proc.communicate()[0][-3000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"timed out: {proc.communicate()[0][-3000:]}")
