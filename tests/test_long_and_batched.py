"""Batches with lengths (padding never changes valid outputs) and windowed long-audio encode/decode."""

from __future__ import annotations

import pytest
import torch

from losatok_plugin import AudioInputError, LoSATokVAE, tiny_config
from losatok_plugin.models import acoustic_branch, dasheng_encoder

from .helpers import synth_audio

NAMES = ["mu", "logvar", "semantic_emb", "acoustic_emb", "unified_emb", "semantic_emb_low", "unified_emb_low"]


@pytest.fixture(scope="module")
def chunky_vae() -> LoSATokVAE:
    """Tiny model with 8-token semantic chunks, so short clips cross several chunk boundaries."""
    torch.manual_seed(0)
    return LoSATokVAE(**tiny_config(semantic_chunk_tokens=8).to_dict()).eval()


@pytest.mark.parametrize("model_name", ["tiny_vae", "chunky_vae"])
def test_padded_batch_equals_items_alone(request, model_name):
    vae = request.getfixturevalue(model_name)
    lengths = [16000, 9123, 4000]
    clips = [synth_audio(n, seed=i)[0] * (0.2 + 0.3 * i) for i, n in enumerate(lengths)]
    batch = torch.zeros(3, max(lengths))
    for i, c in enumerate(clips):
        batch[i, : len(c)] = c
    with torch.no_grad():
        feats = vae.encode_features(batch[:, None], lengths=torch.tensor(lengths))
        assert feats.lengths.tolist() == [vae.num_frames(n) for n in lengths]
        for i, c in enumerate(clips):
            alone = vae.encode_features(c[None])
            t = alone["mu"].shape[1]
            for name in NAMES:
                err = (feats[name][i, :t] - alone[name][0]).abs().max().item()
                assert err <= 1e-4, (name, i, err)
                assert feats[name][i, t:].abs().max().item() == 0.0 if t < feats[name].shape[1] else True
        dist = vae.encode(batch, lengths=lengths).latent_dist
        assert dist.lengths.tolist() == feats.lengths.tolist()


def test_lengths_validation(tiny_vae):
    x = synth_audio(8000, batch=2)
    with pytest.raises(AudioInputError, match="2 integers"):
        tiny_vae.encode(x, lengths=[8000])
    with pytest.raises(AudioInputError, match="at least 513"):
        tiny_vae.encode(x, lengths=[8000, 100])


def test_batch_global_floor_flag_reproduces_reference_quirk():
    torch.manual_seed(0)
    quirk = LoSATokVAE(**tiny_config(semantic_batch_global_db_floor=True).to_dict()).eval()
    loud, quiet = synth_audio(8000), 1e-4 * synth_audio(8000, seed=3)
    with torch.no_grad():
        batched = quirk.encode_features(torch.cat([loud, quiet]))["semantic_emb"]
        alone = quirk.encode_features(quiet)["semantic_emb"]
    assert (batched[1] - alone[0]).abs().max() > 1e-3  # the floor came from the loud item


def test_windowed_encode_equals_one_pass(tiny_vae, monkeypatch):
    x = synth_audio(16000 * 12 + 777)  # 12 s: several mel windows once they are made small
    with torch.no_grad():
        whole = tiny_vae.encode_features(x)
        monkeypatch.setattr(dasheng_encoder, "MEL_WINDOW_FRAMES", 96)
        monkeypatch.setattr(acoustic_branch, "WINDOW_TOKENS", 23)
        windowed = tiny_vae.encode_features(x)
    for name in NAMES:
        torch.testing.assert_close(windowed[name], whole[name], atol=1e-5, rtol=1e-4)


def test_windowed_decode_matches_one_pass_and_length(tiny_vae):
    z = torch.randn(2, 16, 203, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tiny_vae.decode_window_frames = 10_000
        whole = tiny_vae.decode(z).sample
        tiny_vae.decode_window_frames = 40
        windowed = tiny_vae.decode(z).sample
        tiny_vae.decode_window_frames = 750
    assert windowed.shape == whole.shape == (2, 1, 640 * 203)
    err = (windowed - whole).abs().max().item() / whole.abs().max().item()
    assert err < 1e-4, err  # exact stitching: the context covers the receptive field everywhere


def test_encode_low_path_equals_encode_features(chunky_vae):
    """encode() keeps only the 128-d path (memory); it must give the same posterior as encode_features."""
    x = synth_audio(16000 * 3 + 99, batch=2)
    with torch.no_grad():
        feats = chunky_vae.encode_features(x, lengths=[x.shape[-1], 20000])
        dist = chunky_vae.encode(x, lengths=[x.shape[-1], 20000]).latent_dist
    torch.testing.assert_close(dist.mean.transpose(1, 2), feats["mu"], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(dist.logvar.transpose(1, 2), feats["logvar"], atol=1e-6, rtol=1e-5)


def test_reflect_pad_window_equals_slice_of_padded_items():
    from losatok_plugin.nn.mel import reflect_pad_items, reflect_pad_window

    audio = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0))
    pad = 256
    for lengths in (None, torch.tensor([1000, 700, 300])):
        whole = reflect_pad_items(audio, pad, lengths)
        for start, stop in ((0, 1512), (0, 40), (100, 900), (300, 1100), (1200, 1512), (500, 1000)):
            got = reflect_pad_window(audio, pad, start, stop, lengths)
            assert torch.equal(got, whole[:, start:stop]), (lengths, start, stop)


def test_windowed_encode_of_padded_batch_equals_one_pass(chunky_vae, monkeypatch):
    """Small mel windows (the semantic dB peak over windows, windows reading their own samples) change
    nothing, with per-item lengths too."""
    lengths = [16000 * 4 + 321, 16000 * 2 + 5]
    x = synth_audio(lengths[0], batch=2) * torch.tensor([[1.0], [0.05]])
    x[1, lengths[1] :] = 0
    with torch.no_grad():
        whole = chunky_vae.encode_features(x, lengths=lengths)
        monkeypatch.setattr(dasheng_encoder, "MEL_WINDOW_FRAMES", 37)
        monkeypatch.setattr(acoustic_branch, "WINDOW_TOKENS", 5)
        windowed = chunky_vae.encode_features(x, lengths=lengths)
    for name in NAMES:
        torch.testing.assert_close(windowed[name], whole[name], atol=1e-5, rtol=1e-4)
