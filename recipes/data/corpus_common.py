"""Shared helpers of the offline corpus builder: audio writing, level normalisation, subprocess calls."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 16000


class CorpusError(RuntimeError):
    """A corpus source is missing or a tool failed."""


def require_tool(name: str, package: str) -> str:
    """Path of a command-line tool, or an error naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        raise CorpusError(f"{name!r} not found; install it with: apt-get install {package}")
    return path


def run(cmd: list[str], what: str) -> str:
    """Run ``cmd``; raise :class:`CorpusError` with its stderr when it fails. Returns stdout."""
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise CorpusError(f"{what} failed ({res.returncode}): {res.stderr.strip()[:300]}")
    return res.stdout


def to_16k_mono(audio: np.ndarray, sr: int) -> np.ndarray:
    """``[N]`` or ``[N, C]`` float audio at ``sr`` -> ``[N']`` float32 at 16 kHz."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if sr != SAMPLE_RATE:
        g = gcd(sr, SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // g, sr // g)
    return audio.astype(np.float32)


def read_16k(path: str | Path) -> np.ndarray:
    audio, sr = sf.read(str(path), dtype="float64", always_2d=False)
    return to_16k_mono(audio, sr)


def set_level(
    audio: np.ndarray, rng: np.random.Generator, db_range: tuple[float, float] = (-28.0, -18.0)
) -> np.ndarray:
    """Scale to a random RMS level in ``db_range`` dBFS, never clipping (peak kept under 0.98)."""
    rms = float(np.sqrt(np.mean(audio**2)) + 1e-12)
    target = 10 ** (rng.uniform(*db_range) / 20)
    out = audio * (target / rms)
    peak = float(np.abs(out).max() + 1e-12)
    if peak > 0.98:
        out *= 0.98 / peak
    return out.astype(np.float32)


def trim_silence(audio: np.ndarray, threshold_db: float = -50.0, pad: int = 1600) -> np.ndarray:
    """Cut leading/trailing parts quieter than ``threshold_db`` relative to the peak, keeping ``pad`` samples."""
    peak = np.abs(audio).max() + 1e-12
    loud = np.nonzero(np.abs(audio) > peak * 10 ** (threshold_db / 20))[0]
    if loud.size == 0:
        return audio
    return audio[max(0, loud[0] - pad) : loud[-1] + pad]


def write_wav(path: Path, audio: np.ndarray) -> float:
    """Write 16 kHz PCM-16 mono; returns the duration in seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
    return len(audio) / SAMPLE_RATE


def stable_fraction(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` (split assignment that does not depend on build order)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32


def shared_paths(rows) -> dict[str, int]:
    """``{path: rows}`` for every wav path that more than one manifest row names (one clip overwrote another)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["path"]] = counts.get(row["path"], 0) + 1
    return {p: n for p, n in counts.items() if n > 1}
