"""The main job (``make demo``): the embedded losatok-mini reconstructs the bundled clips end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def test_demo_with_the_embedded_model_writes_wavs_pngs_and_metrics(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "demo.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "losatok-mini (embedded)" in proc.stdout and "RANDOMLY INITIALISED" not in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    clips = {row["clip"]: row for row in metrics["clips"]}
    assert set(clips) == {p.stem for p in (REPO / "recipes" / "assets" / "examples").glob("*.wav")}
    for name, row in clips.items():
        orig, sr = sf.read(str(out / f"{name}.orig.wav"))
        recon, _ = sf.read(str(out / f"{name}.recon.wav"))
        assert sr == 16000 and len(orig) == len(recon) == 640 * row["latent_shape"][-1]
        assert row["latent_shape"][1] == 128
        assert (out / f"{name}.mel.png").stat().st_size > 10_000
        for side in ("losatok", "griffin_lim_128mel"):
            assert row[side]["mel"] > 0
            assert ("stoi" in row[side]) == (row["domain"] == "speech")
    assert "Griffin-Lim" in proc.stdout and "stoi" in proc.stdout
    # one generated clip per shipped DiT pipeline, with its mel PNG
    shipped = sorted(p.name.split("-")[1] for p in (REPO / "losatok_plugin" / "pretrained").glob("dit-*-mini"))
    assert [g["pipeline"] for g in sorted(metrics.get("generated", []), key=lambda g: g["pipeline"])] == shipped
    for g in metrics.get("generated", []):
        wav, sr = sf.read(str(out / f"generated_{g['pipeline']}.wav"))
        assert sr == 16000 and abs(len(wav) / sr - g["seconds"]) < 0.01 and g["seconds"] > 0
        assert (out / f"generated_{g['pipeline']}.mel.png").stat().st_size > 10_000
