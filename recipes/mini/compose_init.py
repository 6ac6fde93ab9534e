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

PARTS = ("acoustic", "gaussian", "decoder")


def compose(base: str, parts_from: str, out: Path, parts: tuple[str, ...] = PARTS) -> Path:
    """Write ``base`` with ``parts`` replaced by those of ``parts_from`` (shapes must match) to ``out``."""
    model, donor = load_vae(base), load_vae(parts_from)
    for name in parts:
        dst, src = getattr(model, name).state_dict(), getattr(donor, name).state_dict()
        bad = [k for k in dst if k not in src or src[k].shape != dst[k].shape]
        if bad or set(src) - set(dst):
            raise SystemExit(f"error: {name} of {parts_from} does not fit {base} (first mismatches: {bad[:3]})")
        getattr(model, name).load_state_dict(src)
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
