#!/usr/bin/env bash
# semantic-weight probe, as run: continue FROM (a run folder) at its checkpoint STEP for 3000 steps with v2.12's
# settings, re-warmed at STEP and cooled down over the last 1000; R=new run folder, SEM=semantic weight.
#   round 1 (defaults FROM=runs/tokenizer_v34sem1 STEP=41000, v2.12): SEM=1 (control), SEM=0.3 (v2.13)
#   round 2 (FROM=runs/tokenizer_v36sem03 STEP=44000, v2.13): SEM=0.3, SEM=0
#   round 3, GAN weights (FROM=runs/tokenizer_v37sem03 STEP=47000 SEM=0.3, 2500 steps, cool-down 800):
#     ... phase.sh loss_weights.fm=10 loss_weights.adv=2 optim.cooldown_steps=800 run.max_steps=49500 (and fm 30, adv 4)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
R=${R:?} FROM=${FROM:-runs/tokenizer_v34sem1} STEP=${STEP:-41000}
CKPT=$(printf "step_%08d" "$STEP")
if [ ! -d $R ]; then
  [ -d $FROM/checkpoints/$CKPT ] || { echo "$FROM has no step $STEP" >&2; exit 1; }
  mkdir -p $R/checkpoints
  cp -r $FROM/checkpoints/$CKPT $R/checkpoints/
  echo $CKPT > $R/checkpoints/latest
  cp $FROM/config.json $R/
fi
OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml --resume \
  init_from=losatok_plugin/pretrained/losatok-mini run.output_dir=$R data.feature_cache= \
  data.train_manifest=data/corpus/train.jsonl \
  loss_weights.kl=1e-3 loss_weights.semantic=${SEM:?} loss_weights.stft=6 \
  data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
  optim.lr=1.5e-4 optim.warmup_steps=200 optim.schedule_steps=70000 optim.cooldown_steps=1000 \
  optim.rewarm_at=$STEP optim.rewarm_steps=250 \
  discriminator.warmup_steps=0 discriminator.lead_steps=800 discriminator.optim.schedule_steps=70000 \
  run.max_steps=$((STEP + 3000)) run.save_every=250 run.sample_every=0 "$@"
