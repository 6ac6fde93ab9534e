#!/usr/bin/env bash
# voices probe: continue the v2.12 candidate (step 38000) with the v2.11 settings, 3000 steps, re-warmed at 38000,
# cool-down 40000 -> 41000; R=run folder, MANIFEST=train manifest (train_with_voices.jsonl for the probe, train.jsonl for the control)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
R=${R:?}
if [ ! -d $R ]; then
  [ -d runs/tokenizer_v32/checkpoints/step_00038000 ] || { echo "v32 has no step 38000" >&2; exit 1; }
  mkdir -p $R/checkpoints
  cp -r runs/tokenizer_v32/checkpoints/step_00038000 $R/checkpoints/
  echo step_00038000 > $R/checkpoints/latest
  cp runs/tokenizer_v32/config.json $R/
fi
OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml --resume \
  init_from=losatok_plugin/pretrained/losatok-mini run.output_dir=$R data.feature_cache= \
  data.train_manifest=${MANIFEST:?} \
  loss_weights.kl=1e-3 loss_weights.semantic=3 loss_weights.stft=6 \
  data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
  optim.lr=1.5e-4 optim.warmup_steps=200 optim.schedule_steps=70000 optim.cooldown_steps=1000 \
  optim.rewarm_at=38000 optim.rewarm_steps=250 \
  discriminator.warmup_steps=0 discriminator.lead_steps=800 discriminator.optim.schedule_steps=70000 \
  run.max_steps=${MAX_STEPS:-41000} run.save_every=250 run.sample_every=0 "$@"
