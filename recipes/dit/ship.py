"""Ship the mini DiT pipelines: export each run's latest checkpoint (EMA, fp16) next to losatok-mini,
copy its training log, plot the loss curves and write a model card with the measured metrics.

    python recipes/dit/ship.py export --runs /work/runs/dit --latents /work/runs/dit/latents_train
    python recipes/dit/evaluate.py --pipeline tts=losatok_plugin/pretrained/dit-tts-mini ... --out runs/dit/eval
    python recipes/dit/ship.py cards --runs /work/runs/dit --eval runs/dit/eval/results.json
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from losatok_plugin.checkpoints import PRETRAINED_DIR
from losatok_plugin.fileio import atomic_write_text

REPO = Path(__file__).resolve().parents[2]

NAMES = ("tts", "ttm", "tta")
LOGS = REPO / "recipes" / "dit" / "logs"
WHAT = {
    "tts": "text-to-speech (English transcripts, characters)",
    "ttm": "text-to-music (captions from MIDI labels)",
    "tta": "text-to-sound (captions from sound-event classes)",
}


def config(name: str, runs: Path, latents: str):
    from losatok_plugin.training import DiTStageConfig
    from losatok_plugin.training.config import load_stage_config

    overrides = [f"data.latents={latents}", f"run.output_dir={runs / f'{name}_mini'}"]
    return load_stage_config(DiTStageConfig, REPO / "recipes" / "configs" / f"dit_{name}_mini.yaml", overrides)


def wall_clock(run: Path) -> float:
    """Seconds from the run's config.json to its newest checkpoint."""
    ckpts = sorted((run / "checkpoints").glob("step_*"))
    return ckpts[-1].stat().st_mtime - (run / "config.json").stat().st_mtime if ckpts else 0.0


def export(args) -> None:
    from losatok_plugin.training.dit import export_checkpoint

    LOGS.mkdir(parents=True, exist_ok=True)
    for name in args.names.split(","):
        cfg = config(name, Path(args.runs), args.latents)
        out = PRETRAINED_DIR / f"dit-{name}-mini"
        if out.exists():
            shutil.rmtree(out)
        cfg.export_fp16 = True
        export_checkpoint(cfg, out)
        shutil.copy(Path(cfg.run.output_dir) / "metrics.jsonl", LOGS / f"{name}_metrics.jsonl")
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        print(f"{name}: {out} ({size:.1f} MB)")
    plot_curves()


def plot_curves() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    for name in NAMES:
        f = LOGS / f"{name}_metrics.jsonl"
        if f.is_file():
            rows = [json.loads(x) for x in f.read_text().splitlines()]
            ax.plot([r["step"] for r in rows], [r["dit/loss"] for r in rows], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("dit/loss")
    ax.legend()
    fig.savefig(LOGS / "curves.png", dpi=100)


def cards(args) -> None:
    results = json.loads(Path(args.eval).read_text())
    for name in args.names.split(","):
        cfg = config(name, Path(args.runs), args.latents)
        out = PRETRAINED_DIR / f"dit-{name}-mini"
        gen = json.loads((out / "generation_config.json").read_text())
        r = results.get(name, {})
        metrics = {k: v for k, v in r.items() if k.startswith(("fd_", "wer_", "dnsmos_"))}
        given = dict(x.split("=") for x in args.wall_minutes)
        wall = float(given[name]) * 60 if name in given else wall_clock(Path(cfg.run.output_dir))
        metrics.update(
            clips=r.get("clips"),
            reference_clips=r.get("reference_clips"),
            steps=gen["steps_trained"],
            wall_clock_s=round(wall),
        )
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
        m = cfg.model
        params = sum(p.stat().st_size for p in (out / "transformer").glob("*.safetensors")) / 2 / 1e6
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        fmt = {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in metrics.items()}
        speech = (
            f"| English WER (pocketsphinx) | {fmt.get('wer_generated')} | {fmt.get('wer_decoded')} | {fmt.get('wer_real')} |\n"
            f"| DNSMOS overall (speechmos) | {fmt.get('dnsmos_generated')} | {fmt.get('dnsmos_decoded')} | {fmt.get('dnsmos_real')} |\n"
            if "wer_real" in metrics
            else ""
        )
        family = {
            "longcat": "LongCatAudioDiTPipeline (rectified flow)",
            "stable_audio": "StableAudioPipeline (v-prediction, EDM)",
        }[m.family]
        text = f"""# dit-{name}-mini: {WHAT[name]} on losatok-mini latents

A stock diffusers **{family}** whose VAE is the embedded `losatok-mini` as it was when this pipeline was trained
(its copy in `vae/`, its latents normalised with the training shards' statistics, `latent_norm_mean`/`latent_norm_std`
in `vae/config.json`). The DiT learned that VAE's latents, and another `losatok-mini` passed as `vae=` does not decode them
(`recipes/dit/README.md`, "swap a VAE in"): to pair the DiT with one, re-encode the data and train again. Trained on this
project's 2-core CPU, shared with other jobs (three runs at once, resumed once): **{gen["steps_trained"]} steps in {metrics["wall_clock_s"] / 60:.0f} minutes**
(batch {cfg.data.batch_size}). It is a working, small demonstration of the recipe, far from converged;
read the numbers below as such.

```bash
losatok generate --pipeline losatok_plugin/pretrained/dit-{name}-mini --prompt "{gen["example_prompts"][0]}" --out x.wav
```

- Data: the offline corpus' train split ({gen["train_clips"]} {cfg.data.domain} clips{", English only" if name == "tts" else ""}),
  pre-encoded with losatok-mini (`recipes/dit/encode_latents.py`). Prompts: {"the transcript, characters" if name == "tts" else "captions built from the labels (recipes/dit/README.md)"}.
- Model: DiT width {m.width}, {m.depth} layers, {m.heads} heads ({params:.2f} M parameters, stored fp16); text encoder
  {"UMT5" if m.family == "longcat" else "T5"} width {m.text_dim}, {m.text_layers} layers (trained jointly); tokenizer from the corpus
  vocabulary. Max {m.max_seconds:g} s. Folder size {size:.1f} MB (the VAE is 14 MB of it).
- Training: `recipes/configs/dit_{name}_mini.yaml`, AdamW lr {cfg.optim.lr:g}, EMA {cfg.ema_decay}, condition dropout
  {cfg.objective.cond_dropout}, {cfg.objective.timesteps} timesteps; log and curves in `recipes/dit/logs/`.
- Sampling defaults: {gen["steps"]} steps, CFG {gen["guidance"]}.

## Measured (held-out clips, `recipes/dit/evaluate.py`)

{r.get("clips")} prompts and durations from held-out valid clips; Fréchet distance on the semantic teacher's embedding
(`semantic_emb` of losatok-mini, as `losatok eval fd`) against {r.get("reference_clips")} test clips of the domain.

| measure | generated | decoded ground truth | real clips |
| --- | --- | --- | --- |
| Fréchet distance (lower is better) | {fmt.get("fd_generated")} | {fmt.get("fd_decoded")} | {fmt.get("fd_real")} |
{speech}
"""
        atomic_write_text(out / "README.md", text)
        print(f"{name}: card written ({out / 'README.md'})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["export", "cards"])
    p.add_argument("--runs", required=True, help="folder holding tts_mini/, ttm_mini/, tta_mini/")
    p.add_argument("--latents", required=True, help="the shard folder the runs trained on")
    p.add_argument("--eval", default=None, help="results.json of recipes/dit/evaluate.py (cards)")
    p.add_argument("--names", default=",".join(NAMES))
    p.add_argument(
        "--wall-minutes",
        action="append",
        default=[],
        help="NAME=MINUTES of training wall clock (runs resumed in several sessions); default: from the files",
    )
    args = p.parse_args()
    export(args) if args.what == "export" else cards(args)


if __name__ == "__main__":
    main()
