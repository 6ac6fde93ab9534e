"""Inference precision: bf16 with float32 islands, int8 dynamic quantization, the --precision flag."""

from __future__ import annotations

import pytest
import torch

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.cli import main as cli
from losatok_plugin.models.precision import PrecisionError, apply_precision, int8_linear_names
from losatok_plugin.nn.fp32 import Float32Island

from .helpers import synth_audio

ISLANDS = ["semantic_encoder.front_end", "semantic_encoder.init_bn", "acoustic.mel", "decoder.head", "gaussian"]


def fresh() -> LoSATokVAE:
    torch.manual_seed(0)
    return LoSATokVAE(**tiny_config().to_dict()).eval()


def snr_db(ref: torch.Tensor, x: torch.Tensor) -> float:
    return (10 * torch.log10(ref.pow(2).sum() / (ref - x).float().pow(2).sum())).item()


@pytest.fixture(scope="module")
def fp32_outputs():
    model = fresh()
    audio = synth_audio(16000 + 321)[:, None]
    with torch.no_grad():
        z = model.encode(audio).latent_dist.mode()
        return audio, z, model.decode(z).sample


def run(model, audio, z):
    with torch.no_grad():
        z_p = model.encode(audio).latent_dist.mode()
        return z_p, model.decode(z).sample, model.decode(z_p).sample


@pytest.mark.parametrize("how", ["to", "from_pretrained"])
def test_bf16_within_tolerance_of_fp32(how, fp32_outputs, tmp_path):
    audio, z, y = fp32_outputs
    if how == "to":
        model = fresh().to(torch.bfloat16)
    else:
        fresh().save_pretrained(tmp_path / "m")
        model = LoSATokVAE.from_pretrained(tmp_path / "m", torch_dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16
    assert model.decoder.backbone.embed.weight.dtype == torch.bfloat16
    z_b, y_b, y_rt = run(model, audio, z)
    assert z_b.dtype == y_b.dtype == torch.float32  # latents and audio come out float32
    assert snr_db(z, z_b) > 35.0
    assert snr_db(y, y_b) > 35.0  # decode of the same latents
    assert snr_db(y, y_rt) > 30.0  # encode + decode


@pytest.mark.parametrize("how", ["to", "from_pretrained"])
def test_float32_islands_run_in_float32_under_bf16(how, fp32_outputs, tmp_path):
    audio, z, _ = fp32_outputs
    if how == "to":
        model = fresh().to(torch.bfloat16)
    else:
        fresh().save_pretrained(tmp_path / "m")
        model = LoSATokVAE.from_pretrained(tmp_path / "m", torch_dtype=torch.bfloat16)
    seen: dict[str, list[torch.dtype]] = {}

    def hook(name):
        def record(module, inputs, output):
            tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor) and t.is_floating_point()]
            seen.setdefault(name, []).extend(t.dtype for t in tensors)

        return record

    modules = dict(model.named_modules())
    for name in ISLANDS:
        assert isinstance(modules[name], Float32Island), name
        for t in [*modules[name].parameters(), *modules[name].buffers()]:
            assert t.dtype == torch.float32 or not t.is_floating_point(), (name, t.shape)
    # the layers inside the islands see float32 in and out (the islands cast their bf16 inputs up)
    inner = [
        "semantic_encoder.init_bn",
        "gaussian.fc_mu",
        "gaussian.fc_logvar",
        "decoder.head.out",
        "decoder.head.istft",
    ]
    for name in inner:
        modules[name].register_forward_hook(hook(name))
    modules["semantic_encoder.blocks.0.attn.qkv"].register_forward_hook(hook("bf16 layer"))
    with torch.no_grad():
        model.encode(audio)
        model.decode(z)
    for name in inner:
        assert seen.get(name) and set(seen[name]) == {torch.float32}, (name, seen.get(name))
    assert set(seen["bf16 layer"]) == {torch.bfloat16}
    # recomputed buffers built under diffusers' bf16 default dtype are still exact
    ref = fresh()
    for name in ["acoustic.mel.fb", "semantic_encoder.front_end.fb", "decoder.head.istft.window"]:
        assert torch.equal(model.get_buffer(name), ref.get_buffer(name)), name


def test_int8_within_tolerance_of_fp32(fp32_outputs):
    audio, z, y = fp32_outputs
    model = fresh()
    assert model.quantize("int8") is model
    kinds = {name: type(m).__name__ for name, m in model.named_modules()}
    assert (
        kinds["decoder.backbone.convnext.0.pwconv1"] == "Linear"
        and "quantized" in type(model.decoder.backbone.convnext[0].pwconv1).__module__
    )
    assert type(model.semantic_encoder.blocks[0].attn.qkv).__module__.startswith("torch.ao.nn.quantized")
    assert type(model.decoder.head.out) is torch.nn.Linear  # float32 island
    assert type(model.bottleneck.downsample[0]) is torch.nn.Linear  # kept float (INT8_KEEP_FLOAT)
    z_q, y_q, y_rt = run(model, audio, z)
    assert snr_db(y, y_q) > 30.0
    assert snr_db(y, y_rt) > 25.0
    with pytest.raises(PrecisionError, match="cannot be saved"):
        model.save_pretrained("unused")
    with pytest.raises(PrecisionError, match="cannot be cast"):
        model.to(torch.bfloat16)


def test_int8_layer_selection():
    names = int8_linear_names(fresh())
    assert "decoder.backbone.convnext.1.pwconv2" in names
    assert not any(n.startswith(("decoder.head", "gaussian", "bottleneck", "acoustic")) for n in names)


def test_cli_precision_choices_match_the_library():
    from losatok_plugin import cli as cli_module
    from losatok_plugin.models.precision import PRECISIONS

    assert cli_module.PRECISIONS == PRECISIONS


def test_bad_precision_gets_a_clear_error(tmp_path, capsys):
    with pytest.raises(PrecisionError, match="unknown precision 'fp16': choose one of fp32, bf16, int8"):
        apply_precision(fresh(), "fp16")
    with pytest.raises(PrecisionError, match="supports 'int8' only"):
        fresh().quantize("int4")
    with pytest.raises(SystemExit) as e:
        cli(["encode", str(tmp_path), "--out", str(tmp_path / "o"), "--precision", "fp16"])
    assert e.value.code == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_cli_precision_flag(precision, tmp_path, capsys):
    import soundfile as sf

    fresh().save_pretrained(tmp_path / "m")
    sf.write(str(tmp_path / "a.wav"), synth_audio(12000)[0].numpy(), 16000)
    args = ["reconstruct", str(tmp_path / "a.wav"), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "m")]
    assert cli(args + ["--precision", precision]) == 0
    assert (tmp_path / "o" / "a.wav").is_file()
