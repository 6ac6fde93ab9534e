"""Give a trained LoSATokVAE's decoder more capacity without changing its output, then save it.

    python recipes/mini/grow_decoder.py --model runs/mini_v32 --out runs/mini_v32_grown \
        --intermediate-dim 1536 --depth 9
    python recipes/mini/grow_decoder.py --model runs/mini_v38fm30 --out runs/mini_v38fm30_wide --width-factor 2

The output is a ``save_pretrained`` folder for a tokenizer run's ``init_from`` with
``model.decoder_intermediate_dim`` / ``model.decoder_depth`` / ``model.decoder_dim`` set to the same sizes (library:
``losatok_plugin.training.grow.grow_decoder`` and ``widen_decoder``; both check the grown decoder's audio equals the
old one's). Sizes left out keep the model's.
"""

from __future__ import annotations

import argparse
import sys

from losatok_plugin.errors import CheckpointError, ConfigError, ModelNotFoundError
from losatok_plugin.loading import load_vae
from losatok_plugin.training.grow import grow_decoder, widen_decoder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="LoSATokVAE folder (or short name)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--intermediate-dim", type=int, help="new ConvNeXt MLP width (default: the model's)")
    p.add_argument("--depth", type=int, help="new number of ConvNeXt blocks (default: the model's)")
    p.add_argument("--width-factor", type=int, default=1, help="multiply the residual width decoder_dim by this")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        vae = load_vae(args.model)
        cfg = vae.config
        inter = cfg.decoder_intermediate_dim if args.intermediate_dim is None else args.intermediate_dim
        depth = cfg.decoder_depth if args.depth is None else args.depth
        grown = grow_decoder(vae, inter, depth, seed=args.seed)
        if args.width_factor != 1:
            grown = widen_decoder(grown, args.width_factor, seed=args.seed)
    except (ConfigError, CheckpointError, ModelNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    grown.save_pretrained(args.out)
    n_old = sum(p.numel() for p in vae.decoder.parameters())
    n_new = sum(p.numel() for p in grown.decoder.parameters())
    print(f"decoder {n_old / 1e6:.2f}M -> {n_new / 1e6:.2f}M parameters; saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
