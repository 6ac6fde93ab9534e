"""Run the paper's experiments at small scale, resumably (issue 17; recipes/paper/README.md).

    python -m recipes.paper.run                                   # every experiment, budget "small"
    python -m recipes.paper.run --only sembo_vs_pca --budget tiny --teacher losatok_plugin/pretrained/losatok-mini
    python -m recipes.paper.run --only latent_width --wide-teacher runs/teacher_wide/final
    python -m recipes.paper.report                                # REPORT.md + plots from results/*.json

Each step runs once: a rerun skips the steps with a marker in <work>/markers and resumes interrupted
training from its checkpoints. Measured numbers go to <results>/<experiment>.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from losatok_plugin.data.feature_cache import FeatureCacheError
from recipes.paper.driver import BUDGETS, Context, run_plan
from recipes.paper.experiments import EXPERIMENTS, STEPS, StepStopped, check_feature_cache

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", choices=list(EXPERIMENTS), help="run only this experiment (repeatable)")
    p.add_argument("--budget", default="small", choices=list(BUDGETS), help="training steps, probe sizes, seeds")
    p.add_argument(
        "--teacher",
        default="runs/teacher_mini/final",
        help="stage-0 export (LoSATokVAE folder) whose teacher SemBo compresses (default: the mini recipe's)",
    )
    p.add_argument(
        "--feature-cache",
        default="",
        help="cached features of --teacher on the train clips (recipes/cache_features.py) for SemBo and the "
        "tokenizers (checked against the teacher; default: run the teacher online)",
    )
    p.add_argument("--wide-teacher", default="", help="latent_width: a wider stage-0 export (default: train one)")
    p.add_argument("--corpus", default="data/corpus", help="folder with train/valid/test/test_real.jsonl")
    p.add_argument("--work", default=None, help="runs and features (default: runs/paper/<budget>)")
    p.add_argument("--results", default=str(HERE / "results"), help="where <experiment>.json go")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if not Path(args.teacher, "config.json").is_file():
        p.error(f"--teacher {args.teacher}: no config.json (train stage 0 first, or name another export)")
    if not Path(args.corpus, "train.jsonl").is_file():
        p.error(f"--corpus {args.corpus}: no train.jsonl")
    if args.feature_cache:
        try:
            check_feature_cache(args.feature_cache, args.teacher)
        except (ValueError, FeatureCacheError) as e:
            p.error(f"--feature-cache: {e}")
    ctx = Context(
        work=Path(args.work or f"runs/paper/{args.budget}"),
        results=Path(args.results),
        budget=BUDGETS[args.budget],
        teacher=args.teacher,
        corpus=Path(args.corpus),
        wide_teacher=args.wide_teacher,
        feature_cache=args.feature_cache,
        progress=not args.no_progress,
    )
    try:
        ran = run_plan(ctx, STEPS, EXPERIMENTS, args.only)
    except StepStopped as e:  # SIGINT / SIGTERM during training: checkpoint saved, step not marked done
        print(f"[paper] {e}", file=sys.stderr)
        return 1
    print(f"[paper] done: {len(ran)} step(s) ran ({', '.join(ran) or 'none'}); results in {ctx.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
