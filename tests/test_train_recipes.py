"""The training recipes as a new user meets them: README commands, CPU torchrun, manifests, fine-tuning."""

from __future__ import annotations

import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from losatok_plugin import LoSATokVAE, tiny_config
from losatok_plugin.data import FeatureCacheError, ManifestEntry, build_feature_cache, read_manifest, write_manifest
from losatok_plugin.training import TokenizerStageConfig, train_tokenizer
from losatok_plugin.training.config import load_stage_config

from .helpers import write_corpus
from .training_helpers import REPO, env, metrics, tiny_corpus

MINI = REPO / "losatok_plugin" / "pretrained" / "losatok-mini"
SMOKE = [
    "run.max_steps=2",
    "run.save_every=2",
    "run.log_every=1",
    "run.sample_every=0",
    "run.progress=false",
    'run.mixed_precision="no"',
    "data.batch_size=2",
    "data.num_workers=0",
    "data.crop_seconds=0.64",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("recipes"))


def run_script(script: Path, args: list[str], monkeypatch) -> None:
    """``python SCRIPT ARGS`` in this process (as the README runs it, minus the interpreter start-up)."""
    monkeypatch.syspath_prepend(str(script.parent))
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    runpy.run_path(str(script), run_name="__main__")


# -- manifests and caches -----------------------------------------------------------------------------
def test_build_manifest_writes_paths_its_reader_resolves(tmp_path, monkeypatch):
    """``build_manifest.py clips/speech data/train.jsonl`` from the folder above both."""
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "clips" / "speech", n=2)
    write_corpus(tmp_path / "data" / "inside", n=1)
    run_script(REPO / "recipes" / "build_manifest.py", ["clips/speech", "data/train.jsonl"], monkeypatch)
    run_script(REPO / "recipes" / "build_manifest.py", ["data/inside", "data/inside.jsonl"], monkeypatch)
    monkeypatch.chdir(REPO)  # another working folder: the paths still resolve
    entries = read_manifest(tmp_path / "data" / "train.jsonl")
    assert len(entries) == 2 and all(Path(e.path).is_file() for e in entries)
    rows = (tmp_path / "data" / "inside.jsonl").read_text()
    assert '"path": "inside/clip0.wav"' in rows  # below the manifest's folder: relative to it
    assert all(Path(e.path).is_file() for e in read_manifest(tmp_path / "data" / "inside.jsonl"))


def test_a_feature_cache_that_skips_every_file_is_an_error(tmp_path, corpus):
    entries = [ManifestEntry(str(tmp_path / "missing.wav")), ManifestEntry(str(tmp_path / "also_missing.wav"))]
    teacher = LoSATokVAE.from_pretrained(corpus["teacher"]).semantic_encoder
    with pytest.raises(FeatureCacheError, match="all 2 files were skipped; first: .*missing.wav"):
        build_feature_cache(entries, teacher, tmp_path / "cache", dim=64, teacher_id="tiny", progress=False)


# -- CPU multi-process ----------------------------------------------------------------------------------
def readme_commands() -> list[str]:
    """Every ``recipes/train.py`` command in a bash block of README.md and recipes/README.md, in order."""
    out = []
    for readme in (REPO / "README.md", REPO / "recipes" / "README.md"):
        for block in re.findall(r"```bash\n(.*?)```", readme.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if "recipes/train.py" in line and not line.startswith("#"):
                    line = re.sub(r"^(\.venv/bin/)?python ", "python ", " ".join(line.split()))
                    out.append(line)
    return list(dict.fromkeys(out))


def test_readme_torchrun_command_on_cpu_is_one_distributed_run(tmp_path, corpus):
    """The README's torchrun command without CUDA: one gloo group, metrics once, both replicas equal."""
    (line,) = [c for c in readme_commands() if c.startswith("torchrun")]
    assert "run.cpu" not in line
    argv = shlex.split(line)
    argv[0] = str(Path(sys.executable).parent / "torchrun")
    out = tmp_path / "run"
    args = [*argv, f"data.train_manifest={corpus['manifest']}", f"run.output_dir={out}", *SMOKE]
    proc = subprocess.run(
        args, cwd=REPO, env={**env(), "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [r["step"] for r in metrics(out)] == [1, 2]  # written once, not once per process
    digests = sorted((out / "replicas").glob("rank*.sha256"))
    assert [p.name for p in digests] == ["rank0.sha256", "rank1.sha256"]
    assert digests[0].read_text() == digests[1].read_text()


# -- every README training command ----------------------------------------------------------------------
STAGE_ORDER = ("semantic_encoder", "teacher", "sembo", "tokenizer")


def smoke_args(line: str, stand_ins: dict[str, str]) -> list[str]:
    """The arguments of ``recipes/train.py`` in ``line`` plus the smoke overrides (2 steps, tiny data).

    Launchers (accelerate launch, torchrun) are dropped: their multi-process behaviour has its own test.
    Paper configs (official sizes, an official checkpoint and GPUs) run at the tiny test size with a tiny
    stand-in teacher, which is what their one-line prerequisite in the README asks a user to provide.
    """
    argv = shlex.split(line)
    args = argv[argv.index("recipes/train.py") + 1 :]
    extra = list(SMOKE) + ["--overwrite"]
    if "_paper" in line:
        extra += [f"model.{k}={v}" for k, v in tiny_config().to_dict().items() if v is not None]
        if args[0] == "sembo":
            extra.append(f"teacher={stand_ins['teacher']}")
    return args + extra


def test_every_readme_training_command_runs_in_smoke_mode(tmp_path, corpus, monkeypatch):
    """Each documented command, as written, from a fresh checkout's root (recipes/ and the package) with the
    data the README says to build first (data/train.jsonl, data/corpus/*.jsonl, cache/midashenglm)."""
    commands = readme_commands()
    assert len(commands) >= 6, commands
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("recipes", "losatok_plugin"):
        (root / name).symlink_to(REPO / name)
    for manifest in ("data/train.jsonl", "data/corpus/train.jsonl", "data/corpus/valid.jsonl"):
        write_manifest(read_manifest(corpus["manifest"]), root / manifest, relative=False)
    teacher = LoSATokVAE.from_pretrained(corpus["teacher"]).semantic_encoder
    build_feature_cache(
        read_manifest(corpus["manifest"]),
        teacher,
        root / "cache" / "midashenglm",
        dim=64,
        teacher_id="tiny",
        progress=False,
    )
    monkeypatch.chdir(root)
    single = [c for c in commands if not c.startswith("torchrun")]
    single.sort(key=lambda c: STAGE_ORDER.index(shlex.split(c)[shlex.split(c).index("recipes/train.py") + 1]))
    for line in single:
        args = smoke_args(line, {"teacher": str(corpus["teacher"])})
        run_script(REPO / "recipes" / "train.py", args, monkeypatch)
        out = root / output_dir_of(root / args[args.index("--config") + 1])
        steps = [r["step"] for r in metrics(out) if "lr" in r]  # training rows (stage 0 adds validation rows)
        assert steps == [1, 2], line
        assert (out / "final" / "config.json").is_file(), line


def output_dir_of(config: Path) -> Path:
    import yaml

    return Path(yaml.safe_load(config.read_text())["run"]["output_dir"])


# -- fine-tuning the embedded model ---------------------------------------------------------------------
def test_finetune_recipe_changes_the_export_and_lowers_the_loss(tmp_path):
    """finetune_mini.yaml on a few clips: the export differs from losatok-mini, follows the trained weights
    (EMA warm-up), and the training loss goes down."""
    write_corpus(tmp_path / "audio", n=2, seconds=1.28)
    entries = [ManifestEntry(str(p)) for p in sorted((tmp_path / "audio").glob("*.wav"))]
    manifest = write_manifest(entries, tmp_path / "train.jsonl")
    steps = 12
    cfg = load_stage_config(
        TokenizerStageConfig,
        REPO / "recipes" / "configs" / "finetune_mini.yaml",
        [
            f"data.train_manifest={manifest}",
            f"run.output_dir={tmp_path / 'ft'}",
            f"run.max_steps={steps}",
            "run.log_every=1",
            "run.progress=false",
            "data.batch_size=2",
            "data.crop_seconds=0.64",
        ],
    )
    cfg.init_from = str(MINI)  # the config's path is relative to the repository root
    export = train_tokenizer(cfg)
    rows = metrics(tmp_path / "ft")
    assert len(rows) == steps
    for key, drop in (("total", 1.0), ("mel", 0.9)):  # the reconstruction term is what adapts in a few steps
        first, last = sum(r[key] for r in rows[:3]) / 3, sum(r[key] for r in rows[-3:]) / 3
        assert last < drop * first, (key, first, last)
    start, tuned = load_file(str(MINI / "diffusion_pytorch_model.safetensors")), LoSATokVAE.from_pretrained(export)
    raw = load_file(str(tmp_path / "ft" / "checkpoints" / f"step_{steps:08d}" / "generator.safetensors"))
    key = "decoder.head.out.weight"
    moved = (tuned.state_dict()[key] - start[key].float()).norm()
    trained = (raw[key] - start[key].float()).norm()
    assert moved > 0.5 * trained > 0, (moved, trained)  # the EMA export is not stuck at the start
    for k, v in start.items():  # teacher and SemBo frozen
        if k.split(".")[0] in ("semantic_encoder", "bottleneck"):
            torch.testing.assert_close(tuned.state_dict()[k], v.float() if v.is_floating_point() else v)
