#!/usr/bin/env bash
# The two probes of 2026-12-01 (second session), as run, side by side, one thread each (about 58 min each):
# from the shipped v2.14 with its discriminators (logs/v37_eval), fm 30 / adv 4, generator lr 5e-5 (wide: 8e-5)
# after 200 warm-up steps, cooled down over the last 800 of 3000 steps; discriminators' lr 2e-4.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
# d2: the discriminators updated on every 2nd step instead of every 4th
R=runs/tokenizer_v215_d2 STEPS=3000 bash recipes/mini/logs/dsize_probe/phase.sh \
    discriminator.init_from=recipes/mini/logs/v37_eval discriminator.lead_steps=0 discriminator.every=2 \
    optim.cooldown_steps=800 &
# wide: the decoder's residual width doubled (256 -> 512, output unchanged at step 0; decoder 3.24M -> 6.40M)
PYTHONPATH=$PWD .venv/bin/python recipes/mini/grow_decoder.py --model losatok_plugin/pretrained/losatok-mini \
    --out runs/mini_v214_wide --width-factor 2
R=runs/tokenizer_v215_wide FROM_MODEL=runs/mini_v214_wide STEPS=3000 bash recipes/mini/logs/dsize_probe/phase.sh \
    model.decoder_dim=512 optim.lr=8e-5 discriminator.init_from=recipes/mini/logs/v37_eval \
    discriminator.lead_steps=0 optim.cooldown_steps=800
wait
# measured with: recipes/mini/export.py --run R --out runs/mini_v215_X; compare_clips.py 60 ... / 36 ... --domain music /
# 0 ... --wer 300 --seed 2 --dnsmos 60; evaluate.py --per-domain 12 (wide only)
