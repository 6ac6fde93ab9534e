"""Manifests: one audio file per line, JSONL (preferred) or CSV.

Fields: ``path`` (required; relative paths are resolved against the manifest's folder), ``duration``
(seconds, optional), ``domain`` (``speech`` / ``music`` / ``sound``, optional) and ``label`` (optional,
free text or a class name). Extra fields are kept in ``extra`` (transcripts, phonemes, notes...).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf
from tqdm import tqdm

from ..fileio import atomic_path, atomic_write_text
from .audio_io import AUDIO_SUFFIXES

DOMAINS = ("speech", "music", "sound")
AUDIO_EXTENSIONS = AUDIO_SUFFIXES  # the old name


class ManifestError(ValueError):
    """A manifest line is malformed."""


@dataclass
class ManifestEntry:
    path: str
    duration: float | None = None
    domain: str | None = None
    label: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "extra"}
        d.update(self.extra)
        return d


def _entry(row: dict[str, Any], base: Path, where: str) -> ManifestEntry:
    if not row.get("path"):
        raise ManifestError(f"{where}: missing 'path'")
    path = Path(str(row["path"]))
    if not path.is_absolute():
        path = base / path
    domain = row.get("domain") or None
    if domain is not None and domain not in DOMAINS:
        raise ManifestError(f"{where}: domain {domain!r} is not one of {DOMAINS}")
    duration = row.get("duration")
    duration = float(duration) if duration not in (None, "") else None
    label = row.get("label")
    extra = {k: v for k, v in row.items() if k not in ("path", "duration", "domain", "label")}
    return ManifestEntry(str(path), duration, domain, None if label in (None, "") else str(label), extra)


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """Read a ``.jsonl`` or ``.csv`` manifest (paths resolved against its folder)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    base = path.parent
    entries: list[ManifestEntry] = []
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            for i, row in enumerate(csv.DictReader(f), start=2):
                entries.append(_entry(row, base, f"{path}:{i}"))
    else:
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{i}: not JSON ({e})") from None
            entries.append(_entry(row, base, f"{path}:{i}"))
    return entries


def write_manifest(entries: Iterable[ManifestEntry], path: str | Path, relative: bool = True) -> Path:
    """Write JSONL (or CSV by suffix); paths relative to the manifest's folder when the file lies below
    it, else absolute, so that :func:`read_manifest` finds every file from any working folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for e in entries:
        row = e.to_json()
        # Paths are read back against the manifest's folder: write them relative to it when the file
        # lies below it, else absolute (a path relative to the current folder would not resolve).
        absolute = Path(e.path).resolve()
        row["path"] = str(absolute)
        if relative:
            try:
                row["path"] = str(absolute.relative_to(path.parent.resolve()))
            except ValueError:
                pass
        rows.append(row)
    if path.suffix == ".csv":
        keys = ["path", "duration", "domain", "label"]
        with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    else:
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def build_manifest(
    folder: str | Path, domain: str | None = None, label_from_parent: bool = False, progress: bool = True
) -> tuple[list[ManifestEntry], list[tuple[str, str]]]:
    """Scan ``folder`` recursively for audio; returns ``(entries, skipped)`` with reasons for skipped files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"not a folder: {folder}")
    if domain is not None and domain not in DOMAINS:
        raise ManifestError(f"domain {domain!r} is not one of {DOMAINS}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    entries, skipped = [], []
    for p in tqdm(files, desc="scanning audio", disable=not progress, unit="file"):
        try:
            info = sf.info(str(p))
        except Exception as e:  # noqa: BLE001
            skipped.append((str(p), f"unreadable: {e}"))
            continue
        if info.frames == 0:
            skipped.append((str(p), "empty"))
            continue
        label = p.parent.name if label_from_parent else None
        entries.append(ManifestEntry(str(p), round(info.frames / info.samplerate, 4), domain, label))
    return entries, skipped
