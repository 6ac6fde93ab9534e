"""Config system: strict keys, derived values, reference formats."""

from __future__ import annotations

import json

import pytest

from losatok_plugin import ConfigError, LoSATokConfig, tiny_config

from .helpers import PARITY

OFFICIAL_YML = """sample_rate: 16000

AudioVAE.sample_rate: 16000
AudioVAE.config_dict: {
  "decoder_depth": 12, "decoder_embed_dim": 1280, "decoder_dim": 128, "decoder_intermediate_size": 5120,
  "depth": 32, "dtype": "float32", "embed_dim": 1280, "hop_length": 160, "istft_hop": 320,
  "istft_n_fft": 1280, "model_type": "dashengtokenizer", "n_mels_patch": 128, "num_heads": 16,
  "transformers_version": "5.1.0", "upsample_tokens": 2
}
AudioVAE.semantic_encoder_path: ckpts/semantic_encoder.pth
"""


def test_unknown_keys_are_errors():
    with pytest.raises(ConfigError, match="unknown LoSATok config keys.*latent_chanels"):
        LoSATokConfig.from_dict({"latent_chanels": 64})


def test_inconsistent_hops_are_errors():
    with pytest.raises(ConfigError, match="token hops disagree"):
        tiny_config(istft_hop=160)
    with pytest.raises(ConfigError, match="hop_length"):
        tiny_config(hop_length=320)
    with pytest.raises(ConfigError, match="must be an int"):
        tiny_config(decoder_depth=2.5)


def test_official_yml_gives_official_sizes(tmp_path):
    path = tmp_path / "16k_16k_25Hz_losatok.yml"
    path.write_text(OFFICIAL_YML)
    assert LoSATokConfig.from_reference(path) == LoSATokConfig()
    assert LoSATokConfig.from_reference(None) == LoSATokConfig()


def test_fixture_config_json():
    cfg = LoSATokConfig.from_reference(PARITY / "config.json")
    assert (cfg.embed_dim, cfg.latent_channels, cfg.semantic_depth, cfg.semantic_num_heads) == (64, 16, 2, 4)
    assert (cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_intermediate_dim) == (64, 2, 128)
    assert cfg.bottleneck_hidden_dim == 512 and cfg.semantic_chunk_tokens == 252


def test_our_format_roundtrips_through_json(tmp_path):
    cfg = tiny_config()
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert LoSATokConfig.from_file(path) == cfg


def test_unrecognised_format_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="unrecognised config format"):
        LoSATokConfig.from_reference({"foo": 1})
    with pytest.raises(ConfigError, match="not found"):
        LoSATokConfig.from_reference(tmp_path / "nope.yml")


# -- issue 11 item 3: the dataclass is the one source of the architecture fields ------------------------
def test_model_signature_is_the_config_dataclass():
    import dataclasses
    import inspect

    from losatok_plugin import LoSATokVAE
    from losatok_plugin.configuration import MODEL_EXTRA_FIELDS

    params = list(inspect.signature(LoSATokVAE.__init__).parameters.values())[1:]
    arch = [f for f in dataclasses.fields(LoSATokConfig)]
    assert [p.name for p in params] == [f.name for f in arch] + list(MODEL_EXTRA_FIELDS)
    assert [p.default for p in params[: len(arch)]] == [f.default for f in arch]
    assert all(p.default is None for p in params[len(arch) :])
    with pytest.raises(TypeError, match="semantic_depht"):
        LoSATokVAE(**tiny_config().to_dict(), semantic_depht=3)


def test_model_config_json_holds_every_field_and_reloads(tmp_path):
    import json

    from losatok_plugin import LoSATokVAE

    cfg = tiny_config(semantic_depth=1)
    vae = LoSATokVAE(**cfg.to_dict())
    assert vae.arch == cfg
    vae.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert {k: v for k, v in saved.items() if k in cfg.to_dict()} == cfg.to_dict()
    assert LoSATokConfig.from_model_config(saved) == cfg
    assert saved["sample_rate"] == 16000 and saved["downsampling_ratio"] == 640
    assert LoSATokVAE.from_pretrained(tmp_path / "m").arch == cfg
    positional = LoSATokVAE(*cfg.to_dict().values())  # positional arguments in the dataclass's order
    assert positional.arch == cfg
