"""Compose a tokenizer starting point: frozen parts from one model, trainable parts from another.

    python recipes/mini/compose_init.py --base runs/sembo_mini/final --parts-from losatok-mini \
        --out runs/tokenizer_init

Stage 2 (``init_from``) copies the semantic encoder and SemBo from its source and, where shapes match,
the acoustic branch, Gaussian head and decoder too. This script writes a LoSATokVAE folder whose
encoder + SemBo come from ``--base`` (a new stage-1 export) and whose trainable parts come from
``--parts-from`` (e.g. the previous embedded model), so a retrained teacher/SemBo starts stage 2 from
an already trained decoder instead of random weights (a warm start; the decoder then adapts to the
new semantic latent).

``--parts-from git:REV`` takes the embedded model as it was at git revision ``REV`` (the v2 run:
``git:5923fb3``, the first shipped losatok-mini), so the warm start stays reproducible after the
folder in the tree has been replaced by the model it produced.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from losatok_plugin.loading import load_vae
from losatok_plugin.training.gan import TRAINABLE
from losatok_plugin.training.models import copy_parts

PARTS = TRAINABLE  # ("acoustic", "gaussian", "decoder"): what stage 2 trains
EMBEDDED = "losatok_plugin/pretrained/losatok-mini"


def model_from_git(spec: str, out: Path, repo: str | Path = ".") -> Path:
    """Write the model folder named by ``git:REV`` (or ``git:REV:PATH``; PATH defaults to the embedded
    model) as it is at revision REV of the git repository ``repo`` into ``out``; returns ``out``."""
    rev, _, path = spec.removeprefix("git:").partition(":")
    path = (path or EMBEDDED).rstrip("/")

    def git(*args: str) -> bytes:
        try:
            return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout
        except subprocess.CalledProcessError as e:
            raise SystemExit(f"error: {spec}: git {' '.join(args)}: {e.stderr.decode().strip()}") from None

    names = git("ls-tree", "--name-only", f"{rev}:{path}").decode().split()
    if "config.json" not in names:
        raise SystemExit(f"error: {spec}: no config.json in {path} at {rev}")
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        (out / name).write_bytes(git("show", f"{rev}:{path}/{name}"))
    return out


def compose(base: str, parts_from: str, out: Path, parts: tuple[str, ...] = PARTS) -> Path:
    """Write ``base`` with ``parts`` replaced by those of ``parts_from`` (shapes must match) to ``out``."""
    if parts_from.startswith("git:"):
        parts_from = str(model_from_git(parts_from, out.parent / (out.name + "_parts")))
    try:
        model = copy_parts(load_vae(base), load_vae(parts_from), parts)
    except ValueError as e:
        raise SystemExit(f"error: {parts_from} -> {base}: {e}") from None
    model.float().save_pretrained(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="stage-1 export (semantic encoder + SemBo)")
    ap.add_argument(
        "--parts-from",
        required=True,
        help="model whose acoustic/gaussian/decoder start stage 2 (a folder, a registered name or git:REV)",
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    args = ap.parse_args()
    print(compose(args.base, args.parts_from, args.out, tuple(args.parts)))


if __name__ == "__main__":
    main()
