#!/usr/bin/env bash
# Two 400-step fine-tunes of the v3 teacher: spectrum read-out weight 0 (control) and 1; then the read-outs.
set -euo pipefail  # as run on 2026-11-29 (the readouts and metrics beside it)
cd "$(dirname "$0")/../../../.."  # the repository root (run where make mini ran)
PY=.venv/bin/python
export PYTHONPATH=. OMP_NUM_THREADS=1
common="init_from=runs/teacher_mini/final run.max_steps=400 optim.lr=1e-4 optim.warmup_steps=50 eval_every=0 run.save_every=100"
for w in 0 1; do
  [ -f runs/teacher_probe_spec$w/final/config.json ] || $PY recipes/train.py semantic_encoder \
      --config recipes/configs/semantic_encoder_mini.yaml $common loss_weights.spectrum=$w \
      run.output_dir=runs/teacher_probe_spec$w > runs/teacher_probe_spec$w.log 2>&1 &
done
wait
$PY recipes/mini/probe_latent_info.py --model runs/teacher_mini/final --model runs/teacher_probe_spec0/final \
    --model runs/teacher_probe_spec1/final --manifest data/corpus/test_real.jsonl --manifest data/corpus/test.jsonl \
    --out runs/teacher_probe_readouts > runs/teacher_probe_readout.log 2>&1
