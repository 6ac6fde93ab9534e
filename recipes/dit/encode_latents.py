"""Pre-encode a manifest into latent shards (+ per-channel statistics) for DiT training.

    python recipes/dit/encode_latents.py --manifest data/corpus/train.jsonl --out runs/latents/train
    torchrun --nproc_per_node 8 recipes/dit/encode_latents.py --manifest big.jsonl --out latents/ --device cuda
    accelerate launch --num_processes 8 recipes/dit/encode_latents.py --manifest big.jsonl --out latents/ --device cuda

Each rank encodes the manifest lines ``i % world_size == rank`` into its own shards; rerunning resumes
(finished shards are kept). When every rank is done, rank 0 merges the statistics into ``stats.json``.
"""

from __future__ import annotations

import argparse


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True, help="JSONL/CSV manifest (text, phonemes, labels are kept)")
    p.add_argument("--out", required=True, help="shard folder (created; reruns resume)")
    p.add_argument(
        "--model", default=None, help="LoSATokVAE folder or official checkpoint (default: embedded losatok-mini)"
    )
    p.add_argument("--device", default="cpu", help="torch device; under torchrun 'cuda' means this rank's GPU")
    p.add_argument("--shard-size", type=int, default=64, help="clips per shard (the unit of resumption)")
    p.add_argument("--batch-size", type=int, default=8, help="clips encoded together (padded, with lengths)")
    p.add_argument("--min-seconds", type=float, default=0.2, help="shorter files are skipped as too short")
    args = p.parse_args()
    from losatok_plugin.generation.encode import encode_and_merge
    from losatok_plugin.log import configure_logging

    configure_logging()
    encode_and_merge(
        args.manifest, args.out, args.model, args.device, args.shard_size, args.batch_size, args.min_seconds
    )


if __name__ == "__main__":
    main()
