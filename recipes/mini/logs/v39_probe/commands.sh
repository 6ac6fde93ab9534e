#!/usr/bin/env bash
# The probes of 2026-12-01 (third session), as run. All from the shipped v2.14 with its discriminators
# (logs/v37_eval), the settings of the fm 30 probe of the session before (runs/tokenizer_v214_fm30, logs/v2/
# tokenizer_v214_fm30_config.json: fm 30 / adv 4, discriminators every 4th step, generator lr 5e-5 after 200 warm-up
# steps, cooled down over the last 600 of 1500 steps), which is their control; one variable each.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
# tf2, tf8: the teacher-feature loss (losatok_plugin/losses/teacher_feature.py) at weight 2 and 8; side by side,
# one thread each, about 43 min
for W in 2 8; do
  R=runs/tokenizer_v215_tf$W STEPS=1500 bash recipes/mini/logs/dsize_probe/phase.sh \
      discriminator.init_from=recipes/mini/logs/v37_eval discriminator.lead_steps=0 optim.cooldown_steps=600 \
      loss_weights.teacher=$W &
done
wait
# mean: the decoder trained on the posterior mean instead of a sample (sample_posterior=false); run alone with
# OMP_NUM_THREADS=2 (phase.sh's thread count edited to 2 for it), about 15 min
R=runs/tokenizer_v215_mean STEPS=1500 bash recipes/mini/logs/dsize_probe/phase.sh \
    discriminator.init_from=recipes/mini/logs/v37_eval discriminator.lead_steps=0 optim.cooldown_steps=600 \
    sample_posterior=false
# dec: the same with the encoder frozen (only the decoder learns; latents stay v2.14's); alone, two threads, ~25 min
# (beside the evaluations of mean)
R=runs/tokenizer_v215_dec STEPS=1500 bash recipes/mini/logs/dsize_probe/phase.sh \
    discriminator.init_from=recipes/mini/logs/v37_eval discriminator.lead_steps=0 optim.cooldown_steps=600 \
    sample_posterior=false "freeze=[acoustic,gaussian]"
# measured with: recipes/mini/export.py --run R --out runs/mini_v215_X; compare_clips.py 0 X=... --wer 300 --seed 2
# --dnsmos 60 (the control: fm30=runs/mini_v214_fm30); compare_clips.py 60 ... --manifest data/corpus/test_real.jsonl;
# compare_clips.py 36 ... --domain music; posterior_spread.py (the latent's informative dimensions)
