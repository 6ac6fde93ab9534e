"""Benchmark the mini DiTs on this CPU at 128-d (LoSATok) and 1280-d latents of the same length.

    python recipes/bench/bench_dit.py                       # mini configs, 4 s clips, batch 8
    python recipes/bench/bench_dit.py --widths 128,1280 --seconds 4 --steps 10 --threads 1

Prints, per family, training steps/s (forward + backward + AdamW on random latents and prompts, the
stage's own objective module) and sampling seconds per generated second (the stock pipeline, 20
steps, CFG 3, ``output_type="latent"``: the DiT alone, without the VAE decode, which no 1280-d
LoSATok decoder exists for). Only the latent width changes between columns: the DiT's input and
output projections grow with it; everything else is the mini config. Random weights: speed only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CONFIGS = {"stable_audio": "dit_ttm_mini.yaml", "longcat": "dit_tts_mini.yaml"}
PROMPTS = {"stable_audio": "piano music moderate tempo c major", "longcat": "never laugh at live dragons."}


def measure(family: str, width: int, seconds: float, batch: int, steps: int, sample_steps: int) -> dict:
    import torch

    from losatok_plugin import LoSATokVAE, tiny_config
    from losatok_plugin.generation.pipelines import build_modules, build_pipeline, build_scheduler
    from losatok_plugin.generation.text import build_tokenizer
    from losatok_plugin.training.config import load_stage_config
    from losatok_plugin.training.dit import DiTObjective, DiTStageConfig

    cfg = load_stage_config(DiTStageConfig, REPO / "recipes" / "configs" / CONFIGS[family])
    cfg.model.max_seconds = seconds
    frames = int(round(seconds * 25))
    tok = build_tokenizer([PROMPTS[family]], cfg.data.prompt_kind, cfg.model.max_prompt_tokens)
    torch.manual_seed(0)
    modules = build_modules(cfg.model, width, 25.0, len(tok))
    objective = DiTObjective(modules, tok, cfg.model, cfg.objective)
    opt = torch.optim.AdamW(objective.parameters(), lr=1e-4)
    z = torch.randn(batch, width, frames)
    mask = torch.ones(batch, frames, dtype=torch.bool)
    secs = torch.full((batch,), seconds)
    prompts = [PROMPTS[family]] * batch

    def train_step() -> None:
        loss = objective(z, mask, secs, prompts)["dit/loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    train_step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step()
    train_sps = steps / (time.perf_counter() - t0)
    vae = LoSATokVAE(**tiny_config(latent_channels=width).to_dict()).eval()  # read for its config only
    pipe = build_pipeline(family, modules.eval(), tok, vae, build_scheduler(cfg.model))
    pipe.set_progress_bar_config(disable=True)
    kw = {"audio_end_in_s": seconds} if family == "stable_audio" else {"audio_duration_s": seconds}
    t0 = time.perf_counter()
    pipe(
        PROMPTS[family],
        num_inference_steps=sample_steps,
        guidance_scale=3.0,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
        **kw,
    )
    sample_s = (time.perf_counter() - t0) / seconds
    params = sum(p.numel() for p in modules["transformer"].parameters()) / 1e6
    return {
        "family": family,
        "latent": width,
        "params_m": params,
        "train_steps_per_s": train_sps,
        "sample_s_per_s": sample_s,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="128,1280", help="latent widths to compare (LoSATok: 128; teacher-wide: 1280)")
    p.add_argument("--families", default="longcat,stable_audio", help="DiT families")
    p.add_argument("--seconds", type=float, default=4.0, help="clip length (25 latent frames per second)")
    p.add_argument("--batch", type=int, default=8, help="training batch")
    p.add_argument("--steps", type=int, default=5, help="timed training steps")
    p.add_argument("--sample-steps", type=int, default=20, help="sampler steps (the paper: 20)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    rows = [
        measure(f, w, args.seconds, args.batch, args.steps, args.sample_steps)
        for f in args.families.split(",")
        for w in widths
    ]
    print(
        f"DiT mini configs, {args.seconds:g} s clips ({int(args.seconds * 25)} frames), batch {args.batch}, "
        f"{torch.get_num_threads()} threads, random weights"
    )
    head = " ".join(f"{f'{w}-d':>12}" for w in widths)
    print(f"{'family':<13} {'measure':<26} {head}")
    for fam in args.families.split(","):
        r = {x["latent"]: x for x in rows if x["family"] == fam}
        print(f"{fam:<13} {'DiT params (M)':<26} " + " ".join(f"{r[w]['params_m']:>12.2f}" for w in widths))
        print(f"{'':<13} {'train steps/s':<26} " + " ".join(f"{r[w]['train_steps_per_s']:>12.2f}" for w in widths))
        print(
            f"{'':<13} {'sample s / generated s':<26} " + " ".join(f"{r[w]['sample_s_per_s']:>12.3f}" for w in widths)
        )


if __name__ == "__main__":
    main()
