"""Golden tests: our implementation against the reference implementation's stored outputs.

Fixture: tests/assets/reference_parity (a copy of shared/fixtures/reference_parity; see its README).
Tolerance: max abs error <= 1e-4 and relative error (max abs error / max |reference|) <= 1e-3.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from losatok_plugin import LoSATokVAE
from losatok_plugin.losses import dual_semantic_loss, kl_loss, semantic_bottleneck_loss

from .helpers import PARITY

FEATURES = [
    "z",
    "mu",
    "logvar",
    "semantic_emb",
    "acoustic_emb",
    "unified_emb",
    "semantic_emb_low",
    "acoustic_emb_low",
    "unified_emb_low",
]


def assert_close(name: str, ours: torch.Tensor, ref: torch.Tensor, abs_tol: float = 1e-4, rel_tol: float = 1e-3):
    assert ours.shape == ref.shape, f"{name}: shape {tuple(ours.shape)} != reference {tuple(ref.shape)}"
    err = (ours.double() - ref.double()).abs().max().item()
    scale = max(ref.abs().max().item(), 1e-12)
    assert err <= abs_tol and err / scale <= rel_tol, f"{name}: max abs err {err:.3e}, rel {err / scale:.3e}"


@pytest.fixture(scope="module")
def io() -> dict[str, torch.Tensor]:
    return load_file(str(PARITY / "io.safetensors"))


@pytest.fixture(scope="module")
def ref_model() -> LoSATokVAE:
    return LoSATokVAE.from_reference_checkpoint(PARITY / "weights.safetensors", PARITY / "config.json")


@pytest.fixture(scope="module")
def feats(ref_model, io):
    with torch.no_grad():
        return ref_model.encode_features(io["audio"])


@pytest.mark.parametrize("name", FEATURES)
def test_encode_features_match_reference(feats, io, name):
    assert_close(name, feats[name], io[name])


def test_decode_matches_reference(ref_model, feats, io):
    with torch.no_grad():
        recon = ref_model.decode(feats["mu"].transpose(1, 2)).sample
    assert recon.shape == (1, 1, 53760)
    assert_close("recon", recon[:, 0], io["recon"])


def test_encode_latent_dist_is_channels_first_mu(ref_model, io):
    with torch.no_grad():
        dist = ref_model.encode(io["audio"][:, None]).latent_dist
    assert_close("latent_dist.mean", dist.mean.transpose(1, 2), io["mu"])
    assert_close("latent_dist.logvar", dist.logvar.transpose(1, 2), io["logvar"])


def test_intermediates_match_reference(ref_model, io):
    with torch.no_grad():
        db = ref_model.semantic_encoder.front_end(io["audio"])
        from losatok_plugin.nn.mel import power_to_db

        assert_close("dbg_semantic_frontend_db", power_to_db(db, 120.0), io["dbg_semantic_frontend_db"])
        bn = ref_model.semantic_encoder.log_mel(io["audio"])
        assert_close("dbg_semantic_init_bn", bn, io["dbg_semantic_init_bn"][:, 0])
        assert_close("dbg_acoustic_logmel", ref_model.acoustic.log_mel(io["audio"]), io["dbg_acoustic_logmel"])
        sem = ref_model.semantic_encoder(io["audio"])
        assert_close("dbg_semantic_encoder_out", sem, io["dbg_semantic_encoder_out"])
        out = ref_model.bottleneck(sem)
        assert_close("dbg_semantic_bottleneck_recon", out.recon, io["dbg_semantic_bottleneck_recon"])
        losses = semantic_bottleneck_loss(sem, out.recon, out.low)
    assert_close("semantic_encoder_mse", losses["sembo/recon"], io["loss_semantic_encoder_mse_loss"])
    assert_close("semantic_encoder_relation", losses["sembo/time_relation"], io["loss_semantic_encoder_relation_loss"])
    assert_close("semantic_encoder_total", losses["sembo/total"], io["loss_semantic_encoder_total_loss"])


def test_bottleneck_and_its_loss_match_reference(ref_model, io):
    with torch.no_grad():
        out = ref_model.bottleneck(io["sb_emb"])
    assert_close("sb_emb_low", out.low, io["sb_emb_low"])
    assert_close("sb_emb_recon", out.recon, io["sb_emb_recon"])
    losses = semantic_bottleneck_loss(io["sb_emb"], out.recon, out.low)
    assert_close("sb mse", losses["sembo/recon"], io["loss_sb_mse_loss"])
    assert_close("sb relation", losses["sembo/time_relation"], io["loss_sb_relation_loss"])
    assert_close("sb total", losses["sembo/total"], io["loss_sb_total_loss"])


def test_kl_matches_reference(feats, io):
    assert_close("kl none", kl_loss(feats["mu"], feats["logvar"]), io["loss_kl_clamp_none"])
    assert_close("kl 0.01", kl_loss(feats["mu"], feats["logvar"], 0.01), io["loss_kl_clamp_0.01"])
    assert_close("forward kl", kl_loss(feats["mu"], feats["logvar"]), io["loss_forward_kl"])
    mu, logvar = io["kl_rand_mu"], io["kl_rand_logvar"]
    assert_close("kl rand none", kl_loss(mu, logvar), io["loss_kl_rand_clamp_none"])
    assert_close("kl rand 0.01", kl_loss(mu, logvar, 0.01), io["loss_kl_rand_clamp_0.01"])


@pytest.mark.parametrize("mode", ["both", "high_only", "low_only"])
def test_dual_semantic_loss_matches_reference(feats, io, mode):
    loss = dual_semantic_loss(
        feats["acoustic_emb"], feats["semantic_emb"], feats["acoustic_emb_low"], feats["semantic_emb_low"], mode
    )["semantic/total"]
    assert_close(f"semantic {mode}", loss, io[f"loss_forward_semantic_{mode}"])


def test_config_json_losses_agree_with_io(io):
    cfg = json.loads((PARITY / "config.json").read_text())
    assert abs(cfg["losses"]["sb_total_loss"] - io["loss_sb_total_loss"].item()) < 1e-7


def test_hf_bn_naming_and_missing_mel_buffers_load_and_match(io, tmp_path):
    """The official checkpoint uses init_bn.* (HF naming) and carries no semantic mel buffers."""
    state = load_file(str(PARITY / "weights.safetensors"))
    renamed = {}
    for k, v in state.items():
        if k.startswith("semantic_encoder.encoder.front_end.0."):
            continue
        renamed[k.replace("semantic_encoder.encoder.init_bn.1.", "semantic_encoder.encoder.init_bn.")] = v
    assert any(k.startswith("semantic_encoder.encoder.init_bn.weight") for k in renamed)
    path = tmp_path / "renamed.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in renamed.items()}}, path)
    model = LoSATokVAE.from_reference_checkpoint(path, PARITY / "config.json")
    with torch.no_grad():
        feats = model.encode_features(io["audio"])
        recon = model.decode(feats["mu"].transpose(1, 2)).sample
    for name in FEATURES:
        assert_close(name, feats[name], io[name])
    assert_close("recon", recon[:, 0], io["recon"])


def test_config_as_dict_and_reference_formats(io):
    cfg = json.loads((PARITY / "config.json").read_text())
    state = load_file(str(PARITY / "weights.safetensors"))
    for config in (cfg, cfg["config_dict"] | {"sample_rate": 16000}):
        model = LoSATokVAE.from_reference_checkpoint(state, config)
        with torch.no_grad():
            assert_close("mu", model.encode_features(io["audio"])["mu"], io["mu"])
