"""Teacher feature cache: run the frozen semantic encoder once per file, store ``[T, D]`` features.

Layout of a cache folder::

    index.json                 {"version": 1, "dim": D, "frame_rate": 25.0, "dtype": "float16",
                                "teacher": "<id>", "entries": {"<audio path>": {"shard": ..., "key": ..., "frames": T}}}
    shard_00000.safetensors    one tensor [T, D] per file

Building is resumable: files already in the index are skipped, and the index is rewritten atomically
after every shard. Reading uses ``safe_open`` slices, so a training crop loads only its frames.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from ..fileio import atomic_path, atomic_write_text
from .audio_io import AudioReadError, load_audio
from .manifest import ManifestEntry

CACHE_VERSION = 1


class FeatureCacheError(RuntimeError):
    """The cache is missing, of another version, or lacks a requested file."""


class FeatureCache:
    """Read-only view of a feature cache folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise FeatureCacheError(
                f"no feature cache at {self.root} (index.json missing): build it with recipes/cache_features.py "
                "or set data.feature_cache='' to run the teacher online"
            )
        index = json.loads(index_path.read_text())
        if index.get("version") != CACHE_VERSION:
            raise FeatureCacheError(f"feature cache version {index.get('version')} != supported {CACHE_VERSION}")
        self.dim: int = index["dim"]
        self.frame_rate: float = index["frame_rate"]
        self.teacher: str = index.get("teacher", "")
        self.entries: dict[str, dict] = index["entries"]

    def __contains__(self, path: str) -> bool:
        return str(path) in self.entries

    def frames(self, path: str) -> int:
        return self._entry(path)["frames"]

    def _entry(self, path: str) -> dict:
        try:
            return self.entries[str(path)]
        except KeyError:
            raise FeatureCacheError(f"{path} is not in the feature cache {self.root}") from None

    def get(self, path: str, start: int = 0, length: int | None = None) -> torch.Tensor:
        """Features ``[length, D]`` (float32) of ``path`` from frame ``start``."""
        e = self._entry(path)
        stop = e["frames"] if length is None else start + length
        with safe_open(str(self.root / e["shard"]), framework="pt") as f:
            return f.get_slice(e["key"])[start:stop].float()


def build_feature_cache(
    entries: Sequence[ManifestEntry],
    encode: Callable[[torch.Tensor], torch.Tensor],
    out_dir: str | Path,
    dim: int,
    teacher_id: str,
    sample_rate: int = 16000,
    frame_rate: float = 25.0,
    shard_size: int = 256,
    dtype: torch.dtype = torch.float16,
    progress: bool = True,
) -> tuple[FeatureCache, list[tuple[str, str]]]:
    """Encode every manifest file with ``encode`` (``[1, N] -> [1, T, D]``) and store the features.

    Returns the cache and the files skipped (unreadable, too short, NaN / inf samples) with reasons.
    Raises :class:`FeatureCacheError` when the cache would be empty (every file skipped).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "index.json"
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        if index.get("teacher") != teacher_id or index.get("dim") != dim:
            raise FeatureCacheError(
                f"{out} holds features of another teacher ({index.get('teacher')!r}, dim {index.get('dim')}); "
                "use a new folder"
            )
    else:
        index = {
            "version": CACHE_VERSION,
            "dim": dim,
            "frame_rate": frame_rate,
            "dtype": str(dtype).split(".")[-1],
            "teacher": teacher_id,
            "entries": {},
        }
    todo = [e for e in entries if e.path not in index["entries"]]
    shard_id = len({v["shard"] for v in index["entries"].values()})
    pending: dict[str, torch.Tensor] = {}
    pending_meta: dict[str, dict] = {}
    skipped: list[tuple[str, str]] = []

    def flush() -> None:
        nonlocal shard_id, pending, pending_meta
        if not pending:
            return
        name = f"shard_{shard_id:05d}.safetensors"
        with atomic_path(out / name) as tmp:
            save_file(pending, str(tmp))
        for path, meta in pending_meta.items():
            index["entries"][path] = {**meta, "shard": name}
        atomic_write_text(index_path, json.dumps(index))
        shard_id += 1
        pending, pending_meta = {}, {}

    with torch.inference_mode():
        for e in tqdm(todo, desc="caching teacher features", unit="file", disable=not progress):
            try:
                audio = load_audio(e.path, sample_rate)
                feats = encode(audio[None])[0]
            except (AudioReadError, ValueError) as err:
                skipped.append((e.path, str(err)))
                continue
            if not bool(torch.isfinite(feats).all()):
                skipped.append((e.path, "the teacher's features are not finite"))
                continue
            key = f"f{len(index['entries']) + len(pending)}"
            pending[key] = feats.to(dtype).contiguous().cpu()
            pending_meta[e.path] = {"key": key, "frames": int(feats.shape[0])}
            if len(pending) >= shard_size:
                flush()
        flush()
    if not index["entries"]:
        first = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise FeatureCacheError(f"no features cached in {out}: all {len(entries)} files were skipped{first}")
    return FeatureCache(out), skipped
