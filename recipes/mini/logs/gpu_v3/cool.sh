#!/usr/bin/env bash
# GPU cool-down of the gpu3 run's export (EMA at step 3500) with its discriminators: lr 1.5e-4 -> 0 linearly
# over N steps at batch 64, float32, the same losses. SMOKE=1 runs 3 steps here on the CPU.
set -euo pipefail
N=${N:-1100}
if [ -n "${SMOKE:-}" ]; then
    export DEVICE=cpu MAX_STEPS=3 BATCH=2 WORKERS=0 PY=.venv/bin/python OUT=${OUT:-/tmp/smoke_out}; mkdir -p "$OUT"; N=3
else
    export PREC="'no'"
fi
BATCH=${BATCH:-64} WORKERS=${WORKERS:-14} SAVE_EVERY=${SAVE_EVERY:-400} BUDGET_S=${BUDGET_S:-170} \
PACK=packs/mini_v3h bash recipes/mini/gpu/run_device.sh tokenizer \
    init_from=packs/mini_v3h/init_model discriminator.init_from=packs/mini_v3h/init_model \
    loss_weights.kl=1e-3 loss_weights.semantic=0.3 loss_weights.stft=6 loss_weights.fm=30 loss_weights.adv=4 \
    data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
    optim.lr=1.5e-4 optim.warmup_steps=0 optim.schedule_steps=1000000 optim.cooldown_steps=$N \
    discriminator.warmup_steps=0 discriminator.lead_steps=0 discriminator.every=1 discriminator.segment_seconds=0.64 \
    discriminator.optim.lr=3e-4 discriminator.optim.schedule_steps=1000000 \
    run.sample_every=0 run.max_steps=$N
