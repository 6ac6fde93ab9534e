"""Build the offline training corpus: synthetic speech, procedural music, synthesised and real sounds.

    python -m recipes.data.build_corpus --out data/corpus [--hours 3] [--seed 0] [--workers 2]

Needs Debian packages only (no network at run time): espeak-ng flite fluidsynth fluid-soundfont-gm
timgm6mb-soundfont fortunes-min wngerman wfrench wspanish witalian wdutch wportuguese, and for real
recordings ktuberling-data sound-theme-freedesktop sound-icons frozen-bubble-data (``make corpus-deps``).

Writes 16 kHz mono PCM-16 wavs and the manifests ``train.jsonl``, ``valid.jsonl``, ``test.jsonl``
(held-out synthetic clips: unseen sentences / pieces / events) and ``test_real.jsonl`` (real recordings
the model never sees: held-out languages, sound effects and game music), plus ``stats.json``.
The same seed and size give the same corpus.

With flight-of-the-amazon-queen / drascula installed it also writes ``train_voices.jsonl`` (band-limited game
voice casts, ``corpus_voices.py``) and ``train_with_voices.jsonl`` (``train.jsonl`` + those rows); ``--voices-only``
adds just these two to a corpus built before.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from multiprocessing import Pool
from pathlib import Path

from tqdm import tqdm

from losatok_plugin.fileio import atomic_write_text

from .corpus_common import CorpusError, require_tool, shared_paths, stable_fraction
from .corpus_music import make_music
from .corpus_real import available_sources, make_real, real_jobs
from .corpus_sound import make_sound
from .corpus_speech import make_speech
from .corpus_voices import voice_jobs

SHARES = {"speech": 0.5, "music": 0.3, "sound": 0.2}
MEAN_SECONDS = {"speech": 5.5, "music": 10.0, "sound": 4.5}  # measured averages of one clip
MAKERS = {"speech": make_speech, "music": make_music, "sound": make_sound}
SPLITS = ("train", "valid", "test", "test_real", "train_voices")


def synthetic_split(key: str, seed: int, test: float = 0.05, valid: float = 0.05) -> str:
    u = stable_fraction(f"{seed}:{key}")
    return "test" if u < test else "valid" if u < test + valid else "train"


def _job(job: tuple) -> list[dict]:
    out_dir = Path(job[-1])
    try:
        if job[0] == "real":
            return make_real(job[1], job[2], job[3], out_dir, job[4])
        _, domain, index, seed = job[:4]
        return [MAKERS[domain](index, seed, out_dir)]
    except (CorpusError, OSError, RuntimeError, ValueError) as e:  # one bad source file must not stop the build
        return [{"error": f"{type(e).__name__}: {e}", "job": [str(j) for j in job[:4]]}]


def corpus_jobs(out: Path, hours: float, seed: int, music_seconds: float, real: bool = True) -> list[tuple]:
    """Every clip job of a build (``_job``'s argument): synthetic ones sized by ``hours``, then the real
    recordings of the installed packages."""
    jobs: list[tuple] = []
    for domain, share in SHARES.items():
        n = max(1, round(hours * share * 3600 / MEAN_SECONDS[domain]))
        jobs += [("synth", domain, i, seed, str(out)) for i in range(n)]
    if real:
        jobs += [("real", kind, src, split, meta, str(out)) for kind, src, split, meta in real_jobs(music_seconds)]
    return jobs


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_with_voices(out: Path, train: list[dict], voice_rows: list[dict]) -> None:
    """``train_with_voices.jsonl``: ``train.jsonl``'s rows, then the voice casts' (absent without voice rows)."""
    target = out / "train_with_voices.jsonl"
    if not voice_rows:
        target.unlink(missing_ok=True)
        return
    atomic_write_text(target, _jsonl(train + voice_rows))


def build_voices_only(out: Path, workers: int) -> int:
    """Add the voice casts to a corpus built before (its ``train.jsonl`` is read, not changed)."""
    train = out / "train.jsonl"
    if not train.is_file():
        print(
            f"error: --voices-only adds to a built corpus; no {train} (run without --voices-only first)",
            file=sys.stderr,
        )
        return 2
    jobs = [("real", kind, src, split, meta, str(out)) for kind, src, split, meta in voice_jobs()]
    if not jobs:
        print("error: no voice casts installed (apt-get install flight-of-the-amazon-queen drascula)", file=sys.stderr)
        return 2
    rows, errors = [], []
    with Pool(workers) as pool:
        for result in tqdm(pool.imap(_job, jobs, chunksize=16), total=len(jobs), desc="voices", unit="clip"):
            for row in result:
                (errors if "error" in row else rows).append(row)
    for row in rows:
        row.pop("split", None)
    atomic_write_text(out / "train_voices.jsonl", _jsonl(rows))
    train_rows = [json.loads(line) for line in train.read_text(encoding="utf-8").splitlines() if line.strip()]
    write_with_voices(out, train_rows, rows)
    hours = sum(r["duration"] for r in rows) / 3600
    print(f"{len(rows)} voice clips, {hours:.2f} h -> {out / 'train_voices.jsonl'} and train_with_voices.jsonl")
    for e in errors[:10]:
        print(f"error: {e['job']}: {e['error']}", file=sys.stderr)
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="data/corpus", help="output folder (wavs + manifests)")
    p.add_argument("--hours", type=float, default=3.0, help="hours of synthetic audio (real recordings come on top)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument("--no-real", action="store_true", help="skip the real recordings from Debian packages")
    p.add_argument(
        "--music-seconds",
        type=float,
        default=60.0,
        help="seconds of evenly spaced 10 s excerpts taken from each real soundtrack track",
    )
    p.add_argument(
        "--voices-only",
        action="store_true",
        help="only (re)write train_voices.jsonl and train_with_voices.jsonl into an existing corpus",
    )
    args = p.parse_args(argv)
    if args.voices_only:
        return build_voices_only(Path(args.out), args.workers)
    for tool, pkg in (("espeak-ng", "espeak-ng"), ("flite", "flite"), ("fluidsynth", "fluidsynth")):
        require_tool(tool, pkg)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_real:
        missing = [k for k, ok in available_sources().items() if not ok]
        if missing:
            print(f"note: real sources not installed, skipped: {missing}", file=sys.stderr)
    jobs = corpus_jobs(out, args.hours, args.seed, args.music_seconds, real=not args.no_real)
    t0 = time.time()
    rows: dict[str, list[dict]] = defaultdict(list)
    errors = []
    with Pool(args.workers) as pool:
        for result in tqdm(pool.imap(_job, jobs, chunksize=4), total=len(jobs), desc="corpus", unit="clip"):
            for row in result:
                if "error" in row:
                    errors.append(row)
                    continue
                split = row.pop("split", None) or synthetic_split(row.pop("split_key"), args.seed)
                row.pop("split_key", None)
                rows[split].append(row)
    shared = shared_paths(r for split in rows.values() for r in split)
    if shared:
        first = ", ".join(f"{p} ({n} rows)" for p, n in list(shared.items())[:3])
        print(
            f"error: {sum(shared.values())} manifest rows name only {len(shared)} wav files (a later clip "
            f"overwrote an earlier one; no manifest written): {first}",
            file=sys.stderr,
        )
        return 1
    stats: dict = {
        "seed": args.seed,
        "hours_requested": args.hours,
        "build_seconds": round(time.time() - t0, 1),
        "splits": {},
        "errors": len(errors),
    }
    for split in SPLITS:
        (out / f"{split}.jsonl").write_text(_jsonl(rows[split]), encoding="utf-8")
        per = defaultdict(lambda: [0, 0.0])
        for row in rows[split]:
            per[row["domain"]][0] += 1
            per[row["domain"]][1] += row["duration"]
        stats["splits"][split] = {d: {"clips": c, "hours": round(s / 3600, 3)} for d, (c, s) in sorted(per.items())}
    write_with_voices(out, rows["train"], rows["train_voices"])
    stats["disk_mb"] = round(sum(f.stat().st_size for f in out.rglob("*.wav")) / 2**20, 1)
    stats["sources"] = dict(sorted(Counter(r.get("source", "?") for split in rows.values() for r in split).items()))
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2))
    print(f"{'split':10s} {'domain':8s} {'clips':>6s} {'hours':>7s}")
    for split, per in stats["splits"].items():
        for d, v in per.items():
            print(f"{split:10s} {d:8s} {v['clips']:6d} {v['hours']:7.3f}")
    print(f"built in {stats['build_seconds']} s; {stats['disk_mb']} MB of wavs; manifests in {out}")
    for e in errors[:10]:
        print(f"error: {e['job']}: {e['error']}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
