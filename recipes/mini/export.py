"""Export a tokenizer run as a compact ``save_pretrained`` folder (the shipped ``losatok-mini``).

    python recipes/mini/export.py --run runs/tokenizer_mini --out losatok_plugin/pretrained/losatok-mini

Takes the run's ``final`` export when it exists, else its latest checkpoint (EMA weights when the run
keeps them) on top of the stage-1 export the run started from (teacher + SemBo); ``--step N`` takes the
checkpoint of step N instead, even when ``final`` exists (``run_mini.sh`` passes its ``STOP_AT``; an error
when that step is no longer kept). It stores the weights in float16 (``LoSATokVAE.from_pretrained`` loads them back as float32), except the float32
islands (BatchNorm over dB, ISTFT head, Gaussian head: ``LoSATokVAE._keep_in_fp32_modules``), which keep
float32 under ``.to(torch.float16)`` and are stored so (~0.3M parameters).

The run's discriminators at that checkpoint come along as ``discriminator.safetensors`` (float32, as trained; about
4 MB at the mini sizes; ``--no-discriminators`` leaves them out), so that a later run from this export keeps them:
``discriminator.init_from=<export folder>``. New ones learn slowly (at the mini config's lr and schedule they were
still near chance after 3500 steps: ``recipes/mini/README.md``, "New discriminators of two sizes");
``LoSATokVAE.from_pretrained`` ignores the file.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from losatok_plugin.fileio import atomic_write_text
from losatok_plugin.loading import load_vae
from losatok_plugin.training.checkpoint import latest_checkpoint
from losatok_plugin.training.tokenizer import DISCRIMINATOR_FILE

REPO = Path(__file__).resolve().parents[2]


def load_run(run: Path, init_from: str | None = None, use_ema: bool = True, step: int = 0):
    """The model of a tokenizer run (its checkpoint of ``step`` when > 0), where its weights came from, and the
    checkpoint folder they match (the run's last one for ``final/``; None when the run kept none)."""
    if step > 0:
        ckpt = run / "checkpoints" / f"step_{step:08d}"
        if not (ckpt / "train_state.pt").is_file():
            kept = sorted(p.name for p in (run / "checkpoints").glob("step_*"))
            raise SystemExit(f"{run}: no checkpoint of step {step} (kept: {', '.join(kept) or 'none'})")
    elif (run / "final" / "config.json").is_file():  # written at the end, beside the run's last checkpoint
        last = latest_checkpoint(run)
        info = {"source": str(run / "final")} | ({"step": _step_of(last)} if last else {})
        return load_vae(run / "final"), info, last
    else:
        ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise SystemExit(f"{run}: no final export and no checkpoint")
    if init_from is None:
        cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
        init_from = cfg.get("init_from")
    if not init_from:
        raise SystemExit("pass --init-from (the stage-1 export the run started from)")
    vae = load_vae(init_from)
    name = "ema" if use_ema and (ckpt / "ema.safetensors").is_file() else "generator"
    state = load_file(str(ckpt / f"{name}.safetensors"))
    own = vae.state_dict()
    bad = [k for k in state if k not in own or own[k].shape != state[k].shape]
    if bad:
        raise SystemExit(f"{ckpt}: weights that do not fit {init_from}: {bad[:5]}")
    vae.load_state_dict(state, strict=False)
    info = {"source": str(ckpt), "weights": name, "step": _step_of(ckpt), "init_from": str(init_from)}
    return vae, info, ckpt


def _step_of(ckpt: Path) -> int:
    return int(torch.load(ckpt / "train_state.pt", map_location="cpu", weights_only=True)["step"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="tokenizer run folder (run.output_dir)")
    p.add_argument("--out", required=True, help="export folder")
    p.add_argument("--init-from", default=None, help="stage-1 export (default: the run's config init_from)")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="stored weight dtype")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator weights even if an EMA exists")
    p.add_argument("--step", type=int, default=0, help="export the checkpoint of this step (0: final, else latest)")
    p.add_argument("--no-discriminators", action="store_true", help="leave out the run's discriminators")
    args = p.parse_args()
    vae, info, ckpt = load_run(Path(args.run), args.init_from, not args.no_ema, args.step)
    out = Path(args.out)
    vae.eval().to(getattr(torch, args.dtype)).save_pretrained(out)
    disc = None if ckpt is None else ckpt / DISCRIMINATOR_FILE
    if not args.no_discriminators and disc is not None and disc.is_file():
        shutil.copyfile(disc, out / disc.name)
        info["discriminators"] = disc.name
    else:  # not a stale one from an earlier export into the same folder
        (out / DISCRIMINATOR_FILE).unlink(missing_ok=True)
    atomic_write_text(out / "export.json", json.dumps({**info, "dtype": args.dtype}, indent=2))
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"exported {info} to {out} ({size:.1f} MB)")


if __name__ == "__main__":
    main()
