"""One-off: DNSMOS OVRL/SIG/BAK of several models on the first N of the card's WER prompts (seed 0), at the original's length.

PYTHONPATH=. python recipes/mini/logs/voices_probe/dnsmos_prompts.py 60 out.json name=runs/mini_x ...
"""

import json
import sys

import numpy as np
import torch
from tqdm import tqdm

from losatok_plugin import LoSATokVAE
from losatok_plugin.data import load_audio, read_manifest
from losatok_plugin.eval.heldout import english_transcribed, stratified_sample
from losatok_plugin.eval.speech_quality import dnsmos

torch.set_num_threads(1)
n, out = int(sys.argv[1]), sys.argv[2]
models = dict(a.split("=") for a in sys.argv[3:])
ents = stratified_sample(english_transcribed(read_manifest("data/corpus/test_real.jsonl")), 100, 0)[:n]
res = {}
audio = [load_audio(e.path) for e in ents]


def score(name, clips):
    s = [dnsmos(np.asarray(c, dtype=np.float32)) for c in tqdm(clips, desc=name)]
    res[name] = {k: round(float(np.mean([x[k] for x in s])), 4) for k in ("ovrl", "sig", "bak")}
    res[name]["per_clip_ovrl"] = [round(x["ovrl"], 3) for x in s]
    print(name, {k: res[name][k] for k in ("ovrl", "sig", "bak")}, flush=True)


score("original", [a.numpy() for a in audio])
for name, path in models.items():
    m = LoSATokVAE.from_pretrained(path).eval()
    recs = []
    for a in audio:
        with torch.inference_mode():
            r = m.decode(m.encode(a[None, None]).latent_dist.mode()).sample[0, 0]
        r = r[: len(a)] if len(r) >= len(a) else torch.nn.functional.pad(r, (0, len(a) - len(r)))
        recs.append(r.numpy())
    score(name, recs)
json.dump(res, open(out, "w"), indent=1)
