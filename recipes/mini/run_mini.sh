#!/usr/bin/env bash
# Reproduce losatok-mini end to end on a CPU: corpus -> semantic encoder (stage 0) -> feature cache -> SemBo -> tokenizer ->
# export -> held-out evaluation. Every stage resumes: run it again after an interruption (or in the next
# session) and it continues where it stopped. Stage lengths are the configs' run.max_steps; extra
# arguments go to the tokenizer stage. The v2.14 model (the one shipped now) is this script as it stands: its warm
# start takes the v1 model's trained parts from git (PARTS_FROM=git:5923fb3, the default; PARTS_FROM= trains
# stage 2 from random weights instead), the tokenizer runs its whole schedule (four phases below, v2.4), then a
# second stage-2 run from that export in ten phases (v2.5 to v2.13), then a third from the v2.13 export in two (v2.14;
# the first of them ran on a GPU, see below). STOP_AT=19353 stops where v2.1 was exported,
# STOP_AT=29250 where v2.2 was, STOP_AT=41250 where v2.3 was, STOP_AT=49250 where v2.4 was.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-losatok_plugin/pretrained/losatok-mini}
STOP_AT=${STOP_AT-0}  # checked before any stage runs: a typo must not cost hours of training
[[ "$STOP_AT" =~ ^[0-9]+$ ]] || { echo "run_mini.sh: STOP_AT must be a step number (0 = the whole schedule), got '$STOP_AT'" >&2; exit 2; }
# --resume when the stage has checkpoints, else a new run (train.py refuses --resume with nothing to resume)
resume() { [ -f "$1/checkpoints/latest" ] && echo --resume || true; }

[ -f data/corpus/train.jsonl ] || $PY -m recipes.data.build_corpus --out data/corpus --hours "${HOURS:-3}"
[ -f runs/teacher_mini/final/config.json ] || $PY recipes/train.py semantic_encoder \
    --config recipes/configs/semantic_encoder_mini.yaml $(resume runs/teacher_mini)
$PY recipes/cache_features.py --manifest data/corpus/train.jsonl --teacher runs/teacher_mini/final \
    --out data/cache/teacher_mini
[ -f runs/sembo_mini/final/config.json ] || $PY recipes/train.py sembo --config recipes/configs/sembo_mini.yaml \
    $(resume runs/sembo_mini) teacher=runs/teacher_mini/final data.feature_cache=data/cache/teacher_mini
# PARTS_FROM=<model> (a folder, losatok-mini, or git:REV): stage 2 starts from that model's trained acoustic branch, Gaussian
# head and decoder on top of the new teacher + SemBo (a warm start: compose_init.py) instead of random weights
init=runs/sembo_mini/final
PARTS_FROM=${PARTS_FROM-git:5923fb3}
if [ -n "$PARTS_FROM" ]; then
    [ -f runs/tokenizer_init/config.json ] || $PY recipes/mini/compose_init.py --base runs/sembo_mini/final \
        --parts-from "$PARTS_FROM" --out runs/tokenizer_init
    init=runs/tokenizer_init
fi
# Four phases on one run folder (recipes/mini/README.md, "v2.2" to "v2.4"): stage 2's weights to step $KL_SWITCH;
# the v2.2 cool-down to $V22_END with the KL weight of the paper's kl1e-3 checkpoint (more information in the latent);
# then the v2.3 continuation: the lr re-warmed from 0 over 250 steps onto the same 50k cosine and cooled down again
# at the config's max_steps (41250); then v2.4's phase below. STOP_AT=N stops at step N (19353: v2.1, 29250: v2.2,
# 41250: v2.3).
KL_SWITCH=22250
V22_END=29250
V23_END=41250
V24_END=49250
stop_in() { [ "$STOP_AT" -gt "$1" ] && [ "$STOP_AT" -lt "$2" ] && echo "$STOP_AT" || echo 0; }
go_on() { [ "$STOP_AT" -eq 0 ] || [ "$STOP_AT" -gt "$1" ]; }
first_stop=$KL_SWITCH
[ "$STOP_AT" -gt 0 ] && [ "$STOP_AT" -lt "$KL_SWITCH" ] && first_stop=$STOP_AT
$PY recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml $(resume runs/tokenizer_mini) \
    init_from=$init data.feature_cache=data/cache/teacher_mini run.stop_at="$first_stop" "$@"
if go_on $KL_SWITCH; then
    $PY recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml --resume \
        init_from=$init data.feature_cache=data/cache/teacher_mini loss_weights.kl=1e-3 \
        run.max_steps=$V22_END optim.cooldown_steps=7000 run.stop_at="$(stop_in $KL_SWITCH $V22_END)" "$@"
fi
if go_on $V22_END; then
    $PY recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml --resume \
        init_from=$init data.feature_cache=data/cache/teacher_mini loss_weights.kl=1e-3 \
        optim.rewarm_at=$V22_END optim.rewarm_steps=250 run.stop_at="$(stop_in $V22_END $V23_END)" "$@"
fi
# v2.4: re-warmed again at 41250 onto a 70k cosine (1.8e-4) with crops drawn per domain (speech 0.5, music
# 0.3, sound 0.2; sources by hours**0.5: data.domain_shares / data.source_alpha) instead of one per clip, which gave
# music 5.6 % and sound 4.9 % of the crops; cooled down over the last 3000 steps to $V24_END. STOP_AT=41250: v2.3.
if go_on $V23_END; then
    $PY recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml --resume \
        init_from=$init data.feature_cache=data/cache/teacher_mini loss_weights.kl=1e-3 \
        data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
        optim.rewarm_at=$V23_END optim.rewarm_steps=250 optim.schedule_steps=70000 \
        discriminator.optim.schedule_steps=70000 run.max_steps=$V24_END optim.cooldown_steps=3000 \
        run.stop_at="$STOP_AT" "$@"
fi
# v2.5 and later: a second stage-2 run from the v2.4 export (recipes/mini/README.md, "v2.5" on): the dual semantic
# loss at weight 10 instead of 45 (the acoustic branch was pulled towards a teacher that holds little of the spectrum),
# new discriminators that train alone for the first 800 steps (discriminator.lead_steps), lr 1.5e-4 flat (a 70k
# cosine) and cooled down over the last 1500 steps of each phase; teacher online, as it was run. Its phases resume one
# run folder; a phase whose steps are done trains nothing.
second_run() {
    $PY recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml $(resume runs/tokenizer_v25) \
        init_from=runs/mini_v24 run.output_dir=runs/tokenizer_v25 data.feature_cache= loss_weights.kl=1e-3 \
        data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 data.source_alpha=0.5 \
        optim.lr=1.5e-4 optim.warmup_steps=200 optim.schedule_steps=70000 optim.cooldown_steps=1500 \
        discriminator.warmup_steps=0 discriminator.lead_steps=800 discriminator.optim.schedule_steps=70000 \
        run.sample_every=0 "$@"
}
run=runs/tokenizer_mini
if [ "$STOP_AT" -eq 0 ]; then
    [ -f runs/mini_v24/config.json ] || $PY recipes/mini/export.py --run runs/tokenizer_mini --out runs/mini_v24
    second_run loss_weights.semantic=10 run.max_steps=6000 "$@"  # v2.5
    # v2.6 and v2.7: semantic weight 3, re-warmed over 250 steps at each start
    second_run loss_weights.semantic=3 optim.rewarm_at=6000 optim.rewarm_steps=250 run.max_steps=8000 "$@"
    second_run loss_weights.semantic=3 optim.rewarm_at=8000 optim.rewarm_steps=250 run.max_steps=13000 "$@"
    # v2.8: the multi-resolution STFT loss joins at weight 3 (losses/stft.py: music's upper partials); v2.9: 5000 more
    second_run loss_weights.semantic=3 loss_weights.stft=3 optim.rewarm_at=13000 optim.rewarm_steps=250 \
        run.max_steps=16000 "$@"
    second_run loss_weights.semantic=3 loss_weights.stft=3 optim.rewarm_at=16000 optim.rewarm_steps=250 \
        run.max_steps=21000 "$@"
    # v2.10: the STFT loss at weight 6; v2.11 (shipped): 6000 more steps of it
    second_run loss_weights.semantic=3 loss_weights.stft=6 optim.rewarm_at=21000 optim.rewarm_steps=250 \
        run.max_steps=27000 "$@"
    second_run loss_weights.semantic=3 loss_weights.stft=6 optim.rewarm_at=27000 optim.rewarm_steps=250 \
        run.max_steps=33000 "$@"
    # v2.12: 5000 more steps of it (the "v2.12 candidate"), then 3000 with the semantic loss at weight 1,
    # cooled down over the last 1000 (recipes/mini/README.md, "Game voices, semantic weight 1, ...")
    second_run loss_weights.semantic=3 loss_weights.stft=6 optim.rewarm_at=33000 optim.rewarm_steps=250 \
        run.max_steps=38000 "$@"
    second_run loss_weights.semantic=1 loss_weights.stft=6 optim.rewarm_at=38000 optim.rewarm_steps=250 \
        optim.cooldown_steps=1000 run.max_steps=41000 "$@"
    # v2.13 (shipped): 3000 more with the semantic loss at weight 0.3, cooled down over the last 1000
    # (recipes/mini/README.md, "v2.13 ... semantic weight 0.3 against a weight-1 control")
    second_run loss_weights.semantic=0.3 loss_weights.stft=6 optim.rewarm_at=41000 optim.rewarm_steps=250 \
        optim.cooldown_steps=1000 run.max_steps=44000 "$@"
    # v2.14 (shipped): a third run from the v2.13 export (recipes/mini/README.md, "A first GPU run"). Its first phase
    # ran on a GPU (recipes/mini/logs/gpu_v3/gpu_v3.sh through gpu/run_device.sh; its settings are
    # recipes/configs/tokenizer_mini_gpu.yaml): batch 64 on a pack of the corpus, new discriminators on every step
    # after a 500-step lead, fm 30 / adv 4, lr 1.5e-4 flat, 3500 steps. Put a
    # returned checkpoint into runs/tokenizer_v214gpu with gpu/resume_here.sh and this goes on from it; otherwise the
    # CPU trains the phase itself, resumably (batch 64: many hours on 2 cores). Then 2000 steps on the CPU from that
    # export and its discriminators at fm 10 / adv 2, cooled down over the last 800.
    [ -f runs/mini_v213/config.json ] || $PY recipes/mini/export.py --run runs/tokenizer_v25 --out runs/mini_v213
    [ -f packs/mini_v3/train.jsonl ] || $PY recipes/mini/gpu/pack.py build --manifest data/corpus/train.jsonl \
        --valid-manifest data/corpus/valid.jsonl --out packs/mini_v3 --budget-mb 40 --kbps 64
    [ -f runs/tokenizer_v214gpu/final/config.json ] || $PY recipes/train.py tokenizer \
        --config recipes/configs/tokenizer_mini_gpu.yaml $(resume runs/tokenizer_v214gpu) init_from=runs/mini_v213 \
        run.output_dir=runs/tokenizer_v214gpu data.train_manifest=packs/mini_v3/train.jsonl \
        data.valid_manifest=packs/mini_v3/valid.jsonl
    [ -f runs/mini_v214gpu/config.json ] || $PY recipes/mini/export.py --run runs/tokenizer_v214gpu \
        --out runs/mini_v214gpu --step 3500 --init-from runs/mini_v213
    $PY recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml $(resume runs/tokenizer_v214) \
        init_from=runs/mini_v214gpu discriminator.init_from=runs/mini_v214gpu run.output_dir=runs/tokenizer_v214 \
        data.feature_cache= loss_weights.kl=1e-3 loss_weights.semantic=0.3 loss_weights.stft=6 loss_weights.fm=10 \
        loss_weights.adv=2 data.domain_shares.speech=0.5 data.domain_shares.music=0.3 data.domain_shares.sound=0.2 \
        data.source_alpha=0.5 optim.lr=5e-5 optim.warmup_steps=200 optim.schedule_steps=1000000 \
        optim.cooldown_steps=800 discriminator.warmup_steps=0 discriminator.lead_steps=0 \
        discriminator.optim.lr=2e-4 discriminator.optim.schedule_steps=1000000 run.max_steps=2000 run.sample_every=0 "$@"
    run=runs/tokenizer_v214
fi
# STOP_AT>0 exports that step's checkpoint, never a later final/ (an error if the run no longer keeps it)
$PY recipes/mini/export.py --run "$run" --out "$OUT" --step "$STOP_AT" --no-discriminators  # the shipped folder: the VAE only
$PY recipes/mini/evaluate.py --model "$OUT" --out runs/eval_mini --manifest data/corpus/test.jsonl \
    --manifest data/corpus/test_real.jsonl --card recipes/mini/card.json
