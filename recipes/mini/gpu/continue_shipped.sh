#!/usr/bin/env bash
# Device driver: continue the shipped losatok-mini (stage 2) on a pack for BUDGET_S seconds, with the shipped model's
# trained discriminators when the pack holds them. The settings of the 2026-12-01 GPU run (logs/gpu_v3/gpu_v3.sh):
# batch 64, float32, discriminators on every step on 0.64 s windows, FM/ADV (default 30 / 4), generator lr LR
# (default 1.5e-4, flat). The returned checkpoint continues here (resume_here.sh, then a CPU phase: README, "On a GPU").
#
# Here, once (logs/ does not travel, so the discriminators go into the pack):
#   .venv/bin/python recipes/mini/gpu/pack.py build --manifest data/corpus/train.jsonl \
#       --valid-manifest data/corpus/valid.jsonl --out packs/mini_next --budget-mb 40 --kbps 64
#   .venv/bin/python recipes/mini/gpu/pack.py wheels --out packs/.whl --slim-diffusers
#   cp recipes/mini/logs/v37_eval/discriminator.safetensors packs/mini_next/
#   SMOKE=1 PACK=packs/mini_next bash recipes/mini/gpu/continue_shipped.sh     # 3 CPU steps, a minute
#   bash recipes/mini/gpu/slim_tree.sh hide
# Device (the run tool; restore the tree afterwards with slim_tree.sh restore):
#   command: PACK=packs/mini_next bash recipes/mini/gpu/continue_shipped.sh
#   carry:   ["packs/mini_next", "packs/.whl"]     timeout_s: 580
set -euo pipefail
cd "$(dirname "$0")/../../.."
PACK=${PACK:?set PACK to the pack folder, e.g. packs/mini_next}
[ -f "$PACK/train.jsonl" ] || { echo "error: no pack at $PACK (pack.py build: see the header of $0)" >&2; exit 1; }
INIT=${INIT:-losatok_plugin/pretrained/losatok-mini}
[ -f "$INIT/config.json" ] || { echo "error: INIT=$INIT is not a model folder (no config.json)" >&2; exit 1; }
if [ -f "$PACK/discriminator.safetensors" ]; then
    disc=(discriminator.init_from="$PACK" discriminator.lead_steps=0)
else
    echo "note: no $PACK/discriminator.safetensors: new discriminators, trained alone for the first 500 steps" >&2
    disc=(discriminator.lead_steps=500)
fi
extra=(run.max_steps=1000000)
if [ -n "${SMOKE:-}" ]; then
    export DEVICE=cpu MAX_STEPS=3 BATCH=2 WORKERS=0 PY=.venv/bin/python OUT=${OUT:-/tmp/continue_smoke}
    mkdir -p "$OUT"
    extra=()
else
    export PREC="'no'"  # float32 ('no' quoted: a bare no is YAML's false)
fi
BATCH=${BATCH:-64} WORKERS=${WORKERS:-12} SAVE_EVERY=${SAVE_EVERY:-500} BUDGET_S=${BUDGET_S:-450} \
PACK=$PACK bash recipes/mini/gpu/run_device.sh tokenizer \
    init_from="$INIT" \
    loss_weights.kl=1e-3 loss_weights.semantic=0.3 loss_weights.stft=6 \
    loss_weights.fm="${FM:-30}" loss_weights.adv="${ADV:-4}" \
    data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
    optim.lr="${LR:-1.5e-4}" optim.warmup_steps=200 optim.schedule_steps=1000000 optim.cooldown_steps=0 \
    discriminator.warmup_steps=0 discriminator.every=1 discriminator.segment_seconds=0.64 \
    discriminator.optim.lr=3e-4 discriminator.optim.schedule_steps=1000000 \
    "${disc[@]}" run.sample_every=0 "${extra[@]}" "$@"
