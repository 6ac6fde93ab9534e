#!/usr/bin/env bash
# discriminator-size probe, as run: a new stage-2 run from the shipped losatok-mini (v2.13) with new discriminators of
# CH channels (the config's 8, or more: MPD CH -> 16·CH, MRD CH), trained alone for the first 800 steps, then the
# round-3 GAN weights (fm 30, adv 4) beside semantic 0.3, STFT 6, KL 1e-3 and v2.13's crops; generator lr 5e-5 flat
# after 200 warm-up steps (about v2.13's cosine lr at its last re-warm), cooled down over the last 1000 of STEPS; the
# discriminators' lr 2e-4 flat. R=new run folder. Resumable: run it again with the same R. As run: STEPS=3500 with
# CH=8 and CH=16 (THREADS=n sets the torch threads, 1 by default); the lead-time diagnostic with STEPS=1500 and the extra arguments discriminator.every=1
# discriminator.lead_steps=1500 (and discriminator.optim.lr=1e-3), stopped at step 1025.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
R=${R:?} CH=${CH:-8} STEPS=${STEPS:-4000} FROM_MODEL=${FROM_MODEL:-losatok_plugin/pretrained/losatok-mini}
[ -f data/corpus/train.jsonl ] || { echo "no corpus: make corpus first" >&2; exit 1; }
RESUME=""; [ -f $R/checkpoints/latest ] && RESUME=--resume
OMP_NUM_THREADS=${THREADS:-1} PYTHONPATH=$PWD .venv/bin/python recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml $RESUME \
  init_from=$FROM_MODEL run.output_dir=$R data.feature_cache= data.train_manifest=data/corpus/train.jsonl \
  loss_weights.kl=1e-3 loss_weights.semantic=0.3 loss_weights.stft=6 loss_weights.fm=30 loss_weights.adv=4 \
  data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
  optim.lr=5e-5 optim.warmup_steps=200 optim.schedule_steps=1000000 optim.cooldown_steps=1000 \
  discriminator.channels=$CH discriminator.warmup_steps=0 discriminator.lead_steps=800 \
  discriminator.optim.lr=2e-4 discriminator.optim.schedule_steps=1000000 \
  run.max_steps=$STEPS run.save_every=250 run.sample_every=0 "$@"
