"""Stage 0 (a small semantic encoder on the corpus' supervision): label targets, masked losses, CTC decoding,
a 2-step run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from losatok_plugin import tiny_config
from losatok_plugin.configuration import LoSATokConfig
from losatok_plugin.data import read_manifest
from losatok_plugin.data.labels import LabelSpace, phoneme_tokens
from losatok_plugin.data.supervised_clips import SupervisedClips, collate_clips
from losatok_plugin.eval.supervision import edit_distance, greedy_ctc
from losatok_plugin.losses.supervision import SupervisionHeads, supervision_losses
from losatok_plugin.teachers import load_teacher
from losatok_plugin.training import SemanticEncoderStageConfig, train_semantic_encoder
from losatok_plugin.training.errors import ResumeError
from losatok_plugin.training.yaml_config import load_dataclass

ARCH = LoSATokConfig()  # the frame arithmetic (num_frames, valid_frame_mask)


def test_phoneme_tokens_drop_stress_and_keep_length_marks():
    assert phoneme_tokens("ɡˈuːtən mˈɔɾɡən") == ["ɡ", "uː", "t", "ə", "n", "m", "ɔ", "ɾ", "ɡ", "ə", "n"]
    assert phoneme_tokens("(en)hˈɛloʊ(de)") == ["h", "ɛ", "l", "o", "ʊ"]


def test_ctc_decoding_and_edit_distance_known_answers():
    assert greedy_ctc(torch.tensor([0, 3, 3, 0, 3, 5, 5, 0])) == [3, 3, 5]
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance([], [4, 5]) == 2
    assert edit_distance([1, 2], [2, 1]) == 2


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """A 6-clip manifest with every kind of supervision the corpus builder writes."""
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    rows = [
        {"domain": "speech", "lang": "en", "phonemes": "həlˈoʊ wˈɜːld", "source": "espeak-ng"},
        {"domain": "speech", "lang": "de", "phonemes": "ɡˈuːtən tˈaːk", "source": "espeak-ng"},
        {"domain": "speech", "lang": "ru", "source": "ktuberling-data"},  # real: language only
        {
            "domain": "music",
            "families": ["piano", "drums"],
            "notes": [[0.0, 0.5, 60, "piano"], [0.2, 0.3, 36, "drums"]],
        },
        {"domain": "sound", "label": "bell", "source": "synthesised"},
        {"domain": "sound", "label": "dialog-error", "source": "/usr/share/sounds"},  # real: no class target
    ]
    with open(root / "train.jsonl", "w") as f:
        for i, row in enumerate(rows):
            seconds = 1.0 + 0.3 * i
            sf.write(
                str(root / f"c{i}.wav"), (0.2 * rng.standard_normal(int(16000 * seconds))).astype("float32"), 16000
            )
            f.write(json.dumps({"path": f"c{i}.wav", "duration": seconds, **row}) + "\n")
    return root / "train.jsonl"


def test_label_space_and_targets(labelled):
    entries = read_manifest(labelled)
    labels = LabelSpace.from_entries(entries)
    assert labels.phonemes[0] == "<blank>" and "uː" in labels.phonemes
    assert labels.langs == ["de", "en", "ru"] and labels.families == ["drums", "piano"]
    assert labels.sound_classes == ["bell"]  # real sounds carry no class target
    music = labels.targets(entries[3], 0.0, 25)
    assert music["families"].tolist() == [1.0, 1.0]
    roll = music["pitches"]
    assert roll[:13, 60].eq(1).all() and roll[13:, 60].eq(0).all()  # 0.5 s at 25 Hz -> frames 0..12
    assert roll[:, 36].eq(0).all()  # drums are not pitches
    shifted = labels.targets(entries[3], 0.2, 25)["pitches"]
    assert shifted[:8, 60].eq(1).all() and shifted[8:, 60].eq(0).all()
    real = labels.targets(entries[2], 0.0, 10)
    assert real["lang"].item() == 2 and real["phonemes"].numel() == 0 and real["pitches"].eq(-1).all()
    assert labels.targets(entries[5], 0.0, 10)["sound"].item() == -1
    assert labels.targets(entries[0], 0.0, 25, whole_clip=False)["phonemes"].numel() == 0  # no CTC on crops


def test_losses_are_masked_and_finite(labelled):
    entries = read_manifest(labelled)
    labels = LabelSpace.from_entries(entries)
    batch = collate_clips([SupervisedClips(entries, labels, 10.0)[i] for i in range(len(entries))])
    frames = ARCH.num_frames(batch["audio"].shape[1])
    assert batch["pitches"].shape == (6, frames, 128)
    heads = SupervisionHeads(32, labels)
    feats = torch.randn(6, frames, 32, requires_grad=True)
    valid = ARCH.valid_frame_mask(batch["length"], frames)
    losses = supervision_losses(heads(feats, valid), batch, valid)
    assert set(losses) == {f"teacher/{k}" for k in ("ctc", "domain", "lang", "sound", "families", "pitches")}
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(losses[f"teacher/{k}"] > 0 for k in ("ctc", "domain", "lang", "families", "pitches"))
    assert losses["teacher/sound"] == 0  # one sound class in this set: nothing to tell apart
    sum(losses.values()).backward()
    # padded frames of shorter clips get no gradient
    assert feats.grad[0, int(valid[0].sum()) :].abs().max() == 0


def test_upsampled_ctc_head_gives_k_steps_per_token(labelled):
    entries = read_manifest(labelled)
    labels = LabelSpace.from_entries(entries)
    batch = collate_clips([SupervisedClips(entries, labels, 10.0)[i] for i in range(len(entries))])
    frames = ARCH.num_frames(batch["audio"].shape[1])
    valid = ARCH.valid_frame_mask(batch["length"], frames)
    feats = torch.randn(6, frames, 32, requires_grad=True)
    heads = SupervisionHeads(32, labels, ctc_upsample=2)
    logits = heads(feats, valid)
    assert logits["ctc"].shape == (6, 2 * frames, len(labels.phonemes))
    # token t owns CTC steps 2t and 2t + 1: they depend on that token's features only
    logits["ctc"][0, 7].sum().backward()
    assert feats.grad[0, 3].abs().max() > 0 and feats.grad[0].abs().sum() == feats.grad[0, 3].abs().sum()
    loss = supervision_losses(heads(feats, valid), batch, valid)["teacher/ctc"]
    assert torch.isfinite(loss) and loss > 0


# batch_seconds 0: batch_size clips; 4: clips bucketed by length; augment: every training speech clip augmented
@pytest.mark.parametrize("batch_seconds, augment", [(0.0, 0.0), (4.0, 0.0), (4.0, 1.0)])
def test_semantic_encoder_stage_two_steps_and_export(tmp_path, labelled, batch_seconds, augment):
    cfg = load_dataclass(
        SemanticEncoderStageConfig,
        {
            "model": tiny_config().to_dict(),
            "eval_every": 1,
            "augment": {"prob": augment},
            "data": {
                "train_manifest": str(labelled),
                "valid_manifest": str(labelled),
                "batch_size": 3,
                "batch_seconds": batch_seconds,
            },
            "optim": {"warmup_steps": 0, "lr": 1e-3},
            "run": {
                "output_dir": str(tmp_path / "run"),
                "max_steps": 2,
                "save_every": 1,
                "log_every": 1,
                "progress": False,
                "cpu": True,
                "sample_every": 0,
            },
        },
    )
    export = train_semantic_encoder(cfg)
    metrics = json.loads((export / "teacher_metrics.json").read_text())
    assert metrics["step"] == 2 and metrics["valid"]["clips"] == 6
    assert 0.0 <= metrics["valid"]["domain_acc"] <= 1.0 and metrics["valid"]["per"] is not None
    assert LabelSpace.load(export / "labels.json").langs == ["de", "en", "ru"]
    teacher = load_teacher("midashenglm", export)  # stage 1 reads the export as its teacher
    start = tiny_config()
    assert teacher.output_dim == start.embed_dim
    trained = {k: v for k, v in teacher.state_dict().items() if "blocks.0.attn" in k}
    ckpt = (tmp_path / "run" / "checkpoints" / "latest").read_text().strip()
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "run" / "checkpoints" / ckpt / "encoder.safetensors"))
    assert all(torch.equal(v, saved[k]) for k, v in trained.items())
    # the encoder itself trained (LoSATokVAE freezes it; stage 0 must unfreeze it), not only the heads
    first = load_file(str(tmp_path / "run" / "checkpoints" / "step_00000001" / "encoder.safetensors"))
    moved = [k for k, v in teacher.state_dict().items() if not torch.equal(v, first[k])]
    assert any("blocks.0.attn" in k for k in moved) and any("patch_embed" in k for k in moved)
    # resuming a finished run trains no further step
    assert train_semantic_encoder(cfg, resume=True) == export
    assert json.loads((export / "teacher_metrics.json").read_text())["step"] == 2
    again = load_teacher("midashenglm", export).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in teacher.state_dict().items())


def test_semantic_encoder_stage_starts_from_init_from(tmp_path, labelled):
    from losatok_plugin.models.losatok_vae import LoSATokVAE

    torch.manual_seed(3)
    src = LoSATokVAE(**tiny_config().to_dict())
    src.save_pretrained(tmp_path / "src")
    cfg = load_dataclass(
        SemanticEncoderStageConfig,
        {
            "model": tiny_config().to_dict(),
            "eval_every": 0,
            "init_from": str(tmp_path / "src"),
            "data": {"train_manifest": str(labelled), "batch_size": 3},
            "optim": {"warmup_steps": 0, "lr": 0.0, "weight_decay": 0.0},
            "run": {
                "output_dir": str(tmp_path / "run"),
                "max_steps": 1,
                "save_every": 1,
                "log_every": 1,
                "progress": False,
                "cpu": True,
                "sample_every": 0,
            },
        },
    )
    export = train_semantic_encoder(cfg)
    got = dict(load_teacher("midashenglm", export).named_parameters())
    want = dict(src.semantic_encoder.named_parameters())  # (BatchNorm statistics move in train mode)
    assert got.keys() == want.keys() and all(torch.equal(v, want[k]) for k, v in got.items())


def test_token_patches_are_the_mel_each_token_embeds():
    from losatok_plugin.models.losatok_vae import LoSATokVAE

    torch.manual_seed(0)
    enc = LoSATokVAE(**tiny_config().to_dict()).semantic_encoder.eval()
    enc.init_bn.running_mean.normal_()  # non-trivial statistics: the target must use them, not batch statistics
    enc.init_bn.running_var.uniform_(0.5, 2.0)
    audio = 0.1 * torch.randn(2, 16000)
    patches = enc.token_patches(audio)
    mel = enc.log_mel(audio)  # [B, n_mels, frames], BatchNorm in eval mode
    t = mel.shape[-1] // enc.patch_time
    assert patches.shape == (2, t, enc.token_patch_dim) == (2, ARCH.num_frames(16000), mel.shape[1] * enc.patch_time)
    # token 3 embeds frames 12..15; its patch lists frame 12's bins, then frame 13's, ...
    torch.testing.assert_close(patches[:, 3], mel[..., 12:16].transpose(1, 2).reshape(2, -1))
    stats = enc.init_bn.running_mean.clone()
    enc.train()  # training: batch statistics, as the forward pass normalises (a fresh run's running ones are 0 / 1)
    patches = enc.token_patches(audio)
    assert torch.equal(enc.init_bn.running_mean, stats)  # never updates the running statistics
    mel = enc.log_mel(audio)  # train mode: batch statistics (and an update of the running ones)
    torch.testing.assert_close(patches[:, 3], mel[..., 12:16].transpose(1, 2).reshape(2, -1))
    assert patches.abs().mean() < 2.0  # normalised, not raw dB


def test_spectrum_readout_trains_and_is_absent_by_default(tmp_path, labelled):
    from safetensors.torch import load_file

    def config(name, weights):
        return load_dataclass(
            SemanticEncoderStageConfig,
            {
                "model": tiny_config().to_dict(),
                "eval_every": 0,
                "loss_weights": weights,
                "data": {"train_manifest": str(labelled), "batch_size": 6},
                "optim": {"warmup_steps": 0, "lr": 3e-3},
                "run": {
                    "output_dir": str(tmp_path / name),
                    "max_steps": 15,
                    "save_every": 15,
                    "log_every": 1,
                    "progress": False,
                    "cpu": True,
                    "sample_every": 0,
                },
            },
        )

    def run(name, weights):
        export = train_semantic_encoder(config(name, weights))
        rows = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return export, [r for r in rows if "teacher/total" in r]

    export, rows = run("plain", {})
    assert "teacher/spectrum" not in rows[0]  # weight 0: no head, the heads' state dict of earlier runs
    assert not any(k.startswith("spectrum") for k in load_file(str(export / "teacher_heads.safetensors")))
    with pytest.raises(ResumeError, match="loss_weights.spectrum"):  # a head added on --resume: a clear error
        train_semantic_encoder(config("plain", {"spectrum": 1.0}), resume=True)
    export, rows = run("spectrum", {"spectrum": 1.0})
    assert "spectrum.weight" in load_file(str(export / "teacher_heads.safetensors"))
    first, last = rows[0]["teacher/spectrum"], rows[-1]["teacher/spectrum"]
    assert last < 0.7 * first, (first, last)  # the read-out learns the patches
