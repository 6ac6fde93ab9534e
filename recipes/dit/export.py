"""Export a DiT run's latest checkpoint (its EMA) as a pipeline folder, while training goes on.

    python recipes/dit/export.py --config recipes/configs/dit_tts_mini.yaml --out losatok_plugin/pretrained/dit-tts-mini \
        [key=value ...]   # the same overrides as the training run
"""

from __future__ import annotations

import argparse

from losatok_plugin.training import DiTStageConfig
from losatok_plugin.training.config import load_stage_config
from losatok_plugin.training.dit import export_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="the run's YAML config")
    p.add_argument("--out", default=None, help="pipeline folder (default: <run.output_dir>/pipeline)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, as given to recipes/train.py")
    args = p.parse_args()
    print(export_checkpoint(load_stage_config(DiTStageConfig, args.config, args.overrides), args.out))


if __name__ == "__main__":
    main()
