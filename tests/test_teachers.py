"""The semantic-teacher registry: Dasheng releases and transformers encoders, tiny configs, offline."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.models.hf_teachers import pairs_to_grid
from losatok_plugin.teachers import TEACHERS, load_teacher, teacher_model_config

from .helpers import synth_audio

CONV = dict(
    conv_dim=(16,) * 7,
    conv_stride=(5, 2, 2, 2, 2, 2, 2),
    conv_kernel=(10, 3, 3, 3, 3, 2, 2),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)
SMALL = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def save_tiny(kind: str, folder) -> None:
    torch.manual_seed(0)
    if kind == "whisper":
        cfg = tf.WhisperConfig(
            d_model=32,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            num_mel_bins=80,
            max_source_positions=100,
            max_target_positions=16,
            vocab_size=64,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        )
        tf.WhisperModel(cfg).save_pretrained(folder)
    else:
        cls = {
            "hubert": (tf.HubertConfig, tf.HubertModel),
            "wavlm": (tf.WavLMConfig, tf.WavLMModel),
            "wav2vec2": (tf.Wav2Vec2Config, tf.Wav2Vec2Model),
        }[kind]
        cls[1](cls[0](**SMALL, **CONV)).save_pretrained(folder)


@pytest.mark.parametrize("kind", ["whisper", "hubert", "wavlm", "wav2vec2"])
def test_transformers_teachers_through_registry(kind, tmp_path):
    save_tiny(kind, tmp_path / kind)
    teacher = load_teacher(kind, tmp_path / kind)
    assert teacher.output_dim == 32 and teacher.sample_rate == 16000
    x = synth_audio(16000 * 3 + 500, batch=2)  # longer than whisper's 2 s window here
    with torch.no_grad():
        out = teacher(x)
        assert out.shape == (2, (1 + x.shape[-1] // 160) // 4, 32) and torch.isfinite(out).all()
        short = teacher(x[:, :8000], lengths=torch.tensor([8000, 5000]))
        alone = teacher(x[1:, :5000])
    torch.testing.assert_close(short[1, : alone.shape[1]], alone[0], atol=1e-5, rtol=1e-4)
    assert short[1, alone.shape[1] :].abs().max() == 0
    # the teacher inside a LoSATokVAE, round-tripping through save_pretrained
    vae = LoSATokVAE(**tiny_config(**teacher_model_config(teacher)).to_dict())
    vae.semantic_encoder.load_state_dict(teacher.state_dict())
    vae.save_pretrained(tmp_path / "vae")
    back = LoSATokVAE.from_pretrained(tmp_path / "vae").eval()
    with torch.no_grad():
        torch.testing.assert_close(back.encode_features(x)["semantic_emb"], out, atol=1e-5, rtol=1e-4)


def test_dasheng_release_file_loads_with_package_naming(tmp_path, tiny_vae):
    source = tiny_vae.semantic_encoder
    state = {}
    for k, v in source.state_dict().items():
        state[k.replace("init_bn.", "init_bn.1.")] = v
    state["front_end.0.spectrogram.window"] = torch.hann_window(512)
    state["outputlayer.1.weight"] = torch.zeros(527, 64)
    torch.save({"model": state, "config": {"embed_dim": 64, "depth": 2, "num_heads": 4}}, tmp_path / "d.pt")
    teacher = load_teacher("dasheng_base", tmp_path / "d.pt")
    x = synth_audio(12000)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), source(x))
    assert teacher_model_config(teacher)["semantic_depth"] == 2


def test_unknown_teacher_lists_known(tmp_path):
    with pytest.raises(ValueError, match="known teachers: midashenglm, dasheng_base"):
        load_teacher("beats", tmp_path)
    assert set(TEACHERS) >= {"whisper", "hubert", "wavlm", "wav2vec2", "dasheng_06B", "dasheng_12B"}


def test_pairs_to_grid_rule():
    x = torch.arange(10.0).view(1, 5, 2)  # 5 frames at 50 Hz
    y = pairs_to_grid(x, 4)
    assert y.shape == (1, 4, 2)
    torch.testing.assert_close(y[0, 0], (x[0, 0] + x[0, 1]) / 2)
    torch.testing.assert_close(y[0, 3], y[0, 2])  # repeated last token


def test_sembo_stage_with_a_transformers_teacher(tmp_path):
    """Pick the teacher by name in the training config: stage 1 on HuBERT, export keeps it."""
    from losatok_plugin.data import build_manifest, write_manifest
    from losatok_plugin.training import SemboStageConfig, train_sembo
    from losatok_plugin.training.yaml_config import load_dataclass

    from .helpers import write_corpus

    save_tiny("hubert", tmp_path / "hubert")
    write_corpus(tmp_path / "audio", n=2, seconds=1.28)
    manifest = write_manifest(build_manifest(tmp_path / "audio", progress=False)[0], tmp_path / "m.jsonl")
    cfg = load_dataclass(
        SemboStageConfig,
        {
            "model": tiny_config().to_dict(),
            "teacher": str(tmp_path / "hubert"),
            "teacher_type": "hubert",
            "data": {"train_manifest": str(manifest), "crop_seconds": 0.64, "batch_size": 2},
            "run": {"output_dir": str(tmp_path / "run"), "max_steps": 2, "progress": False, "cpu": True},
        },
    )
    export = train_sembo(cfg)
    vae = LoSATokVAE.from_pretrained(export)
    assert vae.config.semantic_encoder_type == "hubert" and vae.config.embed_dim == 32
    with pytest.raises(Exception, match="known teachers"):
        load_dataclass(SemboStageConfig, {"teacher_type": "beats"})


def test_cli_lists_teachers_and_uses_one_for_fd(tmp_path, capsys):
    from losatok_plugin.cli import main as cli
    from losatok_plugin.data import build_manifest, write_manifest

    from .helpers import write_corpus

    assert cli(["teachers"]) == 0
    assert "wav2vec2" in capsys.readouterr().out
    save_tiny("wav2vec2", tmp_path / "w2v")
    write_corpus(tmp_path / "audio", n=3, seconds=1.0)
    m = write_manifest(build_manifest(tmp_path / "audio", progress=False)[0], tmp_path / "m.jsonl")
    assert (
        cli(
            [
                "eval",
                "fd",
                "--ref",
                str(m),
                "--gen",
                str(m),
                "--teacher",
                str(tmp_path / "w2v"),
                "--teacher-type",
                "wav2vec2",
                "--out",
                str(tmp_path / "fd"),
            ]
        )
        == 0
    )
    assert "wav2vec2 teacher" in capsys.readouterr().out
    assert (
        cli(
            [
                "eval",
                "fd",
                "--ref",
                str(m),
                "--gen",
                str(m),
                "--teacher",
                "x",
                "--teacher-type",
                "beats",
                "--out",
                str(tmp_path / "fd2"),
            ]
        )
        == 1
    )
    assert "known teachers" in capsys.readouterr().err


# -- issue 11: the midashenglm teacher is read from the config + semantic_encoder.* only ----------------
def test_midashenglm_teacher_never_builds_the_whole_model(monkeypatch, tmp_path):
    from safetensors.torch import load_file

    from losatok_plugin.models import losatok_vae

    from .helpers import PARITY

    folder = tmp_path / "LoSATok"  # an official checkpoint as downloaded, with its yml
    (folder / "config").mkdir(parents=True)
    torch.save(load_file(str(PARITY / "weights.safetensors")), folder / "losatok_kl1e-2.pth")
    (folder / "config" / "16k_16k_25Hz_losatok.yml").write_text((PARITY / "config.json").read_text())

    def refuse(*args, **kwargs):
        raise AssertionError("a whole LoSATokVAE was built to take its semantic encoder")

    monkeypatch.setattr(losatok_vae.LoSATokVAE, "__init__", refuse)
    teachers = {spec: load_teacher("midashenglm", spec) for spec in ("losatok-mini", folder)}
    monkeypatch.undo()
    from losatok_plugin.loading import load_vae

    for spec, teacher in teachers.items():
        full = load_vae(spec)
        want = full.semantic_encoder.state_dict()
        got = teacher.state_dict()
        assert got.keys() == want.keys() and not teacher.training
        for k in want:
            torch.testing.assert_close(got[k], want[k].to(got[k].dtype))
        assert teacher_model_config(teacher)["semantic_depth"] == full.config.semantic_depth
