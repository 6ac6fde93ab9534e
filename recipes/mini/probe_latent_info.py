"""Which representation carries the spectrum? A linear read-out of the baseline's 25 Hz log-mel from each one.

The Griffin-Lim baseline decodes a 128-band mel at 25 Hz; a latent that beats it on mel distance must carry at least
that much spectral detail. For held-out clips per set and domain this fits a ridge regression from each LoSATok
representation (``mu``: the latent; ``semantic_emb``: the teacher; ``semantic_emb_low``: SemBo; ``acoustic_emb`` /
``acoustic_emb_low``: the acoustic branch) to the log-mel (``eval.analysis.linear_readout_error``) and reports the
mean absolute error on bands 20-127 (where the harmonics go missing), beside predicting the mean. ``--centre-clips``
subtracts each clip's mean from features and targets first: what is left is the spectrum's change within a clip, which
a teacher can carry although its front end normalises every clip to its own peak. ``--target semantic`` asks the
other way round: how much of SemBo's semantic latent (``semantic_emb_low``, all 128 dims) the latent ``mu`` and the
acoustic branch carry, which is what a weaker semantic loss in stage 2 gives away. Results of losatok-mini v1,
v2.4 and v2.5: ``recipes/mini/README.md``.

    python recipes/mini/probe_latent_info.py --model losatok_plugin/pretrained/losatok-mini \\
        --manifest data/corpus/test_real.jsonl --manifest data/corpus/test.jsonl --out runs/probe_latent_info
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from losatok_plugin import LoSATokVAE
from losatok_plugin.data import load_audio, read_manifest
from losatok_plugin.eval.analysis import linear_readout_error
from losatok_plugin.eval.baseline import GriffinLimMel
from losatok_plugin.eval.heldout import shared_wavs, stratified_sample

KEYS = ("mu", "semantic_emb", "semantic_emb_low", "acoustic_emb", "acoustic_emb_low")
# --target semantic: what reads out SemBo's latent (itself is left out: it would read itself with no error)
SEMANTIC_KEYS = ("mu", "acoustic_emb", "acoustic_emb_low")
FIRST_BAND = 20


def readouts(
    model: LoSATokVAE, entries: list, seconds: float, centre: bool = False, target: str = "mel"
) -> dict[str, float]:
    """Read-out errors of each representation over ``entries``, plus ``mean`` and ``frames``.

    ``target``: ``mel`` (the baseline's log-mel ``[frames, 128]``, error on bands >= 20) or ``semantic`` (SemBo's
    ``semantic_emb_low`` ``[frames, 128]``, error on all dims); ``centre``: features and targets minus their clip's
    mean.
    """
    if target not in ("mel", "semantic"):
        raise ValueError(f"target must be 'mel' or 'semantic', got {target!r}")
    keys, first = (KEYS, FIRST_BAND) if target == "mel" else (SEMANTIC_KEYS, 0)
    mel = GriffinLimMel().mel
    feats: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    targets = []
    for e in tqdm(entries, desc="read-outs", unit="clip", leave=False):
        audio = load_audio(e.path)[: int(16000 * seconds)]
        with torch.inference_mode():
            f = model.encode_features(audio[None])
            y = torch.log(mel(audio).clamp_min(1e-5)).T if target == "mel" else f.semantic_emb_low[0].float()
        t = min(f.mu.shape[1], y.shape[0])
        for k in keys:
            x = getattr(f, k)[0, :t].float()
            feats[k].append(x - x.mean(0) if centre else x)
        targets.append(y[:t] - y[:t].mean(0) if centre else y[:t])
    y = torch.cat(targets)
    out: dict[str, float] = {"frames": y.shape[0]}
    for k in keys:
        err, mean = linear_readout_error(torch.cat(feats[k]), y)
        out[k] = float(err[first:].mean())
    out["mean"] = float(mean[first:].mean())  # the clip-mean predictor's error: one value for every representation
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="a LoSATokVAE folder (repeat to compare)")
    ap.add_argument("--manifest", type=Path, action="append", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--clips", type=int, default=16, help="clips per set and domain, spread over sources")
    ap.add_argument("--seconds", type=float, default=10.0, help="the first N seconds of each clip")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument(
        "--centre-clips", action="store_true", help="subtract each clip's mean first (changes within clips)"
    )
    ap.add_argument(
        "--target",
        choices=("mel", "semantic"),
        default="mel",
        help="read out the baseline's log-mel (bands >= 20) or SemBo's semantic latent (what the latent keeps of it)",
    )
    args = ap.parse_args()
    keys = KEYS if args.target == "mel" else SEMANTIC_KEYS
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for path in args.model:
        model = LoSATokVAE.from_pretrained(path).eval()
        for manifest in args.manifest:
            shared = shared_wavs(manifest)
            rows = [e for e in read_manifest(manifest) if str(e.path) not in shared]
            for domain in sorted({e.domain for e in rows if e.domain}):
                chosen = stratified_sample([e for e in rows if e.domain == domain], args.clips, seed=args.seed)
                r = readouts(model, chosen, args.seconds, args.centre_clips, args.target)
                results.setdefault(path, {})[f"{manifest.stem} {domain}"] = r
                print(path, manifest.stem, domain, {k: round(v, 3) for k, v in r.items()}, flush=True)
    (args.out / "readouts.json").write_text(json.dumps(results, indent=1))
    lines = [f"| model | set | frames | mean | {' | '.join(keys)} |", "|" + "---|" * (len(keys) + 4)]
    for path, per in results.items():
        for name, r in per.items():
            cells = " | ".join(f"{r[k]:.3f}" for k in keys)
            lines.append(f"| {path} | {name} | {r['frames']} | {r['mean']:.3f} | {cells} |")
    (args.out / "readouts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
