"""Validation at the API boundary (issue 13, items 6-9): latent files, non-finite outputs of finite
inputs, config typos in every format, big-endian arrays, empty batches. Each failed before the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from losatok_plugin import AudioInputError, ConfigError, LoSATokConfig, tiny_config
from losatok_plugin.latent_file import SUFFIX, LatentFileError, load_latents, save_latents

from .helpers import synth_audio


# -- item 6: latent files are validated beyond the header --------------------------------------------
def bad_latent_files(tiny_vae, folder) -> dict[str, str]:
    """Write one good and several bad latent files; returns {file name: expected error}."""
    good = save_latents(folder / f"good{SUFFIX}", torch.randn(16, 10), tiny_vae, 6400)
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        meta = f.metadata()
    cases = {
        "nan": ({"latents": torch.full((16, 10), float("nan"))}, {}, "NaN or inf"),
        "wide": ({"latents": torch.randn(64, 10)}, {}, "64 channels, the model expects 16"),
        "transposed": ({"latents": torch.randn(10, 16)}, {}, "transposed"),
        "empty": ({"latents": torch.randn(16, 0)}, {}, "T = 0"),
        "abc": ({"latents": torch.randn(16, 10)}, {"original_length": "abc"}, "not an integer"),
        "negative": ({"latents": torch.randn(16, 10)}, {"original_length": "-5"}, "must be positive"),
        "zero": ({"latents": torch.randn(16, 10)}, {"original_length": "0"}, "must be positive"),
        "huge": ({"latents": torch.randn(16, 10)}, {"original_length": "100000000000"}, "does not fit 10 frames"),
        "int": ({"latents": torch.ones(16, 10, dtype=torch.int64)}, {}, "2-D float tensor"),
    }
    expected = {}
    for name, (tensors, changes, message) in cases.items():
        save_file(tensors, str(folder / f"{name}{SUFFIX}"), metadata={**meta, **changes})
        expected[f"{name}{SUFFIX}"] = message
    return expected


def test_load_latents_refuses_contents_that_do_not_fit(tiny_vae, tmp_path):
    for name, message in bad_latent_files(tiny_vae, tmp_path).items():
        with pytest.raises(LatentFileError, match=message):
            load_latents(tmp_path / name, tiny_vae)
    load_latents(tmp_path / f"good{SUFFIX}", tiny_vae)
    with pytest.raises(LatentFileError, match="NaN"):
        save_latents(tmp_path / f"x{SUFFIX}", torch.full((16, 3), float("inf")), tiny_vae, 1920)


def test_decode_reports_each_bad_latent_file_and_decodes_the_rest(tiny_vae, tmp_path, capsys):
    from losatok_plugin.cli import main as cli

    tiny_vae.save_pretrained(tmp_path / "model")
    expected = bad_latent_files(tiny_vae, tmp_path / "lat")
    rc = cli(["decode", str(tmp_path / "lat"), "--out", str(tmp_path / "wav"), "--model", str(tmp_path / "model")])
    captured = capsys.readouterr()
    assert rc == 1
    for name, message in expected.items():
        line = next(x for x in captured.err.splitlines() if f"failed: {tmp_path / 'lat' / name}" in x)
        assert message in line
    assert "decoded 1 files" in captured.out
    assert [p.name for p in (tmp_path / "wav").iterdir()] == ["good.wav"]


# -- item 7: finite but extreme values give a clear error, never NaN ----------------------------------
def test_extreme_but_finite_inputs_raise_instead_of_returning_nan(tiny_vae):
    x = synth_audio(16000)
    with pytest.raises(AudioInputError, match="far outside the range"):
        tiny_vae.encode(x * 1e18)
    with pytest.raises(AudioInputError, match="far outside the range"):
        tiny_vae.encode_features(x * 1e18)
    z = tiny_vae.encode(x).latent_dist.mode()
    with pytest.raises(AudioInputError, match=r"decode produced NaN/inf audio for batch item\(s\) \[1\]"):
        tiny_vae.decode(torch.cat([z, z * 1e30]))


# -- item 8: config typos are named in every format ----------------------------------------------------
def test_config_typos_are_named_in_both_formats():
    with pytest.raises(ConfigError, match="semantic_depht"):
        LoSATokConfig.from_reference({"embed_dim": 64, "semantic_depht": 4})
    with pytest.raises(ConfigError, match="semantic_depht"):
        LoSATokConfig.from_reference({**tiny_config().to_dict(), "semantic_depht": 4})
    reference = {
        "decoder_depth": 2,
        "decoder_embed_dim": 64,
        "decoder_dim": 16,
        "decoder_intermediate_size": 128,
        "depth": 2,
        "embed_dim": 64,
        "num_heads": 4,
    }
    assert LoSATokConfig.from_reference(reference).semantic_depth == 2
    with pytest.raises(ConfigError, match="decoder_detph"):
        LoSATokConfig.from_reference({**reference, "decoder_detph": 3})
    with pytest.raises(ConfigError, match="decoder_detph"):
        LoSATokConfig.from_reference({"AudioVAE.config_dict": {**reference, "decoder_detph": 3}})
    with pytest.raises(ConfigError, match="format="):
        LoSATokConfig.from_reference({**reference, "semantic_depth": 3})
    # an explicit format decides: the shared key ``decoder_dim`` means latent channels in the reference
    assert (
        LoSATokConfig.from_reference({"embed_dim": 64, "decoder_dim": 16}, format="dasheng_tokenizer").latent_channels
        == 16
    )


# -- item 9: big-endian arrays, empty decode batches ----------------------------------------------------
@pytest.mark.parametrize("dtype", [">f4", ">i2", ">f8", ">i4"])
def test_big_endian_arrays_are_converted(tiny_vae, dtype):
    x = synth_audio(16000)[0].numpy()
    native = (x * 32000).astype(dtype[1:]) if "i" in dtype else x.astype(dtype[1:])
    swapped = native.astype(dtype)
    assert swapped.dtype.byteorder == ">"
    torch.testing.assert_close(tiny_vae.encode(swapped).latent_dist.mode(), tiny_vae.encode(native).latent_dist.mode())


def test_empty_decode_batch_is_refused(tiny_vae):
    with pytest.raises(AudioInputError, match="empty batch"):
        tiny_vae.decode(torch.zeros(0, 16, 5))


def test_frames_first_layout_is_documented_in_the_error_free_path(tiny_vae):
    # [N, 1] (soundfile with always_2d=True on a mono file) is one mono clip, not N clips of 1 sample
    x = synth_audio(16000)[0].numpy()
    torch.testing.assert_close(tiny_vae.encode(x[:, None]).latent_dist.mode(), tiny_vae.encode(x).latent_dist.mode())
    assert np.asarray(x).ndim == 1
