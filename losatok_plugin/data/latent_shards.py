"""Latent shards: a manifest pre-encoded once with a LoSATok model, for DiT training.

Layout of a shard folder::

    shard-00000000.safetensors   # one per (rank, chunk), named by the first manifest index it covers
    shard-00000064.safetensors
    stats.json                   # per-channel mean/std of mu over all frames, written by merge_stats
    skipped.tsv                  # files reported and left out (unreadable, silent, too short)

A shard holds ``mu/<i>`` and ``logvar/<i>`` ``[C, T]`` float32 per encoded clip ``i`` (its manifest
line), ``stats/sum``, ``stats/sumsq`` ``[C]`` float64 and ``stats/frames`` ``[1]`` over its clips'
frames, and string metadata: ``format``, ``version``, ``model_id``, ``latent_channels``,
``frame_rate``, ``covered`` (JSON list of every manifest index it answers for, skipped ones too),
``entries`` (JSON list of the manifest fields of the encoded clips) and ``skipped`` (JSON list of
``[index, path, reason]``).

Data-parallel: rank ``r`` of ``world_size`` encodes manifest lines ``i`` with ``i % world_size == r``,
so ranks write disjoint shards that together cover the manifest. Resumable: a shard is written to a
temporary file and renamed; a rerun skips every index an existing shard covers. The statistics are
sums, so merging them over shards equals one pass over all frames.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..fileio import atomic_path, atomic_write_text
from .audio_io import AudioReadError, load_audio
from .manifest import ManifestEntry, read_manifest

FORMAT = "losatok-latent-shard"
VERSION = 1
STATS_FILE = "stats.json"


class LatentShardError(ValueError):
    """A shard folder is incomplete, of another model or of an unknown version."""


@dataclass
class EncodeReport:
    """What one rank did: clips encoded now, clips already covered by earlier shards, files skipped."""

    encoded: int = 0
    resumed: int = 0
    skipped: list[tuple[int, str, str]] = field(default_factory=list)
    shards: list[Path] = field(default_factory=list)


@dataclass
class LatentStats:
    """Per-channel statistics of ``mu`` over every frame of every clip: ``mean``/``std`` ``[C]``."""

    mean: torch.Tensor
    std: torch.Tensor
    frames: int
    clips: int
    silence: torch.Tensor | None = None  # [C] normalised latent of digital silence (padding value)

    def to_json(self) -> dict[str, Any]:
        d = {"mean": self.mean.tolist(), "std": self.std.tolist(), "frames": self.frames, "clips": self.clips}
        if self.silence is not None:
            d["silence"] = self.silence.tolist()
        return d

    @classmethod
    def load(cls, folder: str | Path) -> LatentStats:
        path = Path(folder) / STATS_FILE
        if not path.is_file():
            raise LatentShardError(
                f"no {STATS_FILE} in {folder}: run merge_stats (recipes/dit/encode_latents.py) first"
            )
        d = json.loads(path.read_text())
        silence = torch.tensor(d["silence"]) if "silence" in d else None
        return cls(torch.tensor(d["mean"]), torch.tensor(d["std"]), int(d["frames"]), int(d["clips"]), silence)


def rank_from_env() -> tuple[int, int]:
    """``(rank, world_size)`` as set by ``torchrun`` / ``accelerate launch`` (``(0, 1)`` otherwise)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _shard_meta(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors raises several types on corrupt files
        raise LatentShardError(f"unreadable shard {path}: {e}") from None
    if meta.get("format") != FORMAT:
        raise LatentShardError(f"{path} is not a latent shard")
    if int(meta.get("version", -1)) != VERSION:
        raise LatentShardError(f"{path}: shard version {meta.get('version')} is not supported (expected {VERSION})")
    return meta


def shard_files(folder: str | Path) -> list[Path]:
    return sorted(Path(folder).glob("shard-*.safetensors"))


def covered_indices(folder: str | Path, model_id: str | None = None) -> set[int]:
    """Manifest indices already answered for by complete shards in ``folder``."""
    done: set[int] = set()
    for p in shard_files(folder):
        meta = _shard_meta(p)
        if model_id is not None and meta["model_id"] != model_id:
            raise LatentShardError(
                f"{p} was encoded with model {meta['model_id']!r}, not {model_id!r}: use another output folder"
            )
        done.update(json.loads(meta["covered"]))
    return done


def _check_clip(x: torch.Tensor, min_samples: int, silence_peak: float) -> str | None:
    if x.numel() < min_samples:
        return f"too short: {x.numel()} samples < {min_samples}"
    if not bool(torch.isfinite(x).all()):
        return "contains NaN or inf"
    peak = float(x.abs().max())
    if peak < silence_peak:
        return f"silent: peak {peak:.2e} < {silence_peak:.2e}"
    return None


def _batches(items: list[tuple[int, ManifestEntry]], size: int) -> Iterator[list[tuple[int, ManifestEntry]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def encode_manifest(
    vae,
    manifest: str | Path | list[ManifestEntry],
    out: str | Path,
    rank: int | None = None,
    world_size: int | None = None,
    model_id: str = "",
    shard_size: int = 64,
    batch_size: int = 8,
    min_seconds: float = 0.2,
    silence_db: float = -60.0,
    progress: bool = True,
) -> EncodeReport:
    """Encode this rank's part of ``manifest`` into shards in ``out`` (resumable).

    Args:
        vae: a ``LoSATokVAE`` without latent normalisation (raw ``mu``/``logvar`` are stored).
        manifest: manifest path or entries; every field of an entry (text, phonemes, labels...) is kept.
        out: shard folder (created).
        rank, world_size: this process's share; default from ``RANK``/``WORLD_SIZE`` (torchrun, accelerate).
        model_id: name of the model, recorded and checked on resume (shards of another model are refused).
        shard_size: clips per shard file (the unit of resumption).
        batch_size: clips encoded together (zero-padded, with lengths: padding never changes a clip's latents).
        min_seconds: shorter files are skipped as too short.
        silence_db: files whose peak is below this level (dBFS) are skipped as silent.

    Returns:
        :class:`EncodeReport`; skipped files are also printed.
    """
    from tqdm import tqdm

    if vae.normalizes_latents:
        raise LatentShardError("encode shards with the raw VAE (no latent_norm_mean/std): statistics come from them")
    env_rank, env_world = rank_from_env()
    rank = env_rank if rank is None else rank
    world_size = env_world if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    entries = read_manifest(manifest) if isinstance(manifest, (str, Path)) else list(manifest)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = covered_indices(out, model_id)
    mine = [(i, e) for i, e in enumerate(entries) if i % world_size == rank]
    todo = [(i, e) for i, e in mine if i not in done]
    report = EncodeReport(resumed=len(mine) - len(todo))
    sr = vae.sampling_rate
    min_samples = max(vae.min_samples, int(min_seconds * sr))
    silence_peak = 10 ** (silence_db / 20)
    bar = tqdm(total=len(mine), initial=report.resumed, desc=f"encode rank {rank}", unit="clip", disable=not progress)
    for chunk in _batches(todo, shard_size):
        tensors: dict[str, torch.Tensor] = {}
        kept, skipped = [], []
        csum = torch.zeros(vae.latent_dim, dtype=torch.float64)
        csq = torch.zeros(vae.latent_dim, dtype=torch.float64)
        frames = 0
        for group in _batches(chunk, batch_size):
            clips, ok = [], []
            for i, e in group:
                try:
                    x = load_audio(e.path, sr)
                except AudioReadError as err:
                    skipped.append((i, e.path, str(err)))
                    continue
                reason = _check_clip(x, min_samples, silence_peak)
                if reason:
                    skipped.append((i, e.path, reason))
                    continue
                clips.append(x)
                ok.append((i, e))
            if not clips:
                continue
            lengths = torch.tensor([c.numel() for c in clips])
            batch = torch.zeros(len(clips), int(lengths.max()))
            for j, c in enumerate(clips):
                batch[j, : c.numel()] = c
            with torch.inference_mode():
                dist = vae.encode(batch.to(vae.device, vae.dtype), lengths=lengths).latent_dist
            for j, (i, e) in enumerate(ok):
                t = int(dist.lengths[j])
                mu = dist.mean[j, :, :t].float().cpu().contiguous()
                tensors[f"mu/{i}"] = mu
                tensors[f"logvar/{i}"] = dist.logvar[j, :, :t].float().cpu().contiguous()
                csum += mu.double().sum(dim=1)
                csq += mu.double().pow(2).sum(dim=1)
                frames += t
                kept.append({"index": i, **e.to_json(), "frames": t, "seconds": round(int(lengths[j]) / sr, 4)})
        tensors["stats/sum"], tensors["stats/sumsq"] = csum, csq
        tensors["stats/frames"] = torch.tensor([frames], dtype=torch.int64)
        meta = {
            "format": FORMAT,
            "version": str(VERSION),
            "model_id": model_id,
            "latent_channels": str(vae.latent_dim),
            "frame_rate": str(vae.frame_rate),
            "covered": json.dumps([i for i, _ in chunk]),
            "entries": json.dumps(kept, ensure_ascii=False),
            "skipped": json.dumps(skipped, ensure_ascii=False),
        }
        path = out / f"shard-{chunk[0][0]:08d}.safetensors"
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        report.encoded += len(kept)
        report.skipped += skipped
        report.shards.append(path)
        for _, p, why in skipped:
            bar.write(f"  skipped: {p}: {why}")
        bar.update(len(chunk))
    bar.close()
    return report


def merge_stats(folder: str | Path, vae=None, expected: int | None = None) -> LatentStats:
    """Sum every shard's statistics into ``stats.json`` (and ``skipped.tsv``); returns them.

    Args:
        folder: the shard folder.
        vae: when given, the latent of digital silence is stored too (normalised; the padding value).
        expected: manifest length; when given, every index must be covered (else an error names the gap).
    """
    files = shard_files(folder)
    if not files:
        raise LatentShardError(f"no shards in {folder}")
    csum = csq = None
    frames = clips = 0
    covered: set[int] = set()
    skipped: list[list] = []
    for p in files:
        meta = _shard_meta(p)
        covered.update(json.loads(meta["covered"]))
        skipped += json.loads(meta["skipped"])
        clips += len(json.loads(meta["entries"]))
        with safe_open(str(p), framework="pt") as f:
            s, q = f.get_tensor("stats/sum"), f.get_tensor("stats/sumsq")
            frames += int(f.get_tensor("stats/frames")[0])
        csum = s if csum is None else csum + s
        csq = q if csq is None else csq + q
    if expected is not None:
        missing = sorted(set(range(expected)) - covered)
        if missing:
            raise LatentShardError(
                f"{len(missing)} manifest lines are not encoded yet (first: {missing[:5]}); rerun the encode"
            )
    if frames == 0:
        raise LatentShardError(f"no usable clips in {folder} (all were skipped)")
    mean = csum / frames
    var = (csq / frames - mean.pow(2)).clamp(min=0)
    std = var.sqrt().clamp(min=1e-5)
    silence = None
    if vae is not None:
        with torch.inference_mode():
            z = vae.encode(torch.zeros(1, vae.sampling_rate, device=vae.device, dtype=vae.dtype)).latent_dist.mean
        silence = ((z[0].double().cpu().mean(dim=1) - mean) / std).float()
    stats = LatentStats(mean.float(), std.float(), frames, clips, silence)
    folder = Path(folder)
    atomic_write_text(folder / STATS_FILE, json.dumps(stats.to_json(), indent=1))
    atomic_write_text(folder / "skipped.tsv", "".join(f"{i}\t{p}\t{r}\n" for i, p, r in sorted(skipped)))
    return stats


@dataclass
class LatentClip:
    """One encoded clip: ``mu``/``logvar`` ``[C, T]`` and its manifest fields (``text``, ``label``...)."""

    mu: torch.Tensor
    logvar: torch.Tensor
    meta: dict[str, Any]


def load_shards(folder: str | Path, domain: str | None = None, keep=None) -> list[LatentClip]:
    """Every clip of a shard folder (optionally of one ``domain`` and passing ``keep(meta)``), in manifest order."""
    clips = []
    for p in shard_files(folder):
        meta = _shard_meta(p)
        with safe_open(str(p), framework="pt") as f:
            for m in json.loads(meta["entries"]):
                if domain is not None and m.get("domain") != domain:
                    continue
                if keep is not None and not keep(m):
                    continue
                i = m["index"]
                clips.append(LatentClip(f.get_tensor(f"mu/{i}"), f.get_tensor(f"logvar/{i}"), m))
    clips.sort(key=lambda c: c.meta["index"])
    if not clips:
        raise LatentShardError(f"no clips{' of domain ' + domain if domain else ''} in {folder}")
    return clips


__all__ = [
    "EncodeReport",
    "LatentClip",
    "LatentShardError",
    "LatentStats",
    "covered_indices",
    "encode_manifest",
    "load_shards",
    "merge_stats",
    "rank_from_env",
]
