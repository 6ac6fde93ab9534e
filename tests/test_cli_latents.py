"""The losatok CLI (info / encode / decode / reconstruct) and the versioned latent file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.cli import main as cli
from losatok_plugin.latent_file import SUFFIX, LatentFileError, load_latents, save_latents

from .helpers import synth_audio


@pytest.fixture()
def model_dir(tiny_vae, tmp_path):
    tiny_vae.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def write_inputs(folder):
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(str(folder / "a.wav"), synth_audio(16000 + 123)[0].numpy(), 16000)
    stereo = np.stack([synth_audio(22050, seed=1)[0].numpy(), synth_audio(22050, seed=2)[0].numpy()], axis=1)
    sf.write(str(folder / "b.flac"), stereo, 22050)
    sf.write(str(folder / "c.ogg"), synth_audio(9000, seed=3)[0].numpy(), 16000)
    return {"a": 16123, "b": 16000, "c": 9000}  # lengths at 16 kHz


def test_encode_decode_roundtrip_restores_length(model_dir, tiny_vae, tmp_path, capsys):
    lengths = write_inputs(tmp_path / "in")
    assert (
        cli(
            [
                "encode",
                str(tmp_path / "in"),
                "--out",
                str(tmp_path / "lat"),
                "--model",
                str(model_dir),
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "down-mixed" in err  # the stereo file got a notice
    for name, n in lengths.items():
        lf = load_latents(tmp_path / "lat" / f"{name}{SUFFIX}", tiny_vae)
        assert lf.original_length == n and lf.latents.shape == (16, tiny_vae.num_frames(n))
        assert lf.meta["sample_rate"] == "16000" and lf.meta["frame_rate"] == "25.0" and lf.meta["version"] == "1"
    # batched encoding (with lengths) equals encoding the file alone
    from losatok_plugin.data import load_audio

    with torch.no_grad():
        alone = tiny_vae.encode(load_audio(tmp_path / "in" / "c.ogg")[None]).latent_dist.mode()[0]
    torch.testing.assert_close(load_latents(tmp_path / "lat" / f"c{SUFFIX}").latents, alone, atol=1e-4, rtol=1e-4)
    assert cli(["decode", str(tmp_path / "lat"), "--out", str(tmp_path / "wav"), "--model", str(model_dir)]) == 0
    for name, n in lengths.items():
        audio, sr = sf.read(str(tmp_path / "wav" / f"{name}.wav"))
        assert sr == 16000 and len(audio) == n
    assert (
        cli(["reconstruct", str(tmp_path / "in" / "a.wav"), "--out", str(tmp_path / "rec"), "--model", str(model_dir)])
        == 0
    )
    assert len(sf.read(str(tmp_path / "rec" / "a.wav"))[0]) == 16123


def test_existing_outputs_are_up_to_date_and_force_redoes_them(model_dir, tmp_path, capsys):
    write_inputs(tmp_path / "in")
    args = ["encode", str(tmp_path / "in" / "a.wav"), "--out", str(tmp_path / "lat"), "--model", str(model_dir)]
    assert cli(args) == 0
    before = (tmp_path / "lat" / f"a{SUFFIX}").stat().st_mtime_ns
    capsys.readouterr()
    assert cli(args) == 0  # a re-run over complete outputs is not an error
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "lat" / f"a{SUFFIX}").stat().st_mtime_ns == before
    assert cli(args + ["--force"]) == 0
    assert "encoded 1 files" in capsys.readouterr().out


def test_info(model_dir, capsys):
    assert cli(["info", "--model", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert "25 Hz" in out and "16 channels" in out and "16000 Hz" in out


def test_latent_file_errors(tiny_vae, tmp_path):
    z = torch.randn(16, 10)
    path = save_latents(tmp_path / "x" / f"x{SUFFIX}", z, tiny_vae, 6400)
    torch.testing.assert_close(load_latents(path, tiny_vae).latents, z)
    torch.manual_seed(1)
    other = LoSATokVAE(**tiny_config().to_dict())
    with pytest.raises(LatentFileError, match="another model"):
        load_latents(path, other)
    bigger = LoSATokVAE(**tiny_config(decoder_depth=3).to_dict())
    with pytest.raises(LatentFileError, match="config_hash"):
        load_latents(path, bigger)
    save_file({"latents": z}, str(tmp_path / f"v9{SUFFIX}"), metadata={"format": "losatok-latents", "version": "9"})
    with pytest.raises(LatentFileError, match="version '9'"):
        load_latents(tmp_path / f"v9{SUFFIX}")
    save_file({"latents": z}, str(tmp_path / f"plain{SUFFIX}"))
    with pytest.raises(LatentFileError, match="not a LoSATok latent file"):
        load_latents(tmp_path / f"plain{SUFFIX}")
    (tmp_path / f"bad{SUFFIX}").write_bytes(path.read_bytes()[:40])
    with pytest.raises(LatentFileError, match="not a readable latent file"):
        load_latents(tmp_path / f"bad{SUFFIX}")
    with pytest.raises(LatentFileError, match=r"\[16, T\]"):
        save_latents(tmp_path / f"y{SUFFIX}", torch.randn(8, 10), tiny_vae, 6400)


def test_bad_inputs_are_reported_and_good_ones_processed(model_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    write_inputs(folder)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("this is text, not audio")
    sf.write(str(folder / "tiny.wav"), np.zeros(160, dtype="float32"), 16000)  # 0.01 s
    out = tmp_path / "deep" / "new" / "lat"  # missing output folders are created
    assert cli(["encode", str(folder), "--out", str(out), "--model", str(model_dir), "--batch-size", "2"]) == 1
    err = capsys.readouterr().err
    for name in ("empty.wav", "notes.wav", "tiny.wav"):
        assert f"failed: {folder / name}" in err
    assert "too short: 160 samples" in err
    assert sorted(p.name for p in out.iterdir()) == [f"a{SUFFIX}", f"b{SUFFIX}", f"c{SUFFIX}"]
    (out / f"x{SUFFIX}").write_bytes(b"corrupt")
    assert cli(["decode", str(out), "--out", str(tmp_path / "wav"), "--model", str(model_dir)]) == 1
    assert "not a readable latent file" in capsys.readouterr().err
    assert len(list((tmp_path / "wav").glob("*.wav"))) == 3


def test_read_only_output_location_is_a_clear_error(model_dir, tmp_path, capsys):
    import os

    write_inputs(tmp_path / "in")
    if os.geteuid() == 0:
        target = Path("/sys/losatok_out")  # not writable even for root
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "out"
    assert cli(["encode", str(tmp_path / "in"), "--out", str(target), "--model", str(model_dir)]) == 1
    assert "cannot write to output folder" in capsys.readouterr().err
