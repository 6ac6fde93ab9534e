"""PESQ-WB / STOI / mel (speech) or mel / MR-STFT (other domains) on many held-out real clips (seed 1, not the card's
12), models side by side, the Griffin-Lim baseline with --baseline.

Run from the repository root (v2.4 = the model before this commit, v2.5 = runs/mini_v25, the shipped one):
  PYTHONPATH=. python recipes/mini/logs/v25_eval/real_clips.py 60 v2.4=<v2.4 folder> v2.5=<v2.5 folder> --baseline
  PYTHONPATH=. python recipes/mini/logs/v25_eval/real_clips.py 36 v2.4=... v2.5=... --baseline --domain sound
"""

import argparse
import json
import statistics

import torch

from losatok_plugin import LoSATokVAE
from losatok_plugin.data import load_audio, read_manifest
from losatok_plugin.eval.baseline import GriffinLimMel
from losatok_plugin.eval.heldout import shared_wavs, stratified_sample
from losatok_plugin.eval.recon import clip_metrics

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("models", nargs="+", help="name=folder")
ap.add_argument("--manifest", default="data/corpus/test_real.jsonl")
ap.add_argument("--domain", default="speech")
ap.add_argument("--baseline", action="store_true", help="the Griffin-Lim 128-mel baseline too")
args = ap.parse_args()
torch.set_num_threads(1)
shared = shared_wavs(args.manifest)
entries = [e for e in read_manifest(args.manifest) if e.domain == args.domain and str(e.path) not in shared]
chosen = stratified_sample(entries, args.n, seed=1)
models = {m.split("=", 1)[0]: LoSATokVAE.from_pretrained(m.split("=", 1)[1]).eval() for m in args.models}
gl = GriffinLimMel().eval() if args.baseline else None
keys = ("pesq_wb", "stoi", "mel") if args.domain == "speech" else ("mel", "stft")
res = {n: {} for n in models}
for e in chosen:
    a = load_audio(e.path)[: 16000 * 10]
    src = e.extra.get("source")
    for n, m in models.items():
        with torch.inference_mode():
            r = m.decode(m.encode(a[None, None]).latent_dist.mode()).sample[0, 0]
        c = clip_metrics(a, r, args.domain)
        res[n].setdefault(src, []).append({k: c.get(k) for k in keys})
    if gl is not None:
        torch.manual_seed(0)
        with torch.inference_mode():
            c = clip_metrics(a, gl(a), args.domain)
        res.setdefault("griffin_lim", {}).setdefault(src, []).append({k: c.get(k) for k in keys})


def mean(rows, k):
    v = [x[k] for x in rows if x[k] is not None]
    return round(statistics.mean(v), 4) if v else None


out = {}
for n in res:
    allr = [x for v in res[n].values() for x in v]
    out[n] = {"all": {k: mean(allr, k) for k in keys}, "clips": len(allr)}
    for s, v in res[n].items():
        out[n][s] = {k: mean(v, k) for k in keys} | {"clips": len(v)}
names = [n for n in res if n != "griffin_lim"]
if len(names) == 2:
    a = [x for v in res[names[0]].values() for x in v]
    b = [x for v in res[names[1]].values() for x in v]
    for k in keys:
        better = (lambda x, y: y > x) if k in ("pesq_wb", "stoi") else (lambda x, y: y < x)
        out[f"{k}_{names[1]}_better_clips"] = sum(
            better(x[k], y[k]) for x, y in zip(a, b) if x[k] is not None and y[k] is not None
        )
print(json.dumps(out, indent=1))
