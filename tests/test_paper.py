"""The paper-claims framework (recipes/paper, issue 17): layered configs, probe tasks and seeds, the
no-bottleneck model mode, the resumable driver, verdicts and the report writer. Tiny, CPU, seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.configuration import ConfigError, LoSATokConfig
from losatok_plugin.training.stages import get_stage
from losatok_plugin.training.yaml_config import load_stage_config

from .helpers import synth_audio


# -- config layering ------------------------------------------------------------------------------------
def test_override_file_layers_on_its_base(tmp_path):
    cls = get_stage("sembo").config
    (tmp_path / "configs").mkdir()
    base = tmp_path / "configs" / "base.yaml"
    base.write_text(yaml.safe_dump({"model": "mini", "relation_weight": 1.0, "data": {"batch_size": 32}}))
    over = tmp_path / "exp" / "norel.yaml"
    over.parent.mkdir()
    over.write_text(
        yaml.safe_dump({"base": "../configs/base.yaml", "relation_weight": 0.0, "model": {"latent_channels": 64}})
    )
    cfg = load_stage_config(cls, over, ["data.crop_seconds=0.64"])
    assert cfg.relation_weight == 0.0 and cfg.data.batch_size == 32 and cfg.data.crop_seconds == 0.64
    assert cfg.model == LoSATokConfig.variant("mini", latent_channels=64)  # the base's variant, one field changed
    chained = tmp_path / "exp" / "chained.yaml"
    chained.write_text(yaml.safe_dump({"base": "norel.yaml", "data": {"batch_size": 4}}))
    cfg = load_stage_config(cls, chained)
    assert (cfg.relation_weight, cfg.data.batch_size, cfg.model.latent_channels) == (0.0, 4, 64)
    base.write_text(yaml.safe_dump({"base": "../exp/chained.yaml"}))
    with pytest.raises(ConfigError, match="cycle"):
        load_stage_config(cls, over)
    over.write_text(yaml.safe_dump({"base": "../configs/missing.yaml"}))
    with pytest.raises(ConfigError, match="not found"):
        load_stage_config(cls, over)


# -- the no-bottleneck mode -------------------------------------------------------------------------------
def test_no_bottleneck_mode_decodes_from_the_unified_embedding(tmp_path):
    with pytest.raises(ConfigError, match="must equal embed_dim"):
        tiny_config(semantic_bottleneck=False)
    assert "semantic_bottleneck" not in tiny_config().to_dict()
    cfg = tiny_config(semantic_bottleneck=False, latent_channels=64)
    torch.manual_seed(0)
    model = LoSATokVAE(**cfg.to_dict()).eval()
    assert not list(model.bottleneck.parameters())
    x = synth_audio(6400)
    feats = model.encode_features(x)
    assert feats.mu.shape[-1] == 64
    torch.testing.assert_close(feats.unified_emb_low, feats.unified_emb)
    assert model.decode(model.encode(x).latent_dist.mode()).sample.shape[-1] == 640 * feats.mu.shape[1]
    model.save_pretrained(tmp_path / "wide")
    assert json.loads((tmp_path / "wide" / "config.json").read_text())["semantic_bottleneck"] is False
    again = LoSATokVAE.from_pretrained(tmp_path / "wide").eval()
    torch.testing.assert_close(again.encode_features(x).mu, feats.mu)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "default")  # off: config.json unchanged
    assert "semantic_bottleneck" not in json.loads((tmp_path / "default" / "config.json").read_text())


# -- probe tasks, seeds, bag probes ---------------------------------------------------------------------------
def fake_corpus(root: Path) -> Path:
    """A corpus folder shaped like the offline corpus (train / valid / test / test_real manifests with its
    label fields): two-class tones per task, 1.28 s clips, a few per split."""
    import numpy as np
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    sr, n = 16000, int(1.28 * 16000)
    t = np.arange(n) / sr
    rows: dict[str, list[dict]] = {"train": [], "valid": [], "test": [], "test_real": []}
    per_split = {"train": 6, "valid": 2, "test": 2, "test_real": 4}
    synthetic = ("speech", "music", "sound")
    kinds = {"train": (*synthetic, "real_sound"), "valid": synthetic, "test": synthetic, "test_real": ("real_sound",)}
    k = 0
    for split, count in per_split.items():
        for i in range(count):
            c = i % 2
            f0 = 220.0 * (1 + c) * (1 + 0.02 * i)
            for kind in kinds[split]:
                x = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * np.random.default_rng(k).standard_normal(n)
                path = root / f"{k:03d}.wav"
                sf.write(str(path), x.astype("float32"), sr)
                k += 1
                row = {"path": path.name, "duration": 1.28}
                if kind == "speech":
                    row.update(domain="speech", source="espeak-ng", label=["en", "de"][c], lang=["en", "de"][c])
                    row.update(voice="v", phonemes=["ab", "abc"][c] + "de"[i % 2])
                elif kind == "music":
                    row.update(domain="music", source="fluidsynth", label=["piano", "drums"][c])
                    row.update(
                        tempo=[80.0, 140.0][c], key=["C major", "A minor"][c], families=[["piano"], ["drums"]][c]
                    )
                elif kind == "sound":
                    row.update(domain="sound", source="synthesised", label=["rain", "bell"][c])
                    row.update(events=[[0.0, 0.5]] if c else [[0.6, 1.2]])
                else:
                    row.update(domain="sound", source=["sound-icons", "wordwarvi-sound"][c], label=f"name{i}")
                rows[split].append(row)
    for split, rs in rows.items():
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    return root


def test_probe_tasks_are_held_out_and_labelled(tmp_path):
    from losatok_plugin.data.manifest import read_manifest
    from losatok_plugin.eval.probe_tasks import activity_frames, build_probe_tasks, tempo_class

    assert [tempo_class(b) for b in (80, 100, 129.9, 130)] == ["slow", "medium", "medium", "fast"]
    assert activity_frames(0.2, [[0.04, 0.08]]) == ["none", "event", "event", "none", "none", "none"]
    written = build_probe_tasks(fake_corpus(tmp_path / "c"), tmp_path / "tasks")
    assert "speech_voice" not in written  # one voice only: no task
    assert "music_source_real" not in written  # no real music
    lang = read_manifest(written["speech_lang"])
    assert {e.extra["split"] for e in lang} == {"train", "test"} and {e.label for e in lang} == {"en", "de"}
    assert sum(e.extra["split"] == "test" for e in lang) == 4  # valid + test, never train clips
    bag = read_manifest(written["speech_phonemes"])
    assert all(e.label is None and e.extra["bag"] for e in bag)
    assert {e.label for e in read_manifest(written["music_key_mode"])} == {"major", "minor"}
    act = read_manifest(written["sound_activity"])
    assert all(len(e.extra["frame_labels"]) == 33 for e in act)
    real = read_manifest(written["sound_source_real"])
    assert [e.extra["split"] for e in real].count("test") == 4  # the test_real clips, never valid / test
    capped = build_probe_tasks(tmp_path / "c", tmp_path / "capped", names=["speech_lang"], max_train=3, max_test=1)
    assert [e.extra["split"] for e in read_manifest(capped["speech_lang"])] == ["train"] * 3 + ["test"]
    with pytest.raises(ValueError, match="unknown probe tasks"):
        build_probe_tasks(tmp_path / "c", tmp_path / "x", names=["nope"])


def test_seeded_probes_bag_probe_and_summary():
    from losatok_plugin.eval.probe import bag_probe, clip_probe, summarize

    g = torch.Generator().manual_seed(0)
    labels = [str(i % 2) for i in range(40)]
    feats = [torch.randn(5, 8, generator=g) + 1.5 * int(y) for y in labels]
    splits = ["train"] * 30 + ["test"] * 10
    rows = [clip_probe(feats, labels, splits, "t", "r", seed=s, train_fraction=0.5).to_dict() for s in (0, 1, 2)]
    assert all(r["n_train"] == 15 and r["n_test"] == 10 for r in rows)
    assert [r["seed"] for r in rows] == [0, 1, 2]
    assert (
        clip_probe(feats, labels, splits, "t", "r", seed=5).accuracy
        == clip_probe(feats, labels, splits, "t", "r", seed=6).accuracy
    )  # all clips: seed-free
    (s,) = summarize(rows)
    acc = np.array([r["accuracy"] for r in rows])
    assert s["accuracy_mean"] == pytest.approx(acc.mean()) and s["accuracy_std"] == pytest.approx(acc.std())
    assert s["seeds"] == [0, 1, 2] and s["accuracy_mean"] > 0.8
    # token "x" is in the odd clips (a separable feature), "y" in none: only "x" is probed
    bags = [["x"] if int(y) else ["z"] for y in labels]
    res = bag_probe(feats, bags, splits, "b", "r")
    assert res.level == "bag" and res.n_classes == 2 and res.accuracy > 0.8  # x and z
    with pytest.raises(ValueError, match="10-90"):
        bag_probe(feats, [["q"]] * 40, splits, "b", "r")
    with pytest.raises(ValueError, match="train_fraction"):
        clip_probe(feats, labels, splits, "t", "r", train_fraction=0.0)
