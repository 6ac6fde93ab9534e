"""Train LoSATok: stage 0 (small teacher, mini recipe only), stage 1 (SemBo) or stage 2 (tokenizer).

    python recipes/train.py teacher   --config recipes/configs/teacher_mini.yaml   [--resume] [key=value ...]
    python recipes/train.py sembo     --config recipes/configs/sembo_mini.yaml     [--resume] [key=value ...]
    python recipes/train.py tokenizer --config recipes/configs/tokenizer_mini.yaml [--resume] [key=value ...]
    accelerate launch --num_processes 8 recipes/train.py tokenizer --config recipes/configs/tokenizer_paper.yaml
"""

from __future__ import annotations

import argparse

import _cli  # noqa: F401

from losatok_plugin.training import (
    SemboStageConfig,
    TeacherStageConfig,
    TokenizerStageConfig,
    train_sembo,
    train_teacher,
    train_tokenizer,
)
from losatok_plugin.training.config import load_stage_config

STAGES = {
    "teacher": (TeacherStageConfig, train_teacher),
    "sembo": (SemboStageConfig, train_sembo), "tokenizer": (TokenizerStageConfig, train_tokenizer),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=sorted(STAGES), help="teacher (stage 0), sembo (stage 1) or tokenizer (stage 2)")
    p.add_argument("--config", required=True, help="YAML config (unknown keys are errors)")
    p.add_argument("--resume", action="store_true", help="continue from <run.output_dir>/checkpoints/latest")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. run.max_steps=100 data.batch_size=4")
    args = p.parse_intermixed_args()
    cls, train = STAGES[args.stage]
    train(load_stage_config(cls, args.config, args.overrides), resume=args.resume)


if __name__ == "__main__":
    main()
