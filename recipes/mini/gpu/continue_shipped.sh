#!/usr/bin/env bash
# Device driver: continue the shipped losatok-mini (stage 2) on a pack for BUDGET_S seconds, with the shipped model's
# trained discriminators when the pack holds them. The settings of the 2026-12-01 GPU run
# (recipes/configs/tokenizer_mini_gpu.yaml: batch 64, discriminators on every step on 0.64 s windows, fm 30 / adv 4,
# generator lr 1.5e-4 flat) in float32; FM, ADV and LR change those three. The returned checkpoint continues here
# (resume_here.sh, then a CPU phase: README, "On a GPU").
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
extra=()
if [ -f "$PACK/discriminator.safetensors" ]; then
    extra+=(discriminator.init_from="$PACK" discriminator.lead_steps=0)
else
    echo "note: no $PACK/discriminator.safetensors: new discriminators, trained alone for the first 500 steps" >&2
fi
[ -n "${FM:-}" ] && extra+=(loss_weights.fm="$FM")
[ -n "${ADV:-}" ] && extra+=(loss_weights.adv="$ADV")
[ -n "${LR:-}" ] && extra+=(optim.lr="$LR")
if [ -n "${SMOKE:-}" ]; then
    export DEVICE=cpu MAX_STEPS=3 BATCH=2 WORKERS=0 PY=.venv/bin/python OUT=${OUT:-/tmp/continue_smoke}
    mkdir -p "$OUT"
else
    export PREC="'no'"  # float32 ('no' quoted: a bare no is YAML's false)
    extra+=(run.max_steps=1000000)  # BUDGET_S stops it (the config's 3500 steps take about 410 s on an H200)
fi
CONFIG=recipes/configs/tokenizer_mini_gpu.yaml BATCH=${BATCH:-64} WORKERS=${WORKERS:-12} SAVE_EVERY=${SAVE_EVERY:-500} \
BUDGET_S=${BUDGET_S:-450} PACK=$PACK bash recipes/mini/gpu/run_device.sh tokenizer init_from="$INIT" "${extra[@]}" "$@"
