"""The paper-claims framework (recipes/paper, issue 17): layered configs, probe tasks and seeds, the
no-bottleneck model mode, the resumable driver, verdicts and the report writer. Tiny, CPU, seconds."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.configuration import ConfigError, LoSATokConfig
from losatok_plugin.training.stages import get_stage
from losatok_plugin.training.yaml_config import load_stage_config

from .helpers import synth_audio


# -- config layering ------------------------------------------------------------------------------------
def test_override_file_layers_on_its_base(tmp_path):
    cls = get_stage("sembo").config
    (tmp_path / "configs").mkdir()
    base = tmp_path / "configs" / "base.yaml"
    base.write_text(yaml.safe_dump({"model": "mini", "relation_weight": 1.0, "data": {"batch_size": 32}}))
    over = tmp_path / "exp" / "norel.yaml"
    over.parent.mkdir()
    over.write_text(
        yaml.safe_dump({"base": "../configs/base.yaml", "relation_weight": 0.0, "model": {"latent_channels": 64}})
    )
    cfg = load_stage_config(cls, over, ["data.crop_seconds=0.64"])
    assert cfg.relation_weight == 0.0 and cfg.data.batch_size == 32 and cfg.data.crop_seconds == 0.64
    assert cfg.model == LoSATokConfig.variant("mini", latent_channels=64)  # the base's variant, one field changed
    chained = tmp_path / "exp" / "chained.yaml"
    chained.write_text(yaml.safe_dump({"base": "norel.yaml", "data": {"batch_size": 4}}))
    cfg = load_stage_config(cls, chained)
    assert (cfg.relation_weight, cfg.data.batch_size, cfg.model.latent_channels) == (0.0, 4, 64)
    base.write_text(yaml.safe_dump({"base": "../exp/chained.yaml"}))
    with pytest.raises(ConfigError, match="cycle"):
        load_stage_config(cls, over)
    over.write_text(yaml.safe_dump({"base": "../configs/missing.yaml"}))
    with pytest.raises(ConfigError, match="not found"):
        load_stage_config(cls, over)


# -- the no-bottleneck mode -------------------------------------------------------------------------------
def test_no_bottleneck_mode_decodes_from_the_unified_embedding(tmp_path):
    with pytest.raises(ConfigError, match="must equal embed_dim"):
        tiny_config(semantic_bottleneck=False)
    assert "semantic_bottleneck" not in tiny_config().to_dict()
    cfg = tiny_config(semantic_bottleneck=False, latent_channels=64)
    torch.manual_seed(0)
    model = LoSATokVAE(**cfg.to_dict()).eval()
    assert not list(model.bottleneck.parameters())
    x = synth_audio(6400)
    feats = model.encode_features(x)
    assert feats.mu.shape[-1] == 64
    torch.testing.assert_close(feats.unified_emb_low, feats.unified_emb)
    assert model.decode(model.encode(x).latent_dist.mode()).sample.shape[-1] == 640 * feats.mu.shape[1]
    model.save_pretrained(tmp_path / "wide")
    assert json.loads((tmp_path / "wide" / "config.json").read_text())["semantic_bottleneck"] is False
    again = LoSATokVAE.from_pretrained(tmp_path / "wide").eval()
    torch.testing.assert_close(again.encode_features(x).mu, feats.mu)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "default")  # off: config.json unchanged
    assert "semantic_bottleneck" not in json.loads((tmp_path / "default" / "config.json").read_text())
