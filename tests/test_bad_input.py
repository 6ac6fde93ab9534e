"""Bad input gets a clear error (or a documented conversion), never silent garbage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from losatok_plugin import AudioInputError, CheckpointError, LoSATokVAE

from .helpers import PARITY, synth_audio


def test_stereo_is_downmixed_with_warning(tiny_vae):
    x = synth_audio(8000, batch=2)
    stereo = torch.stack([x[0], x[1]])[None]  # [1, 2, N]
    with pytest.warns(UserWarning, match="down-mixing"):
        with torch.no_grad():
            got = tiny_vae.encode(stereo).latent_dist.mean
    with torch.no_grad():
        want = tiny_vae.encode(stereo.mean(dim=1)).latent_dist.mean
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dtype,scale", [(np.int16, 32768.0), (np.int32, 2147483648.0)])
def test_integer_pcm_is_scaled(tiny_vae, dtype, scale):
    x = synth_audio(8000)
    pcm = np.round(x.numpy() * (scale / 2)).astype(dtype)  # peak 0.25 of full scale
    with torch.no_grad():
        got = tiny_vae.encode(pcm).latent_dist.mean
        want = tiny_vae.encode(torch.from_numpy(pcm.astype(np.float64) / scale)).latent_dist.mean
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_unsupported_dtypes_refused(tiny_vae):
    with pytest.raises(AudioInputError, match="dtype"):
        tiny_vae.encode(torch.ones(1, 8000, dtype=torch.bool))
    with pytest.raises(AudioInputError, match="unsigned"):
        tiny_vae.encode(np.ones((1, 8000), dtype=np.uint16))
    with pytest.raises(AudioInputError, match="must be"):
        tiny_vae.encode([0.0] * 8000)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_audio_refused(tiny_vae, bad):
    x = synth_audio(8000)
    x[0, 1234] = bad
    with pytest.raises(AudioInputError, match="NaN or inf"):
        tiny_vae.encode(x)


def test_too_short_names_minimum(tiny_vae):
    assert tiny_vae.min_samples == 513
    with pytest.raises(AudioInputError, match="at least 513 samples"):
        tiny_vae.encode(synth_audio(512))
    with torch.no_grad():
        assert tiny_vae.encode(synth_audio(513)).latent_dist.mean.shape[-1] == 1


def test_bad_shapes_refused(tiny_vae):
    with pytest.raises(AudioInputError, match=r"\[N\], \[B, N\] or \[B, C, N\]"):
        tiny_vae.encode(torch.zeros(1, 1, 1, 8000))
    with pytest.raises(AudioInputError, match="channels first"):
        tiny_vae.decode(torch.zeros(1, 7, 16))
    with pytest.raises(AudioInputError, match="NaN or inf"):
        tiny_vae.decode(torch.full((1, 16, 4), float("nan")))


def test_other_sample_rate_is_resampled(tiny_vae):
    x16 = synth_audio(16000)
    import torchaudio

    x44 = torchaudio.functional.resample(x16, 16000, 44100)
    with torch.no_grad():
        got = tiny_vae.encode(x44, sampling_rate=44100).latent_dist.mean
        want = tiny_vae.encode(torchaudio.functional.resample(x44, 44100, 16000)).latent_dist.mean
    assert got.shape[-1] == 25
    torch.testing.assert_close(got, want)
    with pytest.raises(AudioInputError, match="positive"):
        tiny_vae.encode(x16, sampling_rate=-5)


def test_truncated_checkpoint_clear_error(tmp_path):
    src = tmp_path / "good.pth"
    torch.save({"state_dict": load_file(str(PARITY / "weights.safetensors"))}, src)
    data = src.read_bytes()
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a torch checkpoint"):
        LoSATokVAE.from_reference_checkpoint(bad, PARITY / "config.json")
    bad_st = tmp_path / "truncated.safetensors"
    bad_st.write_bytes((PARITY / "weights.safetensors").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        LoSATokVAE.from_reference_checkpoint(bad_st, PARITY / "config.json")


def test_non_checkpoint_file_clear_error(tmp_path):
    txt = tmp_path / "notes.pth"
    txt.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError):
        LoSATokVAE.from_reference_checkpoint(txt, PARITY / "config.json")
    with pytest.raises(CheckpointError, match="not found"):
        LoSATokVAE.from_reference_checkpoint(tmp_path / "missing.pth", PARITY / "config.json")
    pickled = tmp_path / "object.pth"
    torch.save({"state_dict": {"a": object()}}, pickled)  # needs code execution to load
    with pytest.raises(CheckpointError, match="weights_only"):
        LoSATokVAE.from_reference_checkpoint(pickled, PARITY / "config.json")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        LoSATokVAE.from_reference_checkpoint(tmp_path / "list.pth", PARITY / "config.json")


def test_wrong_shape_weight_names_key_and_shapes(tmp_path):
    state = load_file(str(PARITY / "weights.safetensors"))
    state["fc_mu.weight"] = torch.zeros(16, 8)
    with pytest.raises(CheckpointError, match=r"fc_mu\.weight: checkpoint \(16, 8\) vs model \(16, 16\)"):
        LoSATokVAE.from_reference_checkpoint(state, PARITY / "config.json")


def test_missing_and_unexpected_weights_are_named(tmp_path):
    state = load_file(str(PARITY / "weights.safetensors"))
    del state["dasheng_tokenizer.decoder.head.out.bias"]
    state["dasheng_tokenizer.extra.weight"] = torch.zeros(3)
    path = tmp_path / "w.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError) as err:
        LoSATokVAE.from_reference_checkpoint(path, PARITY / "config.json")
    assert "dasheng_tokenizer.decoder.head.out.bias" in str(err.value)
    assert "dasheng_tokenizer.extra.weight" in str(err.value)


def test_config_mismatch_reports_missing_blocks():
    state = load_file(str(PARITY / "weights.safetensors"))
    from losatok_plugin import tiny_config

    with pytest.raises(CheckpointError, match=r"semantic_encoder\.encoder\.blocks\.2\."):
        LoSATokVAE.from_reference_checkpoint(state, tiny_config(semantic_depth=3, bottleneck_hidden_dim=512))


def test_recomputed_buffer_mismatch_is_detected():
    state = load_file(str(PARITY / "weights.safetensors"))
    state["dasheng_tokenizer.decoder.head.istft.window"] = torch.ones(1280)
    with pytest.raises(CheckpointError, match="istft.window"):
        LoSATokVAE.from_reference_checkpoint(state, PARITY / "config.json")
