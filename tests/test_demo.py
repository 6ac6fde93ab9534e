"""The main-job script runs end to end (random tiny model when no trained model is bundled)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def test_demo_writes_wavs_pngs_and_metrics(tmp_path, tiny_vae):
    model_dir = tmp_path / "model"
    tiny_vae.save_pretrained(model_dir)
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "demo.py"), "--out", str(out), "--model", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["clips"], metrics
    for row in metrics["clips"]:
        orig, sr = sf.read(str(out / f"{row['clip']}.orig.wav"))
        recon, _ = sf.read(str(out / f"{row['clip']}.recon.wav"))
        assert sr == 16000 and len(orig) == len(recon) == 640 * row["latent_shape"][-1]
        assert (out / f"{row['clip']}.mel.png").stat().st_size > 10_000
        assert row["mel_distance"] > 0
    assert "mel dist" in proc.stdout
