"""How many of the latent's 128 dimensions carry information: the posterior's noise against the spread of its mean.

For ``N`` clips per domain of a manifest (seeded, spread over sources: ``eval.heldout.stratified_sample``; the first
``--max-seconds``), every model encodes each clip and, per latent dimension over all frames of a domain:

- ``spread``: the standard deviation of the posterior mean ``mu`` over frames;
- ``noise``: the root mean posterior variance, ``sqrt(mean(exp(logvar)))``;
- ``bits``: ``0.5 · log2(1 + spread² / noise²)``, the capacity of a Gaussian channel of that signal and noise, an
  estimate of what one frame of the dimension can tell the decoder, which training feeds posterior samples.

Reported per model and domain: the dimensions whose noise is under a tenth of their spread (``informative``), those
whose noise is at least half their spread (``noisy``: close to the prior, little information), and the estimated
bits per frame summed over dimensions.

    python recipes/mini/posterior_spread.py 8 v2.14=losatok_plugin/pretrained/losatok-mini \\
        --manifest data/corpus/test_real.jsonl --out runs/posterior_spread.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from losatok_plugin import LoSATokVAE
from losatok_plugin.data import load_audio, read_manifest
from losatok_plugin.data.manifest import ManifestError
from losatok_plugin.eval.heldout import stratified_sample


def spread(mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, float]:
    """``mu``, ``logvar`` ``[frames, C]`` -> informative / noisy dimension counts and the estimated bits per frame."""
    s = mu.double().std(dim=0)
    noise = logvar.double().exp().mean(dim=0).sqrt()
    ratio = noise / s.clamp(min=1e-12)
    bits = 0.5 * torch.log2(1 + (s / noise.clamp(min=1e-12)) ** 2)
    return {
        "dims": int(mu.shape[1]),
        "informative": int((ratio < 0.1).sum()),
        "noisy": int((ratio >= 0.5).sum()),
        "median_noise_over_spread": float(ratio.median()),
        "bits_per_frame": float(bits.sum()),
        "frames": int(mu.shape[0]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("n", type=int, help="clips per domain")
    p.add_argument("models", nargs="+", help="name=folder of a LoSATokVAE")
    p.add_argument("--manifest", default="data/corpus/test_real.jsonl")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=6.0)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    try:
        chosen = stratified_sample(read_manifest(args.manifest), args.n, seed=args.seed)
    except ManifestError as e:
        p.error(f"{e} (make corpus builds the held-out sets)")
    if not chosen or args.n < 2:
        p.error(f"need n >= 2 and clips in {args.manifest} (got n={args.n}, {len(chosen)} clips)")
    clips = [(e.domain or "unknown", load_audio(e.path)[: int(16000 * args.max_seconds)]) for e in chosen]
    results: dict[str, dict] = {}
    for spec in args.models:
        name, _, folder = spec.partition("=")
        vae = LoSATokVAE.from_pretrained(folder or name).eval()
        by_domain: dict[str, list] = {}
        with torch.no_grad():
            for domain, audio in tqdm(clips, desc=f"encode {name}", unit="clip"):
                f = vae.encode_features(audio[None])
                by_domain.setdefault(domain, []).append((f.mu[0], f.logvar[0]))
        results[name] = {
            d: spread(torch.cat([m for m, _ in v]), torch.cat([lv for _, lv in v]))
            for d, v in sorted(by_domain.items())
        }
    print("| model | domain | frames | informative dims (noise < 0.1 spread) | noisy dims (>= 0.5) | bits / frame |")
    print("|---|---|---|---|---|---|")
    for name, doms in results.items():
        for d, r in doms.items():
            bits = r["bits_per_frame"]
            print(
                f"| {name} | {d} | {r['frames']} | {r['informative']} | {r['noisy']} | "
                f"{bits:.0f} ({bits * 25 / 1000:.2f} kbit/s) |"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
