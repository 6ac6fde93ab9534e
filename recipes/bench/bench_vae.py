"""Benchmark LoSATokVAE encode/decode speed and memory on CPU; prints a table.

Each model size runs in its own subprocess so that peak memory (max RSS) is per size.

    python recipes/bench/bench_vae.py                     # official (random weights) and tiny, 10 s audio
    python recipes/bench/bench_vae.py --sizes tiny --seconds 30 --repeats 5
    python recipes/bench/bench_vae.py --long 1,5,10        # memory vs length, official size: encode + decode

Anchor (reference implementation, official size, fp32, this 2-core CPU): encode 0.22–0.25 s and
decode 0.12 s per audio second, ~4.1 GB peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def _current_rss_gb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 1024**3


def worker(size: str, seconds: float, repeats: int, threads: int | None) -> dict:
    import torch

    from losatok_plugin import LoSATokConfig, LoSATokVAE, tiny_config

    if threads:
        torch.set_num_threads(threads)
    cfg = LoSATokConfig() if size == "official" else tiny_config()
    torch.manual_seed(0)
    model = LoSATokVAE(**cfg.to_dict()).eval()  # random weights (default init)
    params = sum(p.numel() for p in model.parameters())
    loaded_rss = _current_rss_gb()
    audio = torch.randn(1, 1, int(seconds * 16000)) * 0.1
    enc_times, dec_times = [], []
    with torch.inference_mode():
        z = model.encode(audio).latent_dist.mode()  # warm-up
        model.decode(z)
        for _ in range(repeats):
            t0 = time.perf_counter()
            z = model.encode(audio).latent_dist.mode()
            t1 = time.perf_counter()
            model.decode(z)
            t2 = time.perf_counter()
            enc_times.append(t1 - t0)
            dec_times.append(t2 - t1)
    return {
        "size": size,
        "params_m": params / 1e6,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "encode_s_per_s": min(enc_times) / seconds,
        "decode_s_per_s": min(dec_times) / seconds,
        "loaded_rss_gb": loaded_rss,
        "peak_rss_gb": _rss_gb(),
    }


def long_worker(minutes: float, size: str, threads: int | None) -> dict:
    """Peak memory above the loaded model while encoding and decoding ``minutes`` of audio."""
    import threading

    import torch

    from losatok_plugin import LoSATokConfig, LoSATokVAE, tiny_config

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = LoSATokVAE(**(LoSATokConfig() if size == "official" else tiny_config()).to_dict()).eval()
    audio = torch.randn(1, 1, int(minutes * 60 * 16000)) * 0.1
    loaded = _current_rss_gb()
    peak = [loaded]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _current_rss_gb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with torch.inference_mode():
        z = model.encode(audio).latent_dist.mode()
        t1 = time.perf_counter()
        out = model.decode(z).sample
    t2 = time.perf_counter()
    done.set()
    sampler.join()
    assert out.shape[-1] == 640 * z.shape[-1]
    return {"minutes": minutes, "size": size, "loaded_gb": loaded, "peak_gb": peak[0],
            "above_loaded_gb": peak[0] - loaded, "encode_s": t1 - t0, "decode_s": t2 - t1}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="official,tiny", help="comma-separated: official, tiny")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the best is reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--long", default=None, help="comma-separated minutes: memory vs audio length")
    parser.add_argument("--long-size", default="official", help="model size for --long (official or tiny)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker and args.worker.startswith("long:"):
        print(json.dumps(long_worker(float(args.worker[5:]), args.long_size, args.threads)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.seconds, args.repeats, args.threads)))
        return
    if args.long:
        rows = []
        for minutes in args.long.split(","):
            cmd = [sys.executable, __file__, "--worker", f"long:{minutes}", "--long-size", args.long_size]
            cmd += ["--threads", str(args.threads)] if args.threads else []
            print(f"[bench] {args.long_size}: {minutes} min of audio ...", file=sys.stderr, flush=True)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{'audio':>7} {'model':<9} {'loaded GB':>10} {'peak GB':>8} {'above loaded GB':>16} {'encode s':>9} {'decode s':>9}")
        for r in rows:
            print(f"{r['minutes']:>5g} m {r['size']:<9} {r['loaded_gb']:>10.2f} {r['peak_gb']:>8.2f} "
                  f"{r['above_loaded_gb']:>16.3f} {r['encode_s']:>9.1f} {r['decode_s']:>9.1f}")  # fmt: skip
        print("anchor (reference, official): 4.0 GB loaded, 4.3 GB at 1 min, 4.9 GB at 5 min; goal: < 0.5 GiB above loaded, flat")
        return
    rows = []
    for size in args.sizes.split(","):
        cmd = [sys.executable, __file__, "--worker", size, "--seconds", str(args.seconds)]
        cmd += ["--repeats", str(args.repeats)] + (["--threads", str(args.threads)] if args.threads else [])
        print(f"[bench] {size}: running {args.repeats}× {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = (
        f"{'model':<9} {'params':>9} {'threads':>7} {'audio':>6} {'encode s/s':>11} {'decode s/s':>11} "
        f"{'loaded GB':>10} {'peak GB':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['size']:<9} {r['params_m']:>8.1f}M {r['threads']:>7} {r['seconds']:>5.0f}s "
            f"{r['encode_s_per_s']:>11.4f} {r['decode_s_per_s']:>11.4f} {r['loaded_rss_gb']:>10.2f} "
            f"{r['peak_rss_gb']:>8.2f}"
        )
    print("anchor: reference, official fp32, 2-core CPU: encode 0.22-0.25 s/s, decode 0.12 s/s, peak ~4.1 GB")


if __name__ == "__main__":
    main()
