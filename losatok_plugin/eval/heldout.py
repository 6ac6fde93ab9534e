"""Held-out evaluation of a tokenizer beside the Griffin-Lim 128-mel baseline, per set and domain.

For each held-out set (a manifest; ``kind`` "real" or "synthetic") :func:`evaluate_heldout` takes a
seeded selection of at most ``per_domain`` clips per domain, spread over the sources and, within a
source, over its tracks / speakers (:func:`stratified_sample`), and scores LoSATok and the baseline on
them with :func:`~losatok_plugin.eval.recon.evaluate_reconstruction` (mel, MR-STFT, SI-SDR; PESQ-WB and
STOI on speech). On speech it adds two measures without a reference signal, for the originals too:
DNSMOS (OVRL / SIG / BAK) over the selected speech clips, and the corpus WER of pocketsphinx on up to
``wer_clips`` English clips whose transcripts are plain words (:func:`english_transcribed`). Every part
records its wall clock and CPU time, so the cost of a run can be sized on another machine. The goals of
issue 14 are checked by :mod:`losatok_plugin.eval.goals`.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.manifest import ManifestEntry, read_manifest
from ..fileio import atomic_write_text
from . import speech_quality
from .goals import GoalCheck, check_goals, goals_markdown
from .recon import METRICS, evaluate_reconstruction
from .speech_quality import (
    DNSMOS_KEYS,
    dnsmos_by_system,
    dnsmos_gap_ci,
    dnsmos_per_clip,
    plain_words,
    summarise_dnsmos,
    wer_by_system,
)

log = logging.getLogger(__name__)

SYSTEMS = ("losatok", "griffin_lim")
LOWER_IS_BETTER = {"mel", "stft"}
METRIC_NAMES = {
    "mel": "mel dist ↓",
    "stft": "MR-STFT ↓",
    "si_sdr": "SI-SDR dB ↑",
    "pesq_wb": "PESQ-WB ↑",
    "stoi": "STOI ↑",
}
SPREAD_KEYS = ("track", "speaker", "lang", "label")  # within a source, prefer clips that differ in these


@dataclass
class HeldoutSet:
    """One held-out manifest: ``name`` (e.g. ``test_real``), ``path`` and ``kind`` (``real``/``synthetic``)."""

    name: str
    path: str | Path
    kind: str = "synthetic"

    @classmethod
    def from_path(cls, path: str | Path) -> HeldoutSet:
        """Named after the file's stem; ``real`` when the stem says so (``test_real.jsonl``)."""
        stem = Path(path).stem
        return cls(stem, path, "real" if "real" in stem else "synthetic")


def shared_wavs(manifest: str | Path) -> set[str]:
    """Wav paths of ``manifest`` that more than one row names, counting every ``*.jsonl`` manifest beside it.

    Such a wav holds only the clip written last (a corpus builder bug, fixed in ``recipes/data``): the other
    rows' transcripts do not match it, and a held-out row whose wav a training row also names is not held out.
    """
    counts: dict[str, int] = {}
    for other in sorted(Path(manifest).parent.glob("*.jsonl")):
        try:
            rows = read_manifest(other)
        except Exception:  # noqa: BLE001 - a file beside it that is not a manifest says nothing about this one
            continue
        for e in rows:
            counts[str(e.path)] = counts.get(str(e.path), 0) + 1
    own = {str(e.path) for e in read_manifest(manifest)}
    return {p for p, n in counts.items() if n > 1 and p in own}


def _spread_key(e: ManifestEntry) -> str:
    for k in SPREAD_KEYS:
        if e.extra.get(k) is not None:
            return str(e.extra[k])
    return ""


def _round_robin(queues: Sequence[list], limit: int | None = None) -> list:
    """One item from each queue in turn until all are empty (or ``limit`` items are taken)."""
    queues = [list(q) for q in queues]
    out: list = []
    while any(queues) and (limit is None or len(out) < limit):
        for q in queues:
            if q and (limit is None or len(out) < limit):
                out.append(q.pop(0))
    return out


def stratified_sample(entries: Sequence[ManifestEntry], per_domain: int, seed: int = 0) -> list[ManifestEntry]:
    """At most ``per_domain`` entries per domain, seeded, spread evenly over sources.

    Within a domain the sources take turns (so 12 real speech clips from three sources are 4 + 4 + 4);
    within a source the clips of different tracks / speakers / languages take turns, so a cap of 3 on a
    source with 6 tracks yields 3 different tracks. Output order: domains sorted, then selection order.
    """
    rng = random.Random(seed)
    by_domain: dict[str, list[ManifestEntry]] = defaultdict(list)
    for e in entries:
        by_domain[e.domain or "unknown"].append(e)
    out = []
    for domain in sorted(by_domain):
        by_source: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for e in by_domain[domain]:
            by_source[str(e.extra.get("source", ""))][_spread_key(e)].append(e)
        queues = []
        for source in sorted(by_source):
            groups = [by_source[source][k] for k in sorted(by_source[source])]
            for g in groups:
                rng.shuffle(g)
            rng.shuffle(groups)  # which speaker / track comes first
            queues.append(_round_robin(groups))
        out += _round_robin(queues, per_domain)
    return out


def english_transcribed(entries: Sequence[ManifestEntry], max_seconds: float = 8.0) -> list[ManifestEntry]:
    """Speech entries in English (``lang`` en, en-us...) whose ``text`` is plain words, at most ``max_seconds``.

    The recogniser is English-only; transcripts with digits or symbols are left out (see
    :func:`~losatok_plugin.eval.speech_quality.plain_words`), and so are long prompts, whose cost grows
    with their length while they add little to a corpus WER.
    """
    out = []
    for e in entries:
        lang = str(e.extra.get("lang") or e.label or "")
        text = e.extra.get("text")
        if e.domain != "speech" or not lang.lower().startswith("en") or not text or not plain_words(str(text)):
            continue
        if e.duration is not None and e.duration > max_seconds:
            continue
        out.append(e)
    return out


@dataclass
class Timing:
    """Wall clock and CPU seconds per named part (CPU time of this process: comparable across loads)."""

    parts: dict[str, dict[str, float]] = field(default_factory=dict)

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Time the block, adding to ``name``'s total."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            row = self.parts.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            row["wall_s"] = round(row["wall_s"] + time.perf_counter() - wall, 2)
            row["cpu_s"] = round(row["cpu_s"] + time.process_time() - cpu, 2)


class _Collector:
    """``on_clip`` callback of evaluate_reconstruction keeping each path's reference and estimate.

    The estimate is cut or zero-padded to the reference's length: a codec that drops the last partial
    frame is heard that way, while the original keeps its whole length (a weak recogniser can change
    its transcript over the last 24 ms, so cropping the original would not be neutral).
    """

    def __init__(self) -> None:
        self.ref: dict[str, np.ndarray] = {}
        self.est: dict[str, np.ndarray] = {}

    def __call__(self, e: ManifestEntry, ref: torch.Tensor, est: torch.Tensor) -> None:
        n = ref.shape[-1]
        self.ref[e.path] = ref.numpy()
        self.est[e.path] = torch.nn.functional.pad(est[:n], (0, max(0, n - est.shape[-1]))).numpy()


def _reconstruct_both(entries, out: Path, model, baseline, timing: Timing, tag: str, max_seconds, plots, progress):
    """Both systems' reconstruction reports and the audio they produced, ``{system: (report, collector)}``."""
    res = {}
    for system in SYSTEMS:
        col = _Collector()
        with timing.part(f"{tag}: {system} reconstruction + metrics"):
            report = evaluate_reconstruction(
                entries,
                out / system,
                model=model if system == "losatok" else None,
                codec=baseline if system == "griffin_lim" else None,
                plots=plots if system == "losatok" else 0,
                progress=progress,
                max_seconds=max_seconds,
                on_clip=col,
            )
        res[system] = (report, col)
    return res


def evaluate_set(
    heldout: HeldoutSet,
    model,
    baseline: Callable[[torch.Tensor], torch.Tensor],
    out_dir: str | Path,
    per_domain: int = 12,
    wer_clips: int = 100,
    seed: int = 0,
    max_seconds: float | None = 10.0,
    plots: int = 3,
    progress: bool = True,
    timing: Timing | None = None,
    transcriber: Callable[[np.ndarray], str] | None = None,
    scorer: Callable[[np.ndarray], dict[str, float]] | None = None,
) -> dict:
    """Evaluate one held-out set; returns its entry of ``results.json`` (layout in :mod:`.goals`).

    Args:
        heldout: the manifest and its kind.
        model: a LoSATokVAE (its ``forward`` reconstructs ``[B, 1, N]``).
        baseline: ``[N] -> [N]`` at 16 kHz, e.g. :class:`~losatok_plugin.eval.baseline.GriffinLimMel`.
        out_dir: per-file CSVs, summaries and mel PNGs go to ``out_dir/<set>/<system>/``.
        per_domain: clips per domain (:func:`stratified_sample`); wer_clips: English clips for the WER
            (0: no WER); both seeded by ``seed``.
        max_seconds: score only the first seconds of longer clips (not for the WER clips: a transcript
            covers the whole clip). DNSMOS is scored twice: on the speech clips of ``per_domain``
            (``"dnsmos"``) and on the whole WER clips (``"wer_dnsmos"``, the larger sample the goal uses).
        transcriber, scorer: ``[N] -> text`` and ``[N] -> {"ovrl", "sig", "bak"}``; None: pocketsphinx
            (:func:`~.speech_quality.transcribe`) and DNSMOS (:func:`~.speech_quality.dnsmos`).
    """
    timing = timing if timing is not None else Timing()
    transcriber = transcriber or speech_quality.transcribe
    scorer = scorer or speech_quality.dnsmos
    out = Path(out_dir) / heldout.name
    entries = read_manifest(heldout.path)
    shared = shared_wavs(heldout.path)
    left_out = sum(str(e.path) in shared for e in entries)
    if left_out:
        entries = [e for e in entries if str(e.path) not in shared]
        log.warning(
            "%s: %d rows left out: their wav is also named by other rows of the manifests beside it (one clip "
            "overwrote another when the corpus was built; rebuild it with make corpus)",
            heldout.name,
            left_out,
        )
    chosen = stratified_sample(entries, per_domain, seed)
    res = _reconstruct_both(chosen, out, model, baseline, timing, heldout.name, max_seconds, plots, progress)
    result: dict = {"kind": heldout.kind, "manifest": str(heldout.path), "available": len(entries)}
    if left_out:
        result["left_out_shared_wavs"] = left_out  # rows
    for system, (report, _) in res.items():
        result[system] = report.summary
    result["missing"] = [m for system in SYSTEMS for m in res[system][0].missing]
    result["sources"] = _source_counts(chosen)
    speech = [e.path for e in chosen if e.domain == "speech" and all(e.path in res[s][1].est for s in SYSTEMS)]
    if speech:
        systems = {"original": [res["losatok"][1].ref[p] for p in speech]}
        systems.update({s: [res[s][1].est[p] for p in speech] for s in SYSTEMS})
        with timing.part(f"{heldout.name}: DNSMOS"):
            result["dnsmos"] = dnsmos_by_system(systems, scorer, progress)
    wer_entries = stratified_sample(english_transcribed(entries), wer_clips, seed) if wer_clips > 0 else []
    if wer_entries:
        res = _reconstruct_both(
            wer_entries, out / "wer", model, baseline, timing, f"{heldout.name} WER", None, 0, progress
        )
        kept = [e for e in wer_entries if all(e.path in res[s][1].est for s in SYSTEMS)]
        systems = {"original": [res["losatok"][1].ref[e.path] for e in kept]}
        systems.update({s: [res[s][1].est[e.path] for e in kept] for s in SYSTEMS})
        with timing.part(f"{heldout.name}: WER (pocketsphinx)"):
            wer = wer_by_system([str(e.extra["text"]) for e in kept], systems, transcriber, progress)
        with timing.part(f"{heldout.name}: DNSMOS on the WER clips"):
            mos = dnsmos_per_clip(systems, scorer, progress)
        result["wer_dnsmos"] = summarise_dnsmos(mos)
        # how far each gap to the originals could move with another draw of clips (eval/bootstrap.py)
        result["wer_dnsmos_gap_ci"] = {s: dnsmos_gap_ci(mos, s).to_dict() for s in SYSTEMS}
        result["wer"] = {k: v for k, v in wer.to_dict().items() if k != "hypotheses"}
        result["wer"]["gap_ci"] = {s: wer.gap_ci(s).to_dict() for s in SYSTEMS}
        result["wer"]["seconds"] = round(sum(len(x) for x in systems["original"]) / 16000, 1)
        result["wer_subset"] = {s: res[s][0].summary for s in SYSTEMS}
        rows = [
            {"path": e.path, "text": e.extra["text"], **{k: wer.hypotheses[k][i] for k in wer.hypotheses}}
            for i, e in enumerate(kept)
        ]
        atomic_write_text(out / "wer" / "transcripts.json", json.dumps(rows, indent=1, ensure_ascii=False))
    return result


def _source_counts(entries: Sequence[ManifestEntry]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for e in entries:
        d = out[e.domain or "unknown"]
        src = str(e.extra.get("source", "?"))
        d[src] = d.get(src, 0) + 1
    return dict(out)


@dataclass
class HeldoutReport:
    """All sets' results, the goal checklist, timing and the run's settings (``results.json``)."""

    sets: dict[str, dict] = field(default_factory=dict)
    goals: list[GoalCheck] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "sets": self.sets,
            "goals": [g.to_dict() for g in self.goals],
            "timing": self.timing.parts,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict) -> HeldoutReport:
        """Read back :meth:`to_dict` (the goals are re-checked from the numbers)."""
        extra = {k: v for k, v in d.items() if k not in ("settings", "sets", "goals", "timing")}
        return cls(d["sets"], check_goals(d["sets"]), Timing(d.get("timing", {})), d.get("settings", {}), extra)

    def markdown(self) -> str:
        """``results.md``: the goal checklist, the metric table, DNSMOS / WER with the originals, timing."""
        parts = [settings_line(self.settings, self.sets), "", "### Goals (issue 14)", "", goals_markdown(self.goals)]
        parts += ["", "### Reconstruction metrics", ""]
        parts += [metrics_table(self.sets), "", "### Speech measures without a reference", ""]
        parts += [speech_table(self.sets), ""]
        if self.extra.get("bundled_music"):
            parts += [
                "### Bundled music clips: bands above 20",
                "",
                bundled_music_table(self.extra["bundled_music"]),
                "",
            ]
        parts += ["### Wall clock per part", "", timing_table(self.timing), ""]
        return "\n".join(parts)


def settings_line(settings: dict, sets: dict) -> str:
    """What was measured: model, caps, seed, and the clips per domain and source of each set."""
    s = settings
    text = f"Model `{s.get('model', '?')}`; up to {s.get('per_domain', '?')} clips per domain and set "
    text += f"(seed {s.get('seed', '?')}, spread over sources and their tracks / speakers)"
    if s.get("max_seconds"):
        text += f", the first {s['max_seconds']:g} s of longer clips"
    if s.get("wer_clips"):
        kinds = " and ".join(s.get("wer_kinds", ["real"]))
        text += f"; WER on up to {s['wer_clips']} whole English clips with plain-word transcripts per {kinds} set"
    text += ". Clips per source: "
    text += "; ".join(
        f"{name} {domain}: " + ", ".join(f"{src} {n}" for src, n in srcs.items())
        for name, res in sets.items()
        for domain, srcs in sorted(res.get("sources", {}).items())
    )
    return text + "."


def metrics_table(sets: dict) -> str:
    """``| set | domain | clips | metric | LoSATok | Griffin-Lim 128-mel | better |`` over every set and domain."""
    lines = [
        "| set | domain | clips | metric | LoSATok | Griffin-Lim 128-mel | better |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name, res in sets.items():
        for domain, s in res["losatok"].items():
            if domain == "all":
                continue
            b = res["griffin_lim"].get(domain, {})
            for m in METRICS:
                if m not in s:
                    continue
                ours, base = s[m], b.get(m)
                win = "" if base is None else ("LoSATok" if (ours < base) == (m in LOWER_IS_BETTER) else "baseline")
                lines.append(
                    f"| {set_name} | {domain} | {s['clips']} | {METRIC_NAMES[m]} | {ours:.3f} | "
                    f"{'-' if base is None else f'{base:.3f}'} | {win} |"
                )
    return "\n".join(lines)


def speech_table(sets: dict) -> str:
    """DNSMOS (OVRL / SIG / BAK) and corpus WER of the originals, LoSATok and the baseline per set."""
    lines = ["| set | measure | clips | original | LoSATok | Griffin-Lim 128-mel |", "|---|---|---|---|---|---|"]
    for name, res in sets.items():
        for key, label in (("dnsmos", ""), ("wer_dnsmos", ", WER clips")):
            mos = res.get(key) or {}
            if not mos.get("original", {}).get("clips"):
                continue
            for k in DNSMOS_KEYS:
                cells = " | ".join(f"{mos[s][k]:.2f}" if k in mos.get(s, {}) else "-" for s in ("original", *SYSTEMS))
                lines.append(f"| {name} | DNSMOS {k.upper()} ↑{label} | {mos['original']['clips']} | {cells} |")
        wer = res.get("wer") or {}
        if wer.get("clips"):
            cells = " | ".join(f"{100 * wer['wer'][s]:.1f} %" for s in ("original", *SYSTEMS))
            lines.append(f"| {name} | English WER ↓ (pocketsphinx) | {wer['clips']} ({wer['words']} words) | {cells} |")
    return "\n".join(lines) if len(lines) > 2 else "(no speech evaluated)"


def bundled_music_table(rows: dict) -> str:
    """Per bundled music clip: log-mel distance above band 20 and upper-band energy change, both systems."""
    lines = [
        "| clip | PNG | upper-band log-mel L1 LoSATok ↓ | baseline ↓ | upper-band level LoSATok | baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | `{r['png']}` | {r['losatok']['upper_l1']:.3f} | {r['griffin_lim']['upper_l1']:.3f} | "
            f"{r['losatok']['upper_db']:+.1f} dB | {r['griffin_lim']['upper_db']:+.1f} dB |"
        )
    return "\n".join(lines)


def timing_table(timing: Timing) -> str:
    """One row per timed part and the total: wall clock and CPU seconds."""
    lines = ["| part | wall clock s | CPU s |", "|---|---|---|"]
    for name, t in timing.parts.items():
        lines.append(f"| {name} | {t['wall_s']:.1f} | {t['cpu_s']:.1f} |")
    wall = sum(t["wall_s"] for t in timing.parts.values())
    cpu = sum(t["cpu_s"] for t in timing.parts.values())
    lines.append(f"| **total** | {wall:.1f} | {cpu:.1f} |")
    return "\n".join(lines)


def upper_band_stats(ref: torch.Tensor, est: torch.Tensor, low_band: int = 20, sample_rate: int = 16000) -> dict:
    """How well ``est`` ``[N]`` keeps the mel bands from ``low_band`` up (of the plots' 80; band 20 ≈ 650 Hz).

    Returns ``upper_l1`` (mean absolute log10-mel difference over those bands, 0 = identical) and
    ``upper_db`` (their total magnitude in ``est`` relative to ``ref`` in dB: lost harmonics read as a
    strongly negative number, added buzz as a positive one).
    """
    from ..nn.mel import MelSpectrogram
    from .plots import PLOT_HOP, PLOT_MELS, PLOT_N_FFT

    mel = MelSpectrogram(sample_rate, PLOT_N_FFT, PLOT_HOP, PLOT_MELS, f_max=None, power=1.0)
    n = min(ref.shape[-1], est.shape[-1])
    a, b = (mel(x[..., :n].reshape(1, -1).float())[0, low_band:] for x in (ref, est))
    l1 = (torch.log10(a.clamp(min=1e-5)) - torch.log10(b.clamp(min=1e-5))).abs().mean()
    db = 20 * torch.log10(b.sum().clamp(min=1e-8) / a.sum().clamp(min=1e-8))
    return {"upper_l1": float(l1), "upper_db": float(db)}


def bundled_music(
    model,
    baseline: Callable[[torch.Tensor], torch.Tensor],
    clips: dict[str, torch.Tensor],
    out_dir: str | Path,
    low_band: int = 20,
) -> dict[str, dict]:
    """Original / LoSATok / baseline mel PNG per clip (``{name: [N] at 16 kHz}``) with band ``low_band``
    marked, and :func:`upper_band_stats` of both systems. PNGs go to ``out_dir/<name>.mel.png``."""
    from .plots import mel_band_hz, plot_mel_stack

    out = {}
    for name, ref in clips.items():
        with torch.inference_mode():
            ours = model(ref[None, None].to(model.device)).sample[0, 0].float().cpu()[: ref.shape[-1]]
            base = baseline(ref).float().cpu()
        title = f"{name}: original / LoSATok / Griffin-Lim 128-mel (dashed: band {low_band} ≈ {mel_band_hz(low_band):.0f} Hz)"
        png = plot_mel_stack(
            {"original": ref, "LoSATok": ours, "Griffin-Lim": base},
            Path(out_dir) / f"{name}.mel.png",
            title=title,
            mark_bands=(low_band,),
        )
        out[name] = {
            "png": png.name,
            "losatok": upper_band_stats(ref, ours, low_band),
            "griffin_lim": upper_band_stats(ref, base, low_band),
        }
    return out


def evaluate_heldout(
    sets: Sequence[HeldoutSet],
    model,
    baseline: Callable[[torch.Tensor], torch.Tensor],
    out_dir: str | Path,
    per_domain: int = 12,
    wer_clips: int = 100,
    seed: int = 0,
    max_seconds: float | None = 10.0,
    music_clips: dict[str, torch.Tensor] | None = None,
    wer_kinds: Sequence[str] = ("real",),
    progress: bool = True,
    transcriber: Callable[[np.ndarray], str] | None = None,
    scorer: Callable[[np.ndarray], dict[str, float]] | None = None,
    settings: dict | None = None,
) -> HeldoutReport:
    """Every set (:func:`evaluate_set`), the bundled music PNGs (:func:`bundled_music`) and the goal check;
    writes ``results.json`` and ``results.md`` into ``out_dir`` and returns the report. The WER runs on
    the sets whose kind is in ``wer_kinds`` (the goal is on real speech; pocketsphinx is the slowest part)."""
    out = Path(out_dir)
    report = HeldoutReport(settings=dict(settings or {}))
    report.settings.update(
        per_domain=per_domain, wer_clips=wer_clips, wer_kinds=list(wer_kinds), seed=seed, max_seconds=max_seconds
    )
    for s in sets:
        report.sets[s.name] = evaluate_set(
            s,
            model,
            baseline,
            out,
            per_domain=per_domain,
            wer_clips=wer_clips if s.kind in wer_kinds else 0,
            seed=seed,
            max_seconds=max_seconds,
            progress=progress,
            timing=report.timing,
            transcriber=transcriber,
            scorer=scorer,
        )
    if music_clips:
        add_bundled_music(report, model, baseline, music_clips, out)
    report.goals = check_goals(report.sets)
    write_report(report, out)
    return report


def add_bundled_music(
    report: HeldoutReport,
    model,
    baseline: Callable[[torch.Tensor], torch.Tensor],
    clips: dict[str, torch.Tensor],
    out_dir: str | Path,
) -> None:
    """(Re)draw the bundled music PNGs into ``out_dir/mel`` and put their numbers and timing in ``report``
    (replacing earlier ones: e.g. when the demo gained a clip after the run)."""
    report.timing.parts.pop("bundled music PNGs", None)
    with report.timing.part("bundled music PNGs"):
        report.extra["bundled_music"] = bundled_music(model, baseline, clips, Path(out_dir) / "mel")


def write_report(report: HeldoutReport, out_dir: str | Path) -> None:
    """``results.json`` (no NaN) and ``results.md`` into ``out_dir``."""
    out = Path(out_dir)
    atomic_write_text(out / "results.json", json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    atomic_write_text(out / "results.md", report.markdown())
