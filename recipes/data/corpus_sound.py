"""Synthesised sound events with class labels (impacts, footsteps, noise bursts, sweeps, alarms, engines,
rain, wind, bells, bird-like chirps), each clip 1-3 events over a quiet background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from .corpus_common import SAMPLE_RATE, set_level, write_wav

SR = SAMPLE_RATE


def _band(x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    if lo and hi:
        sos = butter(4, [lo, hi], "bandpass", fs=SR, output="sos")
    elif lo:
        sos = butter(4, lo, "highpass", fs=SR, output="sos")
    else:
        sos = butter(4, hi, "lowpass", fs=SR, output="sos")
    return sosfilt(sos, x)


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def impact(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(0.3, 1.0))
    decay = rng.uniform(8, 40)
    modes = sum(
        np.sin(2 * np.pi * rng.uniform(80, 3000) * t + rng.uniform(0, 6)) * rng.uniform(0.2, 1)
        for _ in range(int(rng.integers(2, 6)))
    )
    click = _band(rng.standard_normal(len(t)), None, rng.uniform(1500, 7000)) * np.exp(-t * 120)
    return modes * np.exp(-t * decay) + 2 * click


def footsteps(rng: np.random.Generator) -> np.ndarray:
    period, n = rng.uniform(0.35, 0.7), int(rng.integers(4, 9))
    out = np.zeros(int((n * period + 0.4) * SR))
    base = rng.uniform(200, 900)
    for i in range(n):
        t = _t(0.15)
        step = _band(rng.standard_normal(len(t)), None, base * rng.uniform(1.5, 4)) * np.exp(-t * 35)
        a = int((i * period + rng.uniform(-0.03, 0.03) + 0.05) * SR)
        out[a : a + len(step)] += step * rng.uniform(0.6, 1.0)
    return out


def noise_burst(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(0.2, 1.2))
    env = np.sin(np.pi * t / t[-1]) ** rng.uniform(0.3, 3)
    lo = rng.uniform(100, 2000)
    return _band(rng.standard_normal(len(t)), lo, min(7900, lo * rng.uniform(2, 8))) * env


def sweep(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(0.5, 2.5))
    f0, f1 = rng.uniform(100, 1000), rng.uniform(1000, 6000)
    if rng.random() < 0.5:
        f0, f1 = f1, f0
    f = f0 * (f1 / f0) ** (t / t[-1])
    phase = 2 * np.pi * np.cumsum(f) / SR
    return (np.sin(phase) + 0.3 * np.sin(2 * phase)) * np.minimum(1, np.minimum(t, t[-1] - t) * 30)


def alarm(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(1.0, 3.0))
    fa, fb = rng.uniform(500, 2500), rng.uniform(500, 2500)
    rate = rng.uniform(2, 8)
    f = np.where((t * rate) % 1 < 0.5, fa, fb)
    x = np.sign(np.sin(2 * np.pi * np.cumsum(f) / SR)) * 0.5
    if rng.random() < 0.5:  # beeping
        x *= (t * rate * 2) % 1 < 0.6
    return _band(x, None, 7000)


def engine(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(1.5, 4.0))
    f0 = rng.uniform(20, 60) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    harm = sum(np.sin(k * phase) / k for k in range(1, 12))
    rumble = _band(rng.standard_normal(len(t)), 50, 800) * 0.4
    return (harm * (1 + 0.5 * np.sin(phase / 2)) + rumble) * np.minimum(1, t * 3)


def rain(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(2.0, 4.0))
    out = _band(rng.standard_normal(len(t)), 1500, None) * 0.15
    for a in rng.integers(0, len(t) - 400, size=int(len(t) / SR * rng.uniform(20, 120))):
        drop = np.sin(2 * np.pi * rng.uniform(1500, 5000) * _t(0.02)) * np.exp(-_t(0.02) * 300)
        out[a : a + len(drop)] += drop * rng.uniform(0.2, 1)
    return out


def wind(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(2.0, 4.0))
    noise = _band(rng.standard_normal(len(t)), None, rng.uniform(300, 1200))
    gust = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t + rng.uniform(0, 6)) ** 2
    return noise * gust


def bell(rng: np.random.Generator) -> np.ndarray:
    t = _t(rng.uniform(1.0, 3.0))
    f = rng.uniform(200, 1200)
    ratios = (0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011)
    return sum(
        np.sin(2 * np.pi * f * r * t) * np.exp(-t * rng.uniform(1, 4) * r) / (1 + i) for i, r in enumerate(ratios)
    )


def bird(rng: np.random.Generator) -> np.ndarray:
    out = []
    for _ in range(int(rng.integers(2, 7))):
        t = _t(rng.uniform(0.05, 0.25))
        f = rng.uniform(2000, 5000) + rng.uniform(-1500, 1500) * (t / t[-1]) + 300 * np.sin(2 * np.pi * 40 * t)
        out += [
            np.sin(2 * np.pi * np.cumsum(f) / SR) * np.sin(np.pi * t / t[-1]),
            np.zeros(int(rng.uniform(0.03, 0.2) * SR)),
        ]
    return np.concatenate(out)


SOUND_CLASSES = {
    "impact": impact,
    "footsteps": footsteps,
    "noise_burst": noise_burst,
    "sweep": sweep,
    "alarm": alarm,
    "engine": engine,
    "rain": rain,
    "wind": wind,
    "bell": bell,
    "bird": bird,
}


def make_sound(index: int, seed: int, out_dir: Path) -> dict:
    """1-3 events of one class placed in 3-6 s of quiet coloured noise; returns the manifest row."""
    rng = np.random.default_rng([seed, 3, index])
    names = list(SOUND_CLASSES)
    label = names[index % len(names)]
    total = rng.uniform(3.0, 6.0)
    out = _band(rng.standard_normal(int(total * SR)), None, rng.uniform(500, 7000)) * 10 ** (rng.uniform(-60, -35) / 20)
    events = []
    for _ in range(int(rng.integers(1, 4))):
        ev = SOUND_CLASSES[label](rng)
        ev = ev / (np.abs(ev).max() + 1e-9) * rng.uniform(0.3, 1.0)
        if len(ev) >= len(out):
            ev = ev[: len(out) - 1]
        a = int(rng.integers(0, len(out) - len(ev)))
        out[a : a + len(ev)] += ev
        events.append([round(a / SR, 3), round((a + len(ev)) / SR, 3)])
    audio = set_level(out, rng)
    rel = Path("sound") / f"{label}_{index:06d}.wav"
    duration = write_wav(out_dir / rel, audio)
    return {
        "path": str(rel),
        "duration": round(duration, 4),
        "domain": "sound",
        "label": label,
        "source": "synthesised",
        "events": sorted(events),
        "split_key": f"sound{index}",
    }
