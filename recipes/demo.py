"""The main job: reconstruct example clips with LoSATok and report how close they are.

    python recipes/demo.py --out demo_outputs [--model DIR_OR_CHECKPOINT]

Writes ``<name>.orig.wav``, ``<name>.recon.wav``, ``<name>.mel.png`` per clip and ``metrics.json``, and
prints a table beside the classical baseline (128-band mel at 25 Hz + Griffin-Lim, the same numbers per
second as the latent). Clips come from ``recipes/assets/examples/*.wav`` (made by the corpus builder; the
file name's prefix is the domain), else are synthesised.
The model is ``--model`` (a ``save_pretrained`` folder or an official ``.pth``/``.safetensors``), else
the embedded default model when shipped, else a randomly initialised tiny model (said plainly).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import soundfile as sf
import torch

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.checkpoints import DEFAULT_MODEL, PRETRAINED_DIR, embedded_model_path
from losatok_plugin.data.audio_io import load_audio
from losatok_plugin.eval.baseline import GriffinLimMel
from losatok_plugin.eval.plots import plot_mel_comparison
from losatok_plugin.eval.recon import clip_metrics
from losatok_plugin.fileio import atomic_write_text
from losatok_plugin.loading import load_vae

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "recipes" / "assets" / "examples"
SR = 16000
DOMAINS = ("speech", "music", "sound")
SHOWN = ("mel", "stft", "si_sdr", "pesq_wb", "stoi")
DIT_EXAMPLES = (  # (pipeline, fixed prompt, seconds or None for the TTS duration rule)
    ("tts", "Never laugh at live dragons.", None),
    ("ttm", "piano music moderate tempo c major", 4.0),
    ("tta", "the sound of rain", 4.0),
)


def synthetic_clips(seconds: float = 3.0) -> dict[str, torch.Tensor]:
    """Three short signals when no bundled clips exist: a vibrato tone, a chord melody, noise bursts."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * SR)) / SR
    tone = 0.4 * torch.sin(2 * math.pi * 220 * t + 3 * torch.sin(2 * math.pi * 5 * t))
    notes = torch.tensor([261.6, 329.6, 392.0, 523.3])[(t * 4).long() % 4]
    melody = 0.25 * (torch.sin(2 * math.pi * notes * t) + 0.5 * torch.sin(4 * math.pi * notes * t))
    env = (torch.sin(2 * math.pi * 2 * t).clamp(min=0)) ** 4
    bursts = 0.3 * env * torch.randn(t.shape, generator=g)
    return {"synthetic_tone": tone, "synthetic_melody": melody, "synthetic_bursts": bursts}


def load_clips() -> dict[str, torch.Tensor]:
    files = sorted(EXAMPLES.glob("*.wav"))
    if not files:
        return synthetic_clips()
    return {f.stem: load_audio(f, SR) for f in files}


def load_model(spec: str | None) -> tuple[LoSATokVAE, str]:
    """``load_vae(spec)``; without ``spec`` the embedded default, else (not shipped) a random tiny model."""
    if spec:
        return load_vae(spec), str(spec)
    if embedded_model_path(DEFAULT_MODEL) is not None:
        return load_vae(None), f"{DEFAULT_MODEL} (embedded)"
    print(
        "NOTICE: no trained LoSATok model is bundled yet, so this demo runs a RANDOMLY INITIALISED tiny model.\n"
        "        Its reconstructions are not meaningful audio; the demo shows the pipeline end to end.\n"
        "        Pass --model DIR (save_pretrained folder) or an official losatok_kl1e-2.pth for real results.\n"
    )
    torch.manual_seed(0)
    return LoSATokVAE(**tiny_config().to_dict()), "random tiny model (untrained)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_outputs", help="output folder")
    parser.add_argument("--model", default=None, help="save_pretrained folder or official checkpoint")
    parser.add_argument("--no-generate", action="store_true", help="skip the DiT generation examples")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, model_name = load_model(args.model)
    model.eval()
    clips = load_clips()
    baseline = GriffinLimMel()
    rows = []
    for name, audio in clips.items():
        domain = next((d for d in DOMAINS if name.startswith(d)), None)
        t0 = time.perf_counter()
        with torch.inference_mode():
            z = model.encode(audio[None, None]).latent_dist.mode()
            recon = model.decode(z).sample[0, 0]
        elapsed = time.perf_counter() - t0
        ref = audio[: recon.shape[-1]]
        sf.write(str(out / f"{name}.orig.wav"), ref.numpy(), SR)
        sf.write(str(out / f"{name}.recon.wav"), recon.clamp(-1, 1).numpy(), SR)
        plot_mel_comparison(ref, recon, out / f"{name}.mel.png", title=f"{name} — {model_name}")
        ours = clip_metrics(ref, recon, domain)
        base = clip_metrics(ref, baseline(ref), domain)
        rows.append(
            {
                "clip": name,
                "domain": domain,
                "seconds": round(audio.shape[-1] / SR, 3),
                "latent_shape": list(z.shape),
                "rtf": round(elapsed / (audio.shape[-1] / SR), 4),
                "losatok": {k: v for k, v in ours.items() if k != "skipped" and v is not None},
                "griffin_lim_128mel": {k: v for k, v in base.items() if k != "skipped" and v is not None},
            }
        )
    atomic_write_text(out / "metrics.json", json.dumps({"model": model_name, "clips": rows}, indent=2))
    print(f"model: {model_name}   (baseline: 128-band mel at 25 Hz + Griffin-Lim)")
    header = " ".join(f"{m:>15}" for m in SHOWN)
    print(f"{'clip':<15} {'sec':>5} {'latent':>10} {header}")
    for r in rows:
        shape = "x".join(map(str, r["latent_shape"][1:]))
        cells = []
        for m in SHOWN:
            a, b = r["losatok"].get(m), r["griffin_lim_128mel"].get(m)
            cells.append(f"{'-':>15}" if a is None else f"{a:>7.3f} ({b:>5.2f})")
        print(f"{r['clip']:<15} {r['seconds']:>5.2f} {shape:>10} " + " ".join(cells))
    print("values: LoSATok (Griffin-Lim baseline); mel/stft lower is better, si_sdr/pesq_wb/stoi higher")
    generated = generate_examples(out) if not args.no_generate else []
    if generated:
        atomic_write_text(
            out / "metrics.json", json.dumps({"model": model_name, "clips": rows, "generated": generated}, indent=2)
        )
    print(f"wrote {len(rows)} reconstructions, {len(generated)} generated clips, mel PNGs and metrics.json to {out}/")


def generate_examples(out: Path) -> list[dict]:
    """One clip per shipped DiT pipeline (TTS, TTM, TTA) from a fixed prompt; prints a table with the
    pipeline's measured metrics (its model card) beside the time it took."""
    from losatok_plugin.eval.plots import plot_mel
    from losatok_plugin.generation.generate import generate

    rows = []
    for name, prompt, seconds in DIT_EXAMPLES:
        folder = PRETRAINED_DIR / f"dit-{name}-mini"
        if not (folder / "model_index.json").is_file():
            continue
        t0 = time.perf_counter()
        r = generate(folder, prompt, out / f"generated_{name}.wav", seconds=seconds, progress=False)
        elapsed = time.perf_counter() - t0
        wav, _ = sf.read(str(r.path), dtype="float32")
        plot_mel(torch.from_numpy(wav), out / f"generated_{name}.mel.png", title=f"{name}: {r.prompt}")
        card = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        rows.append(
            {
                "pipeline": name,
                "prompt": r.prompt,
                "seconds": round(r.seconds, 2),
                "seconds_to_generate": round(elapsed, 1),
                "card": card,
            }
        )
    if rows:
        print("\ngenerated (DiT pipelines on losatok-mini v1 latents, each with its own copy of that VAE; Fréchet")
        print("distance on the semantic teacher's embedding to held-out clips of the domain: generated | decoded")
        print("ground truth | real clips)")
        print(f"{'pipeline':<8} {'sec':>5} {'time s':>7} {'FD gen':>8} {'FD dec':>8} {'FD real':>8}  prompt")
        for r in rows:
            c = r["card"]
            cells = " ".join(
                f"{c[k]:>8.2f}" if k in c else f"{'-':>8}" for k in ("fd_generated", "fd_decoded", "fd_real")
            )
            print(f"{r['pipeline']:<8} {r['seconds']:>5.2f} {r['seconds_to_generate']:>7.1f} {cells}  {r['prompt']}")
    return rows


if __name__ == "__main__":
    main()
