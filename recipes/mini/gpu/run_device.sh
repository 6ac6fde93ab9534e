#!/usr/bin/env bash
# The ONE command a GPU session runs through the device tool, from the repository root:
#
#   bash recipes/mini/gpu/run_device.sh [tokenizer|semantic_encoder] [key=value ...]
#   carry: packs/mini_v2 packs/.whl [packs/resume]
#
# Installs the carried wheels into /tmp/site, trains the stage from the pack (packs/mini_v2/train.jsonl,
# Ogg/Opus read directly by soundfile; init/ is the stage-1 export the tokenizer starts from) for
# BUDGET_S seconds of wall clock (then SIGTERM: the trainer saves a checkpoint and stops), resuming
# from packs/resume/ when it holds a returned checkpoint, and puts the latest checkpoint (with its
# metrics) into $OUT as ckpt.tgz.part0.. (15 MiB each) + ckpt.tgz.sha256, beside train.log.
# recipes/mini/gpu/resume_here.sh puts them back into runs/<stage>_mini on the CPU machine.
#
# Environment (defaults for an H200): BUDGET_S=420 BATCH=64 PREC=bf16 (float32: PREC="'no'", quoted: a bare no is
# YAML's false) PARTS_FROM= (e.g. losatok-mini:
# the tokenizer's trainable parts start from that model, as recipes/mini/compose_init.py; "" = random)
# SAVE_EVERY=500 WORKERS=6 PACK=packs/mini_v2 WHEELS=packs/.whl RESUME=packs/resume RUN=/tmp/run
# PY=python3. CPU smoke: DEVICE=cpu MAX_STEPS=2 CONFIG=<tiny yaml> PY=.venv/bin/python (wheels skipped).
set -euo pipefail
cd "$(dirname "$0")/../../.."
STAGE=${1:-tokenizer}
[ $# -gt 0 ] && shift
case "$STAGE" in
    tokenizer | semantic_encoder) ;;
    teacher) STAGE=semantic_encoder ;;  # stage 0's old name
    *) echo "error: stage must be tokenizer or semantic_encoder, got '$STAGE' (the DiT stage trains on latents, not this pack)" >&2; exit 2 ;;
esac
PY=${PY:-python3}
PACK=${PACK:-packs/mini_v2}
WHEELS=${WHEELS:-packs/.whl}
RESUME=${RESUME:-packs/resume}
RUN=${RUN:-/tmp/run}
rm -rf "$RUN.init"
OUT=${OUT:?set OUT to the folder that comes back (the device tool sets it)}
BUDGET_S=${BUDGET_S:-420}
DEVICE=${DEVICE:-cuda}
CONFIG=${CONFIG:-recipes/configs/${STAGE}_mini.yaml}
[ -f "$PACK/train.jsonl" ] || { echo "error: no pack at $PACK (build it: recipes/mini/gpu/pack.py build)" >&2; exit 1; }

if [ "$DEVICE" != cpu ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/site:$PWD
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
fi
export PYTHONUNBUFFERED=1

args=(
    "data.train_manifest=$PACK/train.jsonl"
    "data.valid_manifest=$([ -f "$PACK/valid.jsonl" ] && echo "$PACK/valid.jsonl" || true)"
    "data.batch_size=${BATCH:-64}"
    "data.num_workers=${WORKERS:-6}"
    "run.output_dir=$RUN"
    "run.save_every=${SAVE_EVERY:-500}"
    "run.keep_checkpoints=1"
    "run.progress=false"
)
if [ "$DEVICE" = cpu ]; then args+=("run.cpu=true" "run.mixed_precision='${PREC:-no}'"); else args+=("run.mixed_precision=${PREC:-bf16}"); fi
[ -n "${MAX_STEPS:-}" ] && args+=("run.max_steps=$MAX_STEPS")
if [ "$STAGE" = tokenizer ]; then
    args+=("data.feature_cache=")  # the teacher runs online on the GPU
    if [ -d "$PACK/init" ]; then  # frozen parts only: complete them into a whole export
        $PY recipes/mini/gpu/pack.py expand-init --pack "$PACK" --out "$RUN.init" --parts-from "${PARTS_FROM:-}"
        args+=("init_from=$RUN.init")
    elif ! printf '%s\n' "$@" | grep -q '^init_from='; then  # runs/ does not travel
        echo "error: $PACK has no init/ (pack.py init --pack $PACK --init runs/sembo_mini/final) and no init_from= was given" >&2
        exit 1
    fi
fi

mode=(--overwrite)
if [ -f "$RESUME/ckpt.tgz.sha256" ]; then  # a checkpoint as run_device.sh returns it (see resume_here.sh)
    bash recipes/mini/gpu/resume_here.sh "$RESUME" "$RUN"
    mode=(--resume)
fi

start=$(date +%s)
set +e
timeout -s TERM -k 90 "$BUDGET_S" $PY recipes/train.py "$STAGE" --config "$CONFIG" "${mode[@]}" "${args[@]}" "$@" \
    2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
set -e
wall=$(($(date +%s) - start))
[ "$rc" = 0 ] || [ "$rc" = 124 ] || { echo "error: training exited with status $rc" >&2; exit "$rc"; }

# A tokenizer checkpoint is ~63 MiB with the discriminators on (train_state.pt, the AdamW moments, ~34
# MiB), over the 16 MiB a returned file may have and near the 64 MiB of all of them: one gzipped tar of
# the checkpoint (+ STEP, metrics; gzip -1 saves ~7 %) cut into 15 MiB parts, and its hash.
ckpt="$RUN/checkpoints/$(cat "$RUN/checkpoints/latest")"
step=$(basename "$ckpt" | sed 's/^step_//')
echo "$step" >"$ckpt/STEP"
cp "$RUN/metrics.jsonl" "$ckpt/metrics.jsonl" 2>/dev/null || true
cp "$RUN/config.json" "$ckpt/run_config.json" 2>/dev/null || true  # what the device ran (its paths are the device's)
tar -C "$ckpt" -cf - . | gzip -1 >"$RUN/ckpt.tgz"
split -b 15m -d -a 1 "$RUN/ckpt.tgz" "$OUT/ckpt.tgz.part"
(cd "$RUN" && sha256sum ckpt.tgz) >"$OUT/ckpt.tgz.sha256"
echo "stage=$STAGE step=$((10#$step)) wall_s=$wall rc=$rc" | tee -a "$OUT/train.log"
ls -la "$OUT"
