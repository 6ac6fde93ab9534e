"""Reconstruction evaluation over a manifest: per-file CSV, per-domain summary JSON, mel PNGs.

Metrics: ``mel`` (multi-scale mel L1), ``stft`` (multi-resolution STFT distance), ``si_sdr``; for
speech also ``pesq_wb`` and ``stoi``. A metric that is undefined or degenerate for a clip is left empty
with its reason in ``skipped``: every metric for a silent reference, ``stft`` and ``si_sdr`` for a silent
output, PESQ with no speech found, STOI on too short a clip. Summaries give the mean and the median of
the defined values only, so they never hold NaN and one odd clip cannot dominate them. Missing or
unreadable files are reported and the evaluation goes on. ``--recon-dir`` finds the files that
``losatok reconstruct`` wrote (:func:`find_reconstruction`).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.audio_io import AudioReadError, load_audio
from ..data.manifest import ManifestEntry
from ..fileio import atomic_path, atomic_write_text
from .metrics import align_lengths, mel_distance, pesq_wb, si_sdr, stft_distance, stoi

METRICS = ("mel", "stft", "si_sdr", "pesq_wb", "stoi")
SILENCE_POWER = 1e-10  # mean power below which a clip counts as silent (-100 dBFS)
SPEECH_METRICS = ("pesq_wb", "stoi")


@dataclass
class ReconReport:
    """Per-file metric rows, the per-domain summary (mean / median of defined values) and unreadable files."""

    rows: list[dict] = field(default_factory=list)
    summary: dict[str, dict] = field(default_factory=dict)
    missing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when some input could not be read (the rest was evaluated), else 0."""
        return 1 if self.missing else 0

    def to_json(self) -> str:
        """``summary.json``: the summary and the missing files (no NaN: undefined metrics are left out)."""
        return json.dumps({"summary": self.summary, "missing": self.missing}, indent=2, allow_nan=False)

    def table(self) -> str:
        """Mean and median per domain, one column per metric ('-' where no clip defines it)."""
        lines = []
        for stat, suffix in (("mean", ""), ("median", "_median")):
            lines.append(f"{'domain':<10} {'clips':>5} {stat:>6} " + " ".join(f"{m:>9}" for m in METRICS))
            for domain, s in self.summary.items():
                cells = " ".join(f"{s[m + suffix]:>9.4f}" if m + suffix in s else f"{'-':>9}" for m in METRICS)
                lines.append(f"{domain:<10} {s['clips']:>5} {stat:>6} {cells}")
        lines.append(
            "metrics undefined for a clip (silent reference or output, ...) are left out: see 'skipped' in the CSV"
        )
        return "\n".join(lines)


def clip_metrics(ref: torch.Tensor, est: torch.Tensor, domain: str | None, sample_rate: int = 16000) -> dict:
    """All metrics for one aligned pair ``[N]``; undefined ones are None with a reason under ``skipped``."""
    ref, est = align_lengths(ref, est)
    out: dict = {k: None for k in METRICS}
    skipped: dict[str, str] = {}
    if ref.pow(2).mean() < SILENCE_POWER:
        # Every metric is relative to the reference: with nothing there they measure only the estimate
        # (the STFT distance of a silent clip is ~1e4 and would dominate any average).
        out["skipped"] = {k: "silent reference" for k in METRICS}
        return out
    silent_output = bool(est.pow(2).mean() < SILENCE_POWER)
    out["mel"] = float(mel_distance(ref[None], est[None], sample_rate)[0])
    if silent_output:  # log-magnitude of nothing: the eps floor, not a distance
        skipped["stft"] = skipped["si_sdr"] = "silent output"
    else:
        out["stft"] = float(stft_distance(ref[None], est[None])[0])
        out["si_sdr"] = float(si_sdr(ref[None], est[None])[0])
    if domain == "speech":
        for name, fn in (("pesq_wb", pesq_wb), ("stoi", stoi)):
            try:
                value = fn(ref, est, sample_rate)
            except Exception as e:  # noqa: BLE001 - pesq raises its own error types (no utterance, ...)
                skipped[name] = f"{type(e).__name__}: {e}".strip()[:200]
                continue
            if math.isfinite(value):
                out[name] = value
            else:
                skipped[name] = "not finite"
    else:
        for name in SPEECH_METRICS:
            skipped[name] = "speech only"
    for k, v in list(out.items()):
        if isinstance(v, float) and not math.isfinite(v):
            out[k], skipped[k] = None, "not finite"
    out["skipped"] = skipped
    return out


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per domain (and ``all``): mean and median of each defined metric and how many clips it covers."""
    groups: dict[str, list[dict]] = {"all": rows}
    for r in rows:
        groups.setdefault(r.get("domain") or "unknown", []).append(r)
    summary = {}
    for name, group in groups.items():
        entry = {"clips": len(group)}
        for m in METRICS:
            values = [r[m] for r in group if r.get(m) is not None]
            if values:
                entry[m] = sum(values) / len(values)
                entry[f"{m}_median"] = float(statistics.median(values))
                entry[f"{m}_n"] = len(values)
        summary[name] = entry
    return summary


def find_reconstruction(recon_dir: str | Path, reference: str | Path) -> Path:
    """The file in ``recon_dir`` that ``losatok reconstruct`` wrote for ``reference``.

    ``reconstruct`` mirrors paths relative to the folder it was given and writes ``<stem>.wav``
    (``<name>.wav`` when stems collide), so ``clips/sub/x.flac`` is looked up as ``sub/x.flac.wav``,
    ``sub/x.wav``, ``sub/x.flac``, then ``x.flac.wav``, ``x.wav``, ``x.flac`` (longest path first).
    Raises :class:`AudioReadError` naming what was looked for.
    """
    root, ref = Path(recon_dir), Path(reference)
    parts = ref.parts[1:] if ref.is_absolute() else ref.parts
    tried = []
    for k in range(len(parts), 0, -1):
        folder = Path(*parts[-k:-1]) if k > 1 else Path()
        for name in (ref.name + ".wav", ref.stem + ".wav", ref.name):
            candidate = root / folder / name
            if candidate.is_file():
                return candidate
            tried.append(str(folder / name))
    looked = ", ".join(dict.fromkeys(tried[:6]))
    raise AudioReadError(f"no reconstruction of {reference} in {root} (looked for {looked})")


def evaluate_reconstruction(
    entries: Sequence[ManifestEntry],
    out_dir: str | Path,
    model=None,
    recon_dir: str | Path | None = None,
    plots: int = 3,
    progress: bool = True,
    codec: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_seconds: float | None = None,
    on_clip: Callable[[ManifestEntry, torch.Tensor, torch.Tensor], None] | None = None,
) -> ReconReport:
    """Reconstruct each file and score it.

    The reconstruction comes from ``model`` (a LoSATokVAE), from ``codec`` (any callable ``[N] -> [N']``
    at 16 kHz, e.g. :class:`~losatok_plugin.eval.baseline.GriffinLimMel`) or from ``recon_dir/<file name>``.
    ``max_seconds`` scores only the first seconds of longer files (a 4-minute game track costs as much as
    a hundred short clips); ``on_clip(entry, reference [N], reconstruction [M])`` sees every scored pair
    on the CPU as read and as produced (before the metrics crop both to the shorter), e.g. to run
    further measures on the same audio without decoding it twice.
    """
    from .plots import plot_mel_comparison

    if model is None and recon_dir is None and codec is None:
        raise ValueError("give a model, a codec or a folder of reconstructions")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ReconReport()
    sr = model.sampling_rate if model is not None else 16000
    for e in tqdm(entries, desc="reconstruction metrics", unit="file", disable=not progress):
        try:
            ref = load_audio(e.path, sr)
            if max_seconds is not None:
                ref = ref[: int(max_seconds * sr)]
            if recon_dir is not None:
                est = load_audio(find_reconstruction(recon_dir, e.path), sr)
                if max_seconds is not None:
                    est = est[: int(max_seconds * sr)]
            elif codec is not None:
                with torch.inference_mode():
                    est = codec(ref).float().cpu()
            else:
                with torch.inference_mode():
                    est = model(ref[None, None].to(model.device)).sample[0, 0].float().cpu()
        except (AudioReadError, ValueError) as err:
            report.missing.append((e.path, str(err)))
            continue
        if abs(ref.shape[-1] - est.shape[-1]) > 640:
            warnings.warn(
                f"{e.path}: reference {ref.shape[-1]} vs reconstruction {est.shape[-1]} samples; aligned "
                "to the shorter",
                UserWarning,
                stacklevel=2,
            )
        if on_clip is not None:
            on_clip(e, ref, est)
        ref, est = align_lengths(ref, est, warn=False)
        row = {"path": e.path, "domain": e.domain, "seconds": round(ref.shape[-1] / sr, 3)}
        row.update(clip_metrics(ref, est, e.domain, sr))
        report.rows.append(row)
        if len(report.rows) <= plots:
            plot_mel_comparison(
                ref, est, out / "mel" / f"{len(report.rows):03d}_{Path(e.path).stem}.png", title=Path(e.path).name
            )
    report.summary = summarise(report.rows)
    with atomic_path(out / "per_file.csv") as tmp, tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "domain", "seconds", *METRICS, "skipped"])
        for r in report.rows:
            skipped = "; ".join(f"{k}: {v}" for k, v in r["skipped"].items())
            w.writerow(
                [
                    r["path"],
                    r["domain"] or "",
                    r["seconds"],
                    *["" if r[m] is None else f"{r[m]:.6g}" for m in METRICS],
                    skipped,
                ]
            )
    atomic_write_text(out / "summary.json", report.to_json())
    return report
