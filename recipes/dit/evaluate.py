"""Evaluate DiT pipelines against held-out clips: Fréchet distance (+ WER / DNSMOS for TTS).

    python recipes/dit/evaluate.py --pipeline tts=runs/dit/tts_mini/pipeline --pipeline ttm=... --out runs/dit/eval

Per domain: ``--clips`` held-out clips of ``--heldout`` (valid.jsonl) give the prompts and durations.
Three sets are scored against the reference set (``--reference``, test.jsonl, same domain):
real held-out clips (the floor), their decoded ground-truth latents (the best this VAE allows a DiT
to reach) and the DiT's generations for the same prompts. Embedding: the semantic teacher's
(``semantic_emb`` of the pipeline's LoSATok model), as ``losatok eval fd``. TTS adds English WER
(pocketsphinx) and DNSMOS overall quality (speechmos) of the same three sets.
Writes ``results.json``, ``results.md`` and the wavs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from losatok_plugin.fileio import atomic_write_text

REPO = Path(__file__).resolve().parents[2]

DOMAIN = {"tts": "speech", "ttm": "music", "tta": "sound"}
ENGLISH = ("en", "en-us")


def pick(entries, domain: str, n: int, max_seconds: float = 1e9):
    out = [e for e in entries if e.domain == domain and (domain != "speech" or e.extra.get("lang") in ENGLISH)]
    if domain == "speech":  # sentences that fit the model (a transcript cannot be cropped), not single words
        out = [e for e in out if len(e.extra.get("text", "").split()) >= 3 and (e.duration or 0) <= max_seconds]
    return out[:n]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pipeline", action="append", required=True, help="NAME=FOLDER with NAME in tts, ttm, tta")
    p.add_argument("--heldout", default="data/corpus/valid.jsonl", help="prompts, durations and real clips")
    p.add_argument("--reference", default="data/corpus/test.jsonl", help="reference clips for the Fréchet distance")
    p.add_argument("--clips", type=int, default=8, help="held-out clips per domain")
    p.add_argument("--dnsmos-clips", type=int, default=4, help="clips per set scored with DNSMOS (slow on a CPU)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the pipeline's)")
    args = p.parse_args()

    import soundfile as sf
    import torch

    from losatok_plugin.data import ManifestEntry, load_audio, read_manifest
    from losatok_plugin.eval.analysis import frechet_distance
    from losatok_plugin.eval.representations import extract
    from losatok_plugin.generation.generate import generate, load_pipeline, pipeline_info
    from losatok_plugin.generation.text import prompt_for

    out = Path(args.out)
    heldout, reference = read_manifest(args.heldout), read_manifest(args.reference)
    results = {}
    for spec in args.pipeline:
        name, folder = spec.split("=", 1)
        domain = DOMAIN[name]
        t0 = time.perf_counter()
        info = pipeline_info(folder)
        pipe = load_pipeline(folder)
        raw_vae = pipe.vae  # normalised-latent VAE: encode/decode round trip = the raw model's
        clips = pick(heldout, domain, args.clips, float(info["max_seconds"]))
        ref = pick(reference, domain, 4 * args.clips)
        sets: dict[str, list[ManifestEntry]] = {"real": [], "decoded": [], "generated": []}
        refs_text = []
        for i, e in enumerate(clips):
            x = load_audio(e.path)
            seconds = min(len(x) / 16000, float(info["max_seconds"]))
            x = x[: int(seconds * 16000)]
            base = out / name
            base.mkdir(parents=True, exist_ok=True)
            sf.write(str(base / f"{i:02d}.real.wav"), x.numpy(), 16000)
            with torch.inference_mode():
                rec = raw_vae.decode(raw_vae.encode(x[None, None]).latent_dist.mode()).sample[0, 0]
            sf.write(str(base / f"{i:02d}.decoded.wav"), rec.clamp(-1, 1).numpy(), 16000)
            prompt = prompt_for({**e.extra, "label": e.label}, domain)
            generate(
                folder,
                prompt,
                base / f"{i:02d}.generated.wav",
                seconds=seconds,
                steps=args.steps,
                seed=i,
                progress=False,
                pipe=pipe,
            )
            for k in sets:
                sets[k].append(ManifestEntry(str(base / f"{i:02d}.{k}.wav"), domain=domain))
            refs_text.append(e.extra.get("text", ""))
        ref_feats, _, _ = extract(raw_vae, ref, "semantic_emb", progress=False)
        ref_cat = torch.cat(ref_feats)
        row = {
            "clips": len(clips),
            "reference_clips": len(ref_feats),
            "prompts": [prompt_for({**e.extra, "label": e.label}, domain) for e in clips],
        }
        for k, entries in sets.items():
            feats, _, _ = extract(raw_vae, entries, "semantic_emb", progress=False)
            row[f"fd_{k}"] = frechet_distance(ref_cat, torch.cat(feats))
        if domain == "speech":
            from losatok_plugin.eval.speech_quality import corpus_wer, dnsmos

            for k, entries in sets.items():
                audio = [load_audio(e.path).numpy() for e in entries]
                row[f"wer_{k}"] = corpus_wer(refs_text, audio)
                scores = [dnsmos(a)["ovrl"] for a in audio[: args.dnsmos_clips]]
                row[f"dnsmos_{k}"] = sum(scores) / max(len(scores), 1)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        results[name] = row
        print(
            name,
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items() if k != "prompts"},
            flush=True,
        )
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    lines = [
        "| pipeline | FD real | FD decoded | FD generated | WER real / decoded / generated | DNSMOS real / decoded / generated |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        wer = f"{r['wer_real']:.2f} / {r['wer_decoded']:.2f} / {r['wer_generated']:.2f}" if "wer_real" in r else "-"
        mos = (
            f"{r['dnsmos_real']:.2f} / {r['dnsmos_decoded']:.2f} / {r['dnsmos_generated']:.2f}"
            if "dnsmos_real" in r
            else "-"
        )
        lines.append(
            f"| {name} | {r['fd_real']:.2f} | {r['fd_decoded']:.2f} | {r['fd_generated']:.2f} | {wer} | {mos} |"
        )
    atomic_write_text(out / "results.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
