#!/usr/bin/env bash
# wide-decoder probe, as run: widen the decoder's residual width of FROM_MODEL (a save_pretrained folder) by 2
# (decoder_dim 256 -> 512: `grow_decoder.py --width-factor 2`, output unchanged), then train it on with the settings of
# FROM_RUN's last phase (semantic 0.3, STFT 6, fm 30, adv 4) and FROM_RUN's discriminators at STEP; lr 8e-5 flat after
# 200 warm-up steps (about the cosine's lr at that step, as the grown-decoder probe), cooled down over the last 1500 of
# STEPS. R=new run folder. Resumable: run it again with the same R.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
R=${R:?} FROM_MODEL=${FROM_MODEL:-runs/mini_v38fm30} FROM_RUN=${FROM_RUN:-runs/tokenizer_v38fm30} STEP=${STEP:-49500}
STEPS=${STEPS:-8000}
CKPT=$(printf "step_%08d" "$STEP")
[ -d $FROM_RUN/checkpoints/$CKPT ] || { echo "$FROM_RUN has no step $STEP" >&2; exit 1; }
WIDE=${FROM_MODEL}_wide
[ -f $WIDE/config.json ] || PYTHONPATH=$PWD .venv/bin/python recipes/mini/grow_decoder.py --model $FROM_MODEL --out $WIDE --width-factor 2
RESUME=""; [ -f $R/checkpoints/latest ] && RESUME=--resume
OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml $RESUME \
  init_from=$WIDE model.decoder_dim=512 run.output_dir=$R data.feature_cache= \
  data.train_manifest=data/corpus/train.jsonl \
  loss_weights.kl=1e-3 loss_weights.semantic=0.3 loss_weights.stft=6 loss_weights.fm=30 loss_weights.adv=4 \
  data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
  optim.lr=8e-5 optim.warmup_steps=200 optim.schedule_steps=1000000 optim.cooldown_steps=1500 \
  discriminator.warmup_steps=0 discriminator.lead_steps=0 discriminator.init_from=$FROM_RUN/checkpoints/$CKPT \
  discriminator.optim.lr=9e-5 discriminator.optim.schedule_steps=1000000 \
  run.max_steps=$STEPS run.save_every=250 run.sample_every=0 "$@"
