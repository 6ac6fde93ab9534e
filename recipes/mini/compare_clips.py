"""Several tokenizers (and the Griffin-Lim baseline) side by side on many held-out clips of one domain.

The card's evaluation (``evaluate.py``) scores 12 clips per domain and set; a version that wins there by a hair
should also win on more clips. This scores ``N`` clips of one domain of a held-out manifest (seed 1 by default, so
not the card's selection; spread over sources and tracks / speakers by ``eval.heldout.stratified_sample``; the first
``--max-seconds``), per model: the mean over all clips and per source, and for two models how many clips the second
one wins. Speech gets PESQ-WB, STOI and mel distance; other domains mel and MR-STFT distance; every domain the
flatness gap (``eval.metrics.flatness_gap``: how far each 1-8 kHz band's spectral flatness is from the original's;
noise between harmonics raises it). ``--wer N`` (speech)
adds the corpus WER of pocketsphinx on up to N whole English clips with plain-word transcripts, for the originals,
each model and the baseline (the card's WER takes 100 clips, seed 0); ``N`` = 0 with ``--wer`` gives the WER alone.
``--dnsmos K`` adds DNSMOS OVRL / SIG / BAK (speechmos) of every system on the first K of those WER clips, each
reconstruction cut to its original's length (about 2 s per clip and system on this CPU). Each WER and DNSMOS OVRL
gap comes with its 95 % paired bootstrap interval over the clips (``eval.bootstrap``): every system against the
originals (``wer_gap_ci["original"]``), and with two or more models every further one against the first, the control
(``wer_gap_ci[<first>]``); an interval that holds 0 says the clips cannot tell the two apart.

    python recipes/mini/compare_clips.py 60 v2.4=runs/mini_v24 v2.5=losatok_plugin/pretrained/losatok-mini \\
        --manifest data/corpus/test_real.jsonl --baseline --wer 60 --dnsmos 30 --out runs/compare_speech.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from losatok_plugin import LoSATokVAE
from losatok_plugin.data import load_audio, read_manifest
from losatok_plugin.eval.baseline import GriffinLimMel
from losatok_plugin.eval.heldout import english_transcribed, shared_wavs, stratified_sample
from losatok_plugin.eval.metrics import flatness_gap
from losatok_plugin.eval.recon import clip_metrics
from losatok_plugin.eval.speech_quality import (
    dnsmos,
    dnsmos_gap_ci,
    dnsmos_per_clip,
    summarise_dnsmos,
    transcribe,
    wer_by_system,
)
from losatok_plugin.latent_file import fit_length

BASELINE = "griffin_lim"
HIGHER_IS_BETTER = ("pesq_wb", "stoi")


def measures(domain: str) -> tuple[str, ...]:
    return ("pesq_wb", "stoi", "mel", "flatness") if domain == "speech" else ("mel", "stft", "flatness")


def _mean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None]
    return round(statistics.mean(values), 4) if values else None


def _reconstruct(model: LoSATokVAE, audio: torch.Tensor) -> torch.Tensor:
    """``[N] -> [N']`` through the latent's mean."""
    with torch.inference_mode():
        return model.decode(model.encode(audio[None, None]).latent_dist.mode()).sample[0, 0]


def _baseline(gl: GriffinLimMel, audio: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)  # Griffin-Lim starts from random phases
    with torch.inference_mode():
        return gl(audio)


def compare_wer(
    models: dict[str, str],
    manifest: Path,
    n: int,
    baseline: bool = False,
    seed: int = 1,
    transcriber=transcribe,
    dnsmos_clips: int = 0,
    scorer=dnsmos,
) -> dict:
    """Corpus WER of the originals, each model (``name -> folder``) and optionally the baseline on up to ``n``
    whole English clips with plain-word transcripts (``eval.heldout.english_transcribed``, spread over sources),
    and with ``dnsmos_clips`` > 0 the mean DNSMOS of each system on the first ``dnsmos_clips`` of them.

    Returns ``{"clips": k, "words": w, "wer": {"original": x, name: y, ...}}`` (fractions), plus
    ``"dnsmos": {system: {"ovrl", "sig", "bak", "clips"}}`` with ``dnsmos_clips``.
    """
    shared = shared_wavs(manifest)
    entries = [e for e in read_manifest(manifest) if str(e.path) not in shared]
    chosen = stratified_sample(english_transcribed(entries), n, seed=seed)
    if not chosen:
        raise ValueError(f"{manifest} has no English speech clips with plain-word transcripts")
    loaded = {name: LoSATokVAE.from_pretrained(path).eval() for name, path in models.items()}
    gl = GriffinLimMel().eval() if baseline else None
    systems: dict[str, list] = {"original": [], **{name: [] for name in loaded}, **({BASELINE: []} if gl else {})}
    for e in tqdm(chosen, desc="WER clips", unit="clip"):
        audio = load_audio(e.path)
        systems["original"].append(audio.numpy())
        for name, model in loaded.items():
            systems[name].append(fit_length(_reconstruct(model, audio), len(audio)).numpy())
        if gl is not None:
            systems[BASELINE].append(fit_length(_baseline(gl, audio), len(audio)).numpy())
    result = wer_by_system([str(e.extra["text"]) for e in chosen], systems, transcriber, progress=True)
    out = {"clips": result.clips, "words": result.words, "wer": {k: round(v, 4) for k, v in result.wer.items()}}
    out["wer_gap_ci"] = _gap_cis(list(systems), list(loaded), lambda s, b: result.gap_ci(s, base=b))
    if dnsmos_clips > 0:
        per_clip = dnsmos_per_clip({k: v[:dnsmos_clips] for k, v in systems.items()}, scorer, progress=True)
        mos = summarise_dnsmos(per_clip)
        out["dnsmos"] = {k: {m: round(x, 4) if m != "clips" else x for m, x in v.items()} for k, v in mos.items()}
        out["dnsmos_gap_ci"] = _gap_cis(list(systems), list(loaded), lambda s, b: dnsmos_gap_ci(per_clip, s, base=b))
    return out


def _gap_cis(systems: list[str], models: list[str], ci) -> dict:
    """Each system against the originals, and with two or more models each further model against the first
    (a probe against its control): ``{"<base>": {system: GapCI dict}}``, ``ci(system, base) -> GapCI``."""
    out = {"original": {s: ci(s, "original").to_dict() for s in systems if s != "original"}}
    if len(models) > 1:
        out[models[0]] = {s: ci(s, models[0]).to_dict() for s in systems if s not in ("original", models[0])}
    return out


def compare(
    models: dict[str, str],
    manifest: Path,
    n: int,
    domain: str = "speech",
    baseline: bool = False,
    seed: int = 1,
    max_seconds: float = 10.0,
) -> dict:
    """Scores of each model (``name -> folder``) and optionally the baseline on ``n`` clips of ``domain``.

    Returns ``{name: {"all": {measure: mean}, "clips": k, <source>: {...}}, "<measure>_<second>_better_clips": m}``.
    """
    if not models and not baseline:
        raise ValueError("nothing to compare: give models or baseline=True")
    shared = shared_wavs(manifest)
    entries = [e for e in read_manifest(manifest) if e.domain == domain and str(e.path) not in shared]
    if not entries:
        raise ValueError(f"{manifest} has no {domain} clips")
    chosen = stratified_sample(entries, n, seed=seed)
    loaded = {name: LoSATokVAE.from_pretrained(path).eval() for name, path in models.items()}
    keys = measures(domain)
    scores: dict[str, dict[str, list[dict]]] = {name: {} for name in [*loaded, *([BASELINE] if baseline else [])]}
    gl = GriffinLimMel().eval() if baseline else None
    for e in tqdm(chosen, desc=f"{domain} clips", unit="clip"):
        audio = load_audio(e.path)[: int(16000 * max_seconds)]
        source = str(e.extra.get("source", "?"))
        outputs = {name: _reconstruct(model, audio) for name, model in loaded.items()}
        if gl is not None:
            outputs[BASELINE] = _baseline(gl, audio)
        for name, recon in outputs.items():
            m = clip_metrics(audio, recon, domain)
            gap = flatness_gap(audio, recon) if m["mel"] is not None else math.nan  # mel None: silent original
            m["flatness"] = None if math.isnan(gap) else gap
            scores[name].setdefault(source, []).append({k: m.get(k) for k in keys})
    out: dict = {}
    for name, per_source in scores.items():
        rows = [r for v in per_source.values() for r in v]
        out[name] = {"all": {k: _mean(rows, k) for k in keys}, "clips": len(rows)}
        for source, v in per_source.items():
            out[name][source] = {k: _mean(v, k) for k in keys} | {"clips": len(v)}
    if len(loaded) == 2:
        first, second = ([r for v in scores[name].values() for r in v] for name in loaded)
        for k in keys:
            pairs = [(a[k], b[k]) for a, b in zip(first, second) if a[k] is not None and b[k] is not None]
            wins = sum((b > a) if k in HIGHER_IS_BETTER else (b < a) for a, b in pairs)
            out[f"{k}_{list(loaded)[1]}_better_clips"] = wins
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, help="clips (at most; spread over sources); 0 with --wer: the WER only")
    ap.add_argument("models", nargs="+", metavar="NAME=FOLDER", help="save_pretrained folders to compare")
    ap.add_argument("--manifest", type=Path, default=Path("data/corpus/test_real.jsonl"))
    ap.add_argument("--domain", choices=("speech", "music", "sound"), default="speech")
    ap.add_argument("--baseline", action="store_true", help="the Griffin-Lim 128-mel baseline too")
    ap.add_argument("--seed", type=int, default=1, help="selection seed (the card's evaluation uses 0)")
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--wer", type=int, default=0, metavar="N", help="speech: also the WER on up to N English clips")
    ap.add_argument(
        "--dnsmos", type=int, default=0, metavar="K", help="with --wer: DNSMOS of every system on the first K WER clips"
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    bad = [m for m in args.models if "=" not in m]
    if bad:
        ap.error(f"models are NAME=FOLDER, got {bad[0]!r}")
    if args.wer and args.domain != "speech":
        ap.error("--wer needs --domain speech")
    if args.dnsmos and not args.wer:
        ap.error("--dnsmos scores the WER clips: give --wer N too")
    if args.n < 0 or args.wer < 0 or args.dnsmos < 0:
        ap.error("clip counts are >= 0")
    if args.n == 0 and not args.wer:
        ap.error("n=0 scores no clips: give n > 0, or --wer N for the WER only")
    torch.set_num_threads(1)
    models = dict(m.split("=", 1) for m in args.models)
    try:
        result = {}
        if args.n:
            result = compare(models, args.manifest, args.n, args.domain, args.baseline, args.seed, args.max_seconds)
        if args.wer:
            result["wer"] = compare_wer(
                models, args.manifest, args.wer, args.baseline, args.seed, dnsmos_clips=args.dnsmos
            )
    except (ValueError, FileNotFoundError) as e:  # a missing manifest or model folder, no clips of the domain
        ap.error(str(e))
    text = json.dumps(result, indent=1)
    for base, rows in (result.get("wer", {}).get("wer_gap_ci") or {}).items():
        for name, ci in rows.items():
            print(
                f"WER {name} - {base}: {100 * ci['gap']:+.1f} points "
                f"({round(100 * ci['level'])} % CI {100 * ci['lo']:+.1f} to {100 * ci['hi']:+.1f}, {ci['clips']} clips)",
                file=sys.stderr,
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
