"""Probe tasks from the offline corpus: one labelled manifest per task, with a held-out ``split`` field.

The representation models train on the corpus' ``train`` manifest; a probe fits on (a sample of) those clips
and is scored on clips no model saw: ``valid`` + ``test`` (synthetic data) or ``test_real`` (real recordings).

| task | clips | target | level |
| --- | --- | --- | --- |
| ``speech_lang`` | espeak-ng speech | ``lang`` (8 languages) | clip |
| ``speech_voice`` | flite speech | ``voice`` (5 speakers) | clip |
| ``speech_phonemes`` | espeak-ng + flite speech | ``phonemes`` as a bag of symbols | bag |
| ``music_family`` | fluidsynth music | ``label`` (instrument family or ``ensemble_mix``) | clip |
| ``music_tempo`` | fluidsynth music | ``tempo`` class: slow < 100 ≤ medium < 130 ≤ fast BPM | clip |
| ``music_key_mode`` | fluidsynth music | ``key`` mode (major / minor) | clip |
| ``sound_class`` | synthesised sounds | ``label`` (10 event classes) | clip |
| ``sound_activity`` | synthesised sounds | an event active in each 40 ms frame (from ``events``) | frame |
| ``sound_source_real`` | real sound effects | ``source`` package (the only class ``test_real`` gives) | clip |
| ``music_source_real`` | real game music | ``source`` package | clip |

Not built, and why: the corpus' phonemes have no time alignment (``labels.py`` feeds them to CTC), so the
phoneme probe is a clip-level bag, not a frame probe; real speech has no held-out language or speaker probe
(``test_real``'s languages and speakers are disjoint from ``train``'s); music keys (24) have too few held-out
clips per class, so the key probe is the mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labels import phoneme_tokens
from ..data.manifest import ManifestEntry, read_manifest, write_manifest

FRAME_RATE = 25.0


def tempo_class(bpm: float) -> str:
    """slow (< 100 BPM), medium (< 130), fast."""
    return "slow" if bpm < 100 else "medium" if bpm < 130 else "fast"


def activity_frames(duration: float, events: list[list[float]], frame_rate: float = FRAME_RATE) -> list[str]:
    """``event`` / ``none`` per frame of a clip of ``duration`` s, from ``[[onset s, offset s], ...]``."""
    n = int(math.ceil(duration * frame_rate)) + 1
    active = np.zeros(n, dtype=bool)
    for on, off in events:
        active[max(0, int(on * frame_rate)) : min(n, int(off * frame_rate) + 1)] = True
    return ["event" if a else "none" for a in active]


@dataclass(frozen=True)
class ProbeTask:
    """``select(entry)`` picks clips; ``target(entry)`` gives the manifest fields that carry the label."""

    name: str
    select: Callable[[ManifestEntry], bool]
    target: Callable[[ManifestEntry], dict[str, Any]]
    real: bool = False  # held out on test_real (else on valid + test)


def _src(*names: str) -> Callable[[ManifestEntry], bool]:
    return lambda e: e.extra.get("source") in names


def _real(domain: str) -> Callable[[ManifestEntry], bool]:
    synthetic = {"espeak-ng", "flite", "fluidsynth", "synthesised"}
    return lambda e: e.domain == domain and e.extra.get("source") not in synthetic


TASKS: tuple[ProbeTask, ...] = (
    ProbeTask("speech_lang", _src("espeak-ng"), lambda e: {"label": e.extra["lang"]}),
    ProbeTask("speech_voice", _src("flite"), lambda e: {"label": e.extra["voice"]}),
    ProbeTask(
        "speech_phonemes",
        lambda e: _src("espeak-ng", "flite")(e) and bool(e.extra.get("phonemes")),
        lambda e: {"label": None, "bag": sorted(set(phoneme_tokens(e.extra["phonemes"])))},
    ),
    ProbeTask("music_family", _src("fluidsynth"), lambda e: {"label": e.label}),
    ProbeTask("music_tempo", _src("fluidsynth"), lambda e: {"label": tempo_class(float(e.extra["tempo"]))}),
    ProbeTask("music_key_mode", _src("fluidsynth"), lambda e: {"label": str(e.extra["key"]).split()[-1]}),
    ProbeTask("sound_class", _src("synthesised"), lambda e: {"label": e.label}),
    ProbeTask(
        "sound_activity",
        _src("synthesised"),
        lambda e: {"label": None, "frame_labels": activity_frames(float(e.duration or 0.0), e.extra["events"])},
    ),
    ProbeTask("sound_source_real", _real("sound"), lambda e: {"label": e.extra["source"]}, real=True),
    ProbeTask("music_source_real", _real("music"), lambda e: {"label": e.extra["source"]}, real=True),
)


def _cap(entries: list[ManifestEntry], n: int | None, seed: int) -> list[ManifestEntry]:
    if n is None or len(entries) <= n:
        return entries
    keep = np.sort(np.random.default_rng(seed).choice(len(entries), size=n, replace=False))
    return [entries[i] for i in keep]


def _labelled(e: ManifestEntry, task: ProbeTask, split: str) -> ManifestEntry:
    fields = task.target(e)
    extra = {k: v for k, v in e.extra.items() if k not in ("frame_labels", "bag", "split")}
    extra.update({k: v for k, v in fields.items() if k != "label"}, split=split)
    return ManifestEntry(e.path, e.duration, e.domain, fields.get("label"), extra)


def build_probe_tasks(
    corpus: str | Path,
    out_dir: str | Path,
    names: list[str] | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``<out_dir>/<task>.jsonl`` for each task of :data:`TASKS` (or ``names``) from a corpus folder.

    Args:
        corpus: folder with ``train.jsonl``, ``valid.jsonl``, ``test.jsonl``, ``test_real.jsonl`` (a missing
            held-out manifest simply gives no test clips, and the task is skipped).
        max_train, max_test: cap the clips per split (a random, seeded sample) for cheap runs.

    Returns:
        task name -> manifest path, for the tasks with at least two training classes and some test clips.
    """
    corpus, out = Path(corpus), Path(out_dir)
    split_files = {"train": ["train.jsonl"], "test": ["valid.jsonl", "test.jsonl"], "real": ["test_real.jsonl"]}
    pools = {
        k: [e for f in files if (corpus / f).is_file() for e in read_manifest(corpus / f)]
        for k, files in split_files.items()
    }
    if not pools["train"]:
        raise FileNotFoundError(f"no train.jsonl in {corpus}")
    known = {t.name for t in TASKS}
    unknown = sorted(set(names or []) - known)
    if unknown:
        raise ValueError(f"unknown probe tasks {unknown}; tasks: {sorted(known)}")
    written: dict[str, Path] = {}
    for task in TASKS:
        if names and task.name not in names:
            continue
        train = _cap([_labelled(e, task, "train") for e in pools["train"] if task.select(e)], max_train, seed)
        held = pools["real" if task.real else "test"]
        train_labels = {e.label for e in train}
        test = [_labelled(e, task, "test") for e in held if task.select(e)]
        test = _cap([e for e in test if e.label is None or e.label in train_labels], max_test, seed)
        if not test or (None not in train_labels and len(train_labels) < 2):
            continue
        written[task.name] = write_manifest(train + test, out / f"{task.name}.jsonl")
    return written
