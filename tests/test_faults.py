"""Fault injection on the training side: kills and signals during runs, full disks during checkpoint
saves, broken ``latest`` pointers, reused output folders and non-finite data or losses (CPU, tiny)."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from losatok_plugin.data import read_manifest, write_manifest
from losatok_plugin.training import SemboStageConfig, train_sembo
from losatok_plugin.training import checkpoint as ckpt
from losatok_plugin.training.errors import CheckpointSaveError, NonFiniteError, ResumeError, RunExistsError
from losatok_plugin.training.yaml_config import load_dataclass

from .training_helpers import metrics, stage_dict, tiny_corpus, train_cli, wait_for, write_nonfinite_wav


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("faults"))


def sembo_cfg(out: Path, corpus, steps: int, **extra) -> SemboStageConfig:
    return load_dataclass(
        SemboStageConfig, stage_dict(out, corpus["manifest"], steps, teacher=str(corpus["teacher"]), **extra)
    )


def write_yaml(path: Path, d: dict) -> Path:
    path.write_text(yaml.safe_dump(d))
    return path


# -- checkpoint files ------------------------------------------------------------------------------------
def _save(root: Path, step: int, keep: int = 3, value: float | None = None) -> Path:
    w = torch.full((4, 4), float(step if value is None else value))
    return ckpt.save_checkpoint(
        root, step, {"m": {"w": w}}, {"x": 1}, rank=0, is_main=True, barrier=lambda: None, keep=keep
    )


def test_pruning_sorts_by_step_number_and_spares_other_runs(tmp_path):
    """An earlier run's higher-numbered folder is not pruned in place of the new run's own checkpoints."""
    old = _save(tmp_path, 90)
    for step in range(1, 6):
        _save(tmp_path, step, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith("step_"))
    assert names == ["step_00000004", "step_00000005", old.name]
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_00000005"
    assert ckpt.latest_checkpoint(tmp_path).name == "step_00000005"


@pytest.mark.parametrize("pointer", ["missing", "dangling", "garbage"])
def test_broken_latest_falls_back_to_newest_complete_checkpoint(tmp_path, pointer):
    for step in (1, 2, 3):
        _save(tmp_path, step)
    root = tmp_path / "checkpoints"
    (root / "step_00000004").mkdir()  # incomplete: no train_state.pt
    if pointer == "missing":
        (root / "latest").unlink()
    elif pointer == "dangling":
        (root / "latest").write_text("step_00000099")
    else:
        (root / "latest").write_bytes(b"\xff\xfe")
    with pytest.warns(UserWarning, match="newest complete checkpoint"):
        assert ckpt.latest_checkpoint(tmp_path) == root / "step_00000003"


def test_resaving_a_step_is_atomic(tmp_path, monkeypatch):
    """A kill between moving the old folder aside and renaming the new one in keeps the step."""
    _save(tmp_path, 2, value=1.0)
    real_replace = os.replace

    def killed(src, dst):
        if Path(src).name == ".step_00000002.tmp":
            raise KeyboardInterrupt  # the process dies here
        return real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, 2, value=2.0)
    monkeypatch.setattr(ckpt.os, "replace", real_replace)
    path = ckpt.latest_checkpoint(tmp_path)
    assert path is not None and path.name == "step_00000002"
    assert load_file(str(path / "m.safetensors"))["w"][0, 0] == 1.0  # the old copy, whole
    _save(tmp_path, 2, value=3.0)  # and a later re-save completes
    assert load_file(str(ckpt.latest_checkpoint(tmp_path) / "m.safetensors"))["w"][0, 0] == 3.0
    assert not list((tmp_path / "checkpoints").glob(".step_*"))


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs when this process may mount one, else None (the test injects ENOSPC instead)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    except FileNotFoundError:
        res = None
    if res is None or res.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_during_checkpoint_save(tmp_path, small_disk, monkeypatch):
    root = small_disk or tmp_path
    _save(root, 1)
    big = {"w": torch.zeros(1 << 20)}  # 4 MB: more than the tmpfs holds
    if small_disk is None:

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(ckpt, "save_file", full)
    with pytest.raises(CheckpointSaveError, match="no space left on device.*earlier checkpoints .* intact"):
        ckpt.save_checkpoint(root, 2, {"m": big}, {}, rank=0, is_main=True, barrier=lambda: None)
    assert ckpt.latest_checkpoint(root).name == "step_00000001"
    assert load_file(str(root / "checkpoints" / "step_00000001" / "m.safetensors"))["w"][0, 0] == 1.0
    assert not list((root / "checkpoints").glob(".step_*"))  # the partial folder is gone


def test_full_disk_in_a_training_run_is_one_clear_error(tmp_path, corpus, monkeypatch):
    def full(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing file "
            "data/0: file write failed; unexpected pos 19136 vs 19024"
        )  # what torch.save reports

    out = tmp_path / "run"
    train_sembo(sembo_cfg(out, corpus, 2, run={"save_every": 1}))
    monkeypatch.setattr(ckpt.torch, "save", full)
    with pytest.raises(CheckpointSaveError, match="no space left on device"):
        train_sembo(sembo_cfg(out, corpus, 4, run={"save_every": 1}), resume=True)
    assert ckpt.latest_checkpoint(out).name == "step_00000002"


# -- output folders and resume ----------------------------------------------------------------------------
def test_new_run_in_a_used_folder_is_refused_unless_overwrite(tmp_path, corpus):
    out = tmp_path / "run"
    train_sembo(sembo_cfg(out, corpus, 2, run={"save_every": 1}))
    before = (out / "final" / "diffusion_pytorch_model.safetensors").read_bytes()
    with pytest.raises(RunExistsError, match="--resume .* --overwrite"):
        train_sembo(sembo_cfg(out, corpus, 3, run={"save_every": 1}))
    assert (out / "final" / "diffusion_pytorch_model.safetensors").read_bytes() == before  # untouched
    assert [r["step"] for r in metrics(out)] == [1, 2]
    train_sembo(sembo_cfg(out, corpus, 1, run={"save_every": 1, "overwrite": True}))
    assert [r["step"] for r in metrics(out)] == [1]
    assert sorted(p.name for p in (out / "checkpoints").glob("step_*")) == ["step_00000001"]


def test_resume_with_nothing_to_resume_is_an_error(tmp_path, corpus):
    with pytest.raises(ResumeError, match="nothing to resume"):
        train_sembo(sembo_cfg(tmp_path / "run", corpus, 2), resume=True)
    cfg = write_yaml(
        tmp_path / "c.yaml", stage_dict(tmp_path / "cli", corpus["manifest"], 2, teacher=str(corpus["teacher"]))
    )
    proc = train_cli(["sembo", "--config", str(cfg), "--resume"])
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 1
    assert "error: --resume: nothing to resume" in log and "Traceback" not in log, log


def test_metrics_do_not_repeat_steps_after_a_resume(tmp_path, corpus):
    """Steps logged after the last checkpoint (then lost to a kill) are logged once, by the resumed run."""
    out = tmp_path / "run"
    train_sembo(sembo_cfg(out, corpus, 4, run={"save_every": 2}))
    import shutil

    shutil.rmtree(out / "checkpoints" / "step_00000004")  # as if killed after logging step 4
    shutil.rmtree(out / "final")
    train_sembo(sembo_cfg(out, corpus, 6, run={"save_every": 2}), resume=True)
    assert [r["step"] for r in metrics(out)] == [1, 2, 3, 4, 5, 6]


# -- kills and signals ------------------------------------------------------------------------------------
def test_kill_9_during_checkpoint_writes_then_resume(tmp_path, corpus):
    out = tmp_path / "run"
    cfg = write_yaml(
        tmp_path / "c.yaml",
        stage_dict(
            out,
            corpus["manifest"],
            100_000,
            teacher=str(corpus["teacher"]),
            run={"save_every": 1, "keep_checkpoints": 2},
        ),
    )
    rng = random.Random(0)
    root = out / "checkpoints"
    for round_ in range(3):
        seen = ckpt.step_of(ckpt.latest_checkpoint(out)) if round_ else 0
        proc = train_cli(["sembo", "--config", str(cfg), *(["--resume"] if round_ else [])])
        # wait until this run has written a new checkpoint, then kill it at a random moment of the next saves
        wait_for(lambda s=seen: (root / "latest").is_file() and (root / "latest").read_text() > f"step_{s:08d}", proc)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        path = ckpt.latest_checkpoint(out)
        assert path is not None and path.name.startswith("step_"), round_
        ckpt.load_checkpoint(path, 0)  # every file of it loads
    last = ckpt.step_of(ckpt.latest_checkpoint(out))
    proc = train_cli(["sembo", "--config", str(cfg), "--resume", f"run.max_steps={last + 2}"])
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log
    steps = [r["step"] for r in metrics(out)]
    assert steps == list(range(1, last + 3)), steps  # contiguous, none repeated
    assert (out / "final" / "config.json").is_file()


def test_sigterm_and_sigint_then_resume_match_an_uninterrupted_run(tmp_path, corpus):
    """Stopped by SIGTERM, resumed, stopped by SIGINT, resumed: the same steps, learning rates and losses
    (so the same data order, crops and RNG) as a run that was never stopped."""
    steps = 30  # the same max_steps in every run: the cosine schedule depends on it
    extra = {"teacher": str(corpus["teacher"]), "optim": {"warmup_steps": 3, "lr": 1e-3}, "data": {"batch_size": 1}}
    ref_out, out = tmp_path / "ref", tmp_path / "run"
    ref_cfg = write_yaml(tmp_path / "ref.yaml", stage_dict(ref_out, corpus["manifest"], steps, **extra))
    cfg = write_yaml(tmp_path / "c.yaml", stage_dict(out, corpus["manifest"], steps, **extra))
    ref = train_cli(["sembo", "--config", str(ref_cfg)])
    for sig, resume in ((signal.SIGTERM, []), (signal.SIGINT, ["--resume"])):
        done = len(metrics(out))
        proc = train_cli(["sembo", "--config", str(cfg), *resume])
        wait_for(lambda d=done: len(metrics(out)) >= d + 3, proc)
        proc.send_signal(sig)
        log = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0 and "stopped by signal" in log, log
        assert metrics(out)[-1]["step"] < steps
    resumed = train_cli(["sembo", "--config", str(cfg), "--resume"])
    log = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, log
    assert ref.wait(timeout=300) == 0
    rows, ref_rows = metrics(out), metrics(ref_out)
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    assert [r["lr"] for r in rows] == pytest.approx([r["lr"] for r in ref_rows], rel=1e-12)
    assert [r["sembo/total"] for r in rows] == pytest.approx([r["sembo/total"] for r in ref_rows], rel=1e-5)


def test_sigterm_to_the_process_group_with_loader_workers_saves_a_checkpoint(tmp_path, corpus):
    """``timeout``, Ctrl-C and schedulers signal the whole process group, DataLoader workers too: the run still
    stops at a step boundary with a checkpoint of that step (a worker killed by the signal used to crash the
    main process before it could save, losing the steps since the last periodic checkpoint)."""
    out = tmp_path / "run"
    d = stage_dict(out, corpus["manifest"], 100_000, teacher=str(corpus["teacher"]), data={"num_workers": 1})
    cfg = write_yaml(tmp_path / "c.yaml", d)
    proc = train_cli(["sembo", "--config", str(cfg)], new_group=True)
    wait_for(lambda: len(metrics(out)) >= 3, proc)
    os.killpg(proc.pid, signal.SIGTERM)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0 and "stopped by signal" in log, log
    assert "killed by signal" not in log, log  # the worker outlived the signal; the run shut it down
    saved = ckpt.latest_checkpoint(out)
    assert saved is not None and ckpt.step_of(saved) == metrics(out)[-1]["step"] >= 3


# -- non-finite data and losses -----------------------------------------------------------------------------
def test_nonfinite_file_in_a_manifest_is_skipped_and_reported(tmp_path, corpus):
    entries = read_manifest(corpus["manifest"])
    bad = [write_nonfinite_wav(tmp_path / "nan.wav", "nan"), write_nonfinite_wav(tmp_path / "inf.wav", "inf")]
    from losatok_plugin.data import ManifestEntry

    manifest = write_manifest([*entries, *(ManifestEntry(str(p)) for p in bad)], tmp_path / "train.jsonl")
    out = tmp_path / "run"
    d = stage_dict(out, manifest, 3, teacher=str(corpus["teacher"]), data={"batch_size": 4})
    export = train_sembo(load_dataclass(SemboStageConfig, d))
    skipped = dict(line.split("\t") for line in (out / "skipped_files.tsv").read_text().splitlines())
    assert skipped == {
        str(bad[0]): "non-finite samples: NaN at sample 10240",
        str(bad[1]): "non-finite samples: inf at sample 10240",
    }
    assert all(torch.isfinite(torch.tensor(r["sembo/total"])) for r in metrics(out))
    weights = load_file(str(export / "diffusion_pytorch_model.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_a_manifest_of_only_nonfinite_files_is_an_error(tmp_path, corpus):
    from losatok_plugin.data import ManifestEntry, NoUsableFilesError

    manifest = write_manifest([ManifestEntry(str(write_nonfinite_wav(tmp_path / "nan.wav")))], tmp_path / "m.jsonl")
    d = stage_dict(tmp_path / "run", manifest, 2, teacher=str(corpus["teacher"]))
    with pytest.raises(NoUsableFilesError, match="all 1 files were skipped; first: .*nan.wav: non-finite"):
        train_sembo(load_dataclass(SemboStageConfig, d))


def _nan_loss_on(calls: set[int], monkeypatch):
    from losatok_plugin.training import sembo

    real = sembo.semantic_bottleneck_loss
    count = {"n": 0}

    def maybe_nan(*args, **kwargs):
        count["n"] += 1
        losses = real(*args, **kwargs)
        if count["n"] in calls:
            losses["sembo/total"] = losses["sembo/total"] * float("nan")
        return losses

    monkeypatch.setattr(sembo, "semantic_bottleneck_loss", maybe_nan)


def test_nonfinite_loss_skips_the_step_and_counts_it(tmp_path, corpus, monkeypatch):
    _nan_loss_on({2, 3}, monkeypatch)
    out = tmp_path / "run"
    export = train_sembo(sembo_cfg(out, corpus, 3, run={"save_every": 1}))
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3]  # three real steps; two batches were skipped
    assert all(torch.isfinite(torch.tensor(r["sembo/total"])) for r in rows)
    assert rows[-1]["nonfinite_steps"] == 2
    weights = load_file(str(export / "diffusion_pytorch_model.safetensors"))
    assert all(torch.isfinite(v).all() for v in weights.values())
    state = torch.load(out / "checkpoints" / "step_00000003" / "train_state.pt", weights_only=True)
    assert state["nonfinite_steps"] == 2


def test_nonfinite_losses_past_the_limit_stop_the_run(tmp_path, corpus, monkeypatch):
    _nan_loss_on(set(range(2, 100)), monkeypatch)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteError, match="3 steps had a non-finite loss .*max_nonfinite_steps=2"):
        train_sembo(sembo_cfg(out, corpus, 10, run={"save_every": 1, "max_nonfinite_steps": 2}))
    assert not (out / "final").exists()
    latest = ckpt.latest_checkpoint(out)
    assert latest.name == "step_00000001"  # the only step that happened; its weights are finite
    assert all(torch.isfinite(v).all() for v in load_file(str(latest / "bottleneck.safetensors")).values())


def test_nonfinite_weights_are_never_saved(tmp_path):
    from losatok_plugin.training.config import RunConfig
    from losatok_plugin.training.trainer import Trainer

    trainer = Trainer(RunConfig(output_dir=str(tmp_path / "run"), cpu=True, progress=False), {}, resume=False)
    with pytest.raises(NonFiniteError, match="weight w holds NaN"):
        trainer.save({"m": {"w": torch.tensor([1.0, float("nan")])}}, {})
    trainer.close()
    assert ckpt.latest_checkpoint(tmp_path / "run") is None
