"""The training engine: checkpoint contents derived from the train state, today's key layout resumes, the GAN
step's two halves alone, signals, the stage registry and named model variants (tiny, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.configuration import MODEL_VARIANTS, ConfigError, LoSATokConfig
from losatok_plugin.discriminators import Discriminators
from losatok_plugin.training import TokenizerStageConfig, get_stage, train_sembo, train_tokenizer
from losatok_plugin.training import checkpoint as ckpt
from losatok_plugin.training import tokenizer as tokenizer_stage
from losatok_plugin.training.gan import discriminator_step, generator_step
from losatok_plugin.training.trainer import Trainer
from losatok_plugin.training.yaml_config import load_dataclass, load_stage_config

from .training_helpers import REPO, metrics, stage_dict, tiny_corpus

MINI = REPO / "losatok_plugin" / "pretrained" / "losatok-mini"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("engine"))


def tokenizer_cfg(out: Path, corpus, steps: int, **extra) -> TokenizerStageConfig:
    d = stage_dict(
        out,
        corpus["manifest"],
        steps,
        init_from=str(corpus["teacher"]),
        discriminator={"channels": 4, "warmup_steps": 0},
        **extra,
    )
    return load_dataclass(TokenizerStageConfig, d)


# -- checkpoint contents --------------------------------------------------------------------------------
def test_tokenizer_checkpoint_keeps_the_file_names_and_keys_of_earlier_runs(tmp_path, corpus):
    out = tmp_path / "run"
    train_tokenizer(tokenizer_cfg(out, corpus, 1, ema_decay=0.9))
    path = ckpt.latest_checkpoint(out)
    files = sorted(p.name for p in path.iterdir())
    assert files == [
        "discriminator.safetensors",
        "ema.safetensors",
        "generator.safetensors",
        "rng_rank0.pt",
        "train_state.pt",
    ]
    state = torch.load(path / "train_state.pt", weights_only=True)
    assert set(state) == {"opt_g", "opt_d", "sched_g", "sched_d", "step", "data_position", "nonfinite_steps"}
    generator = load_file(str(path / "generator.safetensors"))
    assert {k.split(".")[0] for k in generator} == {"acoustic", "gaussian", "decoder"}  # VAE keys, trainable only
    assert set(load_file(str(path / "ema.safetensors"))) <= set(generator)
    assert all(k.startswith("parts.") for k in load_file(str(path / "discriminator.safetensors")))


def test_every_stage_saves_the_names_earlier_runs_saved():
    """The checkpoint is the saved fields of each state, named as the pre-engine stages named them."""
    from dataclasses import fields

    from losatok_plugin.training import dit, semantic_encoder, sembo, tokenizer

    def saved(cls):
        return [f.name for f in fields(cls) if f.metadata.get("saved")]

    assert saved(semantic_encoder.SemanticEncoderState) == ["encoder", "heads", "optimizer", "scheduler"]
    assert saved(sembo.SemboState) == ["bottleneck", "optimizer", "scheduler"]
    assert saved(tokenizer.TokenizerState) == [
        "generator",
        "discriminator",
        "ema",
        "opt_g",
        "opt_d",
        "sched_g",
        "sched_d",
    ]
    assert saved(dit.DiTState) == ["dit", "ema", "optimizer", "scheduler"]


def test_sembo_checkpoint_names(tmp_path, corpus):
    out = tmp_path / "run"
    train_sembo(
        load_dataclass(
            get_stage("sembo").config, stage_dict(out, corpus["manifest"], 1, teacher=str(corpus["teacher"]))
        )
    )
    path = ckpt.latest_checkpoint(out)
    assert sorted(p.name for p in path.glob("*.safetensors")) == ["bottleneck.safetensors"]
    state = torch.load(path / "train_state.pt", weights_only=True)
    assert {"optimizer", "scheduler"} <= set(state)


def test_a_checkpoint_in_the_earlier_key_layout_resumes(tmp_path, corpus):
    """A step-2 tokenizer checkpoint written as the pre-engine code wrote it (modules ``generator`` (trainable
    VAE keys), ``discriminator``, ``ema``; state ``opt_g``, ``opt_d``, ``sched_g``, ``sched_d``) continues."""
    out = tmp_path / "run"
    torch.manual_seed(1)
    vae = LoSATokVAE(**tiny_config().to_dict())
    trainable = [(n, p) for n, p in vae.named_parameters() if n.split(".")[0] in ("acoustic", "gaussian", "decoder")]
    with torch.no_grad():
        for _, p in trainable:
            p.fill_(0.01)
    generator = {
        k: v.clone() for k, v in vae.state_dict().items() if k.split(".")[0] in ("acoustic", "gaussian", "decoder")
    }
    ema = {n: p.detach().clone() for n, p in trainable}  # the EMA shadow: trainable parameters only
    disc = Discriminators(channels=4)
    opt_g = torch.optim.AdamW([p for _, p in trainable], lr=1e-12)  # restored with the optimiser: no real update
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-12)
    for opt, params in ((opt_g, [p for _, p in trainable]), (opt_d, list(disc.parameters()))):
        for p in params:
            p.grad = torch.zeros_like(p)
        opt.step()  # AdamW state "step" = 1
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lambda s: 1.0)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lambda s: 1.0)
    for s in (sched_g, sched_d):
        s.step()
        s.step()
    ckpt.save_checkpoint(
        out,
        2,
        {"generator": generator, "discriminator": disc.state_dict(), "ema": ema},
        {
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "sched_g": sched_g.state_dict(),
            "sched_d": sched_d.state_dict(),
            "data_position": [0, 2],
            "nonfinite_steps": 0,
        },
        rank=0,
        is_main=True,
        barrier=lambda: None,
    )
    cfg = tokenizer_cfg(out, corpus, 3, ema_decay=0.9, optim={"lr": 1e-12, "warmup_steps": 0})
    export = train_tokenizer(cfg, resume=True)
    assert [r["step"] for r in metrics(out)] == [3]  # one step after the checkpoint's
    state = torch.load(out / "checkpoints" / "step_00000003" / "train_state.pt", weights_only=True)
    assert state["sched_g"]["last_epoch"] == 3 and state["sched_d"]["last_epoch"] == 3  # restored, then stepped
    assert all(int(s["step"]) == 2 for s in state["opt_d"]["state"].values())  # Adam moments continued
    trained = LoSATokVAE.from_pretrained(export)
    torch.testing.assert_close(trained.decoder.head.out.weight, torch.full_like(trained.decoder.head.out.weight, 0.01))


# -- the GAN step's halves ---------------------------------------------------------------------------------
@pytest.fixture
def tokenizer_state(tmp_path, corpus):
    cfg = tokenizer_cfg(tmp_path / "run", corpus, 10)
    trainer = Trainer(cfg.run, cfg, resume=False)
    state = tokenizer_stage.build(cfg, trainer)
    yield state
    trainer.close()


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict, module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(v, before[k])}


def test_discriminator_step_alone_updates_only_the_discriminators(tokenizer_state):
    state = tokenizer_state
    gen, disc = state.generator.vae, state.discriminator
    g0, d0 = _snapshot(gen), _snapshot(disc)
    torch.manual_seed(0)
    real, fake = 0.1 * torch.randn(2, 6400), (0.1 * torch.randn(2, 6400)).requires_grad_()
    loss = discriminator_step(state, real, fake)
    assert loss is not None and torch.isfinite(loss) and loss > 0
    assert _changed(d0, disc) and not _changed(g0, gen)
    assert fake.grad is None  # the fake audio was detached
    assert all(p.grad is None for p in disc.parameters())  # the update cleared its gradients


def test_generator_step_alone_updates_only_the_trainable_generator_parts(tokenizer_state):
    state = tokenizer_state
    gen, disc = state.generator.vae, state.discriminator
    g0, d0 = _snapshot(gen), _snapshot(disc)
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(2, 6400)
    feats, _, recon = state.generator(audio)
    losses = generator_step(state, feats, audio, recon, (audio, recon))
    assert set(losses) == {"mel", "semantic", "kl", "adv", "fm", "total"}
    w = state.cfg.loss_weights
    torch.testing.assert_close(losses["total"], sum(w[k] * losses[k] for k in ("mel", "semantic", "kl", "adv", "fm")))
    changed = _changed(g0, gen)
    assert changed and {k.split(".")[0] for k in changed} <= {"acoustic", "gaussian", "decoder"}
    assert not _changed(d0, disc) and all(p.grad is None for p in disc.parameters())
    feats, _, recon = state.generator(audio)
    assert set(generator_step(state, feats, audio, recon, None)) == {"mel", "semantic", "kl", "total"}


def test_a_weighted_stft_loss_joins_the_generator_total(tokenizer_state):
    state = tokenizer_state
    state.cfg.loss_weights["stft"] = 2.0
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(2, 6400)
    feats, _, recon = state.generator(audio)
    expected = state.stft_loss(recon.detach(), audio)
    losses = generator_step(state, feats, audio, recon, None)
    assert set(losses) == {"mel", "stft", "semantic", "kl", "total"}
    torch.testing.assert_close(losses["stft"].detach(), expected)
    w = state.cfg.loss_weights
    total = sum(w[k] * losses[k] for k in ("mel", "stft", "semantic", "kl"))
    torch.testing.assert_close(losses["total"], total)
    assert losses["total"] > sum(w[k] * losses[k] for k in ("mel", "semantic", "kl"))


def test_a_weighted_teacher_feature_loss_joins_the_total_and_leaves_the_teacher_frozen(tokenizer_state):
    state = tokenizer_state
    state.cfg.loss_weights["teacher"] = 3.0
    vae = state.generator.vae
    teacher0 = _snapshot(vae.semantic_encoder)
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(2, 6400)
    feats, _, recon = state.generator(audio)
    with torch.no_grad():
        expected = (vae.semantic_encoder(recon) - vae.semantic_encoder(audio)).abs().mean()
    losses = generator_step(state, feats, audio, recon, None)
    assert set(losses) == {"mel", "teacher", "semantic", "kl", "total"}
    torch.testing.assert_close(losses["teacher"].detach(), expected)
    w = state.cfg.loss_weights
    torch.testing.assert_close(losses["total"], sum(w[k] * losses[k] for k in ("mel", "teacher", "semantic", "kl")))
    assert not _changed(teacher0, vae.semantic_encoder)
    assert all(p.grad is None for p in vae.semantic_encoder.parameters())


def test_frozen_parts_stay_as_they_were_and_bad_names_are_one_line_errors(tmp_path, corpus):
    cfg = tokenizer_cfg(tmp_path / "run", corpus, 10, freeze=["acoustic", "gaussian"], sample_posterior=False)
    trainer = Trainer(cfg.run, cfg, resume=False)
    try:
        state = tokenizer_stage.build(cfg, trainer)
        gen = state.generator.vae
        g0 = _snapshot(gen)
        torch.manual_seed(0)
        audio = 0.1 * torch.randn(2, 6400)
        feats, _, recon = state.generator(audio, None, False)
        assert generator_step(state, feats, audio, recon, None) is not None
        assert {k.split(".")[0] for k in _changed(g0, gen)} == {"decoder"}
    finally:
        trainer.close()
    for bad, match in ((["encoder"], "not trainable parts"), (["acoustic", "gaussian", "decoder"], "nothing to train")):
        with pytest.raises(ConfigError, match=match):  # when the config loads, before any run folder is made
            tokenizer_cfg(tmp_path / f"bad{len(bad)}", corpus, 10, freeze=bad)
        assert not (tmp_path / f"bad{len(bad)}").exists()


def test_resuming_with_other_frozen_parts_is_a_one_line_error(tmp_path, corpus):
    from losatok_plugin.training.errors import ResumeError

    out = tmp_path / "run"
    train_tokenizer(tokenizer_cfg(out, corpus, 4, run={"stop_at": 2}))
    with pytest.raises(ResumeError, match="freeze"):  # the optimizer's parameter groups no longer fit
        train_tokenizer(tokenizer_cfg(out, corpus, 4, freeze=["acoustic", "gaussian"]), resume=True)


# -- signals ----------------------------------------------------------------------------------------------
def test_a_stop_signal_saves_and_returns_the_checkpoint_not_an_export(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(Trainer, "should_stop", lambda self: self.step >= 2)
    out = tmp_path / "run"
    cfg = load_dataclass(
        get_stage("sembo").config, stage_dict(out, corpus["manifest"], 10, teacher=str(corpus["teacher"]))
    )
    assert train_sembo(cfg) == out / "checkpoints" / "step_00000002"
    assert not (out / "final").exists()  # an interrupted stage never looks finished (run_mini.sh)
    assert [r["step"] for r in metrics(out)] == [1, 2]


def test_a_finished_run_continued_sets_its_old_export_aside(tmp_path, corpus, monkeypatch):
    """Resuming a finished run with a larger max_steps: the old export is kept under another name, so that a
    stop before the new end leaves no final/ (the export of the shorter run is not the result of this one)."""
    out = tmp_path / "run"
    d = stage_dict(out, corpus["manifest"], 2, teacher=str(corpus["teacher"]))
    cls = get_stage("sembo").config
    assert train_sembo(load_dataclass(cls, d)) == out / "final"
    before = (out / "final" / "config.json").read_bytes()
    monkeypatch.setattr(Trainer, "should_stop", lambda self: self.step >= 3)
    assert (
        train_sembo(
            load_dataclass(cls, stage_dict(out, corpus["manifest"], 5, teacher=str(corpus["teacher"]))), resume=True
        )
        == out / "checkpoints" / "step_00000003"
    )
    assert not (out / "final").exists() and (out / "final_before_step_2" / "config.json").read_bytes() == before
    monkeypatch.setattr(Trainer, "should_stop", lambda self: False)
    assert (
        train_sembo(
            load_dataclass(cls, stage_dict(out, corpus["manifest"], 5, teacher=str(corpus["teacher"]))), resume=True
        )
        == out / "final"
    )
    assert (out / "final_before_step_2").exists() and [r["step"] for r in metrics(out)] == [1, 2, 3, 4, 5]
    done = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in (out / "final").iterdir()}
    shorter = load_dataclass(cls, stage_dict(out, corpus["manifest"], 4, teacher=str(corpus["teacher"])))
    assert train_sembo(shorter, resume=True) == out / "checkpoints" / "step_00000005"  # past max_steps: nothing
    assert len(metrics(out)) == 5 and sorted(p.name for p in out.glob("final*")) == ["final", "final_before_step_2"]
    assert {
        f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in (out / "final").iterdir()
    } == done  # not re-exported


# -- registry and variants --------------------------------------------------------------------------------
def test_stage_registry_and_the_teacher_alias():
    assert get_stage("teacher") is get_stage("semantic_encoder")
    assert {"semantic_encoder", "sembo", "tokenizer", "dit"} <= set(
        __import__("losatok_plugin.training", fromlist=["STAGES"]).STAGES
    )
    with pytest.raises(KeyError, match="unknown stage 'nope'"):
        get_stage("nope")


def test_named_model_variants():
    assert LoSATokConfig.variant("official") == LoSATokConfig()
    assert tiny_config() == LoSATokConfig.variant("tiny")
    shipped = LoSATokConfig.from_model_config(json.loads((MINI / "config.json").read_text()))
    assert LoSATokConfig.variant("mini") == shipped  # the embedded losatok-mini's sizes
    assert LoSATokConfig.variant("mini", latent_channels=256).latent_channels == 256
    with pytest.raises(ConfigError, match="unknown model variant 'huge'"):
        LoSATokConfig.variant("huge")
    assert set(MODEL_VARIANTS) == {"official", "mini", "tiny"}


def test_yaml_model_sections_name_a_variant(tmp_path):
    cls = get_stage("tokenizer").config
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model": "mini"}))
    assert load_stage_config(cls, path).model == LoSATokConfig.variant("mini")
    assert load_stage_config(cls, path, ["model.latent_channels=64"]).model.latent_channels == 64
    path.write_text(yaml.safe_dump({"model": {"variant": "mini", "latent_channels": 256}}))
    cfg = load_stage_config(cls, path)
    assert cfg.model.latent_channels == 256 and cfg.model.embed_dim == 256
    path.write_text(yaml.safe_dump({"model": {"variant": "mini", "latent_chanels": 256}}))
    with pytest.raises(ConfigError, match="latent_chanels"):
        load_stage_config(cls, path)
    path.write_text(yaml.safe_dump({"model": "mimi"}))
    with pytest.raises(ConfigError, match="model: unknown model variant 'mimi'"):
        load_stage_config(cls, path)


def test_stop_at_ends_the_run_on_the_long_schedule_and_a_resume_there_trains_nothing(tmp_path, corpus):
    """run.stop_at reproduces a run that was shipped from step k of a longer schedule: the same learning
    rates as the uninterrupted run up to k, a checkpoint at k, no export; resuming with it set trains nothing;
    without it the run goes on to max_steps."""
    full = tmp_path / "full"
    train_tokenizer(tokenizer_cfg(full, corpus, 5, optim={"warmup_steps": 0, "lr": 1e-3}))
    out = tmp_path / "stopped"
    cfg = tokenizer_cfg(out, corpus, 5, optim={"warmup_steps": 0, "lr": 1e-3}, run={"stop_at": 3})
    path = train_tokenizer(cfg)
    assert path == ckpt.latest_checkpoint(out) and ckpt.step_of(path) == 3
    assert not (out / "final").exists()
    lrs = [m["lr"] for m in metrics(out) if "lr" in m]
    assert lrs == [m["lr"] for m in metrics(full) if "lr" in m][:3]  # the 5-step cosine, not a 3-step one
    assert train_tokenizer(cfg, resume=True) == path and len(metrics(out)) == 3  # nothing trained
    cfg.run.stop_at = 0
    assert train_tokenizer(cfg, resume=True) == out / "final" and ckpt.step_of(ckpt.latest_checkpoint(out)) == 5
    with pytest.raises(ConfigError, match="stop_at"):
        load_dataclass(TokenizerStageConfig, stage_dict(out, corpus["manifest"], 5, run={"stop_at": -1}))


def test_cooldown_cuts_a_long_cosine_without_changing_the_steps_before_it():
    from losatok_plugin.training.config import OptimConfig
    from losatok_plugin.training.trainer import cosine_with_warmup

    def lrs(cfg, max_steps):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
        sched, out = cosine_with_warmup(opt, cfg, max_steps), []
        for _ in range(max_steps + 1):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    long = lrs(OptimConfig(lr=1.0, warmup_steps=2), 100)
    cut = lrs(OptimConfig(lr=1.0, warmup_steps=2, schedule_steps=100, cooldown_steps=20), 60)
    assert cut[:41] == pytest.approx(long[:41])  # the uncut 100-step cosine up to the cool-down at step 40
    assert cut[50] == pytest.approx(long[50] / 2)  # half-way down the cool-down: half the scheduled lr
    assert cut[60] == pytest.approx(0.0) and all(a >= b for a, b in zip(cut[40:], cut[41:]))
    assert lrs(OptimConfig(lr=1.0, warmup_steps=2, schedule_steps=0), 100) == pytest.approx(long)
    with pytest.raises(ConfigError):
        OptimConfig(cooldown_steps=-1)
    # continuing the annealed 60-step run to 80: re-warm from 0 at step 60 over 10 steps, then a new cool-down
    more = lrs(
        OptimConfig(lr=1.0, warmup_steps=2, schedule_steps=100, cooldown_steps=10, rewarm_at=60, rewarm_steps=10), 80
    )
    assert more[:60] == pytest.approx(long[:60])  # before the re-warm: the uncut cosine (this config never cools at 40)
    assert more[60] == 0.0 and more[65] == pytest.approx(long[65] / 2) and more[70] == pytest.approx(long[70])
    assert all(a < b for a, b in zip(more[60:70], more[61:71])) and more[80] == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="rewarm_steps"):
        OptimConfig(rewarm_steps=-5)
