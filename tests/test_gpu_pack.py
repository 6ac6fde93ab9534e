"""The GPU training pack (recipes/mini/gpu): a balanced Opus pack inside its budget, and the device
script's round trip (train 2 steps from the pack on CPU, return the checkpoint, resume it here)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.data import read_manifest
from losatok_plugin.data.audio_io import load_audio
from losatok_plugin.training import TokenizerStageConfig, train_tokenizer
from losatok_plugin.training.yaml_config import load_dataclass

from .training_helpers import env, metrics, stage_dict

REPO = Path(__file__).resolve().parents[1]
GPU = REPO / "recipes" / "mini" / "gpu"


def _pack_module():
    spec = importlib.util.spec_from_file_location("gpu_pack", GPU / "pack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pack = _pack_module()

# source -> (domain, clips, seconds, has text)
SOURCES = {"tts": ("speech", 6, 2.0, True), "synth": ("music", 3, 3.0, False), "fx": ("sound", 3, 1.0, False)}


def synthetic_corpus(root: Path) -> Path:
    """Sines, chirps and noise as wav files of three domains and sources, one at 22.05 kHz stereo."""
    rng = np.random.default_rng(0)
    rows = []
    for source, (domain, n, seconds, text) in SOURCES.items():
        for i in range(n):
            sr = 22050 if (source, i) == ("synth", 0) else 16000
            t = np.arange(int(seconds * sr)) / sr
            x = 0.3 * np.sin(2 * np.pi * (200 + 60 * i) * t * (1 + 0.2 * t)) + 0.02 * rng.standard_normal(t.shape)
            if sr != 16000:
                x = np.stack([x, 0.5 * x], axis=1)
            path = root / domain / f"{source}_{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, x.astype("float32"), sr)
            row = {"path": f"{domain}/{path.name}", "duration": seconds, "domain": domain, "source": source}
            if text:
                row |= {"text": f"word {i}", "phonemes": "w ɜː d", "lang": "en"}
            rows.append(row)
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return manifest


def build_args(manifest: Path, out: Path, **kw) -> SimpleNamespace:
    args = dict(
        manifest=[str(manifest)],
        valid_manifest=[],
        valid_clips=4,
        out=str(out),
        budget_mb="0.04",
        reserve_mb=0.0,
        wheels=str(out.parent / "no_wheels"),
        init="",
        init_dtype="float16",
        kbps=24.0,
        max_seconds=8.0,
        min_per_source=1,
        probe_clips=1,
        seed=0,
        overwrite=False,
    )
    return SimpleNamespace(**{**args, **kw})


def test_pack_respects_its_budget_keeps_every_source_and_decodes(tmp_path):
    manifest = synthetic_corpus(tmp_path / "corpus")
    out = tmp_path / "packs" / "p"
    info = pack.build(build_args(manifest, out))
    budget = int(0.04 * 2**20)
    assert info["pack_bytes"] == pack.dir_bytes(out) - (out / "pack.json").stat().st_size
    assert info["pack_bytes"] <= budget
    total = sum(n for _, n, _, _ in SOURCES.values())
    assert 3 <= info["train"]["clips"] < total  # the budget stopped it before the corpus ran out
    assert {s.split("/")[1] for s in info["train"]["sources"]} == set(SOURCES)
    assert 16 <= info["train"]["kbps"] <= 32
    entries = read_manifest(out / "train.jsonl")
    assert len(entries) == info["train"]["clips"]
    for e in entries:
        assert e.path.endswith(".ogg") and Path(e.path).is_file()
        assert sf.info(e.path).subtype == "OPUS"
        x = load_audio(e.path)
        assert abs(len(x) / 16000 - e.duration) < 0.03
        assert float(x.abs().max()) > 0.1
        if e.domain == "speech":
            assert e.extra["text"].startswith("word") and e.extra["source"] == "tts"
    assert info["sha256"] == pack.tree_hash(out)  # an integrity hash (Ogg serial numbers are random)
    with pytest.raises(pack.PackError, match="exists"):
        pack.build(build_args(manifest, out))
    with pytest.raises(pack.PackError, match="no room"):
        pack.build(build_args(manifest, tmp_path / "packs" / "r", budget_mb="0"))


def test_auto_budget_names_slim_tree_when_the_tree_leaves_no_room(tmp_path, monkeypatch):
    manifest = synthetic_corpus(tmp_path / "corpus")
    monkeypatch.setattr(pack, "travelling_bytes", lambda repo: 61 * 2**20)  # the tree with the DiT weights and logs
    with pytest.raises(pack.PackError, match=r"no room.*61\.0 MiB.*slim_tree\.sh hide"):
        pack.build(build_args(manifest, tmp_path / "packs" / "a", budget_mb="auto", reserve_mb=8.0))
    monkeypatch.setattr(pack, "travelling_bytes", lambda repo: 17 * 2**20)  # hidden: room for a pack
    budget, parts = pack.auto_budget(tmp_path, tmp_path / "no_wheels", 0.0)
    assert parts["working_tree"] == 17 * 2**20 and budget > 40 * 2**20


def test_balanced_order_follows_the_corpus_hours(tmp_path):
    manifest = synthetic_corpus(tmp_path / "corpus")
    order = pack.balanced_order(read_manifest(manifest), seed=1, min_per_source=1)
    assert {pack._source(e).split("/")[1] for e in order[:3]} == set(SOURCES)  # one of each first
    first = order[:6]
    hours = {s: sum(e.duration for e in first if pack._source(e).endswith(s)) for s in SOURCES}
    assert hours["tts"] >= hours["fx"]  # 12 s of speech vs 3 s of effects in the corpus
    assert sorted(e.path for e in order) == sorted(e.path for e in read_manifest(manifest))
    again = pack.balanced_order(read_manifest(manifest), seed=1, min_per_source=1)
    assert [e.path for e in again] == [e.path for e in order]  # seeded: the same selection


def test_opus_round_trip_is_close_at_24_kbps():
    t = np.arange(32000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1320 * t)).astype("float32")
    level, kbps = pack.level_for_kbps(24.0, x)
    assert kbps <= 24.0 and 0.0 < level < 1.0
    y = pack.decode_opus(pack.encode_opus(x, level))[: len(x)]
    assert len(y) == len(x)
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert snr > 10, snr


def test_tokenizer_trains_under_bf16_autocast(tmp_path):
    """run_device.sh trains in bf16: the ISTFT head must leave autocast (torch.complex has no bf16) and
    the step's features must survive accelerate's fp32 conversion of outputs (a dict, not BaseOutput)."""
    manifest = synthetic_corpus(tmp_path / "corpus")
    d = stage_dict(tmp_path / "run", manifest, 1, discriminator={"channels": 4, "warmup_steps": 0})
    d["run"]["mixed_precision"] = "bf16"
    train_tokenizer(load_dataclass(TokenizerStageConfig, d))
    (row,) = metrics(tmp_path / "run")
    assert all(np.isfinite(row[k]) for k in ("mel", "semantic", "kl", "adv", "fm", "disc"))


def test_slim_diffusers_wheel_keeps_the_audio_pipelines(tmp_path):
    import zipfile

    wheel = tmp_path / "diffusers-0.0.0-py3-none-any.whl"
    names = [
        "diffusers/__init__.py",
        "diffusers/models/modeling_utils.py",
        "diffusers/pipelines/__init__.py",
        "diffusers/pipelines/pipeline_utils.py",
        "diffusers/pipelines/stable_audio/pipeline_stable_audio.py",
        "diffusers/pipelines/longcat_audio_dit/__init__.py",
        "diffusers/pipelines/flux/pipeline_flux.py",
        "diffusers/modular_pipelines/flux/encoders.py",
    ]
    with zipfile.ZipFile(wheel, "w") as z:
        for n in names:
            z.writestr(n, "x = 1\n")
        z.writestr("diffusers-0.0.0.dist-info/RECORD", "".join(f"{n},sha256=abc,6\n" for n in names))
    before, after = pack.slim_diffusers(wheel)
    assert after < before
    with zipfile.ZipFile(wheel) as z:
        kept = set(z.namelist())
        record = z.read("diffusers-0.0.0.dist-info/RECORD").decode()
    assert "diffusers/pipelines/stable_audio/pipeline_stable_audio.py" in kept
    assert "diffusers/pipelines/pipeline_utils.py" in kept and "diffusers/models/modeling_utils.py" in kept
    assert "diffusers/pipelines/flux/pipeline_flux.py" not in kept and "flux" not in record
    assert not any(n.startswith("diffusers/modular_pipelines/flux") for n in kept)


@pytest.mark.slow  # ~45 s of CPU: pack, 2 device steps, resume here for 1 more (run with -m slow)
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("split") is None, reason="needs bash + coreutils")
def test_run_device_on_cpu_returns_a_checkpoint_that_resumes_here(tmp_path):
    manifest = synthetic_corpus(tmp_path / "corpus")
    init = tmp_path / "sembo"
    torch.manual_seed(0)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(init)
    packdir = tmp_path / "packs" / "mini"
    info = pack.build(build_args(manifest, packdir, budget_mb="4", init=str(init)))
    assert info["init"]["dtype"] == "float16" and (packdir / "init" / "config.json").is_file()
    assert info["init"]["bytes"] < 0.5 * pack.dir_bytes(init)  # frozen parts in float16 only
    whole = pack.expand_init(packdir / "init", tmp_path / "whole")
    source, expanded = LoSATokVAE.from_pretrained(init), LoSATokVAE.from_pretrained(whole)
    for k, v in source.semantic_encoder.state_dict().items():
        assert torch.allclose(v, expanded.semantic_encoder.state_dict()[k], rtol=1e-3, atol=1e-4), k
    torch.manual_seed(1)
    donor = tmp_path / "donor"
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(donor)
    warm = LoSATokVAE.from_pretrained(pack.expand_init(packdir / "init", tmp_path / "warm", parts_from=str(donor)))
    w = LoSATokVAE.from_pretrained(donor).decoder.head.out.weight
    assert torch.equal(warm.decoder.head.out.weight, w) and not torch.equal(expanded.decoder.head.out.weight, w)
    cfg = stage_dict(tmp_path / "unused", manifest, 2, discriminator={"channels": 4, "warmup_steps": 0})
    cfg["data"]["short_clips"] = "repeat"
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "OUT"
    out.mkdir()
    run_env = env() | {
        "DEVICE": "cpu",
        "MAX_STEPS": "2",
        "BATCH": "2",
        "WORKERS": "0",
        "PY": sys.executable,
        "PACK": str(packdir),
        "RUN": str(tmp_path / "device_run"),
        "OUT": str(out),
        "CONFIG": str(config),
    }
    r = subprocess.run(
        ["bash", str(GPU / "run_device.sh"), "tokenizer"], cwd=REPO, env=run_env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    files = sorted(p.name for p in out.iterdir())
    assert "ckpt.tgz.sha256" in files and "train.log" in files and len(files) <= 8
    assert all(p.stat().st_size <= 16 * 2**20 for p in out.iterdir())
    here = tmp_path / "runs" / "tokenizer_mini"
    r = subprocess.run(["bash", str(GPU / "resume_here.sh"), str(out), str(here)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (here / "checkpoints" / "latest").read_text().strip() == "step_00000002"
    ran = json.loads((here / "device_config_step_00000002.json").read_text())  # the device run's config, a record
    assert ran["run"]["max_steps"] == 2 and ran["data"]["batch_size"] == 2
    again = subprocess.run(["bash", str(GPU / "resume_here.sh"), str(out), str(here)], capture_output=True, text=True)
    assert again.returncode == 1 and "already at step 2" in again.stderr
    r = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "train.py"), "tokenizer", "--config", str(config), "--resume"]
        + [f"run.output_dir={here}", "run.max_steps=3", f"init_from={init}"],
        env=env(),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed from" in r.stdout and "at step 2" in r.stdout
    assert [m["step"] for m in metrics(here)] == [1, 2, 3]


def test_slim_tree_hides_what_a_device_run_does_not_need_and_restores_it(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--shared", str(REPO), str(clone)], check=True)
    script = clone / "recipes" / "mini" / "gpu" / "slim_tree.sh"
    shutil.copy(GPU / "slim_tree.sh", script)  # the script as it is in this checkout
    subprocess.run(["git", "-C", str(clone), "add", str(script)], check=True)
    subprocess.run(
        ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "s"], check=False
    )
    full = pack.travelling_bytes(clone)
    hidden = subprocess.run(["bash", str(script), "hide"], capture_output=True, text=True)
    assert hidden.returncode == 0, hidden.stderr
    slim = pack.travelling_bytes(clone)
    assert slim < 24 * 2**20 < full  # room for a 40 MiB pack and the wheels
    assert (
        not (clone / "tests" / "assets").exists()
        and (clone / "losatok_plugin" / "pretrained" / "losatok-mini").is_dir()
    )
    restored = subprocess.run(["bash", str(script), "restore"], capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    status = subprocess.run(["git", "-C", str(clone), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == "" and pack.travelling_bytes(clone) == full
    # a change not committed under a hidden folder: refused, and the change stays
    changed = next((clone / "recipes" / "mini" / "logs").rglob("*.json"))
    changed.write_text("{}")
    refused = subprocess.run(["bash", str(script), "hide"], capture_output=True, text=True)
    assert refused.returncode == 1 and "commit or stash" in refused.stderr
    assert changed.read_text() == "{}" and (clone / "tests" / "assets").is_dir()
    # a commit made while hidden: restore says so instead of failing on a missing path
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "--", "."], check=True)
    assert subprocess.run(["bash", str(script), "hide"], capture_output=True).returncode == 0
    git_id = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "-C", str(clone), *git_id, "commit", "-qm", "oops"], check=True)
    after = subprocess.run(["bash", str(script), "restore"], capture_output=True, text=True)
    assert after.returncode == 1 and "a commit made while hidden" in after.stderr


def test_continue_shipped_refuses_a_missing_pack_or_model(tmp_path):
    script = str(REPO / "recipes" / "mini" / "gpu" / "continue_shipped.sh")

    def run(**extra):
        e = {k: v for k, v in env().items() if k not in ("PACK", "INIT")}
        return subprocess.run(["bash", script], capture_output=True, text=True, env={**e, **extra}, timeout=60)

    res = run()
    assert res.returncode != 0 and "set PACK" in res.stderr
    res = run(PACK=str(tmp_path / "nothing"))
    assert res.returncode == 1 and "no pack at" in res.stderr
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "train.jsonl").write_text("")
    res = run(PACK=str(tmp_path / "pack"), INIT=str(tmp_path / "no_model"))
    assert res.returncode == 1 and "not a model folder" in res.stderr
