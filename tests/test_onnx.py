"""ONNX export of the decoder: onnxruntime equals PyTorch (dynamic batch and time axes)."""

from __future__ import annotations

import json

import pytest
import torch

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.cli import main as cli
from losatok_plugin.export.onnx import ExportableDecoder, ExportError, OnnxDecoder, export_onnx
from losatok_plugin.nn.istft import ISTFT, ConvISTFT

from .helpers import synth_audio


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config().to_dict()).eval()
    out = tmp_path_factory.mktemp("onnx")
    paths = export_onnx(vae, out)
    return vae, OnnxDecoder(paths["decoder"]), out


def test_conv_istft_equals_fft_istft():
    spec = torch.randn(2, 641, 9, dtype=torch.complex64)
    spec[:, 0].imag = 0  # irfft ignores these; so does the basis
    a = ISTFT(1280, 320)(spec)
    b = ConvISTFT(1280, 320)(spec.real, spec.imag)
    assert a.shape == b.shape == (2, 320 * 9)
    assert (a - b).abs().max().item() < 1e-5 * a.abs().max().item()


@pytest.mark.parametrize("frames", [1, 7, 64, 301])
def test_onnxruntime_equals_pytorch_random_latents(exported, frames):
    vae, session, _ = exported
    z = torch.randn(2, vae.latent_dim, frames, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        ref = vae.decode(z).sample
    got = session(z)
    assert got.shape == ref.shape == (2, 1, vae.hop_length * frames)
    assert (got - ref).abs().max().item() <= 1e-4


@pytest.mark.parametrize("n", [8000, 16000 * 3 + 77])
def test_onnxruntime_equals_pytorch_real_latents(exported, n):
    vae, session, _ = exported
    with torch.no_grad():
        z = vae.encode(synth_audio(n)[:, None]).latent_dist.mode()
        ref = vae.decode(z).sample
    assert (session(z) - ref).abs().max().item() <= 1e-4
    assert (session(z.numpy()) - ref).abs().max().item() <= 1e-4
    assert (session.decode(z, window_frames=30, context_frames=32) - ref).abs().max().item() <= 1e-4


def test_exported_decoder_module_matches(exported):
    vae, _, out = exported
    z = torch.randn(1, vae.latent_dim, 20)
    with torch.no_grad():
        assert (ExportableDecoder(vae)(z) - vae.decode(z).sample).abs().max().item() < 1e-5
    meta = json.loads((out / "export.json").read_text())
    assert meta["hop_length"] == 640 and meta["inputs"]["latents"][1] == vae.latent_dim


def test_export_cli_and_refusals(tmp_path, capsys):
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config().to_dict()).eval()
    vae.save_pretrained(tmp_path / "m")
    assert cli(["export-onnx", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "decoder.onnx").is_file()
    with pytest.raises(ExportError, match="int8"):
        export_onnx(vae.quantize("int8"), tmp_path / "q")
