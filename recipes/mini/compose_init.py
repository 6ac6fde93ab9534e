"""Compose a tokenizer starting point: frozen parts from one model, trainable parts from another.

    python recipes/mini/compose_init.py --base runs/sembo_mini/final --parts-from losatok-mini \
        --out runs/tokenizer_init

Stage 2 (``init_from``) copies the semantic encoder and SemBo from its source and, where shapes match,
the acoustic branch, Gaussian head and decoder too. This script writes a LoSATokVAE folder whose
encoder + SemBo come from ``--base`` (a new stage-1 export) and whose trainable parts come from
``--parts-from`` (e.g. the previous embedded model), so a retrained teacher/SemBo starts stage 2 from
an already trained decoder instead of random weights (a warm start; the decoder then adapts to the
new semantic latent).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from losatok_plugin.loading import load_vae
from losatok_plugin.training.gan import TRAINABLE
from losatok_plugin.training.models import copy_parts

PARTS = TRAINABLE  # ("acoustic", "gaussian", "decoder"): what stage 2 trains


def compose(base: str, parts_from: str, out: Path, parts: tuple[str, ...] = PARTS) -> Path:
    """Write ``base`` with ``parts`` replaced by those of ``parts_from`` (shapes must match) to ``out``."""
    try:
        model = copy_parts(load_vae(base), load_vae(parts_from), parts)
    except ValueError as e:
        raise SystemExit(f"error: {parts_from} -> {base}: {e}") from None
    model.float().save_pretrained(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="stage-1 export (semantic encoder + SemBo)")
    ap.add_argument("--parts-from", required=True, help="model whose acoustic/gaussian/decoder start stage 2")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    args = ap.parse_args()
    print(compose(args.base, args.parts_from, args.out, tuple(args.parts)))


if __name__ == "__main__":
    main()
