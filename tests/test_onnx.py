"""ONNX export of the encoder and decoder: onnxruntime equals PyTorch (dynamic batch and time axes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.cli import main as cli
from losatok_plugin.export.encoder import ExportableEncoder, encoder_export_blocker
from losatok_plugin.export.onnx import ExportableDecoder, ExportError, OnnxDecoder, OnnxEncoder, export_onnx
from losatok_plugin.nn.conv_stft import ConvSTFT
from losatok_plugin.nn.istft import ISTFT, ConvISTFT

from .helpers import synth_audio

EXAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "assets" / "examples"
CHUNK_SAMPLES = 252 * 640  # one semantic chunk (10.08 s)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model exported through the CLI: (vae, OnnxDecoder, out folder, OnnxEncoder)."""
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config().to_dict()).eval()
    folder = tmp_path_factory.mktemp("onnx")
    vae.save_pretrained(folder / "m")
    assert cli(["export-onnx", "--model", str(folder / "m"), "--out", str(folder / "o")]) == 0
    out = folder / "o"
    return vae, OnnxDecoder(out / "decoder.onnx"), out, OnnxEncoder(out / "encoder.onnx")


def test_conv_istft_equals_fft_istft():
    spec = torch.randn(2, 641, 9, dtype=torch.complex64)
    spec[:, 0].imag = 0  # irfft ignores these; so does the basis
    a = ISTFT(1280, 320)(spec)
    b = ConvISTFT(1280, 320)(spec.real, spec.imag)
    assert a.shape == b.shape == (2, 320 * 9)
    assert (a - b).abs().max().item() < 1e-5 * a.abs().max().item()


@pytest.mark.parametrize("frames", [1, 7, 64, 301])
def test_onnxruntime_equals_pytorch_random_latents(exported, frames):
    vae, session, *_ = exported
    z = torch.randn(2, vae.latent_dim, frames, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        ref = vae.decode(z).sample
    got = session(z)
    assert got.shape == ref.shape == (2, 1, vae.hop_length * frames)
    assert (got - ref).abs().max().item() <= 1e-4


@pytest.mark.parametrize("n", [8000, 16000 * 3 + 77])
def test_onnxruntime_equals_pytorch_real_latents(exported, n):
    vae, session, *_ = exported
    with torch.no_grad():
        z = vae.encode(synth_audio(n)[:, None]).latent_dist.mode()
        ref = vae.decode(z).sample
    assert (session(z) - ref).abs().max().item() <= 1e-4
    assert (session(z.numpy()) - ref).abs().max().item() <= 1e-4
    assert (session.decode(z, window_frames=30, context_frames=32) - ref).abs().max().item() <= 1e-4


def test_exported_decoder_module_matches(exported):
    vae, _, out, _ = exported
    z = torch.randn(1, vae.latent_dim, 20)
    with torch.no_grad():
        assert (ExportableDecoder(vae)(z) - vae.decode(z).sample).abs().max().item() < 1e-5
    meta = json.loads((out / "export.json").read_text())
    assert meta["hop_length"] == 640 and meta["inputs"]["latents"][1] == vae.latent_dim


def test_export_cli_and_refusals(exported, tmp_path):
    _, _, out, _ = exported
    assert (out / "decoder.onnx").is_file() and (out / "encoder.onnx").is_file()
    assert json.loads((out / "export.json").read_text())["encoder"] == "encoder.onnx"
    with pytest.raises(ExportError, match="int8"):  # a model of its own: quantize works in place
        export_onnx(LoSATokVAE(**tiny_config().to_dict()).eval().quantize("int8"), tmp_path / "q")


# -- encoder ---------------------------------------------------------------------------------------
def test_conv_stft_equals_torch_stft():
    x = torch.randn(2, 5000)
    for n_fft, hop in ((512, 160), (1024, 160)):
        real, imag = ConvSTFT(n_fft, hop)(x)
        ref = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True)
        assert real.shape == ref.real.shape == (2, n_fft // 2 + 1, 1 + (5000 - n_fft) // hop)
        assert (real - ref.real).abs().max() < 1e-4 and (imag - ref.imag).abs().max() < 1e-4


def _check_encoder(vae, encoder, audio):
    with torch.no_grad():
        ref = vae.encode(audio).latent_dist
    got = encoder(audio)
    assert got.mean.shape == ref.mean.shape == (audio.shape[0], vae.latent_dim, vae.num_frames(audio.shape[-1]))
    assert (got.mean - ref.mean).abs().max().item() <= 1e-4
    assert (got.logvar - ref.logvar).abs().max().item() <= 1e-4


# 513: the shortest input; 1008·160 - 1: exactly one chunk of tokens; 11 s and 2 chunks + 3 frames:
# a second (tail) chunk, of 23 tokens and of no token (3 mel frames < one patch)
@pytest.mark.parametrize("n", [513, 8000, 16000 * 3 + 77, 1008 * 160 - 1, 16000 * 11 + 3, 2016 * 160 + 2 * 160 + 5])
def test_onnx_encoder_equals_pytorch_random_audio(exported, n):
    vae, *_, encoder = exported
    audio = 0.1 * torch.randn(2, 1, n, generator=torch.Generator().manual_seed(n))
    _check_encoder(vae, encoder, audio)


def _clips() -> list[np.ndarray]:
    import soundfile as sf

    return [sf.read(str(f), dtype="float32")[0] for f in sorted(EXAMPLES.glob("*.wav"))]


def test_onnx_encoder_equals_pytorch_real_audio(exported):
    vae, *_, encoder = exported
    clips = _clips()
    assert len(clips) == 6  # the bundled examples (examples.json)
    for clip in clips:  # 3.4-4 s, odd lengths among them
        _check_encoder(vae, encoder, torch.from_numpy(clip)[None, None])
    joined = np.concatenate(clips)  # ~22 s: two full semantic chunks and a tail
    assert joined.shape[-1] > CHUNK_SAMPLES
    _check_encoder(vae, encoder, torch.from_numpy(joined)[None, None])
    assert (encoder(joined).mean - encoder(joined[None, None]).mean).abs().max() == 0  # [N] == [1, 1, N]


def _quiet_spans(n: int, seed: int) -> torch.Tensor:
    """Two items of noise ``[2, 1, n]`` at different levels with silent and near-silent spans (the first item
    loud enough for its dB floor, peak − 120 dB, to lie above silence's −100 dB), so that a window's own dB
    peak differs from the clip's."""
    audio = 0.5 * torch.randn(2, 1, n, generator=torch.Generator().manual_seed(seed))
    audio[1] *= 0.02
    audio[..., CHUNK_SAMPLES + 5000 : CHUNK_SAMPLES + 90000] = 0.0
    audio[..., 2 * CHUNK_SAMPLES :] *= 1e-7
    return audio


# 2 chunks - 1 sample (two whole windows), 1 chunk + 1 frame (a tail too short for a token), 2 chunks + 3
# frames (the same after two windows), 25 s + 77 and 3 chunks + 1000 samples (tails of 23 and 1 tokens)
@pytest.mark.parametrize(
    "n",
    [2016 * 160 - 1, 1008 * 160, 2016 * 160 + 2 * 160 + 5, 16000 * 25 + 77, 3 * CHUNK_SAMPLES + 1000],
)
def test_onnx_encoder_windows_equal_one_pass(exported, n):
    """Long audio in windows of one semantic chunk (the clip's dB peak first) equals one pass and PyTorch."""
    vae, _, out, _ = exported
    audio = _quiet_spans(n, seed=n)
    windowed = OnnxEncoder(out, window_chunks=1)
    one_pass = OnnxEncoder(out, window_chunks=1000)
    got, ref = windowed(audio), one_pass(audio)
    assert got.mean.shape == ref.mean.shape == (2, vae.latent_dim, vae.num_frames(n))
    assert (got.mean - ref.mean).abs().max().item() <= 1e-4
    assert (got.logvar - ref.logvar).abs().max().item() <= 1e-4
    _check_encoder(vae, windowed, audio)
    for item in range(2):  # each item alone: the per-item peak
        _check_encoder(vae, windowed, audio[item : item + 1])


def test_onnx_encoder_windows_need_the_clip_peak(exported, monkeypatch):
    """Without the clip's peak (each window flooring at its own maximum) the silent spans come out different:
    the peak pass is what makes the windows exact."""
    vae, _, out, _ = exported
    audio = _quiet_spans(3 * CHUNK_SAMPLES + 1000, seed=1)
    encoder = OnnxEncoder(out, window_chunks=1)
    ref = encoder(audio).mean
    run = encoder.peak_session.run
    monkeypatch.setattr(encoder.peak_session, "run", lambda names, feed: [np.full_like(run(names, feed)[0], -np.inf)])
    assert (encoder(audio).mean - ref).abs().max().item() > 1e-3


@pytest.mark.parametrize("batch_global", [False, True])
def test_semantic_peak_module_is_the_front_end_peak(batch_global):
    """The peak graph's module: the clip's semantic dB peak as the PyTorch front end takes it, per item or over
    the batch, from the front end alone (no semantic-encoder weights end up in encoder_peak.onnx)."""
    from losatok_plugin.export.encoder import SemanticPeak, pad_samples
    from losatok_plugin.nn.mel import db_peak, reflect_pad_items

    vae = LoSATokVAE(**tiny_config(semantic_batch_global_db_floor=batch_global).to_dict()).eval()
    module = SemanticPeak(vae).eval()
    assert not list(module.parameters()) and sum(b.numel() for b in module.buffers()) < 300_000
    audio = 0.1 * torch.randn(2, 16000 + 77) * torch.tensor([[1.0], [0.01]])
    with torch.no_grad():
        got = module(reflect_pad_items(audio, pad_samples(vae))[:, None])
        ref = db_peak(vae.semantic_encoder.front_end(audio), batch_global_floor=batch_global)
    assert got.shape == (2,)
    assert (got - ref.reshape(-1).expand(2)).abs().max() < 1e-3
    assert (got[0] == got[1]).item() == batch_global


def test_onnx_encoder_refuses_bad_audio(exported):
    *_, encoder = exported
    with pytest.raises(ValueError, match="too short"):
        encoder(torch.zeros(1, 1, 100))
    with pytest.raises(ValueError, match="mono"):
        encoder(torch.zeros(1, 2, 1000))


@pytest.mark.parametrize("flag", ["batch_global_db_floor", "latent_norm"])
def test_exportable_encoder_follows_config_flags(flag):
    """The rewritten encoder (the module that is exported) keeps the compatibility flag and latent norm."""
    torch.manual_seed(0)
    cfg = tiny_config(semantic_batch_global_db_floor=flag == "batch_global_db_floor").to_dict()
    if flag == "latent_norm":
        cfg.update(latent_norm_mean=[0.1] * 16, latent_norm_std=[2.0] * 16)
    vae = LoSATokVAE(**cfg).eval()
    audio = 0.1 * torch.randn(2, 1, 16000 * 11) * torch.tensor([1.0, 0.01])[:, None, None]  # different peaks
    with torch.no_grad():
        ref = vae.encode(audio).latent_dist
        mean, logvar = ExportableEncoder(vae).one_pass(audio)
    assert (mean - ref.mean).abs().max() <= 1e-5 and (logvar - ref.logvar).abs().max() <= 1e-5


def test_encoder_export_blocker_names_the_reason():
    vae = LoSATokVAE(**tiny_config().to_dict())
    assert encoder_export_blocker(vae) is None
    vae.semantic_encoder = torch.nn.Identity()  # stands for a transformers teacher
    assert "Dasheng" in encoder_export_blocker(vae)


def test_export_cli_says_why_the_encoder_was_not_exported(tmp_path, monkeypatch, capsys):
    import losatok_plugin.export.encoder as encoder_module
    import losatok_plugin.export.onnx as onnx_module

    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "m")
    reason = "the encoder export covers the Dasheng semantic encoder only; this model's is 'hubert'"
    monkeypatch.setattr(encoder_module, "encoder_export_blocker", lambda vae: reason)
    monkeypatch.setattr(
        onnx_module, "export_onnx", lambda vae, out, precision="fp32": {"decoder": tmp_path / "o" / "decoder.onnx"}
    )
    assert cli(["export-onnx", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"encoder  not exported: {reason}"]


def test_exportable_encoder_runs_a_short_clip_as_one_unpadded_chunk(monkeypatch):
    """Input shorter than a semantic chunk is one chunk of its own length (no 10.08 s of padding to pay for);
    longer input keeps full chunks plus a padded tail."""
    torch.manual_seed(0)
    vae = LoSATokVAE(**tiny_config().to_dict()).eval()
    module = ExportableEncoder(vae).eval()
    seen = []
    real = module.semantic.forward_chunk
    monkeypatch.setattr(module.semantic, "forward_chunk", lambda mel, mask: seen.append(mel.shape) or real(mel, mask))
    with torch.no_grad():
        for n in (16000 * 3 + 77, 16000 * 11 + 3):
            mean, _ = module.one_pass(0.1 * torch.randn(1, 1, n))
            assert mean.shape[-1] == vae.num_frames(n)
    sem = vae.semantic_encoder
    mels, patch, chunk = sem.front_end.fb.shape[-1], sem.patch_time, sem.chunk_tokens
    tokens = (1 + (16000 * 3 + 77) // 160) // patch
    assert tokens < chunk < (1 + (16000 * 11 + 3) // 160) // patch < 2 * chunk
    assert seen == [(1, mels, tokens * patch), (2, mels, chunk * patch)]


# -- int8 graphs (onnxruntime dynamic quantization) ------------------------------------------------
def _snr_db(ref: torch.Tensor, x: torch.Tensor) -> float:
    return (10 * torch.log10(ref.pow(2).sum() / (ref - x).pow(2).sum())).item()


@pytest.fixture(scope="module")
def int8_graphs(exported, tmp_path_factory):
    from losatok_plugin.export.quantize import quantize_onnx_graphs

    vae, _, out, _ = exported
    folder = tmp_path_factory.mktemp("onnx_int8")
    return quantize_onnx_graphs(vae, out, folder), folder


def test_int8_graphs_quantize_the_layers_pytorch_int8_quantizes(exported, int8_graphs):
    import onnx

    from losatok_plugin.models.precision import int8_linear_names

    vae, *_ = exported
    layers, folder = int8_graphs
    names = int8_linear_names(vae)
    assert layers["decoder.onnx"] == sorted(n for n in names if n.startswith("decoder."))
    assert layers["encoder.onnx"] == sorted(n for n in names if not n.startswith("decoder."))
    assert not any(
        n.startswith(("decoder.head", "gaussian", "bottleneck", "acoustic")) for n in sum(layers.values(), [])
    )
    for name, expected in layers.items():
        ops = [n.op_type for n in onnx.load(str(folder / name)).graph.node]
        assert ops.count("MatMulInteger") == len(expected) > 0
    meta = json.loads((folder / "export.json").read_text())
    assert meta["precision"] == "int8" and meta["hop_length"] == 640


def test_int8_graphs_within_tolerance_of_fp32(exported, int8_graphs):
    vae, *_ = exported
    _, folder = int8_graphs
    audio = synth_audio(16000 + 321)[:, None]
    with torch.no_grad():
        z = vae.encode(audio).latent_dist.mode()
        y = vae.decode(z).sample
    decoder, encoder = OnnxDecoder(folder / "decoder.onnx"), OnnxEncoder(folder / "encoder.onnx")
    y_q = decoder(z)
    z_q = encoder(audio).mean
    assert y_q.shape == y.shape and z_q.shape == z.shape
    assert 30.0 < _snr_db(y, y_q) < 200.0  # quantized (not float), within the int8 budget
    assert _snr_db(y, decoder(z_q)) > 25.0  # encode + decode, as for PyTorch int8


def test_export_cli_passes_the_precision(tmp_path, monkeypatch):
    import losatok_plugin.export.onnx as onnx_module

    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "m")
    seen = {}
    monkeypatch.setattr(onnx_module, "export_onnx", lambda vae, out, precision: seen.update(p=precision) or {})
    assert (
        cli(["export-onnx", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o"), "--precision", "int8"]) == 0
    )
    assert seen == {"p": "int8"}
    with pytest.raises(ExportError, match="unknown ONNX precision 'bf16'"):
        export_onnx(LoSATokVAE(**tiny_config().to_dict()).eval(), tmp_path / "b", precision="bf16")
    with pytest.raises(SystemExit):
        cli(["export-onnx", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o"), "--precision", "bf16"])
