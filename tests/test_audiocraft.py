"""The audiocraft integration on real audiocraft 1.3.0, CPU, tiny sizes.

Needs the ``[audiocraft]`` install (``make install`` does it; see recipes/audiocraft/README.md). The
test that audiocraft stays optional runs without it too.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch

from losatok_plugin.loading import load_vae

from .helpers import synth_audio

REPO = Path(__file__).resolve().parents[1]
RECIPE_CONFIG = REPO / "recipes" / "audiocraft" / "config"
needs_audiocraft = pytest.mark.skipif(
    find_spec("audiocraft") is None,
    reason="audiocraft not installed (pip install 'losatok-plugin[audiocraft]', see README)",
)
D = 16  # LM width in these tests


def test_audiocraft_stays_optional():
    """(d) importing losatok_plugin never imports audiocraft; without it the entry points say what to install."""
    code = textwrap.dedent(
        """
        import sys
        import losatok_plugin
        import losatok_plugin.integrations.audiocraft as ac
        assert not [m for m in sys.modules if m.split(".")[0] == "audiocraft"], "audiocraft was imported"
        sys.modules["audiocraft"] = None  # from here on, `import audiocraft...` fails as if not installed
        for call in (ac.register, lambda: ac.LoSATokConditioner, ac.is_registered):
            try:
                call()
            except ImportError as e:
                assert "losatok-plugin[audiocraft]" in str(e), str(e)
            else:
                raise AssertionError("no ImportError")
        from losatok_plugin.integrations.audiocraft import train
        try:
            train.main()
        except ImportError as e:
            assert "losatok-plugin[audiocraft]" in str(e), str(e)
        print("OK")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "OK", out.stderr[-2000:]


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory, tiny_vae) -> Path:
    path = tmp_path_factory.mktemp("losatok_tiny")
    tiny_vae.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def ac(vae_dir):
    """The integration module, registered with audiocraft's builders."""
    import losatok_plugin.integrations.audiocraft as ac

    ac.register()
    return ac


def make_conditioner(ac, vae_dir, **kwargs):
    torch.manual_seed(0)
    return ac.LoSATokConditioner(load_vae(vae_dir), output_dim=D, **kwargs).eval()


def wav_condition(wav: torch.Tensor, lengths, rates, paths=None, seeks=None):
    from audiocraft.modules.conditioners import WavCondition

    b = wav.shape[0]
    return WavCondition(wav, torch.tensor(lengths), list(rates), paths or [None] * b, seeks or [None] * b)


# -- (a) shapes, masks, gradients ------------------------------------------------------------------------
@needs_audiocraft
def test_shapes_masks_and_padding(ac, vae_dir):
    cond = make_conditioner(ac, vae_dir)
    audio = synth_audio(16000, batch=3)
    x = wav_condition(audio[:, None], [16000, 8000, 0], [16000] * 3)
    embeds, mask = cond(x)
    assert embeds.shape == (3, 25, D) and mask.shape == (3, 25)
    assert mask.sum(1).tolist() == [25, 12, 0]  # T = (1 + N // 160) // 4
    assert (embeds[1, 12:] == 0).all() and (embeds[2] == 0).all()
    # a padded item gives what it gives alone
    alone, _ = cond(wav_condition(audio[1:2, None, :8000], [8000], [16000]))
    torch.testing.assert_close(embeds[1, :12], alone[0], atol=1e-5, rtol=1e-4)


@needs_audiocraft
def test_all_empty_conditions_give_one_masked_frame(ac, vae_dir):
    from audiocraft.modules.conditioners import nullify_wav

    cond = make_conditioner(ac, vae_dir)
    x = nullify_wav(wav_condition(synth_audio(4000, batch=2)[:, None], [4000, 4000], [16000, 16000]))
    embeds, mask = cond(x)
    assert embeds.shape == (2, 1, D) and mask.sum() == 0 and (embeds == 0).all()


@needs_audiocraft
def test_gradients_train_projection_not_vae(ac, vae_dir):
    cond = make_conditioner(ac, vae_dir).train()
    embeds, mask = cond(wav_condition(synth_audio(8000, batch=2)[:, None], [8000, 6000], [16000, 16000]))
    (embeds**2).sum().backward()
    assert cond.output_proj.weight.grad is not None and cond.output_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in cond.vae.parameters())
    assert set(cond.state_dict()) == {"output_proj.weight", "output_proj.bias"}  # the VAE is not saved with the LM


@needs_audiocraft
def test_unified_features(ac, vae_dir):
    cond = make_conditioner(ac, vae_dir, features="unified_emb")
    assert cond.dim == cond.vae.config.embed_dim
    embeds, mask = cond(wav_condition(synth_audio(8000)[:, None], [8000], [16000]))
    assert embeds.shape == (1, 12, D) and mask.all()
    with pytest.raises(ValueError, match="features"):
        make_conditioner(ac, vae_dir, features="semantic")


# -- (5) bad input ---------------------------------------------------------------------------------------
@needs_audiocraft
def test_other_sample_rates_are_resampled(ac, vae_dir):
    import torchaudio

    cond = make_conditioner(ac, vae_dir)
    clip = synth_audio(44100, sr=44100)
    ref, _ = cond(wav_condition(torchaudio.functional.resample(clip, 44100, 16000)[:, None], [16000], [16000]))
    got, mask = cond(wav_condition(clip[:, None], [44100], [44100]))
    assert got.shape == ref.shape and mask.all()
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)
    # one batch, two rates (audiocraft keeps a rate per item)
    mixed = torch.zeros(2, 1, 44100)
    mixed[0, 0], mixed[1, 0, :16000] = clip[0], torchaudio.functional.resample(clip, 44100, 16000)[0]
    both, mask = cond(wav_condition(mixed, [44100, 16000], [44100, 16000]))
    torch.testing.assert_close(both[0], ref[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(both[1], ref[0], atol=1e-5, rtol=1e-4)


@needs_audiocraft
def test_stereo_is_downmixed_with_a_notice(ac, vae_dir):
    cond = make_conditioner(ac, vae_dir)
    stereo = synth_audio(8000, batch=2)[None]  # [1, 2, N]
    with pytest.warns(UserWarning, match="down-mixing"):
        got, _ = cond(wav_condition(stereo, [8000], [16000]))
    ref, _ = cond(wav_condition(stereo.mean(1, keepdim=True), [8000], [16000]))
    torch.testing.assert_close(got, ref)


@needs_audiocraft
def test_long_condition_is_cropped_with_a_notice(ac, vae_dir):
    cond = make_conditioner(ac, vae_dir, max_duration=0.5)
    audio = synth_audio(16000)[:, None]
    with pytest.warns(UserWarning, match="max_duration"):
        got, mask = cond(wav_condition(audio, [16000], [16000]))
    ref, _ = cond(wav_condition(audio[..., :8000], [8000], [16000]))
    assert mask.shape == (1, 12)
    torch.testing.assert_close(got, ref)


@needs_audiocraft
def test_too_short_and_nan_conditions(ac, vae_dir):
    cond = make_conditioner(ac, vae_dir)
    audio = synth_audio(8000, batch=2)[:, None]
    with pytest.warns(UserWarning, match="shorter than one LoSATok frame"):
        _, mask = cond(wav_condition(audio, [8000, 100], [16000, 16000]))
    assert mask.sum(1).tolist() == [12, 0]
    audio[1] = float("nan")
    with pytest.raises(ValueError, match="cache_path"):
        cond(wav_condition(audio, [8000, 8000], [16000, 16000]))


@needs_audiocraft
def test_excerpt_in_training_only(ac, vae_dir):
    cond = make_conditioner(ac, vae_dir, excerpt_duration=0.5)
    x = wav_condition(synth_audio(16000)[:, None], [16000], [16000])
    assert cond(x)[1].shape == (1, 25)
    assert cond.train()(x)[1].shape == (1, 12)


# -- latent cache -----------------------------------------------------------------------------------------
@needs_audiocraft
def test_latent_cache(ac, vae_dir, tmp_path, monkeypatch):
    import soundfile as sf

    clip = synth_audio(32000)[0]
    sf.write(str(tmp_path / "a.wav"), clip.numpy(), 16000, subtype="FLOAT")
    path = str(tmp_path / "a.wav")
    cond = make_conditioner(ac, vae_dir, cache_path=tmp_path / "cache")
    x = wav_condition(clip[None, None], [32000], [16000], paths=[path], seeks=[0.0])
    direct, _ = make_conditioner(ac, vae_dir)(x)
    cached, mask = cond(cond.tokenize(x))
    torch.testing.assert_close(cached, direct, atol=1e-5, rtol=1e-4)
    assert len(list((tmp_path / "cache").glob("*.mu.safetensors"))) == 1
    # a segment is sliced from the whole-file latents by seek_time; nothing is re-encoded
    fresh = make_conditioner(ac, vae_dir, cache_path=tmp_path / "cache")
    monkeypatch.setattr(fresh.cache, "_compute", lambda p: (_ for _ in ()).throw(AssertionError("re-encoded")))
    seg = wav_condition(torch.full((1, 1, 16000), float("nan")), [16000], [16000], paths=[path], seeks=[0.4])
    embeds, mask = fresh(seg)
    assert mask.shape == (1, 25)
    torch.testing.assert_close(embeds[0], cached[0, 10:35])


# -- (c) registration --------------------------------------------------------------------------------------
@needs_audiocraft
def test_register_twice_is_harmless(ac):
    from audiocraft.models import builders

    hook = builders.get_conditioner_provider
    ac.register()
    ac.register()
    assert builders.get_conditioner_provider is hook and ac.is_registered()
    original = hook.__wrapped__
    assert not hasattr(original, "_losatok_model_names")
    ac.unregister()
    try:
        assert builders.get_conditioner_provider is original and not ac.is_registered()
    finally:
        ac.register()
    assert ac.is_registered()


# -- (b) a tiny MusicGen from our solver config ---------------------------------------------------------------
def compose_solver(vae_dir: Path, *overrides: str):
    """Our solver config composed with audiocraft's own config tree (its source distribution's config/)."""
    import audiocraft
    from hydra import compose, initialize_config_dir

    tree = Path(audiocraft.__file__).resolve().parents[1] / "config"
    if not tree.is_dir():
        pytest.fail(f"audiocraft's config tree is missing next to {audiocraft.__file__}: install it as documented")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with initialize_config_dir(config_dir=str(tree), version_base="1.1"):
            return compose(
                config_name="config",
                overrides=[
                    f"hydra.searchpath=[file://{RECIPE_CONFIG}]",
                    "solver=musicgen/musicgen_losatok_32khz",
                    "device=cpu",
                    "dtype=float32",
                    "~conditioners.description",  # T5 would need a download
                    "fuser.cross=[]",
                    f"conditioners.self_wav.losatok.model_path={vae_dir}",
                    f"transformer_lm.dim={D}",
                    "transformer_lm.num_heads=2",
                    "transformer_lm.num_layers=1",
                    "transformer_lm.card=400",  # audiocraft's debug compression model: 4 codebooks of 400
                    *overrides,
                ],
            )


@needs_audiocraft
def test_tiny_musicgen_trains_and_generates(ac, vae_dir):
    from audiocraft.models import builders
    from audiocraft.models.musicgen import MusicGen
    from audiocraft.modules.conditioners import ConditioningAttributes

    torch.manual_seed(0)
    cfg = compose_solver(vae_dir)
    assert cfg.conditioners.self_wav.model == "losatok" and cfg.fuser.prepend == ["self_wav"]
    lm = builders.get_lm_model(cfg)
    conditioner = lm.condition_provider.conditioners["self_wav"]
    assert isinstance(conditioner, ac.LoSATokConditioner)
    assert conditioner.max_duration == cfg.dataset.segment_duration and conditioner.excerpt_duration == 3.0

    # one training step as audiocraft's MusicGen solver does it (CFG dropout, tokenize, forward, CE loss)
    sr = cfg.sample_rate
    audio = synth_audio(sr, batch=2, sr=sr)[:, None]
    attributes = [
        ConditioningAttributes(wav={"self_wav": wav_condition(audio[i : i + 1], [sr], [sr])}) for i in range(2)
    ]
    codes = torch.randint(0, 400, (2, 4, 25))
    lm.train()
    before = {k: v.detach().clone() for k, v in lm.named_parameters()}
    optimizer = torch.optim.AdamW(lm.parameters(), lr=1e-2)
    tokenized = lm.condition_provider.tokenize(lm.cfg_dropout(lm.att_dropout(attributes)))
    out = lm.compute_predictions(codes, [], lm.condition_provider(tokenized))
    loss = torch.nn.functional.cross_entropy(out.logits[out.mask], codes[out.mask])
    loss.backward()
    optimizer.step()
    assert math.isfinite(loss.item())
    changed = {k for k, v in lm.named_parameters() if not torch.equal(v, before[k])}
    assert "condition_provider.conditioners.self_wav.output_proj.weight" in changed and len(changed) > 5
    assert all(p.grad is None for p in conditioner.vae.parameters())

    # generation conditioned on LoSATok latents of a reference clip, with a tiny compression model
    compression = builders.get_debug_compression_model(sample_rate=sr)
    model = MusicGen("losatok-tiny", compression, lm.eval(), max_duration=cfg.dataset.segment_duration)
    model.set_generation_params(duration=0.4, top_k=50)
    wav = model.generate_with_chroma([None, None], [audio[0], None], melody_sample_rate=sr)
    assert wav.shape == (2, 1, int(0.4 * sr)) and torch.isfinite(wav).all()


@needs_audiocraft
def test_config_errors_are_clear(ac, vae_dir):
    from audiocraft.models import builders

    from losatok_plugin import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        builders.get_lm_model(compose_solver(vae_dir, "+conditioners.self_wav.losatok.max_len=3"))
    with pytest.raises(ConfigError, match="model_path"):
        builders.get_lm_model(compose_solver(vae_dir, "conditioners.self_wav.losatok.model_path=''"))
