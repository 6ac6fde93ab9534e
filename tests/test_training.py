"""Training recipes: 2-step smoke runs, overfitting, frozen parts, signals + resume, 2-process gloo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.configuration import ConfigError
from losatok_plugin.data import build_manifest, write_manifest
from losatok_plugin.losses import dual_semantic_loss
from losatok_plugin.training import SemboStageConfig, TokenizerStageConfig, train_sembo, train_tokenizer
from losatok_plugin.training.config import load_stage_config
from losatok_plugin.training.gan import FROZEN, GeneratorStep
from losatok_plugin.training.models import build_stage_model
from losatok_plugin.training.yaml_config import load_dataclass

from .helpers import write_corpus
from .training_helpers import metrics, stage_dict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root / "audio", n=4, seconds=1.28)
    manifest = write_manifest(build_manifest(root / "audio", progress=False)[0], root / "train.jsonl")
    one = root / "one"
    write_corpus(one, n=1, seconds=0.64)  # exactly one crop: a single repeated batch
    single = write_manifest(build_manifest(one, progress=False)[0], root / "single.jsonl")
    teacher = root / "teacher"
    torch.manual_seed(0)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(teacher)
    return {"manifest": manifest, "single": single, "teacher": teacher}


def test_sembo_two_steps(tmp_path, corpus):
    cfg = load_dataclass(
        SemboStageConfig, stage_dict(tmp_path / "run", corpus["manifest"], 2, teacher=str(corpus["teacher"]))
    )
    export = train_sembo(cfg)
    rows = metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2]
    assert all(torch.isfinite(torch.tensor(r["sembo/total"])) for r in rows)
    trained, source = LoSATokVAE.from_pretrained(export), LoSATokVAE.from_pretrained(corpus["teacher"])
    for k, v in source.semantic_encoder.state_dict().items():
        assert torch.equal(v, trained.semantic_encoder.state_dict()[k]), k  # teacher frozen
    assert not torch.equal(source.bottleneck.downsample[0].weight, trained.bottleneck.downsample[0].weight)
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text() == "step_00000002"


def test_tokenizer_two_steps_with_discriminators(tmp_path, corpus):
    d = stage_dict(
        tmp_path / "run",
        corpus["manifest"],
        2,
        init_from=str(corpus["teacher"]),
        ema_decay=0.9,
        discriminator={"channels": 4, "warmup_steps": 0},
        run={"sample_every": 2},
    )
    export = train_tokenizer(load_dataclass(TokenizerStageConfig, d))
    rows = metrics(tmp_path / "run")
    for key in ("mel", "semantic", "kl", "adv", "fm", "disc", "total"):
        assert all(torch.isfinite(torch.tensor(r[key])) for r in rows), key
    trained, source = LoSATokVAE.from_pretrained(export), LoSATokVAE.from_pretrained(corpus["teacher"])
    for name in FROZEN:
        for k, v in getattr(source, name).state_dict().items():
            assert torch.equal(v, getattr(trained, name).state_dict()[k]), f"{name}.{k}"
    assert not torch.equal(source.decoder.head.out.weight, trained.decoder.head.out.weight)
    assert list((tmp_path / "run" / "tb").glob("events.*"))
    assert list((tmp_path / "run" / "samples").glob("*.png"))


def test_feature_cache_training_grad_accumulation_and_bf16(tmp_path, corpus):
    from losatok_plugin.data import build_feature_cache, read_manifest

    teacher = LoSATokVAE.from_pretrained(corpus["teacher"])
    build_feature_cache(
        read_manifest(corpus["manifest"]),
        teacher.semantic_encoder,
        tmp_path / "cache",
        dim=64,
        teacher_id="tiny",
        progress=False,
    )
    data = {"feature_cache": str(tmp_path / "cache")}
    d = stage_dict(
        tmp_path / "s1",
        corpus["manifest"],
        2,
        teacher=str(corpus["teacher"]),
        data=data,
        run={"grad_accum_steps": 2, "mixed_precision": "bf16"},
    )
    export = train_sembo(load_dataclass(SemboStageConfig, d))
    assert [r["step"] for r in metrics(tmp_path / "s1")] == [1, 2]  # 4 batches, 2 optimiser steps
    d = stage_dict(
        tmp_path / "s2",
        corpus["manifest"],
        2,
        init_from=str(export),
        data=data,
        discriminator={"channels": 4, "warmup_steps": 1, "segment_seconds": 0.32},
    )
    train_tokenizer(load_dataclass(TokenizerStageConfig, d))
    rows = metrics(tmp_path / "s2")
    assert "disc" not in rows[0] and "disc" in rows[1]  # discriminators join after the warm-up
    assert all(torch.isfinite(torch.tensor(r["total"])) for r in rows)


@pytest.mark.parametrize(
    "schedule, disc, adv",
    [
        # warm-up on step 1, then the discriminators on every 2nd step from the first one after the warm-up
        ({"every": 2}, [False, True, False, True, False], [False, True, False, True, False]),
        # after the warm-up they train alone for 2 steps (lead_steps), then the generator gets adv + fm
        ({"lead_steps": 2}, [False, True, True, True, True], [False, False, False, True, True]),
    ],
)
def test_adversarial_schedule(tmp_path, corpus, schedule, disc, adv):
    d = stage_dict(
        tmp_path / "run",
        corpus["manifest"],
        5,
        init_from=str(corpus["teacher"]),
        discriminator={"channels": 4, "warmup_steps": 1, "segment_seconds": 0.32, **schedule},
    )
    train_tokenizer(load_dataclass(TokenizerStageConfig, d))
    rows = metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert ["disc" in r for r in rows] == disc
    assert ["adv" in r for r in rows] == adv
    assert ["fm" in r for r in rows] == adv


def test_discriminator_schedule_refuses_negative_steps():
    with pytest.raises(ConfigError, match="lead_steps"):
        load_dataclass(TokenizerStageConfig, {"discriminator": {"lead_steps": -1}})
    with pytest.raises(ConfigError, match="every"):
        load_dataclass(TokenizerStageConfig, {"discriminator": {"every": 0}})


def test_frozen_parts_receive_no_gradient(corpus):
    cfg = tiny_config()
    vae = build_stage_model(cfg, str(corpus["teacher"]), frozen=FROZEN).train()
    feats, z, recon = GeneratorStep(vae)(torch.randn(2, 640 * 8) * 0.1)
    loss = (
        recon.pow(2).mean()
        + dual_semantic_loss(feats.acoustic_emb, feats.semantic_emb, feats.acoustic_emb_low, feats.semantic_emb_low)[
            "semantic/total"
        ]
    )
    loss.backward()
    for name in FROZEN:
        assert all(p.grad is None and not p.requires_grad for p in getattr(vae, name).parameters()), name
    assert vae.acoustic.to_low.weight.grad is not None and vae.decoder.head.out.weight.grad is not None


def test_sembo_overfits_one_batch(tmp_path, corpus):
    d = stage_dict(
        tmp_path / "run",
        corpus["single"],
        50,
        teacher=str(corpus["teacher"]),
        data={"batch_size": 1},
        optim={"lr": 3e-3},
    )
    train_sembo(load_dataclass(SemboStageConfig, d))
    losses = [r["sembo/total"] for r in metrics(tmp_path / "run")]
    assert len(losses) == 50 and losses[-1] < 0.2 * losses[0], losses[::10]


def test_tokenizer_overfits_one_batch(tmp_path, corpus):
    d = stage_dict(
        tmp_path / "run",
        corpus["single"],
        50,
        init_from=str(corpus["teacher"]),
        data={"batch_size": 1},
        optim={"lr": 2e-3},
        sample_posterior=False,
        discriminator={"warmup_steps": 1000},
    )
    train_tokenizer(load_dataclass(TokenizerStageConfig, d))
    rows = metrics(tmp_path / "run")
    mel = [r["mel"] for r in rows]
    sem = [r["semantic"] for r in rows]
    assert mel[-1] < 0.7 * mel[0], mel[::10]
    assert sem[-1] < 0.5 * sem[0], sem[::10]


def test_unknown_config_keys_are_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"run": {"max_step": 3}}))
    with pytest.raises(ConfigError, match=r"run\.max_step"):
        load_stage_config(SemboStageConfig, path)
    path.write_text(yaml.safe_dump({"loss_weights": {"mell": 1.0}}))
    with pytest.raises(ConfigError, match="mell"):
        load_stage_config(TokenizerStageConfig, path)
    path.write_text(yaml.safe_dump({"model": {"embed_dim": 64, "semantic_num_heads": 5}}))
    with pytest.raises(ConfigError, match="divisible"):
        load_stage_config(TokenizerStageConfig, path)


def test_numbers_in_yaml_and_overrides_reach_their_fields_as_numbers(tmp_path):
    """YAML reads ``1e-4`` (no dot) as a string; a float field gets the number, a non-number is a one-line error."""
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 1e-4\n  warmup_steps: 1e2\n")
    cfg = load_stage_config(SemboStageConfig, path, ["optim.min_lr_ratio=1e-2", "run.max_steps=2e3"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float) and cfg.optim.min_lr_ratio == 0.01
    assert cfg.optim.warmup_steps == 100 and cfg.run.max_steps == 2000 and isinstance(cfg.run.max_steps, int)
    model = load_stage_config(TokenizerStageConfig, path, ["model=mini", "model.semantic_f_max=8e3"]).model
    assert model.semantic_f_max == 8000.0 and isinstance(model.semantic_f_max, float)  # the model section too
    for bad, match in (
        ("optim.lr=fast", "optim.lr must be a number"),
        ("run.max_steps=2.5", "must be an integer"),
        ("model.embed_dim=wide", "model.embed_dim must be an integer"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_stage_config(SemboStageConfig, path, [bad])


@pytest.mark.parametrize(
    "name",
    [
        "semantic_encoder_mini",
        "sembo_mini",
        "sembo_paper",
        "tokenizer_mini",
        "tokenizer_paper",
        "finetune_mini",
        "tokenizer_mini_gpu",
    ],
)
def test_shipped_configs_load(name):
    from losatok_plugin.training import get_stage

    stage = name.removesuffix("_gpu").rsplit("_", 1)[0]
    cls = get_stage({"finetune": "tokenizer"}.get(stage, stage)).config
    cfg = load_stage_config(cls, REPO / "recipes" / "configs" / f"{name}.yaml", ["run.max_steps=7"])
    assert cfg.run.max_steps == 7


def _run_cli(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(REPO / "recipes" / "train.py"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_sigterm_saves_and_resume_continues(tmp_path, corpus):
    out = tmp_path / "run"
    cfg_path = tmp_path / "sembo.yaml"
    cfg_path.write_text(yaml.safe_dump(stage_dict(out, corpus["manifest"], 100_000, teacher=str(corpus["teacher"]))))
    proc = _run_cli(["sembo", "--config", str(cfg_path)])
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "metrics.jsonl").is_file() and len(metrics(out)) >= 5:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"training did not reach step 5: {proc.communicate()[0]}")
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, log
    assert "stopped by signal" in log
    last_logged = metrics(out)[-1]["step"]
    latest = (out / "checkpoints" / "latest").read_text()
    assert latest == f"step_{last_logged:08d}", (latest, last_logged)  # no completed step lost
    saved = load_file(str(out / "checkpoints" / latest / "bottleneck.safetensors"))
    resume = _run_cli(["sembo", "--config", str(cfg_path), "--resume", f"run.max_steps={last_logged + 3}"])
    log = resume.communicate(timeout=300)[0]
    assert resume.returncode == 0, log
    assert "resumed from" in log and f"at step {last_logged}" in log
    steps = [r["step"] for r in metrics(out)]
    assert steps[-4:] == [last_logged, last_logged + 1, last_logged + 2, last_logged + 3]
    assert steps.count(last_logged + 1) == 1
    assert saved.keys() == load_file(str(out / "checkpoints" / latest / "bottleneck.safetensors")).keys()
    assert (out / "final" / "config.json").is_file()


@pytest.mark.parametrize("stage", ["sembo", "tokenizer"])
def test_two_processes_gloo_keep_replicas_identical(tmp_path, corpus, stage):
    out = tmp_path / "run"
    extra = (
        {"teacher": str(corpus["teacher"])}
        if stage == "sembo"
        else {"init_from": str(corpus["teacher"]), "discriminator": {"channels": 4, "warmup_steps": 0}}
    )
    d = stage_dict(out, corpus["manifest"], 3, **extra)
    d["data"]["batch_size"] = 1
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(d))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(REPO / "recipes" / "train.py"),
        stage,
        "--config",
        str(cfg_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    digests = [(out / "replicas" / f"rank{r}.sha256").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    assert (out / "final" / "config.json").is_file()
    assert [r["step"] for r in metrics(out)] == [1, 2, 3]


def test_mini_export_from_a_checkpoint_in_float16(tmp_path, corpus):
    """recipes/mini/export.py: a run stopped before its end exports its latest (EMA) checkpoint in fp16."""
    d = stage_dict(
        tmp_path / "run",
        corpus["manifest"],
        2,
        init_from=str(corpus["teacher"]),
        ema_decay=0.5,
        discriminator={"channels": 4, "warmup_steps": 0, "segment_seconds": 0.32},
        run={"save_every": 1},
    )
    train_tokenizer(load_dataclass(TokenizerStageConfig, d))
    export = [sys.executable, str(REPO / "recipes" / "mini" / "export.py"), "--run", str(tmp_path / "run")]
    # --step N takes that checkpoint even when the run has a final/ (run_mini.sh STOP_AT); a step not kept is an error
    res = subprocess.run([*export, "--out", str(tmp_path / "at1"), "--step", "1"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "at1" / "export.json").read_text())["step"] == 1
    res = subprocess.run([*export, "--out", str(tmp_path / "at7"), "--step", "7"], capture_output=True, text=True)
    assert res.returncode == 1 and "no checkpoint of step 7 (kept: step_00000001, step_00000002)" in res.stderr
    assert not (tmp_path / "at7").exists()
    res = subprocess.run([*export, "--out", str(tmp_path / "fin")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr  # the final export, with the step of the run's last checkpoint
    assert json.loads((tmp_path / "fin" / "export.json").read_text()) == {
        "source": str(tmp_path / "run" / "final"),
        "step": 2,
        "discriminators": "discriminator.safetensors",
        "dtype": "float16",
    }
    # the discriminators of the exported step come along, and a new run takes them from the export folder
    for name, step in (("at1", 1), ("fin", 2)):
        kept = load_file(str(tmp_path / "run" / "checkpoints" / f"step_{step:08d}" / "discriminator.safetensors"))
        copied = load_file(str(tmp_path / name / "discriminator.safetensors"))
        assert copied.keys() == kept.keys() and all(torch.equal(copied[k], kept[k]) for k in kept)
    at1 = load_file(str(tmp_path / "at1" / "discriminator.safetensors"))
    assert any(not torch.equal(at1[k], copied[k]) for k in at1)  # step 1's, not the last one's
    from losatok_plugin.discriminators.bundle import Discriminators
    from losatok_plugin.training.tokenizer import load_discriminators

    dcfg = load_dataclass(TokenizerStageConfig, d).discriminator
    disc = Discriminators(dcfg.use_mpd, dcfg.use_mrd, dcfg.periods, dcfg.resolutions, dcfg.channels)
    load_discriminators(disc, tmp_path / "fin")
    assert all(torch.equal(v, copied[k]) for k, v in disc.state_dict().items())
    res = subprocess.run(
        [*export, "--out", str(tmp_path / "fin"), "--no-discriminators"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr  # into the same folder: the earlier copy goes too
    assert not (tmp_path / "fin" / "discriminator.safetensors").exists()
    assert "discriminators" not in json.loads((tmp_path / "fin" / "export.json").read_text())
    import shutil

    shutil.rmtree(tmp_path / "run" / "final")  # as if the run were still going: only checkpoints
    out = tmp_path / "export"
    res = subprocess.run([*export, "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    info = json.loads((out / "export.json").read_text())
    assert info["weights"] == "ema" and info["step"] == 2 and info["dtype"] == "float16"
    stored = load_file(str(out / "diffusion_pytorch_model.safetensors"))
    islands = ("semantic_encoder.init_bn.", "decoder.head.", "gaussian.")  # float32 islands stay float32
    assert all(
        v.dtype == (torch.float32 if k.startswith(islands) else torch.float16)
        for k, v in stored.items()
        if v.is_floating_point()
    )
    assert any(v.dtype == torch.float16 for v in stored.values())
    model = LoSATokVAE.from_pretrained(out).eval()
    assert next(model.parameters()).dtype == torch.float32
    ckpt = tmp_path / "run" / "checkpoints" / "step_00000002"
    ema = load_file(str(ckpt / "ema.safetensors"))
    cast = lambda k, v: v.half().float() if v.is_floating_point() and not k.startswith(islands) else v  # noqa: E731
    for k, v in ema.items():
        torch.testing.assert_close(model.state_dict()[k], cast(k, v))
    source = LoSATokVAE.from_pretrained(corpus["teacher"])
    for k, v in source.semantic_encoder.state_dict().items():  # frozen parts come from init_from
        torch.testing.assert_close(model.semantic_encoder.state_dict()[k], cast("semantic_encoder." + k, v))


def test_copy_parts_takes_the_donor_parts_and_refuses_other_sizes():
    from losatok_plugin.models.losatok_vae import LoSATokVAE
    from losatok_plugin.training.gan import TRAINABLE
    from losatok_plugin.training.models import copy_parts

    torch.manual_seed(0)
    model, donor = LoSATokVAE(**tiny_config().to_dict()), LoSATokVAE(**tiny_config().to_dict())
    encoder = {k: v.clone() for k, v in model.semantic_encoder.state_dict().items()}
    copy_parts(model, donor, TRAINABLE)
    for name in TRAINABLE:
        got, want = getattr(model, name).state_dict(), getattr(donor, name).state_dict()
        assert all(torch.equal(v, want[k]) for k, v in got.items())
    assert all(torch.equal(v, encoder[k]) for k, v in model.semantic_encoder.state_dict().items())
    wider = LoSATokVAE(**tiny_config(decoder_dim=48).to_dict())
    with pytest.raises(ValueError, match="decoder"):
        copy_parts(model, wider, ("decoder",))
