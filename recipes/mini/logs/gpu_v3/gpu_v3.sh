#!/usr/bin/env bash
# GPU continuation of losatok-mini v2.13 (stage 2) on the v3 pack: batch 64, float32, new 8-channel
# discriminators on every step after a 500-step lead, round 3's GAN weights (fm 30 / adv 4).
# Usage (device): bash packs/mini_v3/gpu_v3.sh ; smoke (here): SMOKE=1 bash packs/mini_v3/gpu_v3.sh
set -euo pipefail
extra=(run.max_steps=1000000)
lead=500
if [ -n "${SMOKE:-}" ]; then
    export DEVICE=cpu MAX_STEPS=3 BATCH=2 WORKERS=0 PY=.venv/bin/python OUT=${OUT:-/tmp/smoke_out}
    mkdir -p "$OUT"; extra=(); lead=1
else
    export PREC="'no'"  # float32: the GPU path passes run.mixed_precision=$PREC ('no' quoted: a bare no is YAML false)
fi
BATCH=${BATCH:-64} WORKERS=${WORKERS:-12} SAVE_EVERY=${SAVE_EVERY:-500} BUDGET_S=${BUDGET_S:-450} \
PACK=packs/mini_v3 bash recipes/mini/gpu/run_device.sh tokenizer \
    init_from=losatok_plugin/pretrained/losatok-mini \
    loss_weights.kl=1e-3 loss_weights.semantic=0.3 loss_weights.stft=6 loss_weights.fm=30 loss_weights.adv=4 \
    data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
    optim.lr=1.5e-4 optim.warmup_steps=200 optim.schedule_steps=1000000 optim.cooldown_steps=0 \
    discriminator.warmup_steps=0 discriminator.lead_steps=$lead discriminator.every=1 discriminator.segment_seconds=0.64 \
    discriminator.optim.lr=3e-4 discriminator.optim.schedule_steps=1000000 \
    run.sample_every=0 "${extra[@]}"
