"""Manifest-level evaluations as library calls: linear probes, effective rank, Fréchet distance.

Each ``run_*`` function reads manifests, extracts a representation with a model (or a registry teacher),
computes, writes its JSON (+ PNG) into ``out_dir`` atomically and returns a report object with
``to_json()``, ``table()`` (the text the CLI prints), ``missing`` (unreadable files, ``(path, reason)``) and
``exit_code`` (1 when some input was missing). ``losatok eval probe|rank|fd`` and the recipes are argument
parsing plus one of these calls. Reconstruction metrics are :func:`losatok_plugin.eval.recon.evaluate_reconstruction`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.manifest import ManifestEntry, read_manifest
from ..fileio import atomic_write_text
from .representations import check_representation, extract


def read_manifests(paths: Sequence[str | Path]) -> list[ManifestEntry]:
    """Entries of several manifests, in order."""
    out: list[ManifestEntry] = []
    for p in paths:
        out += read_manifest(p)
    return out


@dataclass
class _Report:
    missing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when some input could not be read (the rest was evaluated), else 0."""
        return 1 if self.missing else 0


# -- linear probes --------------------------------------------------------------------------------------
@dataclass
class ProbeReport(_Report):
    """One :class:`~losatok_plugin.eval.probe.ProbeResult` dict per (task, representation, level)."""

    results: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.results, indent=2)

    def table(self) -> str:
        lines = [
            f"{'task':<20} {'representation':<18} {'level':<6} {'accuracy':>9} {'chance':>7} {'train':>6} {'test':>5}"
        ]
        for r in self.results:
            lines.append(
                f"{r['task']:<20} {r['representation']:<18} {r['level']:<6} {r['accuracy']:>9.3f} "
                f"{r['chance']:>7.3f} {r['n_train']:>6} {r['n_test']:>5}"
            )
        return "\n".join(lines)


def probe_features(
    features: Sequence[torch.Tensor],
    entries: Sequence[ManifestEntry],
    task: str,
    representation: str,
    seeds: Sequence[int] = (0,),
    train_fraction: float = 1.0,
) -> list[dict[str, Any]]:
    """Every probe a labelled task supports, per seed, on precomputed ``features`` (each ``[T, D]``, one per entry).

    Frame level where every entry has ``frame_labels``; bag level where every entry has ``bag``; clip level on
    the entries with a ``label``. Returns :class:`~losatok_plugin.eval.probe.ProbeResult` dicts.
    """
    from .probe import bag_probe, clip_probe, frame_probe

    splits = [e.extra.get("split") for e in entries]
    kw = {"train_fraction": train_fraction}
    out: list[dict[str, Any]] = []
    for seed in seeds:
        if entries and all("frame_labels" in e.extra for e in entries):
            frame_labels = [list(map(str, e.extra["frame_labels"])) for e in entries]
            out.append(
                frame_probe(list(features), frame_labels, splits, task, representation, seed=seed, **kw).to_dict()
            )
        if entries and all("bag" in e.extra for e in entries):
            bags = [list(map(str, e.extra["bag"])) for e in entries]
            out.append(bag_probe(list(features), bags, splits, task, representation, seed=seed, **kw).to_dict())
        labelled = [(f, e.label, s) for f, e, s in zip(features, entries, splits) if e.label is not None]
        if labelled:
            f, y, s = map(list, zip(*labelled))
            out.append(clip_probe(f, y, s, task, representation, seed=seed, **kw).to_dict())
    return out


def run_probes(
    model,
    manifests: Sequence[str | Path],
    representations: Sequence[str],
    out_dir: str | Path,
    seed: int = 0,
    progress: bool = True,
    seeds: Sequence[int] | None = None,
    train_fraction: float = 1.0,
) -> ProbeReport:
    """Linear probes of each representation on each labelled manifest (one manifest = one task).

    Clip-level probes on entries with a ``label``; frame-level ones where every entry has ``frame_labels``;
    bag-level ones where every entry has ``bag`` (see :func:`probe_features`). ``seeds`` (default ``[seed]``):
    one probe per seed, each on a random ``train_fraction`` of the training clips. Writes ``probe.json``
    (one row per seed), ``probe_summary.json`` (mean ± std over seeds) and ``probe_accuracy.png`` into
    ``out_dir``.
    """
    from .plots import plot_probe_bars
    from .probe import summarize

    for rep in representations:
        check_representation(rep)
    report = ProbeReport()
    for manifest in manifests:
        entries = read_manifest(manifest)
        task = Path(manifest).stem
        for rep in representations:
            feats, kept, skipped = extract(model, entries, rep, progress=progress)
            report.missing += skipped
            kept_entries = [entries[i] for i in kept]
            report.results += probe_features(
                feats, kept_entries, task, rep, [seed] if seeds is None else seeds, train_fraction
            )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "probe.json", report.to_json())
    atomic_write_text(out / "probe_summary.json", json.dumps(summarize(report.results), indent=2))
    plot_probe_bars(report.results, out / "probe_accuracy.png")
    return report


# -- effective rank / PCA ---------------------------------------------------------------------------------
@dataclass
class RankReport(_Report):
    """Per representation: width, frames, effective rank and the PCs for 90 / 99 % of the variance."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)  # cumulative explained variance per PC

    def to_json(self) -> str:
        return json.dumps({"rows": self.rows, "curves": self.curves})

    def table(self) -> str:
        lines = [f"{'representation':<18} {'dim':>5} {'frames':>7} {'eff. rank':>9} {'PCs 90%':>8} {'PCs 99%':>8}"]
        for r in self.rows:
            lines.append(
                f"{r['representation']:<18} {r['dim']:>5} {r['frames']:>7} {r['effective_rank']:>9.1f} "
                f"{r['pcs_90']:>8} {r['pcs_99']:>8}"
            )
        return "\n".join(lines)


def rank_row(x: torch.Tensor, name: str) -> tuple[dict[str, Any], torch.Tensor]:
    """Redundancy of the frames ``x [n, D]``: the row ``run_rank`` reports and the cumulative PCA curve ``[D']``."""
    from .analysis import components_for, effective_rank, explained_variance

    curve = explained_variance(x)
    row = {
        "representation": name,
        "dim": x.shape[1],
        "frames": x.shape[0],
        "effective_rank": effective_rank(x),
        "pcs_90": components_for(curve, 0.90),
        "pcs_99": components_for(curve, 0.99),
    }
    return row, curve


def run_rank(
    model,
    entries: Sequence[ManifestEntry],
    representations: Sequence[str],
    out_dir: str | Path,
    progress: bool = True,
) -> RankReport:
    """Effective rank and PCA curves of each representation over all frames of ``entries``.

    Writes ``rank.json`` and ``pca_curve.png`` into ``out_dir``.
    """
    from .plots import plot_pca_curves

    for rep in representations:
        check_representation(rep)
    report = RankReport()
    curves = {}
    for rep in representations:
        feats, _, skipped = extract(model, entries, rep, progress=progress)
        report.missing += skipped
        row, curves[rep] = rank_row(torch.cat(feats), rep)
        report.rows.append(row)
    report.curves = {k: v.tolist() for k, v in curves.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "rank.json", report.to_json())
    plot_pca_curves(curves, out / "pca_curve.png")
    return report


# -- Fréchet distance -----------------------------------------------------------------------------------
@dataclass
class FDReport(_Report):
    """Fréchet distance between the frame embeddings of two sets of audio."""

    representation: str = ""
    frechet_distance: float = float("nan")
    ref_clips: int = 0
    gen_clips: int = 0

    def to_json(self) -> str:
        keys = ("representation", "frechet_distance", "ref_clips", "gen_clips")
        return json.dumps({k: getattr(self, k) for k in keys}, indent=2)

    def table(self) -> str:
        return (
            f"Fréchet distance ({self.representation}): {self.frechet_distance:.4f}  "
            f"[{self.ref_clips} reference clips, {self.gen_clips} generated clips]"
        )


def _teacher_features(teacher, entries: Sequence[ManifestEntry], device: str | torch.device):
    from ..data.audio_io import AudioReadError, load_audio

    feats, missing = [], []
    for e in entries:
        try:
            with torch.inference_mode():
                feats.append(teacher(load_audio(e.path)[None].to(device))[0].float().cpu())
        except (AudioReadError, ValueError) as err:
            missing.append((e.path, str(err)))
    return feats, missing


def run_fd(
    ref: Sequence[ManifestEntry],
    gen: Sequence[ManifestEntry],
    out_dir: str | Path,
    model=None,
    representation: str = "semantic_emb",
    teacher: torch.nn.Module | None = None,
    teacher_name: str | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> FDReport:
    """Fréchet distance between ``ref`` and ``gen`` in a model representation or a registry teacher's embedding.

    Give ``model`` + ``representation``, or ``teacher`` (any ``[B, N] -> [B, T, D]`` module, on ``device``)
    with its registry ``teacher_name``. Writes ``fd.json`` into ``out_dir``.
    """
    from .analysis import frechet_distance

    report = FDReport()
    if teacher is not None:
        a, miss_a = _teacher_features(teacher, ref, device)
        b, miss_b = _teacher_features(teacher, gen, device)
        report.representation = f"{teacher_name or 'registry'} teacher"
    elif model is not None:
        check_representation(representation)
        a, _, miss_a = extract(model, ref, representation, progress=progress)
        b, _, miss_b = extract(model, gen, representation, progress=progress)
        report.representation = representation
    else:
        raise ValueError("give a model or a teacher")
    report.missing = miss_a + miss_b
    report.frechet_distance = frechet_distance(torch.cat(a), torch.cat(b))
    report.ref_clips, report.gen_clips = len(a), len(b)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "fd.json", report.to_json())
    return report
