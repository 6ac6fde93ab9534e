"""One-variable probes from a shipped losatok-mini: a short mel-only fine-tune and the held-out mel on the way.

Which change would help the next tokenizer run most? Each probe starts from the same exported model and changes
one thing, trains ``--steps`` steps on the training crops (batch 8 x 1.28 s, seeded, no discriminators) and
reports the multi-scale mel distance of 12 real (``R``) and 9 synthetic (``S``) held-out clips per domain
(the first 6 s) every 400 steps. Results of the v2.1 probes: ``recipes/mini/README.md``, logs in
``recipes/mini/logs/probes_v21/``.

  (no flag)      only the decoder trains, on the posterior mean (what inference decodes)
  --deep K       K more ConvNeXt blocks in the decoder (layer scale 0: the same function at the start)
  --encoder      the acoustic branch and Gaussian head train too, on posterior samples (--noise 1), with the
                 semantic loss (--semantic W) and the KL (--kl W) of stage 2

Run from a folder whose ``data/corpus`` and ``data/cache/teacher_mini`` are those of ``make mini``:
    python recipes/mini/probe_finetune.py losatok_plugin/pretrained/losatok-mini --encoder --kl 1e-3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from losatok_plugin import LoSATokVAE
from losatok_plugin.data import load_audio
from losatok_plugin.data.crop_loader import crop_loader
from losatok_plugin.data.manifest import read_manifest
from losatok_plugin.eval.heldout import stratified_sample
from losatok_plugin.eval.metrics import mel_distance
from losatok_plugin.losses import dual_semantic_loss, kl_loss
from losatok_plugin.losses.mel import MultiScaleMelLoss
from losatok_plugin.nn.convnext import ConvNeXtBlock
from losatok_plugin.training.config import DataConfig

MEL_WEIGHT = 45.0  # stage 2's


def deepen(model: LoSATokVAE, blocks: int) -> None:
    """Append ``blocks`` ConvNeXt blocks whose layer scale is 0, so the decoder computes what it did."""
    convnext = model.decoder.backbone.convnext
    dim, hidden = convnext[0].pwconv1.in_features, convnext[0].pwconv1.out_features
    for _ in range(blocks):
        block = ConvNeXtBlock(dim, hidden, layer_scale_init=0.0)
        for m in block.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)):
                torch.nn.init.trunc_normal_(m.weight, std=0.02)
                torch.nn.init.zeros_(m.bias)
        convnext.append(block)


def heldout_clips(test: str, test_real: str, seconds: float = 6.0) -> list[tuple[str, torch.Tensor]]:
    real = stratified_sample(read_manifest(test_real), 4, 0)
    synthetic = stratified_sample(read_manifest(test), 3, 0)
    n = int(seconds * 16000)
    return [(e.domain + "R", load_audio(e.path)[:n]) for e in real] + [
        (e.domain + "S", load_audio(e.path)[:n]) for e in synthetic
    ]


@torch.inference_mode()
def heldout_mel(model: LoSATokVAE, clips) -> dict[str, float]:
    was_training, out = model.training, {}
    model.eval()
    for key, audio in clips:
        recon = model(audio[None, None]).sample[0, 0]
        out.setdefault(key, []).append(mel_distance(audio, recon[: audio.shape[-1]]).item())
    model.train(was_training)
    return {k: round(sum(v) / len(v), 4) for k, v in sorted(out.items())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--deep", type=int, default=0)
    p.add_argument("--encoder", action="store_true")
    p.add_argument("--noise", type=float, default=1.0, help="posterior noise scale with --encoder")
    p.add_argument("--semantic", type=float, default=45.0)
    p.add_argument("--kl", type=float, default=0.01)
    p.add_argument("--test", default="data/corpus/test.jsonl")
    p.add_argument("--test-real", default="data/corpus/test_real.jsonl")
    a = p.parse_args()
    for need in ("data/corpus/train.jsonl", "data/cache/teacher_mini/index.json", a.test, a.test_real):
        if not Path(need).is_file():
            p.error(f"{need} not found: run from a folder where make mini has built the corpus and feature cache")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LoSATokVAE.from_pretrained(a.model)
    deepen(model, a.deep)
    model.requires_grad_(False)
    model.decoder.requires_grad_(True)
    if a.encoder:
        model.acoustic.requires_grad_(True)
        model.gaussian.requires_grad_(True)
    model.train()
    print(f"decoder params {sum(x.numel() for x in model.decoder.parameters()) / 1e6:.2f}M", flush=True)
    data = DataConfig(
        train_manifest="data/corpus/train.jsonl",
        feature_cache="data/cache/teacher_mini",
        crop_seconds=1.28,
        batch_size=8,
        short_clips="repeat",
    )
    loader, _ = crop_loader(data, 1, model.hop_length, model.sampling_rate, need_audio=True)
    params = [x for x in model.parameters() if x.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.8, 0.99))
    mel_loss = MultiScaleMelLoss(model.sampling_rate)
    clips = heldout_clips(a.test, a.test_real)
    print("start", heldout_mel(model, clips), flush=True)
    t0, step, logged, batches = time.time(), 0, {}, iter(loader)
    while step < a.steps:
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            continue
        audio = batch["audio"]
        with torch.set_grad_enabled(a.encoder):
            f = model.encode_features(audio, semantic_emb=batch.get("semantic_emb"))
            z = f.mu.transpose(1, 2)
            if a.encoder:
                z = z + a.noise * (0.5 * f.logvar).exp().transpose(1, 2) * torch.randn_like(z)
        recon = model.decoder(z)
        losses = {"mel": mel_loss(recon, audio[:, : recon.shape[-1]])}
        loss = MEL_WEIGHT * losses["mel"]
        if a.encoder:
            s = dual_semantic_loss(f.acoustic_emb, f.semantic_emb, f.acoustic_emb_low, f.semantic_emb_low, "both")
            losses.update(sh=s["semantic/high"], sl=s["semantic/low"], kl=kl_loss(f.mu, f.logvar))
            loss = loss + a.semantic * s["semantic/total"] + a.kl * losses["kl"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        for k, v in losses.items():
            logged[k] = logged.get(k, 0.0) + v.item() / 100
        step += 1
        if step % 100 == 0:
            rate = step / (time.time() - t0)
            print(step, {k: round(v, 4) for k, v in logged.items()}, f"{rate:.2f} steps/s", flush=True)
            logged = {}
        if step % 400 == 0:
            print("eval", step, heldout_mel(model, clips), flush=True)


if __name__ == "__main__":
    main()
