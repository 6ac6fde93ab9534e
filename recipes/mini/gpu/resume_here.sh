#!/usr/bin/env bash
# Put a checkpoint returned by run_device.sh (ckpt.tgz.part0.. + ckpt.tgz.sha256) into a run folder, so
# that `recipes/train.py <stage> --resume` (and `make mini`) continue from it:
#
#   bash recipes/mini/gpu/resume_here.sh FILES [RUN]   # FILES: the device run's files_at folder
#   RUN defaults to runs/tokenizer_mini. A RUN already at that step or later is refused.
set -euo pipefail
FILES=${1:?usage: resume_here.sh FILES [RUN]  (FILES holds ckpt.tgz.part* and ckpt.tgz.sha256)}
RUN=${2:-runs/tokenizer_mini}
[ -f "$FILES/ckpt.tgz.sha256" ] || { echo "error: $FILES holds no ckpt.tgz.sha256 (not a run_device.sh result)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat $(ls "$FILES"/ckpt.tgz.part* | sort -V) >"$tmp/ckpt.tgz"
(cd "$tmp" && sha256sum --quiet -c "$(realpath "$FILES/ckpt.tgz.sha256")") \
    || { echo "error: the parts in $FILES do not match ckpt.tgz.sha256 (a part missing or cut?)" >&2; exit 1; }
mkdir "$tmp/ckpt" && tar -C "$tmp/ckpt" -xzf "$tmp/ckpt.tgz"
step=$(cat "$tmp/ckpt/STEP")
if [ -f "$RUN/checkpoints/latest" ]; then
    have=$(sed 's/^step_//' "$RUN/checkpoints/latest")
    if [ $((10#$have)) -ge $((10#$step)) ]; then
        echo "error: $RUN is already at step $((10#$have)) >= the returned step $((10#$step))" >&2
        exit 1
    fi
fi
dst="$RUN/checkpoints/step_$step"
mkdir -p "$dst"
cp "$tmp"/ckpt/*.safetensors "$tmp"/ckpt/*.pt "$dst/"
echo "step_$step" >"$RUN/checkpoints/latest.tmp" && mv "$RUN/checkpoints/latest.tmp" "$RUN/checkpoints/latest"
# the device run's metrics after the steps this run already logged (the trainer truncates on --resume)
if [ -f "$tmp/ckpt/metrics.jsonl" ]; then cat "$tmp/ckpt/metrics.jsonl" >>"$RUN/metrics.jsonl"; fi
# the device run's whole config, as a record (its paths are the device's: export.py needs --init-from when init_from
# was the pack's init/)
if [ -f "$tmp/ckpt/run_config.json" ]; then cp "$tmp/ckpt/run_config.json" "$RUN/device_config_step_$step.json"; fi
echo "$dst ready (step $((10#$step))); continue: recipes/train.py <stage> --config ... --resume run.output_dir=$RUN"
