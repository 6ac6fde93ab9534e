"""CPU cost of a corpus build per kind of job, from a few sampled jobs (no full build needed).

    python -m recipes.data.profile_corpus [--hours 3] [--per-kind 6] [--no-real]

Runs ``--per-kind`` random jobs of each kind one by one in this process and prints, per kind, the CPU
seconds per job (this process + its espeak-ng / ffmpeg / fluidsynth subprocesses) and the estimated
CPU minutes of the whole build; the wall clock of ``make corpus`` is about that total over its workers
on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from recipes.data.build_corpus import _job, corpus_jobs


def _cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=3.0)
    p.add_argument("--music-seconds", type=float, default=60.0)
    p.add_argument("--per-kind", type=int, default=6, help="sampled jobs per kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-real", action="store_true", help="only the synthetic jobs")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        by_kind: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for job in corpus_jobs(Path(tmp), args.hours, args.seed, args.music_seconds, real=not args.no_real):
            by_kind[job[:2]].append(job)
        rng = random.Random(args.seed)
        total = 0.0
        print(f"{'kind':<22} {'jobs':>6} {'CPU s/job':>10} {'wall s/job':>11} {'CPU min':>8}")
        for kind, jobs in by_kind.items():
            sample = rng.sample(jobs, min(args.per_kind, len(jobs)))
            c0, t0 = _cpu_seconds(), time.time()
            for job in sample:
                _job(job)
            cpu, wall = (_cpu_seconds() - c0) / len(sample), (time.time() - t0) / len(sample)
            total += cpu * len(jobs)
            print(
                f"{'/'.join(kind):<22} {len(jobs):>6} {cpu:>10.3f} {wall:>11.2f} {cpu * len(jobs) / 60:>8.1f}",
                flush=True,
            )
        print(f"estimated CPU of the whole build: {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
