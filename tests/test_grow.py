"""Growing a trained decoder (``training/grow.py``) and starting a run from trained discriminators."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.configuration import ConfigError
from losatok_plugin.discriminators import Discriminators
from losatok_plugin.training import TokenizerStageConfig, train_tokenizer
from losatok_plugin.training.grow import grow_decoder, insertion_points, widen_decoder
from losatok_plugin.training.tokenizer import load_discriminators
from losatok_plugin.training.yaml_config import load_dataclass

from .training_helpers import stage_dict, tiny_corpus


def _trained_like(seed: int = 0) -> LoSATokVAE:
    """A tiny model whose layer scales are not the init value (a grown copy must keep them)."""
    torch.manual_seed(seed)
    vae = LoSATokVAE(**tiny_config().to_dict())
    with torch.no_grad():
        for block in vae.decoder.backbone.convnext:
            block.gamma.uniform_(0.2, 0.8)
    return vae


def test_insertion_points_spread_the_new_blocks():
    assert insertion_points(6, 6) == []
    assert insertion_points(6, 9) == [1, 2, 4]
    assert insertion_points(6, 12) == [0, 1, 2, 3, 4, 5]
    assert all(0 <= i < 2 for i in insertion_points(2, 7))


def test_grown_decoder_keeps_the_audio_and_its_new_weights_learn():
    vae = _trained_like()
    old_depth, old_inter = vae.config.decoder_depth, vae.config.decoder_intermediate_dim
    grown = grow_decoder(vae, intermediate_dim=2 * old_inter, depth=old_depth + 3, seed=1)
    assert grown.config.decoder_depth == old_depth + 3
    assert grown.config.decoder_intermediate_dim == 2 * old_inter
    assert len(grown.decoder.backbone.convnext) == old_depth + 3
    z = torch.randn(2, vae.config.latent_channels, 10)
    with torch.no_grad():
        a, b = vae.decode(z).sample, grown.decode(z).sample
    assert a.abs().max() > 0
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    # everything outside the backbone blocks is the same tensor values
    old_sd, new_sd = vae.state_dict(), grown.state_dict()
    for k, v in old_sd.items():
        if not k.startswith("decoder.backbone.convnext."):
            assert torch.equal(v, new_sd[k]), k
    # the new capacity is not dead: its weights get gradients on the first backward pass
    grown.decoder(z).pow(2).mean().backward()
    blocks = grown.decoder.backbone.convnext
    new_blocks = [i + 1 + k for k, i in enumerate(insertion_points(old_depth, old_depth + 3))]
    for i in new_blocks:
        assert float(blocks[i].gamma.detach().abs().max()) == 0.0
        assert blocks[i].gamma.grad.abs().sum() > 0, i
    first = blocks[0]
    assert first.pwconv2.weight.grad[:, old_inter:].abs().sum() > 0
    assert torch.equal(vae.decoder.backbone.convnext[0].gamma, first.gamma.detach())


def test_grow_decoder_refuses_to_shrink():
    vae = _trained_like()
    with pytest.raises(ConfigError, match="only grows"):
        grow_decoder(vae, intermediate_dim=vae.config.decoder_intermediate_dim, depth=vae.config.decoder_depth - 1)


def test_widened_decoder_keeps_the_audio_and_its_copies_part_when_trained():
    vae = _trained_like()
    dim = vae.config.decoder_dim
    wide = widen_decoder(vae, 3, seed=2)
    assert wide.config.decoder_dim == 3 * dim
    assert wide.decoder.head.out.weight.shape == (vae.config.istft_n_fft + 2, 3 * dim)
    z = torch.randn(2, vae.config.latent_channels, 10)
    with torch.no_grad():
        a, b = vae.decode(z).sample, wide.decode(z).sample
    assert a.abs().max() > 0
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    for k, v in vae.state_dict().items():  # outside the backbone and head: the same values
        if not k.startswith(("decoder.backbone.", "decoder.head.out.weight")):
            assert torch.equal(v, wide.state_dict()[k]), k
    # the copies of a channel get different gradients (else they would stay equal for ever)
    opt = torch.optim.SGD(wide.decoder.parameters(), lr=0.1)
    wide.decoder(z).pow(2).mean().backward()
    g = wide.decoder.backbone.convnext[0].pwconv2.weight.grad
    assert not torch.allclose(g[:dim], g[dim : 2 * dim])
    opt.step()
    w = wide.decoder.backbone.convnext[0].pwconv2.weight.detach()
    assert (w[:dim] - w[dim : 2 * dim]).abs().max() > 0
    with pytest.raises(ConfigError, match="integer factor >= 1"):
        widen_decoder(vae, 0)


def test_load_discriminators_from_a_checkpoint_and_its_errors(tmp_path):
    torch.manual_seed(0)
    src = Discriminators(True, True, (2, 3), ((256, 64),), 4)
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "discriminator.safetensors"))
    dst = Discriminators(True, True, (2, 3), ((256, 64),), 4)
    load_discriminators(dst, tmp_path)  # the checkpoint folder
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k
    with pytest.raises(ConfigError, match="does not fit"):
        load_discriminators(Discriminators(True, True, (2, 3), ((256, 64),), 8), tmp_path)
    with pytest.raises(ConfigError, match="no .*discriminator.safetensors"):
        load_discriminators(dst, tmp_path / "nothing")


def test_a_grown_model_trains_with_the_discriminators_of_an_earlier_run(tmp_path):
    data = tiny_corpus(tmp_path / "corpus", n=2)
    disc = {"channels": 4, "warmup_steps": 0, "periods": [2, 3], "resolutions": [[256, 64]]}
    first = stage_dict(tmp_path / "first", data["manifest"], 1, init_from=str(data["teacher"]), discriminator=disc)
    first["run"]["save_every"] = 1
    train_tokenizer(load_dataclass(TokenizerStageConfig, first))
    ckpt = tmp_path / "first" / "checkpoints" / "step_00000001"
    trained_d = load_file(str(ckpt / "discriminator.safetensors"))

    grown_dir = tmp_path / "grown"
    grown = grow_decoder(LoSATokVAE.from_pretrained(data["teacher"]), intermediate_dim=192, depth=3)
    grown.save_pretrained(grown_dir)
    second = stage_dict(
        tmp_path / "second",
        data["manifest"],
        1,
        init_from=str(grown_dir),
        model={**tiny_config().to_dict(), "decoder_intermediate_dim": 192, "decoder_depth": 3},
        # lr 0 on both sides: what the run saves is what it started from
        optim={"lr": 0.0},
        discriminator={**disc, "init_from": str(ckpt), "optim": {"lr": 0.0, "warmup_steps": 0}},
    )
    second["run"]["save_every"] = 1
    train_tokenizer(load_dataclass(TokenizerStageConfig, second))
    saved = tmp_path / "second" / "checkpoints" / "step_00000001"
    d = load_file(str(saved / "discriminator.safetensors"))
    assert d.keys() == trained_d.keys()
    for k, v in trained_d.items():
        assert torch.equal(v, d[k]), k
    g = load_file(str(saved / "generator.safetensors"))
    key = next(k for k in g if k.endswith("decoder.backbone.convnext.2.pwconv1.weight"))
    assert g[key].shape == (192, tiny_config().decoder_dim)
    assert torch.equal(g[key], grown.decoder.backbone.convnext[2].pwconv1.weight.detach())


def test_a_grown_folder_under_the_old_sizes_warns_that_the_decoder_starts_random(tmp_path, caplog):
    import logging

    from losatok_plugin.training.gan import FROZEN, TRAINABLE
    from losatok_plugin.training.models import build_stage_model

    grown_dir = tmp_path / "grown"
    grow_decoder(_trained_like(), intermediate_dim=192, depth=3).save_pretrained(grown_dir)
    with caplog.at_level(logging.INFO, logger="losatok_plugin.training.models"):
        model = build_stage_model(tiny_config(), str(grown_dir), frozen=FROZEN, optional=TRAINABLE)
    assert any(r.levelno == logging.WARNING and "decoder" in r.getMessage() for r in caplog.records)
    assert len(model.decoder.backbone.convnext) == tiny_config().decoder_depth
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="losatok_plugin.training.models"):
        build_stage_model(
            tiny_config(decoder_intermediate_dim=192, decoder_depth=3),
            str(grown_dir),
            frozen=FROZEN,
            optional=TRAINABLE,
        )
    assert not any(r.levelno == logging.WARNING for r in caplog.records)
    assert "decoder: weights copied" in caplog.text


def test_grow_decoder_recipe_saves_a_grown_folder_and_refuses_to_shrink(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "grow_decoder.py"
    spec = importlib.util.spec_from_file_location("grow_decoder_recipe", script)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    src = tmp_path / "src"
    _trained_like().save_pretrained(src)
    out = tmp_path / "grown"
    assert recipe.main(["--model", str(src), "--out", str(out), "--intermediate-dim", "192", "--depth", "4"]) == 0
    grown = LoSATokVAE.from_pretrained(out)
    assert (grown.config.decoder_intermediate_dim, grown.config.decoder_depth) == (192, 4)
    assert "parameters; saved" in capsys.readouterr().out
    assert (
        recipe.main(["--model", str(src), "--out", str(tmp_path / "x"), "--intermediate-dim", "64", "--depth", "2"])
        == 2
    )
    err = capsys.readouterr().err
    assert "only grows: intermediate_dim 64 < 128 (the model's)" in err and "depth" not in err  # only what shrinks
    assert not (tmp_path / "x").exists()
    args = [
        "--model",
        str(tmp_path / "nowhere"),
        "--out",
        str(tmp_path / "y"),
        "--intermediate-dim",
        "192",
        "--depth",
        "4",
    ]
    assert recipe.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model not found") and len(err.strip().splitlines()) == 1
    # a size given as 0 is a size, not "the model's": refused like any smaller one
    assert recipe.main(["--model", str(src), "--out", str(tmp_path / "z"), "--depth", "0"]) == 2
    assert "only grows: depth 0 <" in capsys.readouterr().err
    # --width-factor alone: the residual width grows, the other sizes stay the model's
    assert recipe.main(["--model", str(src), "--out", str(tmp_path / "wide"), "--width-factor", "2"]) == 0
    wide = LoSATokVAE.from_pretrained(tmp_path / "wide")
    old = tiny_config()
    assert wide.config.decoder_dim == 2 * old.decoder_dim
    assert (wide.config.decoder_intermediate_dim, wide.config.decoder_depth) == (
        old.decoder_intermediate_dim,
        old.decoder_depth,
    )
