"""Train LoSATok: stage 0 (a small semantic encoder, mini recipe only), stage 1 (SemBo), stage 2 (tokenizer), or a DiT on its latents.

    python recipes/train.py semantic_encoder --config recipes/configs/semantic_encoder_mini.yaml [--resume|--overwrite] [key=value ...]
    python recipes/train.py sembo     --config recipes/configs/sembo_mini.yaml     [--resume|--overwrite] [key=value ...]
    python recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml [--resume|--overwrite] [key=value ...]
    python recipes/train.py tokenizer --config recipes/configs/finetune_mini.yaml data.train_manifest=my/train.jsonl
    accelerate launch --num_processes 8 recipes/train.py tokenizer --config recipes/configs/tokenizer_paper.yaml
    torchrun --standalone --nproc_per_node 2 recipes/train.py sembo --config recipes/configs/sembo_mini.yaml
    python recipes/train.py dit       --config recipes/configs/dit_tts_mini.yaml   [--resume|--overwrite] [key=value ...]

Stages come from the registry (losatok_plugin/training/stages.py); `teacher` is an alias of `semantic_encoder`.
Without --resume, an output_dir that holds an earlier run is refused (--overwrite deletes it first);
--resume with nothing to resume is an error. Errors are one line (exit status 1); --debug shows tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import sys

from losatok_plugin.configuration import ConfigError
from losatok_plugin.data import DomainSharesError, FeatureCacheError, NoUsableFilesError
from losatok_plugin.data.manifest import ManifestError
from losatok_plugin.training.errors import TrainingError
from losatok_plugin.training.stages import ALIASES, DESCRIPTIONS, STAGES, get_stage, train
from losatok_plugin.training.yaml_config import load_stage_config

# Errors whose message says what to do: printed as one line (with --debug: the traceback).
CLEAR_ERRORS = (
    TrainingError,
    ConfigError,
    FeatureCacheError,
    ManifestError,
    NoUsableFilesError,
    DomainSharesError,
    FileNotFoundError,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "stage",
        choices=[*STAGES, *ALIASES],
        help="; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()),
    )
    p.add_argument("--config", required=True, help="YAML config (unknown keys are errors)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from <run.output_dir>/checkpoints/latest")
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an earlier run in run.output_dir (checkpoints, final/, logs) and start over",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. run.max_steps=100 data.batch_size=4")
    args = p.parse_intermixed_args()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[losatok] %(message)s"))
    for name in ("losatok_plugin.training", "losatok_plugin.data"):  # the engine's and the data's progress lines
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        cfg = load_stage_config(get_stage(args.stage).config, args.config, args.overrides)
        if args.overwrite:
            cfg.run.overwrite = True
        train(args.stage, cfg, resume=args.resume)
    except CLEAR_ERRORS as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
