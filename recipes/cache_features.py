"""Run the frozen semantic teacher once over a manifest and store its features (resumable).

    python recipes/cache_features.py --manifest train.jsonl --teacher TEACHER --out cache/teacher
TEACHER: for --teacher-type midashenglm (default) a LoSATokVAE folder or official LoSATok checkpoint;
dasheng_base / dasheng_06B / dasheng_12B: a dasheng release .pt; whisper / hubert / wavlm / wav2vec2: a
transformers save_pretrained folder.
"""

from __future__ import annotations

import argparse
import sys

import torch

from losatok_plugin.data import FeatureCacheError, build_feature_cache, read_manifest
from losatok_plugin.data.manifest import ManifestError
from losatok_plugin.hashing import tensor_fingerprint
from losatok_plugin.teachers import TEACHERS, load_teacher


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True, help="JSONL/CSV manifest")
    p.add_argument("--teacher", required=True, help="where the teacher's weights are (see above)")
    p.add_argument("--teacher-type", default="midashenglm", choices=TEACHERS, help="teacher registry name")
    p.add_argument("--out", required=True, help="cache folder (created; re-running resumes)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="storage dtype")
    args = p.parse_args()
    enc = load_teacher(args.teacher_type, args.teacher).to(args.device)
    try:
        cache, skipped = build_feature_cache(
            read_manifest(args.manifest),
            lambda audio: enc(audio.to(args.device)),
            args.out,
            dim=enc.output_dim,
            teacher_id=f"{args.teacher_type}:{tensor_fingerprint(enc.state_dict().values())}",
            dtype=getattr(torch, args.dtype),
        )
    except (FeatureCacheError, ManifestError) as e:  # e.g. every file skipped: an error, not an empty cache
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"cache {args.out}: {len(cache.entries)} files; skipped {len(skipped)}")
    for path, reason in skipped:
        print(f"  skipped {path}: {reason}")


if __name__ == "__main__":
    main()
