"""PESQ-WB / STOI / mel on many held-out real speech clips (seed 1, not the card's 12), two models side by side."""

# usage, from the repository root: PYTHONPATH=. python recipes/mini/logs/v24_eval/real_speech_60_clips.py 60 <model A> <model B> [test_real.jsonl]
import json
import statistics
import sys

import torch

from losatok_plugin import LoSATokVAE
from losatok_plugin.data import load_audio, read_manifest
from losatok_plugin.eval.heldout import shared_wavs, stratified_sample
from losatok_plugin.eval.recon import clip_metrics

torch.set_num_threads(1)
man = sys.argv[4] if len(sys.argv) > 4 else "data/corpus/test_real.jsonl"
shared = shared_wavs(man)
entries = [e for e in read_manifest(man) if e.domain == "speech" and str(e.path) not in shared]
chosen = stratified_sample(entries, int(sys.argv[1]), seed=1)
models = {name: LoSATokVAE.from_pretrained(p).eval() for name, p in (("v2.3", sys.argv[2]), ("v2.4", sys.argv[3]))}
res = {n: {} for n in models}
for e in chosen:
    a = load_audio(e.path)[: 16000 * 10]
    src = e.extra.get("source")
    for n, m in models.items():
        with torch.inference_mode():
            r = m.decode(m.encode(a[None, None]).latent_dist.mode()).sample[0, 0]
        c = clip_metrics(a, r, "speech")
        res[n].setdefault(src, []).append({k: c[k] for k in ("pesq_wb", "stoi", "mel")})
out = {}
for n in res:
    allr = [x for v in res[n].values() for x in v]
    out[n] = {
        "all": {
            k: round(statistics.mean(x[k] for x in allr if x[k] is not None), 4) for k in ("pesq_wb", "stoi", "mel")
        },
        "clips": len(allr),
    }
    for s, v in res[n].items():
        out[n][s] = {
            k: round(statistics.mean(x[k] for x in v if x[k] is not None), 4) for k in ("pesq_wb", "stoi", "mel")
        } | {"clips": len(v)}
# paired: how many clips v2.4 beats v2.3 on PESQ
p3 = [x["pesq_wb"] for v in res["v2.3"].values() for x in v]
p4 = [x["pesq_wb"] for v in res["v2.4"].values() for x in v]
out["pesq_v24_better_clips"] = sum(b > a for a, b in zip(p3, p4) if a is not None and b is not None)
print(json.dumps(out, indent=1))
