"""Run the frozen semantic teacher once over a manifest and store its features (resumable).

    python recipes/cache_features.py --manifest train.jsonl --teacher TEACHER --out cache/teacher
TEACHER: a save_pretrained LoSATokVAE folder or an official LoSATok checkpoint (its semantic encoder).
"""

from __future__ import annotations

import argparse
import hashlib

import _cli  # noqa: F401
import torch

from losatok_plugin.data import build_feature_cache, read_manifest
from losatok_plugin.loading import load_vae


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True, help="JSONL/CSV manifest")
    p.add_argument("--teacher", required=True, help="LoSATokVAE folder or official checkpoint")
    p.add_argument("--out", required=True, help="cache folder (created; re-running resumes)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="storage dtype")
    args = p.parse_args()
    vae = load_vae(args.teacher).eval().to(args.device)
    enc = vae.semantic_encoder
    digest = hashlib.sha256()
    for v in enc.state_dict().values():
        digest.update(v.detach().cpu().float().numpy().tobytes()[:4096])
    cache, skipped = build_feature_cache(
        read_manifest(args.manifest),
        lambda audio: enc(audio.to(args.device)),
        args.out,
        dim=vae.config.embed_dim,
        teacher_id=digest.hexdigest()[:16],
        sample_rate=vae.sampling_rate,
        frame_rate=vae.frame_rate,
        dtype=getattr(torch, args.dtype),
    )
    print(f"cache {args.out}: {len(cache.entries)} files; skipped {len(skipped)}")
    for path, reason in skipped:
        print(f"  skipped {path}: {reason}")


if __name__ == "__main__":
    main()
