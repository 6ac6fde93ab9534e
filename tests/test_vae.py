"""Tokenizer invariants on a tiny random model (CPU, seconds)."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

from losatok_plugin import LoSATokConfig, LoSATokVAE, tiny_config

from .helpers import synth_audio


@pytest.mark.parametrize("n", [513, 640, 1000, 16000, 16001, 23999, 40321])
def test_shapes_for_odd_lengths(tiny_vae, n):
    with torch.no_grad():
        out = tiny_vae.encode(synth_audio(n)[:, None])
        t = (1 + n // 160) // 4
        assert out.latent_dist.mean.shape == (1, 16, t)
        assert tiny_vae.num_frames(n) == t
        assert tiny_vae.decode(out.latent_dist.mode()).sample.shape == (1, 1, 640 * t)


def test_config_attributes_for_pipelines(tiny_vae):
    assert tiny_vae.config.sampling_rate == 16000 == tiny_vae.sampling_rate == tiny_vae.sample_rate
    assert tiny_vae.config.hop_length == 640 == tiny_vae.hop_length
    assert tiny_vae.config.audio_channels == 1
    assert tiny_vae.config.latent_channels == 16 == tiny_vae.latent_dim
    assert tiny_vae.frame_rate == 25.0


def test_official_default_config():
    cfg = LoSATokConfig()
    assert (cfg.latent_channels, cfg.embed_dim, cfg.semantic_depth, cfg.hop_length) == (128, 1280, 32, 640)
    assert cfg.frame_rate == 25.0 and cfg.semantic_chunk_frames == 1008


def test_forward_equals_decode_of_encode(tiny_vae):
    x = synth_audio(8000)[:, None]
    with torch.no_grad():
        y = tiny_vae(x).sample
        z = tiny_vae.encode(x).latent_dist.mode()
        torch.testing.assert_close(y, tiny_vae.decode(z).sample)
        a = tiny_vae(x, sample_posterior=True, generator=torch.Generator().manual_seed(1)).sample
        b = tiny_vae(x, sample_posterior=True, generator=torch.Generator().manual_seed(1)).sample
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, y)


def test_batch_equals_per_item(tiny_vae):
    x = synth_audio(12000, batch=3)
    with torch.no_grad():
        batched = tiny_vae.encode_features(x)
        for i in range(3):
            single = tiny_vae.encode_features(x[i : i + 1])
            for name in ("mu", "logvar", "semantic_emb", "acoustic_emb", "unified_emb_low"):
                torch.testing.assert_close(batched[name][i : i + 1], single[name], atol=1e-5, rtol=1e-4)


def test_eval_is_deterministic(tiny_vae):
    x = synth_audio(5000)
    with torch.no_grad():
        torch.testing.assert_close(tiny_vae(x).sample, tiny_vae(x).sample, atol=0, rtol=0)


def test_features_are_consistent(tiny_vae):
    with torch.no_grad():
        f = tiny_vae.encode_features(synth_audio(6000))
    assert list(f.keys()) == [
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
    torch.testing.assert_close(f["z"], f["mu"])
    torch.testing.assert_close(f["unified_emb"], f["semantic_emb"] + f["acoustic_emb"])
    torch.testing.assert_close(f["unified_emb_low"], f["semantic_emb_low"] + f["acoustic_emb_low"])
    assert f["logvar"].abs().max() <= 20


def test_semantic_chunks_are_independent():
    """Each 252-token chunk restarts the positional embedding and sees only its own audio."""
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config(semantic_chunk_tokens=8).to_dict()).eval()  # 32 mel frames = 0.32 s
    n = 160 * 32 * 2 + 160 * 17  # 2 full chunks and a partial one
    x = synth_audio(n)
    y = x.clone()
    y[:, 160 * 40 : 160 * 56] *= 0.5  # inside chunk 2 (frames 32..63), away from the chunk edges
    with torch.no_grad():
        a, b = vae.semantic_encoder(x), vae.semantic_encoder(y)
    assert a.shape[1] == (1 + n // 160) // 4 == 8 + 8 + 4
    torch.testing.assert_close(a[:, :8], b[:, :8], atol=1e-5, rtol=1e-5)  # chunk 1 untouched
    torch.testing.assert_close(a[:, 16:], b[:, 16:], atol=1e-5, rtol=1e-5)  # chunk 3 untouched
    assert not torch.allclose(a[:, 8:16], b[:, 8:16])


def test_tail_shorter_than_one_patch_does_not_crash():
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config(semantic_chunk_tokens=8).to_dict()).eval()
    n = 160 * 32  # 33 mel frames: one full chunk + a 1-frame tail
    with torch.no_grad():
        assert vae.encode(synth_audio(n)).latent_dist.mean.shape[-1] == (1 + n // 160) // 4 == 8


def test_save_load_roundtrip_is_exact(tiny_vae, tmp_path):
    tiny_vae.save_pretrained(tmp_path / "vae")
    assert (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tmp_path / "vae" / "config.json").is_file()
    loaded = LoSATokVAE.from_pretrained(tmp_path / "vae")
    sd_a, sd_b = tiny_vae.state_dict(), loaded.state_dict()
    assert sd_a.keys() == sd_b.keys()
    for k in sd_a:
        assert torch.equal(sd_a[k], sd_b[k]), k
    strip = lambda c: {k: v for k, v in c.items() if not k.startswith("_")}  # noqa: E731
    assert strip(loaded.config) == strip(tiny_vae.config)
    x = synth_audio(4000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).sample, tiny_vae(x).sample, atol=0, rtol=0)


def test_state_dict_has_no_recomputed_buffers(tiny_vae):
    keys = tiny_vae.state_dict().keys()
    assert not [k for k in keys if k.endswith(".window") or k.endswith(".fb")]


def test_gradients_skip_frozen_teacher():
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config().to_dict()).train()
    assert not vae.semantic_encoder.training  # frozen teacher stays in eval (BatchNorm stats untouched)
    bn_mean = vae.semantic_encoder.init_bn.running_mean.clone()
    x = synth_audio(8000)
    out = vae(x[:, None], sample_posterior=True).sample
    out.pow(2).mean().backward()
    assert all(p.grad is None for p in vae.semantic_encoder.parameters())
    assert all(p.grad is None for p in vae.bottleneck.parameters())
    assert vae.acoustic.patch_embed.weight.grad is not None and vae.acoustic.patch_embed.weight.grad.abs().sum() > 0
    assert vae.decoder.head.out.weight.grad is not None
    assert torch.equal(bn_mean, vae.semantic_encoder.init_bn.running_mean)


def test_latent_dist_is_diffusers_gaussian(tiny_vae):
    with torch.no_grad():
        dist = tiny_vae.encode(synth_audio(4000)).latent_dist
    assert isinstance(dist, DiagonalGaussianDistribution)
    kl = dist.kl()
    assert kl.shape == (1,) and torch.isfinite(kl).all()
    mu, logvar = dist.mean, dist.logvar
    expected = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
    torch.testing.assert_close(kl[0], expected)


def test_return_dict_false(tiny_vae):
    x = synth_audio(4000)
    with torch.no_grad():
        (dist,) = tiny_vae.encode(x, return_dict=False)
        (audio,) = tiny_vae.decode(dist.mode(), return_dict=False)
    assert audio.shape == (1, 1, 640 * dist.mean.shape[-1])


def test_chunk_batching_does_not_change_numbers():
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config(semantic_chunk_tokens=8).to_dict()).eval()
    x = synth_audio(160 * 32 * 6 + 160 * 9)  # 6 full chunks + a tail
    with torch.no_grad():
        vae.semantic_encoder.chunks_per_batch = 1
        one = vae.semantic_encoder(x)
        vae.semantic_encoder.chunks_per_batch = 4
        four = vae.semantic_encoder(x)
    torch.testing.assert_close(one, four, atol=1e-5, rtol=1e-5)
