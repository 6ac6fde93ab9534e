"""LoSATokVAE as a drop-in VAE for diffusers' StableAudioPipeline (tiny random components, offline)."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import CosineDPMSolverMultistepScheduler, DiffusionPipeline, StableAudioDiTModel, StableAudioPipeline
from diffusers.pipelines.stable_audio.modeling_stable_audio import StableAudioProjectionModel
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import T5Config, T5EncoderModel, T5TokenizerFast

from losatok_plugin import LoSATokVAE, tiny_config

LATENT = 16  # the tiny LoSATok's latent width; the official model uses 128 (see the next test)
SAMPLE_SIZE = 10  # latent frames = 0.4 s at 25 Hz


def tiny_tokenizer() -> T5TokenizerFast:
    # A Unigram model, the kind T5 tokenizers hold, so that save/load round-trips through transformers.
    # Metaspace ("▁word") pieces, as transformers' T5 tokenizer rebuilds them on load.
    words = ["<pad>", "</s>", "<unk>", "▁", "▁a", "▁dog", "▁barks", "▁piano", "▁music", "▁rain"]
    tk = Tokenizer(models.Unigram([(w, -1.0) for w in words], unk_id=2))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    return T5TokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=8
    )


def tiny_components(vae: LoSATokVAE, latent: int = LATENT) -> dict:
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=10, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2, decoder_start_token_id=0)
    ).eval()
    transformer = StableAudioDiTModel(
        sample_size=SAMPLE_SIZE,
        in_channels=latent,
        out_channels=latent,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        num_key_value_attention_heads=1,
        cross_attention_dim=16,
        time_proj_dim=16,
        global_states_input_dim=32,
        cross_attention_input_dim=16,
    ).eval()
    projection = StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=16, min_value=0, max_value=60).eval()
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction")
    return dict(
        vae=vae,
        text_encoder=text_encoder,
        projection_model=projection,
        tokenizer=tiny_tokenizer(),
        transformer=transformer,
        scheduler=scheduler,
    )


@pytest.fixture(scope="module")
def pipe(tiny_vae) -> StableAudioPipeline:
    return StableAudioPipeline(**tiny_components(tiny_vae))


def generate(p: StableAudioPipeline, seconds: float) -> torch.Tensor:
    p.set_progress_bar_config(disable=True)
    out = p(
        "a dog barks",
        num_inference_steps=2,
        audio_end_in_s=seconds,
        guidance_scale=1.5,
        generator=torch.Generator().manual_seed(0),
    )
    return out.audios


def test_stable_audio_pipeline_generates_requested_length(pipe):
    audio = generate(pipe, 0.3)
    assert audio.shape == (1, 1, int(0.3 * 16000))
    assert torch.isfinite(audio).all()
    max_len = generate(pipe, SAMPLE_SIZE * 640 / 16000)
    assert max_len.shape == (1, 1, SAMPLE_SIZE * 640)


def test_official_latent_width_in_pipeline():
    """128 latent channels, as the DiT recipes use with the official model."""
    vae = LoSATokVAE(**tiny_config(latent_channels=128).to_dict()).eval()
    audio = generate(StableAudioPipeline(**tiny_components(vae, latent=128)), 0.2)
    assert audio.shape == (1, 1, 3200)


def test_from_pretrained_with_vae_swapped_in(pipe, tiny_vae, tmp_path):
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "pipe", vae=tiny_vae)
    assert isinstance(loaded, StableAudioPipeline)
    assert loaded.vae is tiny_vae
    torch.testing.assert_close(generate(loaded, 0.3), generate(pipe, 0.3))


def test_model_index_records_our_library_and_restores_it(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    # diffusers records a component from another library by its module path, which must expose the
    # diffusers base class (ModelMixin) for loading, exactly as it does for transformers' models.
    assert index["vae"] == ["losatok_plugin.models.losatok_vae", "LoSATokVAE"]
    assert (tmp_path / "pipe" / "vae" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "pipe")
    assert type(loaded.vae) is LoSATokVAE
    for k, v in pipe.vae.state_dict().items():
        assert torch.equal(v, loaded.vae.state_dict()[k]), k
    torch.testing.assert_close(generate(loaded, 0.3), generate(pipe, 0.3))


def test_initial_audio_is_encoded_by_our_vae(pipe):
    """The pipeline's audio-to-audio path calls vae.encode(...).latent_dist.sample()."""
    pipe.set_progress_bar_config(disable=True)
    init = torch.randn(1, 1, SAMPLE_SIZE * 640) * 0.1
    out = pipe(
        "piano music",
        num_inference_steps=2,
        audio_end_in_s=0.4,
        initial_audio_waveforms=init,
        initial_audio_sampling_rate=16000,
        generator=torch.Generator().manual_seed(0),
    ).audios
    assert out.shape == (1, 1, 6400)
