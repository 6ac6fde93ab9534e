"""data.domain_shares: crops per domain in set proportions, sources by hours ** alpha, clips by length."""

from __future__ import annotations

import logging
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from losatok_plugin.configuration import ConfigError
from losatok_plugin.data import build_manifest, write_manifest
from losatok_plugin.data.crop_loader import crop_loader
from losatok_plugin.data.domain_shares import (
    DomainSharesError,
    WeightedEpochSampler,
    domain_share_weights,
    share_summary,
)
from losatok_plugin.training.config import SemanticEncoderStageConfig, TokenizerStageConfig, load_stage_config

from .helpers import write_corpus

# 6 speech clips of 10 frames (one source), 1 music clip of 30 frames and 1 of 10 (two sources), 2 sound clips
DOMAINS = ["speech"] * 6 + ["music", "music", "sound", "sound"]
FRAMES = [10] * 6 + [30, 10, 10, 10]
SOURCES = ["tts"] * 6 + ["game", "midi", "fx", "fx"]


def shares_of(weights: torch.Tensor, labels) -> dict:
    out: dict = {}
    for w, x in zip(weights.tolist(), labels):
        out[x] = out.get(x, 0.0) + w
    return out


def test_weights_give_each_domain_its_share_and_long_clips_more():
    w = domain_share_weights(DOMAINS, FRAMES, {"speech": 2, "music": 1, "sound": 1})  # normalised: 0.5 / 0.25 / 0.25
    assert w.sum().item() == pytest.approx(1.0)
    got = shares_of(w, DOMAINS)
    assert got == pytest.approx({"speech": 0.5, "music": 0.25, "sound": 0.25})
    assert w[6].item() == pytest.approx(3 * w[7].item())  # one source: by length (30 vs 10 frames)
    assert torch.allclose(w[:6], w[0].expand(6))


def test_source_alpha_lifts_small_sources():
    with pytest.warns(UserWarning, match=r"no share to sound \(2 clips\), speech \(6 clips\)"):
        by_length = domain_share_weights(DOMAINS, FRAMES, {"music": 1.0}, sources=SOURCES, source_alpha=1.0)
    with pytest.warns(UserWarning):
        equal = domain_share_weights(DOMAINS, FRAMES, {"music": 1.0}, sources=SOURCES, source_alpha=0.0)
        half = domain_share_weights(DOMAINS, FRAMES, {"music": 1.0}, sources=SOURCES, source_alpha=0.5)
    assert by_length[6].item() == pytest.approx(0.75) and equal[6].item() == pytest.approx(0.5)
    assert 0.5 < half[6].item() < 0.75  # sqrt(30) / (sqrt(30) + sqrt(10)) = 0.634
    assert half[6].item() == pytest.approx(30**0.5 / (30**0.5 + 10**0.5))
    assert by_length[:6].sum().item() == 0 and by_length[8:].sum().item() == 0  # domains without a share: no crops


def test_weights_refuse_what_would_not_hold():
    with pytest.raises(DomainSharesError, match="no sound clips"), pytest.warns(UserWarning, match="music"):
        domain_share_weights(DOMAINS[:8], FRAMES[:8], {"speech": 1, "sound": 1})
    with pytest.raises(DomainSharesError, match="2 rows have none.*b.wav"):
        domain_share_weights([None, "speech", None], [5, 5, 5], {"speech": 1}, paths=["b.wav", "c.wav", "a.wav"])
    with pytest.raises(DomainSharesError, match="unknown domains"):
        domain_share_weights(DOMAINS, FRAMES, {"noise": 1})
    with pytest.raises(DomainSharesError, match="sum to 0"):
        domain_share_weights(DOMAINS, FRAMES, {"speech": 0})
    with pytest.raises(DomainSharesError, match="source_alpha"):
        domain_share_weights(DOMAINS, FRAMES, {"speech": 1}, source_alpha=2.0)


def test_weighted_sampler_follows_the_weights_and_repeats_an_epoch():
    w = domain_share_weights(DOMAINS, FRAMES, {"speech": 0.5, "music": 0.3, "sound": 0.2})
    sampler = WeightedEpochSampler(w, seed=3, num_samples=20000)
    first = list(sampler)
    assert len(first) == len(sampler) == 20000
    counts = Counter(DOMAINS[i] for i, _ in first)
    assert counts["speech"] / 20000 == pytest.approx(0.5, abs=0.02)
    assert counts["music"] / 20000 == pytest.approx(0.3, abs=0.02)
    assert counts["sound"] / 20000 == pytest.approx(0.2, abs=0.02)
    assert list(sampler) == first  # same epoch: same draw and crop seeds (a resumed run re-creates it)
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert len(WeightedEpochSampler(w)) == len(DOMAINS)  # an epoch as long as one crop per clip


def test_share_summary_sums_domains_and_sources():
    domains = ["speech", "speech", "speech", "music"]
    w = domain_share_weights(domains, [1, 1, 2, 4], {"speech": 0.6, "music": 0.4}, sources=["a", "a", "b", "m"])
    line = share_summary(w, domains, ["a", "a", "b", "m"])
    assert line == "music 40.0 % (m 40.0 %), speech 60.0 % (a 30.0 %, b 30.0 %)"
    assert share_summary(w, domains) == "music 40.0 %, speech 60.0 %"


def test_crop_loader_draws_by_domain_shares(tmp_path, caplog):
    entries = []
    for domain, n, seconds in (("speech", 6, 1.28), ("music", 2, 3.0)):
        write_corpus(tmp_path / domain, n=n, seconds=seconds, seed=len(domain))
        entries += build_manifest(tmp_path / domain, domain=domain, progress=False)[0]
    manifest = write_manifest(entries, tmp_path / "train.jsonl")
    data = SimpleNamespace(
        train_manifest=str(manifest),
        feature_cache="",
        crop_seconds=1.28,
        batch_size=2,
        num_workers=0,
        short_clips="skip",
        domain_shares={"speech": 0.2, "music": 0.8},
        source_alpha=1.0,
    )
    with caplog.at_level(logging.INFO, logger="losatok_plugin.data.crop_loader"):
        loader, dataset = crop_loader(data, seed=0, hop=640, sample_rate=16000, need_audio=True)
    assert "expected crops per domain and source: music 80.0 %" in caplog.text  # the realised mix, logged
    assert isinstance(loader.sampler, WeightedEpochSampler) and len(loader.sampler) == 8
    many = WeightedEpochSampler(loader.sampler.weights, seed=0, num_samples=4000)
    music = sum(dataset.items[i][0].domain == "music" for i, _ in many) / 4000
    assert music == pytest.approx(0.8, abs=0.03)  # one crop per clip would give music 2 of 8
    batch = next(iter(loader))
    assert batch["audio"].shape == (2, 32 * 640)


def test_configs_check_domain_shares(tmp_path):
    cfg = load_stage_config(
        TokenizerStageConfig,
        "recipes/configs/tokenizer_mini.yaml",
        ["data.domain_shares.speech=0.5", "data.domain_shares.music=0.5", "data.source_alpha=0.5"],
    )
    assert cfg.data.domain_shares == {"speech": 0.5, "music": 0.5} and cfg.data.source_alpha == 0.5
    assert load_stage_config(TokenizerStageConfig, "recipes/configs/tokenizer_mini.yaml").data.domain_shares == {}
    for bad, match in (
        ("data.domain_shares.speach=1", "unknown domains"),
        ("data.domain_shares.music=-1", "finite number >= 0"),
        ("data.domain_shares=0.5", "mapping"),
        ("data.source_alpha=1.5", "source_alpha"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_stage_config(TokenizerStageConfig, "recipes/configs/tokenizer_mini.yaml", [bad])
    with pytest.raises(ConfigError, match="not stage 0"):
        load_stage_config(
            SemanticEncoderStageConfig, "recipes/configs/semantic_encoder_mini.yaml", ["data.domain_shares.speech=1"]
        )


def test_train_cli_prints_one_line_for_rows_without_a_domain(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    write_corpus(tmp_path / "audio", n=2)
    manifest = write_manifest(build_manifest(tmp_path / "audio", progress=False)[0], tmp_path / "train.jsonl")
    script = repo / "recipes" / "train.py"
    args = ["tokenizer", "--config", str(repo / "recipes" / "configs" / "finetune_mini.yaml")]
    args += [f"data.train_manifest={manifest}", "data.domain_shares.speech=1", f"run.output_dir={tmp_path / 'run'}"]
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: data.domain_shares needs a domain on every manifest row; 2 rows have none (first: ")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_train_cli_logs_the_expected_crop_shares(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    write_corpus(tmp_path / "audio", n=2, seconds=1.28)
    entries = build_manifest(tmp_path / "audio", domain="speech", progress=False)[0]
    manifest = write_manifest(entries, tmp_path / "train.jsonl")
    script = repo / "recipes" / "train.py"
    args = ["tokenizer", "--config", str(repo / "recipes" / "configs" / "finetune_mini.yaml")]
    args += [f"data.train_manifest={manifest}", "data.domain_shares.speech=1", f"run.output_dir={tmp_path / 'run'}"]
    args += [f"init_from={repo / 'losatok_plugin' / 'pretrained' / 'losatok-mini'}", "run.max_steps=1"]
    args += ["data.batch_size=2", "data.crop_seconds=0.64", "run.progress=false"]
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "[losatok] expected crops per domain and source: speech 100.0 %" in out
