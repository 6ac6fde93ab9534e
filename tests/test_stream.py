"""Streaming decode equals one-pass decode."""

from __future__ import annotations

import pytest
import torch

from losatok_plugin import AudioInputError, LoSATokVAE, tiny_config


@pytest.fixture(scope="module")
def vae() -> LoSATokVAE:
    torch.manual_seed(0)
    return LoSATokVAE(**tiny_config().to_dict()).eval()


def chunks(z: torch.Tensor, size: int):
    for t0 in range(0, z.shape[-1], size):
        yield z[..., t0 : t0 + size]


@pytest.mark.parametrize("size", [1, 7, 50])
@pytest.mark.parametrize("frames", [5, 75])
def test_stream_equals_one_pass(vae, size, frames):
    z = torch.randn(2, vae.latent_dim, frames, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        whole = vae.decode(z).sample
        pieces = list(vae.decode_stream(chunks(z, size)))
    streamed = torch.cat(pieces, dim=-1)
    assert streamed.shape == whole.shape == (2, 1, frames * vae.hop_length)
    assert (streamed - whole).abs().max().item() <= 1e-5 * whole.abs().max().item()


def test_stream_equals_windowed_one_pass(vae):
    """With short decode windows the one-pass decode is itself windowed: both paths agree."""
    z = torch.randn(1, vae.latent_dim, 120, generator=torch.Generator().manual_seed(1))
    vae.decode_window_frames = 40
    try:
        with torch.no_grad():
            whole = vae.decode(z).sample
            streamed = torch.cat(list(vae.decode_stream(chunks(z, 7))), dim=-1)
    finally:
        vae.decode_window_frames = 750
    assert (streamed - whole).abs().max().item() <= 1e-5 * whole.abs().max().item()


def test_stream_emits_as_soon_as_lookahead_arrives(vae):
    z = torch.randn(1, vae.latent_dim, 40)
    pulled = []

    def counted():
        for c in chunks(z, 1):
            pulled.append(c)
            yield c

    with torch.no_grad():
        first = next(vae.decode_stream(counted()))
    assert vae.stream_lookahead_frames == 32
    assert len(pulled) == vae.stream_lookahead_frames + 1  # frame 0 and its 32 frames of look-ahead
    assert first.shape == (1, 1, vae.hop_length)


def test_stream_bad_input(vae):
    with pytest.raises(AudioInputError, match="batch size changed"):
        list(vae.decode_stream([torch.randn(1, vae.latent_dim, 40), torch.randn(2, vae.latent_dim, 3)]))
    with pytest.raises(AudioInputError, match="channels first"):
        list(vae.decode_stream([torch.randn(1, 3, vae.latent_dim)]))
