"""DiT stage: latent shards, both objectives on a known case, stock-pipeline round trips (tiny, CPU)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from losatok_plugin.data.latent_shards import (
    LatentShardError,
    covered_indices,
    encode_manifest,
    load_shards,
    merge_stats,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and a shared CPU is not oversubscribed)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TEXTS = ["hello world", "the cat sat", "a dog barks", "hi there", "one two three", "good day"]


def write_clips(root: Path) -> Path:
    """Six tones with transcripts, plus an unreadable, a silent and a too-short file."""
    rng = np.random.default_rng(0)
    rows = []
    for i, text in enumerate(TEXTS):
        t = np.arange(int(16000 * (0.6 + 0.1 * i))) / 16000
        x = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.01 * rng.standard_normal(t.shape)
        sf.write(str(root / f"c{i}.wav"), x.astype("float32"), 16000)
        rows.append({"path": f"c{i}.wav", "domain": "speech", "label": "en-us", "text": text})
    (root / "broken.wav").write_bytes(b"not audio at all")
    sf.write(str(root / "silent.wav"), np.zeros(16000, dtype="float32"), 16000)
    sf.write(str(root / "short.wav"), (0.3 * rng.standard_normal(800)).astype("float32"), 16000)
    rows.insert(2, {"path": "broken.wav", "domain": "speech", "text": "x"})
    rows.insert(4, {"path": "silent.wav", "domain": "speech", "text": "y"})
    rows.append({"path": "short.wav", "domain": "speech", "text": "z"})
    (root / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "m.jsonl"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_clips(tmp_path_factory.mktemp("dit_corpus"))


@pytest.fixture(scope="module")
def shards(corpus, tiny_vae, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dit_shards")
    encode_manifest(tiny_vae, corpus, out, rank=0, world_size=1, shard_size=4, progress=False)
    merge_stats(out, vae=tiny_vae, expected=9)
    return out


def direct_mu(vae, corpus: Path) -> list[torch.Tensor]:
    from losatok_plugin.data import load_audio, read_manifest

    out = []
    for e in read_manifest(corpus):
        if Path(e.path).stem.startswith("c"):
            with torch.inference_mode():
                out.append(vae.encode(load_audio(e.path)[None]).latent_dist.mean[0])
    return out


# -- pre-encoding -------------------------------------------------------------------------------------
def test_shards_skip_bad_files_and_stats_equal_direct_computation(shards, corpus, tiny_vae):
    skipped = (shards / "skipped.tsv").read_text()
    assert "broken.wav" in skipped and "silent" in skipped and "too short" in skipped
    clips = load_shards(shards)
    assert [c.meta["text"] for c in clips] == TEXTS  # bad files are never included, order is the manifest's
    mus = direct_mu(tiny_vae, corpus)
    for c, mu in zip(clips, mus):
        torch.testing.assert_close(c.mu, mu, atol=1e-5, rtol=1e-5)
    frames = torch.cat(mus, dim=1).double()
    stats = json.loads((shards / "stats.json").read_text())
    torch.testing.assert_close(torch.tensor(stats["mean"]).double(), frames.mean(dim=1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        torch.tensor(stats["std"]).double(), frames.std(dim=1, unbiased=False), atol=1e-5, rtol=1e-4
    )
    assert stats["frames"] == frames.shape[1] and stats["clips"] == len(TEXTS)


def test_resume_encodes_only_what_is_missing(shards, corpus, tiny_vae, tmp_path):
    import shutil

    work = tmp_path / "shards"
    shutil.copytree(shards, work)
    files = sorted(work.glob("shard-*.safetensors"))
    assert len(files) == 3  # 9 lines, 4 per shard
    from safetensors.torch import load_file

    before, before_meta = load_file(str(files[1])), _meta(files[1])
    files[1].unlink()
    report = encode_manifest(tiny_vae, corpus, work, rank=0, world_size=1, shard_size=4, progress=False)
    assert report.resumed == 5 and len(report.shards) == 1
    after = load_file(str(files[1]))  # the same shard again
    assert _meta(files[1]) == before_meta and after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    again = encode_manifest(tiny_vae, corpus, work, rank=0, world_size=1, shard_size=4, progress=False)
    assert again.encoded == 0 and again.resumed == 9


def test_shards_of_another_model_are_refused(shards, corpus, tiny_vae, tmp_path):
    import shutil

    shutil.copytree(shards, tmp_path / "s")
    with pytest.raises(LatentShardError, match="another output folder"):
        encode_manifest(tiny_vae, corpus, tmp_path / "s", model_id="other", progress=False)


def test_two_ranks_write_disjoint_shards_covering_the_manifest(shards, corpus, tiny_vae, tmp_path):
    out = tmp_path / "ranks"
    for rank in (0, 1):
        encode_manifest(tiny_vae, corpus, out, rank=rank, world_size=2, shard_size=2, progress=False)
    with pytest.raises(LatentShardError):  # a manifest longer than what was encoded is an incomplete run
        merge_stats(out, expected=10)
    per_file = [json.loads(_meta(p)["covered"]) for p in sorted(out.glob("shard-*.safetensors"))]
    flat = [i for c in per_file for i in c]
    assert len(flat) == len(set(flat)) == 9 and set(flat) == covered_indices(out) == set(range(9))
    assert all(len({i % 2 for i in c}) == 1 for c in per_file)  # each shard holds one rank's lines
    merged = merge_stats(out, expected=9)
    single = json.loads((shards / "stats.json").read_text())
    torch.testing.assert_close(merged.mean, torch.tensor(single["mean"]), atol=1e-6, rtol=1e-5)


def _meta(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


# -- the DiT stage ------------------------------------------------------------------------------------
def tiny_stage(family: str, shards: Path, vae_dir: Path, out: Path, **run):
    from losatok_plugin.training.dit import DiTStageConfig

    cfg = DiTStageConfig(vae=str(vae_dir))
    cfg.data.latents, cfg.data.prompt_kind, cfg.data.batch_size = str(shards), "chars", 4
    m = cfg.model
    m.family, m.width, m.depth, m.heads, m.text_dim, m.text_layers, m.text_heads = family, 32, 1, 2, 16, 1, 2
    m.max_seconds = 1.2
    cfg.optim.warmup_steps, cfg.optim.lr = 5, 2e-3
    cfg.run.output_dir, cfg.run.progress, cfg.run.log_every, cfg.run.sample_every = str(out), False, 5, 0
    cfg.run.max_steps, cfg.run.save_every = 10, 10
    for k, v in run.items():
        setattr(cfg.run, k, v)
    return cfg


@pytest.fixture(scope="module")
def vae_dir(tiny_vae, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("vae")
    tiny_vae.save_pretrained(d)
    return d


def _one_clip_shards(corpus: Path, tiny_vae, tmp: Path, text: str) -> tuple[Path, torch.Tensor]:
    """A shard folder holding one clip (the overfit target); returns it and its normalised latent [C, T]."""
    from losatok_plugin.data import read_manifest

    entries = [e for e in read_manifest(corpus) if e.extra.get("text") == text] * 8  # one batch: 8 noise draws
    out = tmp / "one"
    encode_manifest(tiny_vae, entries, out, rank=0, world_size=1, progress=False)
    stats = merge_stats(out, vae=tiny_vae)
    mu = load_shards(out)[0].mu
    return out, (mu - stats.mean[:, None]) / stats.std[:, None]


@pytest.mark.parametrize("family", ["longcat", "stable_audio"])
def test_objective_overfits_one_clip_and_stock_pipeline_reproduces_it(family, corpus, tiny_vae, vae_dir, tmp_path):
    from diffusers import DiffusionPipeline

    from losatok_plugin.training import train_dit

    one, target = _one_clip_shards(corpus, tiny_vae, tmp_path, "hello world")
    t = target.shape[1]
    # The EDM objective spans σ 0.002..80 and needs more steps to memorise x0 at high noise.
    steps = {"longcat": 300, "stable_audio": 600}[family]
    cfg = tiny_stage(family, one, vae_dir, tmp_path / "run", max_steps=steps, save_every=1000, log_every=10)
    cfg.objective.cond_dropout, cfg.ema_decay, cfg.model.max_seconds = 0.0, None, t / 25
    cfg.model.width, cfg.model.depth, cfg.data.batch_size = 64, 2, 8
    cfg.optim.min_lr_ratio, cfg.optim.lr = 0.1, 3e-3
    out = train_dit(cfg)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    first, last = rows[0]["dit/loss"], np.mean([r["dit/loss"] for r in rows[-5:]])
    assert last < {"longcat": 0.1, "stable_audio": 0.4}[family] * first, (first, last)
    pipe = DiffusionPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    g = torch.Generator().manual_seed(0)
    if family == "stable_audio":
        z = pipe(
            "hello world",
            audio_end_in_s=t / 25,
            num_inference_steps=20,
            guidance_scale=1.0,
            generator=g,
            output_type="latent",
        ).audios[0]
    else:
        z = (
            pipe(
                "hello world",
                audio_duration_s=t / 25,
                num_inference_steps=20,
                guidance_scale=1.0,
                generator=g,
                output_type="latent",
            )
            .audios[0]
            .T
        )
    err = (z - target).pow(2).mean() / target.pow(2).mean()
    assert err < 0.1, float(err)


@pytest.mark.parametrize("family", ["longcat", "stable_audio"])
def test_trained_pipeline_round_trips_and_generates_requested_duration(family, shards, vae_dir, tmp_path):
    from diffusers import DiffusionPipeline

    from losatok_plugin import LoSATokVAE
    from losatok_plugin.training import train_dit

    out = train_dit(tiny_stage(family, shards, vae_dir, tmp_path / "run"))
    index = json.loads((out / "model_index.json").read_text())
    assert index["vae"] == ["losatok_plugin.models.losatok_vae", "LoSATokVAE"]
    pipe = DiffusionPipeline.from_pretrained(out)
    assert type(pipe).__name__ == {"longcat": "LongCatAudioDiTPipeline", "stable_audio": "StableAudioPipeline"}[family]
    assert pipe.vae.normalizes_latents
    stats = json.loads((shards / "stats.json").read_text())
    torch.testing.assert_close(torch.tensor(pipe.vae.config.latent_norm_mean), torch.tensor(stats["mean"]))
    pipe.set_progress_bar_config(disable=True)
    kw = {"audio_end_in_s": 0.8} if family == "stable_audio" else {"audio_duration_s": 0.8}
    audio = pipe("hello", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt", **kw)
    assert audio.audios.shape == (1, 1, int(0.8 * 16000)) and torch.isfinite(audio.audios).all()
    # swap in a VAE: the same weights with the run's statistics give the same audio
    swapped_vae = LoSATokVAE.from_pretrained(out / "vae")
    swapped = DiffusionPipeline.from_pretrained(out, vae=swapped_vae)
    assert swapped.vae is swapped_vae
    swapped.set_progress_bar_config(disable=True)
    again = swapped("hello", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt", **kw)
    torch.testing.assert_close(again.audios, audio.audios)
    # a checkpoint exports to the same pipeline (what shipping a running training does)
    from losatok_plugin.training.dit import export_checkpoint

    exported = export_checkpoint(tiny_stage(family, shards, vae_dir, tmp_path / "run"), tmp_path / "exported")
    again = DiffusionPipeline.from_pretrained(exported)
    again.set_progress_bar_config(disable=True)
    same = again("hello", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt", **kw)
    torch.testing.assert_close(same.audios, audio.audios)
    # fine-tuning starts from a saved pipeline: its tokenizer and its weights
    ft = tiny_stage(family, shards, vae_dir, tmp_path / "finetune", max_steps=1)
    ft.init_from, ft.optim.lr, ft.ema_decay = str(out), 1e-12, None
    tuned = DiffusionPipeline.from_pretrained(train_dit(ft))
    assert tuned.tokenizer.get_vocab() == pipe.tokenizer.get_vocab()
    for k, v in pipe.transformer.state_dict().items():
        torch.testing.assert_close(tuned.transformer.state_dict()[k], v, atol=1e-6, rtol=0)
    # a short fine-tune with EMA exports what it learned (the EMA warm-up of training/ema.py; a flat 0.999
    # would export ~99.8 % of the starting weights after 2 steps)
    from safetensors.torch import load_file

    ft = tiny_stage(family, shards, vae_dir, tmp_path / "finetune_ema", max_steps=2)
    ft.init_from, ft.ema_decay = str(out), 0.999
    train_dit(ft)
    (ckpt,) = (tmp_path / "finetune_ema" / "checkpoints").glob("step_*")
    raw, ema = load_file(str(ckpt / "dit.safetensors")), load_file(str(ckpt / "ema.safetensors"))
    start = {f"transformer.{k}": v for k, v in pipe.transformer.state_dict().items()}
    moved = sum((raw[k] - start[k]).norm() for k in start)
    left = sum((raw[k] - ema[k]).norm() for k in start)
    assert moved > 0 and left < 0.5 * moved
    # resume continues from the checkpoint
    cfg = tiny_stage(family, shards, vae_dir, tmp_path / "run", max_steps=15)
    train_dit(cfg, resume=True)
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 15 and json.loads((out / "generation_config.json").read_text())["steps_trained"] == 15


def test_a_stop_signal_saves_a_checkpoint_and_refreshes_the_pipeline(shards, vae_dir, tmp_path, monkeypatch):
    """The DiT stage (export_on_stop): a stopped run returns its checkpoint, and its pipeline is already there."""
    from losatok_plugin.training import train_dit
    from losatok_plugin.training.trainer import Trainer

    monkeypatch.setattr(Trainer, "should_stop", lambda self: self.step >= 2)
    out = tmp_path / "run"
    assert train_dit(tiny_stage("longcat", shards, vae_dir, out, max_steps=10)) == out / "checkpoints" / "step_00000002"
    gen = json.loads((out / "pipeline" / "generation_config.json").read_text())
    assert gen["steps_trained"] == 2


# -- losatok generate ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_pipeline(shards, vae_dir, tmp_path_factory) -> Path:
    from losatok_plugin.training import train_dit

    return train_dit(tiny_stage("longcat", shards, vae_dir, tmp_path_factory.mktemp("gen") / "run", max_steps=2))


def run_cli(*argv: str) -> tuple[int, str]:
    import contextlib
    import io

    from losatok_plugin.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


def test_generate_writes_the_requested_duration(tiny_pipeline, tmp_path):
    code, _ = run_cli(
        "generate",
        "--pipeline",
        str(tiny_pipeline),
        "--prompt",
        "Hello world",
        "--seconds",
        "0.6",
        "--out",
        str(tmp_path / "x.wav"),
        "--steps",
        "2",
        "--cfg",
        "2",
    )
    assert code == 0
    data, sr = sf.read(str(tmp_path / "x.wav"))
    assert sr == 16000 and data.shape == (int(0.6 * 16000),)
    code, _ = run_cli(
        "generate",
        "--pipeline",
        str(tiny_pipeline),
        "--prompt",
        "hi there",
        "--out",
        str(tmp_path / "y.wav"),
        "--steps",
        "1",
    )
    assert code == 0 and sf.info(str(tmp_path / "y.wav")).duration > 0  # TTS: the duration rule


@pytest.mark.parametrize(
    "prompt, seconds, match",
    [
        ("", "1", "prompt is empty"),
        ("   ", "1", "prompt is empty"),
        ("hello", "0", "must be > 0"),
        ("hello", "-2", "must be > 0"),
        ("hello", "99", "beyond this model's maximum"),
        ("hello ☃ world", "1", "does not know"),
    ],
)
def test_generate_bad_inputs_get_clear_errors(tiny_pipeline, tmp_path, prompt, seconds, match):
    code, err = run_cli(
        "generate",
        "--pipeline",
        str(tiny_pipeline),
        "--prompt",
        prompt,
        "--seconds",
        seconds,
        "--out",
        str(tmp_path / "x.wav"),
        "--steps",
        "1",
    )
    assert code == 2 and match in err, err
    assert not (tmp_path / "x.wav").exists()


def test_generate_missing_pipeline_folder(tmp_path):
    code, err = run_cli(
        "generate", "--pipeline", str(tmp_path / "nope"), "--prompt", "hi", "--out", str(tmp_path / "x.wav")
    )
    assert code == 2 and "pipeline folder not found" in err
    (tmp_path / "empty").mkdir()
    code, err = run_cli(
        "generate", "--pipeline", str(tmp_path / "empty"), "--prompt", "hi", "--out", str(tmp_path / "x.wav")
    )
    assert code == 2 and "not a saved pipeline" in err


# -- the VAE as the pipelines read it -----------------------------------------------------------------
def test_vae_latent_normalisation_and_longcat_config(tiny_vae, tmp_path):
    from losatok_plugin import ConfigError, LoSATokVAE

    assert tiny_vae.config.sample_rate == 16000 and tiny_vae.config.downsampling_ratio == 640  # LongCat reads these
    assert not tiny_vae.normalizes_latents
    c = tiny_vae.config.latent_channels
    mean, std = torch.linspace(-1, 1, c), torch.linspace(0.5, 2, c)
    kw = {k: v for k, v in dict(tiny_vae.config).items() if not k.startswith("_")}
    normed = LoSATokVAE(**{**kw, "latent_norm_mean": mean.tolist(), "latent_norm_std": std.tolist()}).eval()
    normed.load_state_dict(tiny_vae.state_dict())
    x = torch.randn(2, 1, 16000) * 0.1
    with torch.inference_mode():
        raw = tiny_vae.encode(x).latent_dist
        z = normed.encode(x).latent_dist
        torch.testing.assert_close(z.mean, (raw.mean - mean[:, None]) / std[:, None])
        torch.testing.assert_close(z.var, raw.var / std[:, None] ** 2, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(normed.decode(z.mean).sample, tiny_vae.decode(raw.mean).sample, atol=1e-5, rtol=1e-4)
    normed.save_pretrained(tmp_path / "v")
    back = LoSATokVAE.from_pretrained(tmp_path / "v")
    assert back.normalizes_latents and back.config.latent_norm_std == normed.config.latent_norm_std
    with pytest.raises(ConfigError, match="together"):
        LoSATokVAE(**{**kw, "latent_norm_mean": mean.tolist()})
    with pytest.raises(ConfigError, match="disagrees"):
        LoSATokVAE(**{**kw, "downsampling_ratio": 320})


@pytest.mark.slow
def test_real_two_process_launch(corpus, vae_dir, tmp_path):
    """torchrun with two CPU processes (gloo): disjoint shards, one stats.json (run with -m slow)."""
    import os
    import shutil
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    cmd = [
        torchrun,
        "--nproc_per_node",
        "2",
        "--master_port",
        "29561",
        str(repo / "recipes/dit/encode_latents.py"),
        "--manifest",
        str(corpus),
        "--out",
        str(tmp_path / "s"),
        "--model",
        str(vae_dir),
        "--shard-size",
        "2",
    ]
    subprocess.run(cmd, check=True, env=env, timeout=600)
    stats = json.loads((tmp_path / "s" / "stats.json").read_text())
    assert stats["clips"] == len(TEXTS)
    per_file = [json.loads(_meta(p)["covered"]) for p in sorted((tmp_path / "s").glob("shard-*.safetensors"))]
    assert sorted(i for c in per_file for i in c) == list(range(9))
    assert all(len({i % 2 for i in c}) == 1 for c in per_file)


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "losatok_plugin" / "pretrained").glob("dit-*-mini"))


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_pipeline_generates_with_losatok_generate(folder, tmp_path):
    """Each shipped pipeline is a stock diffusers pipeline around losatok-mini, and `losatok generate` runs it."""
    info = json.loads((folder / "generation_config.json").read_text())
    card = (folder / "README.md").read_text()
    assert "Fréchet distance" in card and str(info["steps_trained"]) in card
    prompt = info["example_prompts"][0]
    code, err = run_cli(
        "generate",
        "--pipeline",
        str(folder),
        "--prompt",
        prompt,
        "--seconds",
        "0.5",
        "--out",
        str(tmp_path / "x.wav"),
        "--steps",
        "2",
    )
    assert code == 0, err
    assert sf.info(str(tmp_path / "x.wav")).frames == 8000


def test_generate_in_a_fresh_process_by_short_name(tmp_path):
    """A new process (nothing imported beforehand) loads a shipped pipeline by its short name: diffusers
    only loads the VAE component once ``losatok_plugin.models.losatok_vae`` is imported, which the
    package's lazy ``__init__`` does not do by itself."""
    import subprocess
    import sys

    out = tmp_path / "x.wav"
    folder = Path(__file__).resolve().parents[1] / "losatok_plugin" / "pretrained" / "dit-tta-mini"
    prompt = json.loads((folder / "generation_config.json").read_text())["example_prompts"][0]
    cmd = [
        sys.executable,
        "-m",
        "losatok_plugin",
        "generate",
        "--pipeline",
        "dit-tta-mini",
        "--prompt",
        prompt,
        "--seconds",
        "0.5",
        "--steps",
        "2",
        "--out",
        str(out),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert sf.info(str(out)).frames == 8000
