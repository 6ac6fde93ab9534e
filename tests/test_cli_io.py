"""First-use behaviour of the CLI's file side (issue 12): output names, exit codes, errors, batching,
permissions, the short model name, start-up imports. Every test here failed before the fix."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from losatok_plugin.cli import main as cli
from losatok_plugin.latent_file import SUFFIX, load_latents

from .helpers import synth_audio

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def model_dir(tiny_vae, tmp_path):
    tiny_vae.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def wav(path: Path, n: int = 8000, seed: int = 0, sr: int = 16000, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), synth_audio(n, seed=seed)[0].numpy(), sr, format=fmt)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "losatok_plugin", *args], capture_output=True, text=True, env=env, timeout=300
    )


# -- item 1: names mirror relative paths; collisions never overwrite -----------------------------
def test_outputs_mirror_relative_paths_and_colliding_stems_keep_their_extension(model_dir, tmp_path, capsys):
    src = tmp_path / "in"
    wav(src / "a" / "song.wav", seed=1)
    wav(src / "a" / "song.flac", seed=2, fmt="FLAC")
    wav(src / "b" / "song.wav", seed=3)
    out = tmp_path / "lat"
    for force in ([], ["--force"]):
        assert cli(["encode", str(src), "--out", str(out), "--model", str(model_dir), *force]) == 0
        assert "encoded 3 files" in capsys.readouterr().out
        got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        assert got == [f"a/song.flac{SUFFIX}", f"a/song.wav{SUFFIX}", f"b/song{SUFFIX}"]
    # each output holds its own input (different seeds -> different latents)
    a = load_latents(out / "a" / f"song.wav{SUFFIX}").latents
    b = load_latents(out / "a" / f"song.flac{SUFFIX}").latents
    assert not torch.allclose(a, b)
    # decode and reconstruct follow the same rule
    assert cli(["decode", str(out), "--out", str(tmp_path / "dec"), "--model", str(model_dir)]) == 0
    got = sorted(str(p.relative_to(tmp_path / "dec")) for p in (tmp_path / "dec").rglob("*.wav"))
    assert got == ["a/song.flac.wav", "a/song.wav.wav", "b/song.wav"]
    assert cli(["reconstruct", str(src), "--out", str(tmp_path / "rec"), "--model", str(model_dir)]) == 0
    got = sorted(str(p.relative_to(tmp_path / "rec")) for p in (tmp_path / "rec").rglob("*.wav"))
    assert got == ["a/song.flac.wav", "a/song.wav.wav", "b/song.wav"]


def test_same_name_from_two_inputs_is_a_failure_not_an_overwrite(model_dir, tmp_path, capsys):
    x, y = wav(tmp_path / "x" / "a.wav", seed=1), wav(tmp_path / "y" / "a.wav", seed=2)
    out = tmp_path / "lat"
    assert cli(["encode", str(x), str(y), "--out", str(out), "--model", str(model_dir), "--force"]) == 1
    captured = capsys.readouterr()
    assert f"failed: {y}" in captured.err and "also the output of" in captured.err
    assert "encoded 1 files" in captured.out
    assert [p.name for p in out.iterdir()] == [f"a{SUFFIX}"]


# -- item 10: eval recon --recon-dir finds what reconstruct wrote ------------------------------------
def test_eval_recon_dir_finds_reconstruct_outputs(model_dir, tmp_path, capsys):
    from losatok_plugin.data import ManifestEntry, write_manifest

    refs = [
        wav(tmp_path / "clips" / "x.flac", 16000, seed=1, fmt="FLAC"),
        wav(tmp_path / "clips" / "sub" / "y.ogg", 16000, seed=2),
    ]
    manifest = tmp_path / "test.jsonl"
    write_manifest([ManifestEntry(path=str(p), domain="sound") for p in refs], manifest)
    assert (
        cli(["reconstruct", str(tmp_path / "clips"), "--out", str(tmp_path / "recon"), "--model", str(model_dir)]) == 0
    )
    capsys.readouterr()
    rc = cli(
        [
            "eval",
            "recon",
            "--manifest",
            str(manifest),
            "--recon-dir",
            str(tmp_path / "recon"),
            "--out",
            str(tmp_path / "ev"),
            "--plots",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "missing" not in err


# -- item 11: one clear line, non-zero exit, no traceback; --debug shows it ------------------------
def test_bad_command_lines_give_one_line_errors(model_dir, tmp_path, capsys):
    clip = wav(tmp_path / "a.wav")
    cases = [
        (["info", "--model", str(tmp_path / "nope")], "model not found"),
        (["encode", str(clip), "--out", str(tmp_path / "o"), "--model", str(clip)], "is not a model"),
        (
            ["encode", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "o"), "--model", str(model_dir)],
            "no such file or folder",
        ),
    ]
    if not torch.cuda.is_available():
        cases.append(
            (
                ["encode", str(clip), "--out", str(tmp_path / "o"), "--model", str(model_dir), "--device", "cuda"],
                "CUDA is not available",
            )
        )
    for args, expected in cases:
        assert cli(args) != 0, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("losatok: error:") and expected in err[0], (args, err)
    with pytest.raises(Exception, match="model not found"):
        cli(["info", "--model", str(tmp_path / "nope"), "--debug"])


def test_errors_in_a_real_process_have_no_traceback(tmp_path):
    proc = run_cli("info", "--model", str(tmp_path / "nope.pth"))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("losatok: error: model not found") and "Traceback" not in proc.stderr


# -- item 12: SIGINT -> 130 and no partial file; item 13: normal permissions -----------------------
def test_interrupt_exits_130_and_leaves_no_partial_file(model_dir, tmp_path, monkeypatch, capsys):
    import losatok_plugin.latent_file as lf

    for i in range(3):
        wav(tmp_path / "in" / f"c{i}.wav", seed=i)
    real = lf.save_file
    calls = []

    def interrupted_save(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 2:  # Ctrl-C in the middle of the second write
            Path(filename).write_bytes(b"partial")
            raise KeyboardInterrupt
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(lf, "save_file", interrupted_save)
    out = tmp_path / "lat"
    assert (
        cli(["encode", str(tmp_path / "in"), "--out", str(out), "--model", str(model_dir), "--batch-size", "1"]) == 130
    )
    assert "interrupted" in capsys.readouterr().err
    files = sorted(out.iterdir())
    assert len(files) == 1 and files[0].name.endswith(SUFFIX)  # the complete one, no temp/partial file
    load_latents(files[0])


def test_outputs_get_normal_permissions(model_dir, tmp_path):
    wav(tmp_path / "in" / "a.wav")
    assert cli(["encode", str(tmp_path / "in"), "--out", str(tmp_path / "lat"), "--model", str(model_dir)]) == 0
    assert cli(["decode", str(tmp_path / "lat"), "--out", str(tmp_path / "wav"), "--model", str(model_dir)]) == 0
    umask = os.umask(0o022)
    os.umask(umask)
    for p in (tmp_path / "lat" / f"a{SUFFIX}", tmp_path / "wav" / "a.wav"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p


# -- item 14: encode batches by length; decode uses --batch-size ------------------------------------
def test_encode_batches_group_files_by_length_and_decode_uses_batch_size(model_dir, tmp_path, monkeypatch):
    from losatok_plugin.models.losatok_vae import LoSATokVAE

    for name, n in (("a", 48000), ("b", 4000), ("c", 48000), ("d", 4000)):
        wav(tmp_path / "in" / f"{name}.wav", n)
    widths, decoded = [], []
    real_encode, real_decode = LoSATokVAE.encode, LoSATokVAE.decode

    def encode(self, audio, *a, **k):
        widths.append(sorted(int(n) for n in k["lengths"]))
        return real_encode(self, audio, *a, **k)

    def decode(self, z, *a, **k):
        decoded.append(z.shape[0])
        return real_decode(self, z, *a, **k)

    monkeypatch.setattr(LoSATokVAE, "encode", encode)
    monkeypatch.setattr(LoSATokVAE, "decode", decode)
    args = ["--model", str(model_dir), "--batch-size", "2"]
    assert cli(["encode", str(tmp_path / "in"), "--out", str(tmp_path / "lat"), *args]) == 0
    assert widths == [[4000, 4000], [48000, 48000]]
    assert cli(["decode", str(tmp_path / "lat"), "--out", str(tmp_path / "wav"), *args]) == 0
    assert sorted(decoded) == [2, 2]
    for name, n in (("a", 48000), ("b", 4000)):
        assert len(sf.read(str(tmp_path / "wav" / f"{name}.wav"))[0]) == n


# -- item 9: the short name, offline ------------------------------------------------------------------
def test_short_name_losatok_mini_everywhere(capsys):
    from losatok_plugin import LoSATokVAE
    from losatok_plugin.loading import load_vae

    vae = LoSATokVAE.from_pretrained("losatok-mini")
    assert vae.config.latent_channels == 128
    assert load_vae("losatok-mini").config == vae.config
    assert cli(["info", "--model", "losatok-mini"]) == 0
    out = capsys.readouterr().out
    assert "128 channels" in out and f"{sum(p.numel() for p in vae.parameters()) / 1e6:.2f} M" in out


def test_training_configs_and_teachers_accept_the_short_name():
    import json

    from losatok_plugin import LoSATokConfig
    from losatok_plugin.loading import embedded_model_path
    from losatok_plugin.teachers import load_teacher
    from losatok_plugin.training.models import build_stage_model

    teacher = load_teacher("midashenglm", "losatok-mini")  # stage-1 ``teacher: losatok-mini``
    raw = json.loads((embedded_model_path("losatok-mini") / "config.json").read_text())
    cfg = LoSATokConfig.from_model_config(raw)
    model = build_stage_model(cfg, "losatok-mini", frozen=("semantic_encoder", "bottleneck"))  # ``init_from``
    for a, b in zip(model.semantic_encoder.parameters(), teacher.parameters()):
        torch.testing.assert_close(a, b)


# -- item 8: a folder holding the official files as downloaded ----------------------------------------
def test_official_folder_as_downloaded(tmp_path):
    from losatok_plugin.loading import load_reference_checkpoint, load_vae

    from .helpers import PARITY

    ckpts = tmp_path / "LoSATok" / "ckpts"
    ckpts.mkdir(parents=True)
    from safetensors.torch import load_file

    torch.save({"state_dict": load_file(str(PARITY / "weights.safetensors"))}, ckpts / "losatok_kl1e-2.pth")
    (ckpts / "semantic_encoder.pth").write_bytes(b"not needed for inference")
    (tmp_path / "LoSATok" / "config").mkdir()
    (tmp_path / "LoSATok" / "config" / "16k_16k_25Hz_losatok.yml").write_text((PARITY / "config.json").read_text())
    want = load_reference_checkpoint(PARITY / "weights.safetensors", PARITY / "config.json")
    for spec in (tmp_path / "LoSATok", ckpts):
        got = load_vae(spec)
        assert got.config == want.config
    (ckpts / "losatok_kl1e-3.pth").write_bytes((ckpts / "losatok_kl1e-2.pth").read_bytes())
    with pytest.raises(FileNotFoundError, match="several official checkpoints"):
        load_vae(ckpts)


# -- item 15: start-up without heavy imports -------------------------------------------------------------
def test_cli_start_up_imports_no_torch(model_dir):
    code = (
        "import sys, io, contextlib\n"
        "from losatok_plugin.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['teachers']) == 0 and main(['info', '--model', {str(model_dir)!r}]) == 0\n"
        "    assert main(['info']) == 0\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'audiocraft', 'transformers') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_teacher_names_match_the_registry():
    from losatok_plugin.teacher_names import TEACHER_NAMES
    from losatok_plugin.teachers import TEACHERS

    assert TEACHER_NAMES == TEACHERS


# -- issue 12 item 5: frames-first arrays ------------------------------------------------------------------
def test_frames_first_stereo_from_soundfile_is_recognised(tiny_vae, tmp_path):
    left, right = synth_audio(16000, seed=1)[0].numpy(), synth_audio(16000, seed=2)[0].numpy()
    sf.write(str(tmp_path / "s.wav"), np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    data, sr = sf.read(str(tmp_path / "s.wav"), dtype="float32")
    assert data.shape == (16000, 2)
    with pytest.warns(UserWarning, match="2 channels"):
        got = tiny_vae.encode(data).latent_dist.mode()
    want = tiny_vae.encode(torch.from_numpy((left + right) / 2)[None]).latent_dist.mode()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


# -- item 4: degenerate metrics left out with their reason; medians in summaries --------------------
def test_silent_clips_do_not_blow_up_the_summary(tmp_path):
    from losatok_plugin.eval.recon import clip_metrics, summarise

    x = synth_audio(16000)[0]
    silent = torch.zeros(16000)
    rows = [{"domain": "sound", **clip_metrics(x, x * 0.9, "sound")} for _ in range(2)]
    rows.append({"domain": "sound", **clip_metrics(silent, x, "sound")})  # silent reference
    rows.append({"domain": "sound", **clip_metrics(x, silent, "sound")})  # silent output
    assert rows[2]["stft"] is None and rows[2]["mel"] is None and rows[2]["skipped"]["stft"] == "silent reference"
    assert rows[3]["stft"] is None and rows[3]["si_sdr"] is None and rows[3]["skipped"]["stft"] == "silent output"
    s = summarise(rows)["sound"]
    assert s["stft_n"] == 2 and s["stft"] < 10 and s["stft_median"] == pytest.approx(rows[0]["stft"])
    assert s["mel_n"] == 3 and "mel_median" in s


# -- issue 11: one loader; None means the embedded default -------------------------------------------------
def test_load_vae_none_is_the_embedded_default_and_specs_resolve_without_torch():
    from losatok_plugin.checkpoints import ModelNotFoundError, locate_model
    from losatok_plugin.loading import load_vae

    source = locate_model(None)
    assert source.kind == "pretrained" and source.path.name == "losatok-mini"
    assert load_vae().config == load_vae("losatok-mini").config
    with pytest.raises(ModelNotFoundError, match="model not found"):
        locate_model("no/such/model")
    code = "import sys\nfrom losatok_plugin.checkpoints import locate_model\nlocate_model(None)\nprint('torch' in sys.modules)\n"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
