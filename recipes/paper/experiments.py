"""The paper's experiments as ordered, resumable steps (``python -m recipes.paper.run`` runs them).

| experiment | steps |
| --- | --- |
| ``sembo_vs_pca`` | probe tasks; SemBo with / without the time-relation loss on the teacher; probes of the teacher, SemBo, PCA-128, a random 128-d projection and SemBo without the relation loss; effective rank + PCA curves per domain |
| ``dual_level`` | the tokenizer three ways (both / high_only / low_only) on that SemBo; probes on ``mu``; reconstruction metrics |
| ``latent_width`` | a wider stage-0 teacher (or ``--wide-teacher``), its SemBo; tokenizer (a) 128-d and (b) without the bottleneck; latents; the same DiT on each; FD of generated audio at fixed checkpoints |

Training configs are the override files in ``recipes/paper/configs`` (``base:`` a mini config).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from losatok_plugin.data.manifest import ManifestEntry, read_manifest, write_manifest
from losatok_plugin.fileio import atomic_write_text

from .driver import Context, Step, shell

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"
RUN = "python -m recipes.paper.run"


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(HERE.parents[1]))
    except ValueError:
        return str(path)


class StepStopped(RuntimeError):
    """A training step returned before ``run.max_steps`` (stopped by a signal): not done, resumable."""


# -- training steps ---------------------------------------------------------------------------------------
def stage_args(
    ctx: Context, name: str, stage: str, overrides: Callable[[Context], list[str]], cached: bool = False
) -> list[str]:
    """The dotted overrides of training step ``name``: output folder, budget steps, manifests, the feature
    cache (``cached`` steps train on ``ctx.teacher``, whose cache ``ctx.feature_cache`` is), the budget's
    overrides (per stage, then per step), then the step's own (teacher, init_from...)."""
    b = ctx.budget
    steps = {
        "sembo": b.sembo_steps,
        "tokenizer": b.tokenizer_steps,
        "semantic_encoder": b.teacher_steps,
        "dit": b.dit_steps,
    }
    out = ctx.run_dir(name)
    common = [f"run.output_dir={out}", f"run.max_steps={steps[stage]}", f"run.progress={str(ctx.progress).lower()}"]
    if stage != "dit":
        common.append(f"data.train_manifest={ctx.corpus / 'train.jsonl'}")
    if stage in ("tokenizer", "semantic_encoder"):
        common.append(f"data.valid_manifest={ctx.corpus / 'valid.jsonl'}")
    if cached and ctx.feature_cache:
        common.append(f"data.feature_cache={ctx.feature_cache}")
    # the budget's overrides (per stage, then per step), then the step's own (teacher, init_from...)
    return [*common, *b.overrides.get(stage, []), *b.overrides.get(name, []), *overrides(ctx)]


def train_step(
    name: str,
    stage: str,
    config: str,
    overrides: Callable[[Context], list[str]],
    needs: tuple[str, ...] = (),
    cached: bool = False,
) -> Step:
    """Train ``stage`` with ``configs/<config>`` into ``<work>/<name>`` (resumes an interrupted run);
    ``cached``: the step's teacher is ``ctx.teacher``, so it reads ``ctx.feature_cache`` when one is given."""

    def args(ctx: Context) -> list[str]:
        return stage_args(ctx, name, stage, overrides, cached)

    def run(ctx: Context) -> None:
        from losatok_plugin.training.checkpoint import latest_checkpoint, step_of
        from losatok_plugin.training.stages import get_stage, train
        from losatok_plugin.training.yaml_config import load_stage_config

        cfg = load_stage_config(get_stage(stage).config, CONFIGS / config, args(ctx))
        resume = latest_checkpoint(ctx.run_dir(name)) is not None
        cfg.run.overwrite = not resume  # an interrupted run without a checkpoint starts over
        out = train(stage, cfg, resume=resume)
        # SIGINT / SIGTERM make the engine save a checkpoint and return: the step is not done (no marker)
        last = latest_checkpoint(ctx.run_dir(name))
        reached = step_of(last) if last is not None else None
        if reached is None or reached < cfg.run.max_steps:
            raise StepStopped(
                f"{name}: training stopped at step {reached} of {cfg.run.max_steps} ({out}); rerun to resume"
            )

    def command(ctx: Context) -> str:
        return shell("python", "recipes/train.py", stage, "--config", _rel(CONFIGS / config), *args(ctx))

    return Step(name, run, command, needs)


def check_feature_cache(cache: str | Path, teacher: str | Path, teacher_type: str = "midashenglm") -> None:
    """Raise ``ValueError`` unless the feature cache folder ``cache`` was made by the teacher in the stage-0
    export ``teacher`` (the cache's ``teacher`` id is ``<type>:<fingerprint of the teacher's weights>``, as
    ``recipes/cache_features.py`` writes it)."""
    from losatok_plugin.data.feature_cache import FeatureCache
    from losatok_plugin.hashing import tensor_fingerprint
    from losatok_plugin.teachers import load_teacher

    made_by = FeatureCache(cache).teacher
    enc = load_teacher(teacher_type, teacher)
    expected = f"{teacher_type}:{tensor_fingerprint(enc.state_dict().values())}"
    if made_by != expected:
        raise ValueError(f"feature cache {cache} holds features of teacher {made_by!r}, not of {teacher} ({expected})")


def final(ctx: Context, name: str) -> Path:
    return ctx.run_dir(name) / "final"


def wide_teacher(ctx: Context) -> str:
    return ctx.wide_teacher or str(final(ctx, "teacher_wide"))


# -- features ---------------------------------------------------------------------------------------------
def task_manifests(ctx: Context) -> dict[str, Path]:
    return {p.stem: p for p in sorted((ctx.work / "tasks").glob("*.jsonl"))}


def task_entries(ctx: Context) -> dict[str, list[ManifestEntry]]:
    return {name: read_manifest(p) for name, p in task_manifests(ctx).items()}


def teacher_features(ctx: Context) -> None:
    """``<work>/features/teacher.pt``: ``{path: [T, D]}`` of ``ctx.teacher`` on every clip of every probe task,
    one teacher pass for all the representations built on it. Clips in ``ctx.feature_cache`` (the train clips,
    checked against the teacher by ``run.py``) are read from it; the others are encoded. Every tensor is
    rounded to float16, the cache's storage, so that train and held-out clips carry the same precision."""
    from tqdm import tqdm

    from losatok_plugin.data.audio_io import AudioReadError, load_audio
    from losatok_plugin.data.feature_cache import FeatureCache
    from losatok_plugin.loading import load_vae

    cache = FeatureCache(ctx.feature_cache) if ctx.feature_cache else None
    # the cache keys its clips by the path its manifest gave (often relative to the folder it was built from),
    # the task manifests by another spelling of the same file: match on the resolved file
    in_cache = {str(Path(k).resolve()): k for k in cache.entries} if cache is not None else {}
    model = load_vae(str(ctx.teacher)).eval()
    paths = sorted({e.path for entries in task_entries(ctx).values() for e in entries})
    out: dict[str, torch.Tensor] = {}
    cached = 0
    for path in tqdm(paths, desc="teacher features", disable=not ctx.progress):
        key = in_cache.get(str(Path(path).resolve()))
        if cache is not None and key is not None:
            out[path] = cache.get(key).half().float()
            cached += 1
            continue
        try:
            audio = load_audio(path, model.sampling_rate)
            with torch.inference_mode():
                feats = model.semantic_encoder(model.prepare_audio(audio[None]))
        except (AudioReadError, ValueError) as err:
            print(f"[paper] skipped {path}: {err}")
            continue
        out[path] = feats[0].half().float().clone()
    print(f"[paper] teacher features of {len(out)} clips ({cached} from the feature cache)")
    (ctx.work / "features").mkdir(parents=True, exist_ok=True)
    torch.save(out, ctx.work / "features" / "teacher.pt")
    ctx.record("sembo_vs_pca", "teacher_features", {"clips": len(out), "from_cache": cached})


def extract_features(ctx: Context, model_dir: str | Path, reps: list[str], file: str) -> None:
    """``<work>/features/<file>``: ``{rep: {path: [T, D]}}`` of every clip of every probe task (one forward
    pass per clip for all ``reps``), on the teacher features of :func:`teacher_features` (the model's frozen
    teacher is ``ctx.teacher``): ``semantic_emb`` and ``semantic_emb_low`` need no audio, the others run the
    acoustic branch on the clip."""
    from tqdm import tqdm

    from losatok_plugin.data.audio_io import AudioReadError, load_audio
    from losatok_plugin.eval.representations import check_representation
    from losatok_plugin.loading import load_vae

    for rep in reps:
        check_representation(rep)
    teacher = load_features(ctx, "teacher.pt")
    model = load_vae(str(model_dir)).eval()
    semantic_only = set(reps) <= {"semantic_emb", "semantic_emb_low"}
    out: dict[str, dict[str, torch.Tensor]] = {rep: {} for rep in reps}
    for path, emb in tqdm(teacher.items(), desc=f"features of {Path(model_dir).parent.name}", disable=not ctx.progress):
        with torch.inference_mode():
            if semantic_only:
                feats = {"semantic_emb": emb[None], "semantic_emb_low": model.bottleneck.encode(emb[None])}
            else:
                try:
                    audio = load_audio(path, model.sampling_rate)
                    feats = model.encode_features(audio[None], semantic_emb=emb[None])
                except (AudioReadError, ValueError) as err:
                    print(f"[paper] skipped {path}: {err}")
                    continue
        for rep in reps:
            out[rep][path] = feats[rep][0].float().clone()
    torch.save(out, ctx.work / "features" / file)


def load_features(ctx: Context, file: str) -> dict[str, dict[str, torch.Tensor]]:
    return torch.load(ctx.work / "features" / file, weights_only=True)


def probe_all(ctx: Context, reps: dict[str, dict[str, torch.Tensor]]) -> tuple[list[dict], list[dict]]:
    """Per-seed rows and the mean ± std summary of every representation (``{name: {path: [T, D]}}``) on
    every probe task."""
    from losatok_plugin.eval.probe import summarize
    from losatok_plugin.eval.reports import probe_features

    rows: list[dict] = []
    for task, entries in task_entries(ctx).items():
        for rep, by_path in reps.items():
            kept = [e for e in entries if e.path in by_path]
            feats = [by_path[e.path] for e in kept]
            rows += probe_features(feats, kept, task, rep, ctx.budget.seeds, ctx.budget.train_fraction)
    return rows, summarize(rows)


def train_paths(ctx: Context) -> list[str]:
    return sorted({e.path for es in task_entries(ctx).values() for e in es if e.extra.get("split") == "train"})


# -- sembo_vs_pca -----------------------------------------------------------------------------------------
def pca_projection(
    x: torch.Tensor, k: int, max_frames: int = 20000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean [D], components [D, k])`` of PCA fitted on the frames ``x [n, D]`` (a seeded sample of at most
    ``max_frames``)."""
    if x.shape[0] > max_frames:
        x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:max_frames]]
    x = x.double()
    mean = x.mean(0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    if vh.shape[0] < k:
        raise ValueError(f"PCA to {k} dims needs at least {k} training frames and dims, got {tuple(x.shape)}")
    return mean.float(), vh[:k].T.float()


def random_projection(dim: int, k: int, seed: int = 0) -> torch.Tensor:
    """A fixed Gaussian ``[dim, k]`` projection (variance 1/k), the training-free baseline beside PCA."""
    return torch.randn(dim, k, generator=torch.Generator().manual_seed(seed)) / k**0.5


def sembo_features(ctx: Context) -> None:
    extract_features(ctx, final(ctx, "sembo"), ["semantic_emb", "semantic_emb_low"], "sembo.pt")
    extract_features(ctx, final(ctx, "sembo_norel"), ["semantic_emb_low"], "sembo_norel.pt")


def sembo_probes(ctx: Context) -> None:
    feats = load_features(ctx, "sembo.pt")
    norel = load_features(ctx, "sembo_norel.pt")
    teacher = feats["semantic_emb"]
    k = next(iter(feats["semantic_emb_low"].values())).shape[-1]
    train = torch.cat([teacher[p] for p in train_paths(ctx) if p in teacher])
    mean, comps = pca_projection(train, k)
    rand = random_projection(train.shape[1], k)
    reps = {
        "teacher": teacher,
        "sembo": feats["semantic_emb_low"],
        f"pca{k}": {p: (f - mean) @ comps for p, f in teacher.items()},
        f"random{k}": {p: f @ rand for p, f in teacher.items()},
        "sembo_norel": norel["semantic_emb_low"],
    }
    rows, summary = probe_all(ctx, reps)
    ctx.record("sembo_vs_pca", "probe_rows", rows)
    ctx.record("sembo_vs_pca", "probes", summary)
    var = torch.linalg.svdvals(train.double() - train.double().mean(0)).pow(2)
    ctx.record(
        "sembo_vs_pca",
        "setup",
        {
            "teacher": ctx.teacher,
            "teacher_dim": int(train.shape[1]),
            "latent_dim": int(k),
            "pca_train_frames": int(train.shape[0]),
            "pca_variance_kept": float(var[:k].sum() / var.sum()),
            "seeds": list(ctx.budget.seeds),
            "train_fraction": ctx.budget.train_fraction,
        },
    )


def teacher_rank(ctx: Context) -> None:
    from losatok_plugin.eval.reports import rank_row

    feats = load_features(ctx, "sembo.pt")
    domain_of = {e.path: e.domain for es in task_entries(ctx).values() for e in es}
    out: dict[str, dict] = {}
    for domain in sorted({d for d in domain_of.values() if d}):
        paths = [p for p, d in domain_of.items() if d == domain]
        for rep, label in (("semantic_emb", "teacher"), ("semantic_emb_low", "sembo")):
            x = torch.cat([feats[rep][p] for p in paths if p in feats[rep]])
            row, curve = rank_row(x, label)
            out.setdefault(domain, {})[label] = {**row, "curve": curve.tolist()}
    ctx.record("sembo_vs_pca", "rank", out)


# -- dual_level -------------------------------------------------------------------------------------------
MODES = ("both", "high_only", "low_only")


def dual_features(ctx: Context) -> None:
    for mode in MODES:
        extract_features(ctx, final(ctx, f"tok_{mode}"), ["mu"], f"tok_{mode}.pt")


def dual_probes(ctx: Context) -> None:
    reps = {mode: load_features(ctx, f"tok_{mode}.pt")["mu"] for mode in MODES}
    rows, summary = probe_all(ctx, reps)
    ctx.record("dual_level", "probe_rows", rows)
    ctx.record("dual_level", "probes", summary)


def heldout_clips(ctx: Context, n: int, domains: tuple[str, ...] = ("speech", "music", "sound")) -> list[ManifestEntry]:
    """The first ``n`` clips per domain of the held-out synthetic manifests (valid + test), in order."""
    pool = [
        e for f in ("valid.jsonl", "test.jsonl") if (ctx.corpus / f).is_file() for e in read_manifest(ctx.corpus / f)
    ]
    return [e for d in domains for e in [e for e in pool if e.domain == d][:n]]


def dual_recon(ctx: Context) -> None:
    from losatok_plugin.eval.recon import evaluate_reconstruction
    from losatok_plugin.loading import load_vae

    clips = heldout_clips(ctx, ctx.budget.recon_clips)
    out = {}
    for mode in MODES:
        model = load_vae(str(final(ctx, f"tok_{mode}"))).eval()
        report = evaluate_reconstruction(clips, ctx.work / "recon" / mode, model=model, plots=0, progress=ctx.progress)
        out[mode] = report.summary
    ctx.record("dual_level", "recon", out)


# -- latent_width -----------------------------------------------------------------------------------------
DIT_DOMAIN = "sound"  # text-to-audio, the paper's generation claim
# The wide teacher is --teacher widened (widen.py: same function, every channel twice, weights perturbed so
# that the copies can drift apart) and fine-tuned with the stage-0 recipe (teacher_wide.yaml, budget steps).
WIDEN_FACTOR = 2
WIDEN_NOISE = 0.05


def dit_manifest(ctx: Context) -> Path:
    """The DiT's training clips: the corpus' train clips of :data:`DIT_DOMAIN` (capped like the probes)."""
    entries = [e for e in read_manifest(ctx.corpus / "train.jsonl") if e.domain == DIT_DOMAIN]
    cap = ctx.budget.max_train
    if cap is not None and len(entries) > cap:
        keep = np.sort(np.random.default_rng(0).choice(len(entries), size=cap, replace=False))
        entries = [entries[i] for i in keep]
    return write_manifest(entries, ctx.work / "dit_train.jsonl")


def encode_latents(which: str) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        from losatok_plugin.generation.encode import encode_and_merge

        encode_and_merge(str(dit_manifest(ctx)), str(ctx.run_dir(f"latents_{which}")), str(final(ctx, f"tok_{which}")))

    return run


DIT_SEEDS = (0, 1, 2)  # the DiT steps that exist; a budget trains those in its ``dit_seeds``


def dit_step(which: str, seed: int) -> Step:
    """Train the DiT of latent ``which`` with ``seed``; nothing when ``seed`` is not in the budget's ``dit_seeds``."""
    trained = train_step(
        dit_run(which, seed), "dit", "dit_width.yaml", dit_overrides(which, seed), (f"latents_{which}",)
    )

    def run(ctx: Context) -> None:
        if seed in ctx.budget.dit_seeds:
            trained.run(ctx)

    def command(ctx: Context) -> str:
        return (
            trained.command(ctx) if seed in ctx.budget.dit_seeds else f"(seed {seed}: not in this budget's dit_seeds)"
        )

    return Step(trained.name, run, command, trained.needs)


def dit_run(which: str, seed: int) -> str:
    """The DiT step (and run folder) of latent ``which`` trained with ``seed`` (seed 0 keeps the plain name)."""
    return f"dit_{which}" if seed == 0 else f"dit_{which}_s{seed}"


FD_REF_CLIPS = 256  # training clips of the domain that the FD is taken against
FD_BOOTSTRAP = 20  # resamplings of the generated clips for the FD's spread


def _fd_setup(ctx: Context):
    """(embedding model, reference features, held-out clips, generated length): what every FD of latent_width
    shares. The reference is up to :data:`FD_REF_CLIPS` of the DiT's training clips (the distribution both DiTs
    learn), cropped to the generated length; prompts come from the held-out clips of the domain."""
    from losatok_plugin.eval.representations import extract
    from losatok_plugin.loading import load_vae
    from losatok_plugin.training.config import DiTStageConfig
    from losatok_plugin.training.yaml_config import load_stage_config

    args = stage_args(ctx, "dit_a", "dit", dit_overrides("a", 0))
    seconds = load_stage_config(DiTStageConfig, CONFIGS / "dit_width.yaml", args).model.max_seconds / 2
    embed = load_vae(wide_teacher(ctx)).eval()
    train = read_manifest(dit_manifest(ctx))
    pick = np.sort(np.random.default_rng(0).choice(len(train), size=min(FD_REF_CLIPS, len(train)), replace=False))
    ref = _crop([train[i] for i in pick], seconds, ctx.work / "fd_ref")
    ref_feats, _, _ = extract(embed, ref, "semantic_emb", progress=False)
    held = heldout_clips(ctx, 10**9, (DIT_DOMAIN,))
    return embed, ref_feats, held, seconds


def fd_with_spread(ref: list[torch.Tensor], gen: list[torch.Tensor], boots: int = FD_BOOTSTRAP) -> tuple[float, float]:
    """FD between the frames of ``ref`` and ``gen`` (lists of per-clip ``[T, D]``) and its bootstrap std over
    ``boots`` resamplings (with replacement) of the ``gen`` clips."""
    from losatok_plugin.eval.analysis import frechet_distance

    a = torch.cat(ref)
    fd = frechet_distance(a, torch.cat(gen))
    rng = np.random.default_rng(0)
    samples = [
        frechet_distance(a, torch.cat([gen[i] for i in rng.integers(0, len(gen), len(gen))])) for _ in range(boots)
    ]
    return fd, float(np.std(samples))


def fd_curve(which: str) -> Callable[[Context], None]:
    """FD (wide teacher's ``semantic_emb``, the same fixed embedding for (a) and (b)) of audio generated at
    each kept checkpoint of every DiT seed of latent ``which``, against the DiT's training clips
    (:func:`_fd_setup`). Each row: the step, the FD averaged over the DiT seeds, the per-seed FDs and the mean
    bootstrap std of one seed's FD."""

    def run(ctx: Context) -> None:
        import soundfile as sf
        from tqdm import tqdm

        from losatok_plugin.eval.representations import extract
        from losatok_plugin.generation.generate import load_pipeline
        from losatok_plugin.generation.text import prompt_for
        from losatok_plugin.loading import load_vae
        from losatok_plugin.training.checkpoint import complete_checkpoints, step_of
        from losatok_plugin.training.config import DiTStageConfig
        from losatok_plugin.training.dit_pipeline import export_checkpoint, generate_audio
        from losatok_plugin.training.yaml_config import load_stage_config

        embed, ref, held, seconds = _fd_setup(ctx)
        n = ctx.budget.fd_clips
        prompts = [prompt_for({**e.extra, "label": e.label}, DIT_DOMAIN) for e in (held * n)[:n]]
        per_step: dict[int, list[tuple[float, float]]] = {}
        runs = []
        for seed in ctx.budget.dit_seeds:
            name = dit_run(which, seed)
            cfg = load_stage_config(
                DiTStageConfig, CONFIGS / "dit_width.yaml", stage_args(ctx, name, "dit", dit_overrides(which, seed))
            )
            runs += [(name, cfg, ckpt) for ckpt in complete_checkpoints(cfg.run.output_dir)]
        for name, cfg, ckpt in tqdm(runs, desc=f"FD of DiT ({which}) checkpoints", disable=not ctx.progress):
            step = step_of(ckpt)
            pipe = load_pipeline(
                export_checkpoint(cfg, ctx.work / f"pipelines_{name}" / f"step_{step}", checkpoint=ckpt)
            )
            gen_dir = ctx.work / f"generated_{name}" / f"step_{step}"
            gen_dir.mkdir(parents=True, exist_ok=True)
            gen = []
            for i, prompt in enumerate(prompts):
                audio = generate_audio(pipe, cfg.model.family, prompt, seconds, ctx.budget.sample_steps, 3.0, i)
                sf.write(str(gen_dir / f"{i:03d}.wav"), audio[0].clamp(-1, 1).numpy(), 16000)
                gen.append(ManifestEntry(str(gen_dir / f"{i:03d}.wav"), domain=DIT_DOMAIN))
            feats, _, _ = extract(embed, gen, "semantic_emb", progress=False)
            per_step.setdefault(step, []).append(fd_with_spread(ref, feats))
        curve = [
            {
                "step": step,
                "fd": float(np.mean([fd for fd, _ in rows])),
                "fd_seeds": [fd for fd, _ in rows],
                "fd_boot_std": float(np.mean([sd for _, sd in rows])),
                "gen_clips": len(prompts),
                "ref_clips": len(ref),
            }
            for step, rows in sorted(per_step.items())
        ]
        ctx.record("latent_width", f"fd_{which}", curve)
        ctx.record("latent_width", f"latent_dim_{which}", int(load_vae(str(final(ctx, f"tok_{which}"))).latent_dim))

    return run


def _crop(entries: list[ManifestEntry], seconds: float, out: Path) -> list[ManifestEntry]:
    """The first ``seconds`` of each clip, written as 16 kHz wavs into ``out`` (the generated clips' length)."""
    import soundfile as sf

    from losatok_plugin.data.audio_io import load_audio

    out.mkdir(parents=True, exist_ok=True)
    cropped = []
    for i, e in enumerate(entries):
        audio = load_audio(e.path, 16000)[: int(seconds * 16000)]
        sf.write(str(out / f"{i:03d}.wav"), audio.numpy(), 16000)
        cropped.append(ManifestEntry(str(out / f"{i:03d}.wav"), domain=e.domain))
    return cropped


def latent_stats(ctx: Context) -> None:
    """What the FD curves are read against: the wide teacher's last validation metrics, the effective rank of
    each latent (the paper's redundancy argument), and the FD floors with their bootstrap std — held-out clips
    that no DiT made (``data``) and their reconstructions by tokenizer (a) and (b) (``recon_a``/``recon_b``: a
    DiT that generated the data distribution exactly would score about these), cropped to the generated
    length, against the same reference clips as :func:`fd_curve`."""
    import soundfile as sf

    from losatok_plugin.data.audio_io import load_audio
    from losatok_plugin.data.latent_shards import load_shards
    from losatok_plugin.eval.analysis import effective_rank
    from losatok_plugin.eval.representations import extract
    from losatok_plugin.loading import load_vae

    out: dict = {}
    log = ctx.run_dir("teacher_wide") / "metrics.jsonl"
    if not ctx.wide_teacher and log.is_file():
        rows = [json.loads(line) for line in log.read_text().splitlines() if "teacher_valid/per" in line]
        if rows:
            out["wide_teacher_valid"] = rows[-1]
    out["rank"] = {}
    for w in ("a", "b"):
        x = torch.cat([c.mu.float().T for c in load_shards(ctx.run_dir(f"latents_{w}"))])
        out["rank"][w] = {"dim": int(x.shape[1]), "effective_rank": effective_rank(x), "frames": int(x.shape[0])}
    embed, ref, held, seconds = _fd_setup(ctx)
    floor_dir = ctx.work / "fd_floor"
    data = _crop(held[: ctx.budget.fd_clips], seconds, floor_dir / "data")
    sets = {"data": data}
    for w in ("a", "b"):
        model = load_vae(str(final(ctx, f"tok_{w}"))).eval()
        sets[f"recon_{w}"] = []
        for i, e in enumerate(data):
            with torch.no_grad():
                y = model(load_audio(e.path, 16000)[None, None]).sample
            path = floor_dir / f"recon_{w}" / f"{i:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), y.reshape(-1).clamp(-1, 1).numpy(), 16000)
            sets[f"recon_{w}"].append(ManifestEntry(str(path), domain=DIT_DOMAIN))
    floor: dict = {"clips": len(data), "ref_clips": len(ref)}
    for key, entries in sets.items():
        feats, _, _ = extract(embed, entries, "semantic_emb", progress=False)
        floor[key], floor[f"{key}_boot_std"] = fd_with_spread(ref, feats)
    out["fd_floor"] = floor
    ctx.record("latent_width", "latent_stats", out)


def dit_overrides(which: str, seed: int = 0) -> Callable[[Context], list[str]]:
    def ov(ctx: Context) -> list[str]:
        b = ctx.budget
        return [
            f"vae={final(ctx, f'tok_{which}')}",
            f"data.latents={ctx.run_dir(f'latents_{which}')}",
            f"run.output_dir={ctx.run_dir(dit_run(which, seed))}",
            f"run.max_steps={b.dit_steps}",
            f"run.save_every={b.dit_eval_every}",
            f"run.keep_checkpoints={b.dit_steps // b.dit_eval_every + 2}",
            f"run.seed={seed}",
        ]

    return ov


def teacher_width(path: str | Path) -> int | None:
    cfg = Path(path) / "config.json"
    return int(json.loads(cfg.read_text())["embed_dim"]) if cfg.is_file() else None


def no_bottleneck_overrides(ctx: Context) -> list[str]:
    """(b): the wide teacher's width is the latent width (no SemBo, no acoustic projection)."""
    width = teacher_width(wide_teacher(ctx))
    return [
        f"init_from={wide_teacher(ctx)}",
        "model.semantic_bottleneck=false",
        f"model.embed_dim={width if width is not None else '<teacher embed_dim>'}",
        f"model.latent_channels={width if width is not None else '<teacher embed_dim>'}",
    ]


def _nothing(ctx: Context) -> None:
    if not Path(wide_teacher(ctx), "config.json").is_file():
        raise FileNotFoundError(f"--wide-teacher {ctx.wide_teacher}: no config.json there")


def _widen(ctx: Context) -> None:
    from .widen import widen_teacher

    if ctx.wide_teacher:  # given: nothing to widen
        return
    widen_teacher(ctx.teacher, ctx.run_dir("teacher_widened"), factor=WIDEN_FACTOR, noise=WIDEN_NOISE)


def _wide_teacher_step() -> Step:
    trained = train_step(
        "teacher_wide",
        "semantic_encoder",
        "teacher_wide.yaml",
        lambda ctx: [f"init_from={ctx.run_dir('teacher_widened')}"],
        ("teacher_widened",),
    )

    def run(ctx: Context) -> None:
        (_nothing if ctx.wide_teacher else trained.run)(ctx)

    def command(ctx: Context) -> str:
        return f"(given: --wide-teacher {ctx.wide_teacher})" if ctx.wide_teacher else trained.command(ctx)

    return Step("teacher_wide", run, command)


def run_command(ctx: Context, experiment: str) -> str:
    """The ``recipes.paper.run`` line that runs ``experiment`` with this context's inputs."""
    args = ["--only", experiment, "--budget", ctx.budget.name, "--teacher", ctx.teacher, "--corpus", ctx.corpus]
    args += ["--work", ctx.work]
    if ctx.feature_cache:
        args += ["--feature-cache", ctx.feature_cache]
    if ctx.wide_teacher:
        args += ["--wide-teacher", ctx.wide_teacher]
    return f"{RUN} {shell(*args)}"


def _measure(name: str, fn: Callable[[Context], None], needs: tuple[str, ...], experiment: str) -> Step:
    return Step(name, fn, lambda ctx: f"{run_command(ctx, experiment)}  # step {name}", needs)


def _build_tasks(ctx: Context) -> None:
    from losatok_plugin.eval.probe_tasks import build_probe_tasks

    b = ctx.budget
    written = build_probe_tasks(ctx.corpus, ctx.work / "tasks", max_train=b.max_train, max_test=b.max_test)
    atomic_write_text(ctx.work / "tasks" / "tasks.json", json.dumps({k: str(v) for k, v in written.items()}))


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        _measure("tasks", _build_tasks, (), "sembo_vs_pca"),
        train_step("sembo", "sembo", "sembo.yaml", lambda ctx: [f"teacher={ctx.teacher}"], cached=True),
        train_step("sembo_norel", "sembo", "sembo_norel.yaml", lambda ctx: [f"teacher={ctx.teacher}"], cached=True),
        _measure("teacher_features", teacher_features, ("tasks",), "sembo_vs_pca"),
        _measure("sembo_features", sembo_features, ("teacher_features", "sembo", "sembo_norel"), "sembo_vs_pca"),
        _measure("sembo_probes", sembo_probes, ("sembo_features",), "sembo_vs_pca"),
        _measure("teacher_rank", teacher_rank, ("sembo_features",), "sembo_vs_pca"),
        *(
            train_step(
                f"tok_{m}",
                "tokenizer",
                f"tokenizer_{m}.yaml",
                lambda ctx: [f"init_from={final(ctx, 'sembo')}"],
                ("sembo",),
                cached=True,
            )
            for m in MODES
        ),
        _measure("dual_features", dual_features, ("teacher_features", *(f"tok_{m}" for m in MODES)), "dual_level"),
        _measure("dual_probes", dual_probes, ("dual_features",), "dual_level"),
        _measure("dual_recon", dual_recon, tuple(f"tok_{m}" for m in MODES), "dual_level"),
        _measure("teacher_widened", _widen, (), "latent_width"),
        _wide_teacher_step(),
        train_step(
            "sembo_wide", "sembo", "sembo.yaml", lambda ctx: [f"teacher={wide_teacher(ctx)}"], ("teacher_wide",)
        ),
        train_step(
            "tok_a",
            "tokenizer",
            "tokenizer_both.yaml",
            lambda ctx: [f"init_from={final(ctx, 'sembo_wide')}"],
            ("sembo_wide",),
        ),
        train_step("tok_b", "tokenizer", "tokenizer_no_bottleneck.yaml", no_bottleneck_overrides, ("teacher_wide",)),
        *(_measure(f"latents_{w}", encode_latents(w), (f"tok_{w}",), "latent_width") for w in ("a", "b")),
        *(dit_step(w, seed) for seed in DIT_SEEDS for w in ("a", "b")),
        *(
            _measure(f"fd_{w}", fd_curve(w), (*(dit_run(w, s) for s in DIT_SEEDS), "teacher_wide"), "latent_width")
            for w in ("a", "b")
        ),
        _measure("latent_stats", latent_stats, ("latents_a", "latents_b"), "latent_width"),
    )
}

EXPERIMENTS: dict[str, tuple[str, ...]] = {
    "sembo_vs_pca": (
        "tasks",
        "teacher_features",
        "sembo",
        "sembo_norel",
        "sembo_features",
        "sembo_probes",
        "teacher_rank",
    ),
    "dual_level": ("tok_both", "tok_high_only", "tok_low_only", "dual_features", "dual_probes", "dual_recon"),
    "latent_width": (
        "teacher_widened",
        "teacher_wide",
        "sembo_wide",
        "tok_a",
        "tok_b",
        "latents_a",
        "latents_b",
        *(dit_run(w, seed) for seed in DIT_SEEDS for w in ("a", "b")),
        "fd_a",
        "fd_b",
        "latent_stats",
    ),
}
