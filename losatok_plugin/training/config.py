"""Training configuration: nested dataclasses loaded strictly from YAML (unknown keys are errors).

Loss weights are keyed by the logged loss names (``mel``, ``semantic``, ``kl``, ``fm``, ``adv``), as in
DAC's ``lambdas``; they never live in model constructors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..configuration import ConfigError, LoSATokConfig
from ..data.augment import SpeechAugmentConfig
from ..data.domain_shares import DomainSharesError, check_domain_shares
from ..generation.pipelines import DiTModelConfig
from .yaml_config import load_stage_config  # noqa: F401 - re-exported: configs are loaded from here

# Default loss weights, keyed by the logged loss names (DAC's ``lambdas``); a config's ``loss_weights``
# overrides some of them. The one place these numbers live.
LOSS_WEIGHTS: dict[str, dict[str, float]] = {
    # stft: multi-resolution STFT loss (losses/stft.py; 0 = not computed, as in the paper's recipe)
    # teacher: L1 between the frozen teacher's features of the reconstruction and of the input
    # (losses/teacher_feature.py; 0 = not computed, as in the paper's recipe)
    "tokenizer": {"mel": 45.0, "semantic": 45.0, "kl": 0.01, "fm": 1.0, "adv": 1.0, "stft": 0.0, "teacher": 0.0},
    # spectrum: a read-out of each token's mel patch (0 = no such head; set it when a run starts, not on --resume)
    "semantic_encoder": {
        "ctc": 1.0,
        "domain": 1.0,
        "lang": 1.0,
        "families": 1.0,
        "pitches": 1.0,
        "sound": 1.0,
        "spectrum": 0.0,
    },
}


def merge_loss_weights(stage: str, given: dict[str, float]) -> dict[str, float]:
    """``LOSS_WEIGHTS[stage]`` with ``given`` on top; unknown names are a :class:`ConfigError`."""
    defaults = LOSS_WEIGHTS[stage]
    unknown = set(given) - set(defaults)
    if unknown:
        raise ConfigError(f"unknown loss_weights keys {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **{k: float(v) for k, v in given.items()}}


@dataclass
class DataConfig:
    """Where audio comes from and how it is cut."""

    train_manifest: str = ""
    valid_manifest: str = ""  # optional: clips for audio / mel examples in TensorBoard
    crop_seconds: float = 2.0
    batch_size: int = 8
    batch_seconds: float = 0.0  # stage 0: > 0 batches whole clips of similar length, this many padded seconds each
    num_workers: int = 0
    feature_cache: str = ""  # teacher feature cache folder; "" runs the teacher online
    short_clips: str = "skip"  # files shorter than one crop: "skip" them or "repeat" (loop) them
    # crop-trained stages: {} draws one crop per clip per epoch; {speech: 0.5, music: 0.3, sound: 0.2} draws crops
    # per domain in these proportions, clips by duration (losatok_plugin/data/domain_shares.py)
    domain_shares: dict[str, float] = field(default_factory=dict)
    source_alpha: float = 1.0  # with domain_shares: a source's part of its domain ~ its hours ** alpha (0: equal parts)

    def __post_init__(self) -> None:
        if self.short_clips not in ("skip", "repeat"):
            raise ConfigError(f"data.short_clips must be 'skip' or 'repeat', got {self.short_clips!r}")
        if not isinstance(self.domain_shares, dict):
            raise ConfigError(f"data.domain_shares must be a mapping of domain to share, got {self.domain_shares!r}")
        if not 0.0 <= self.source_alpha <= 1.0:
            raise ConfigError(f"data.source_alpha must be in [0, 1], got {self.source_alpha}")
        if self.domain_shares:
            try:
                check_domain_shares(self.domain_shares)
            except DomainSharesError as e:
                raise ConfigError(str(e)) from None


@dataclass
class OptimConfig:
    """AdamW with linear warm-up, cosine decay and an optional linear cool-down at the end of the run."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    warmup_steps: int = 1000
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    schedule_steps: int = 0  # length of the cosine (0: run.max_steps); longer = the run ends part-way down it
    cooldown_steps: int = 0  # the last N steps of run.max_steps scale the lr linearly down to min_lr_ratio
    rewarm_at: int = 0  # continuing an annealed run: from this step ...
    rewarm_steps: int = 0  # ... ramp the scheduled lr linearly up from 0 over N steps (0: no re-warm)

    def __post_init__(self) -> None:
        for name in ("schedule_steps", "cooldown_steps", "rewarm_at", "rewarm_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"optim.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class RunConfig:
    """Bookkeeping: steps, precision, logging and checkpoint cadence."""

    output_dir: str = "runs/losatok"
    max_steps: int = 100_000
    seed: int = 0
    mixed_precision: str = "no"  # no | fp16 | bf16 (accelerate)
    grad_accum_steps: int = 1
    cpu: bool = False  # force CPU even when a GPU is present
    log_every: int = 10
    save_every: int = 1000
    sample_every: int = 1000  # audio examples and mel images; 0 disables
    keep_checkpoints: int = 3
    progress: bool = True
    overwrite: bool = False  # start a new run in an output_dir holding an earlier one (deletes it)
    max_nonfinite_steps: int = 20  # steps skipped for a NaN/inf loss or gradient before the run stops
    stop_at: int = 0  # stop at this step of the max_steps schedule (checkpoint saved, as on SIGTERM); 0 = never

    def __post_init__(self) -> None:
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ConfigError(f"run.mixed_precision must be no/fp16/bf16, got {self.mixed_precision!r}")
        for name in ("max_steps", "grad_accum_steps", "log_every", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"run.{name} must be >= 1")
        if self.max_nonfinite_steps < 0:
            raise ConfigError("run.max_nonfinite_steps must be >= 0")
        if self.stop_at < 0:
            raise ConfigError("run.stop_at must be >= 0 (0 = run to max_steps)")


@dataclass
class SemboStageConfig:
    """Stage 1: train the Semantic Bottleneck on frozen teacher features."""

    model: LoSATokConfig = field(default_factory=LoSATokConfig)
    teacher: str = ""  # where the teacher's weights are; "" = random (tests)
    teacher_type: str = "midashenglm"  # registry name (losatok_plugin.teachers.TEACHERS)
    recon_weight: float = 1000.0  # λ on the cosine reconstruction term (paper 1e3)
    relation_weight: float = 1.0  # 0 trains without the time-relation loss (ablation)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3))
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        from ..teachers import TEACHERS

        if self.teacher_type not in TEACHERS:
            raise ConfigError(f"unknown teacher_type {self.teacher_type!r}; known teachers: {', '.join(TEACHERS)}")


@dataclass
class DiscriminatorConfig:
    """Multi-period + multi-resolution STFT discriminators and their optimiser."""

    use_mpd: bool = True
    use_mrd: bool = True
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    resolutions: tuple[tuple[int, int], ...] = ((2048, 512), (1024, 256), (512, 128))
    channels: int = 32
    gan_loss: str = "hinge"  # hinge | lsgan
    warmup_steps: int = 0  # generator-only steps before the discriminators join
    segment_seconds: float = 0.0  # discriminate a random window of this length (0 = the whole crop)
    every: int = 1  # the adversarial update (D step + adv/fm terms) on every k-th step after warm-up (CPU budget)
    # the first N steps after warm-up update the discriminators alone (no adv/fm in the generator loss): a fine-tune
    # of a trained generator with new discriminators lets them learn before their gradients reach it
    lead_steps: int = 0
    # a checkpoint folder (``.../step_N``) or ``discriminator.safetensors`` of an earlier run whose trained
    # discriminators start a new run (same sizes); "" = random. Not read when resuming (the checkpoint's are)
    init_from: str = ""
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        for name in ("warmup_steps", "lead_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"discriminator.{name} must be >= 0, got {getattr(self, name)}")
        if self.every < 1:
            raise ConfigError(f"discriminator.every must be >= 1, got {self.every}")


@dataclass
class TokenizerStageConfig:
    """Stage 2: train the acoustic branch, Gaussian head and decoder with teacher and SemBo frozen."""

    model: LoSATokConfig = field(default_factory=LoSATokConfig)
    init_from: str = ""  # stage-1 export, LoSATokVAE folder or official checkpoint; "" = random (tests)
    semantic_loss_mode: str = "both"  # both | high_only | low_only
    kl_clamp: float | None = None
    sample_posterior: bool = True
    # trainable parts kept frozen in this run (of acoustic, gaussian, decoder): [acoustic, gaussian] trains the
    # decoder alone on the latents of a fixed encoder
    freeze: list[str] = field(default_factory=list)
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(LOSS_WEIGHTS["tokenizer"]))
    ema_decay: float | None = None  # e.g. 0.999 keeps an EMA of generator weights, exported at the end
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        from ..losses.semantic import SEMANTIC_LOSS_MODES
        from .gan import TRAINABLE

        if self.semantic_loss_mode not in SEMANTIC_LOSS_MODES:
            raise ConfigError(f"semantic_loss_mode must be one of {SEMANTIC_LOSS_MODES}")
        unknown = sorted(set(self.freeze) - set(TRAINABLE))
        if unknown:
            raise ConfigError(f"freeze: {unknown} are not trainable parts; choose from {list(TRAINABLE)}")
        if set(TRAINABLE) <= set(self.freeze):
            raise ConfigError(f"freeze: {sorted(self.freeze)} leaves nothing to train")
        self.loss_weights = merge_loss_weights("tokenizer", self.loss_weights)
        if self.discriminator.gan_loss not in ("hinge", "lsgan"):
            raise ConfigError("discriminator.gan_loss must be hinge or lsgan")


@dataclass
class SemanticEncoderStageConfig:
    """Stage 0 (small scale only): train a Dasheng-architecture semantic encoder with the corpus' supervision.

    The encoder sizes come from ``model`` (``embed_dim``, ``semantic_depth``, ``semantic_num_heads``);
    the export is a LoSATokVAE folder whose ``semantic_encoder`` is the trained encoder, stage 1's
    frozen teacher (``teacher_type: midashenglm``).
    """

    model: LoSATokConfig = field(default_factory=LoSATokConfig)
    max_seconds: float = 10.0  # clips are cut to at most this (CTC only on whole clips)
    ctc_upsample: int = 2  # CTC steps per 25 Hz token (phonemes come at 12-15/s; see SupervisionHeads)
    init_from: str = ""  # LoSATokVAE folder / short name whose semantic encoder starts the training ("" = random)
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(LOSS_WEIGHTS["semantic_encoder"]))
    eval_every: int = 500  # validation metrics (PER, accuracies) every N steps; 0 = only at the end
    # label-preserving augmentation of training speech clips (speed, band limit, noise, reverb); prob 0 = off
    augment: SpeechAugmentConfig = field(default_factory=SpeechAugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=5e-4))
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        self.loss_weights = merge_loss_weights("semantic_encoder", self.loss_weights)
        if self.data.domain_shares:  # stage 0 trains on whole clips, every clip once per epoch
            raise ConfigError("data.domain_shares applies to the crop-trained stages (sembo, tokenizer), not stage 0")


# -- stage 3: a text-to-audio DiT on LoSATok latents ---------------------------------------------------
@dataclass
class DiTDataConfig:
    """Which latents, which clips, how they are batched."""

    latents: str = ""  # shard folder (with stats.json), see recipes/dit/encode_latents.py
    domain: str = "speech"  # speech (TTS) | music (TTM) | sound (TTA)
    labels: tuple[str, ...] = ()  # keep only clips with one of these labels (e.g. TTS languages "en-us")
    prompt_kind: str = "words"  # chars (transcripts) | words (captions)
    long_clips: str = "crop"  # clips longer than model.max_seconds: "crop" (random window) or "skip"
    min_seconds: float = 0.3
    posterior_sample: bool = False  # train on z ~ N(mu, exp(logvar)) instead of mu
    batch_size: int = 16
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.domain not in ("speech", "music", "sound"):
            raise ConfigError(f"data.domain must be speech, music or sound, got {self.domain!r}")
        if self.long_clips not in ("crop", "skip"):
            raise ConfigError("data.long_clips must be 'crop' or 'skip'")


@dataclass
class ObjectiveConfig:
    timesteps: str = "logit_normal"  # logit_normal | uniform
    logit_mean: float = 0.0
    logit_std: float = 1.0
    cond_dropout: float = 0.1  # probability of training a clip without its prompt (classifier-free guidance)

    def __post_init__(self) -> None:
        if self.timesteps not in ("logit_normal", "uniform"):
            raise ConfigError("objective.timesteps must be 'logit_normal' or 'uniform'")


@dataclass
class SampleConfig:
    """Generated audio in TensorBoard and ``samples/`` every ``run.sample_every`` steps."""

    prompts: tuple[str, ...] = ()  # "" or none: the first training prompt
    seconds: float = 0.0  # 0: the clip duration rule (TTS) or model.max_seconds / 2
    steps: int = 20
    guidance: float = 3.0


@dataclass
class DiTStageConfig:
    """Stage 3: a text-conditioned DiT on a LoSATok model's latents."""

    vae: str = ""  # LoSATokVAE folder the shards were encoded with ("" = the embedded losatok-mini)
    init_from: str = ""  # a saved pipeline folder to fine-tune (its tokenizer and weights); "" = from scratch
    model: DiTModelConfig = field(default_factory=DiTModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    data: DiTDataConfig = field(default_factory=DiTDataConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    ema_decay: float | None = 0.999
    export_fp16: bool = False  # store the exported transformer and VAE in float16 (text encoder stays fp32)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-4, betas=(0.9, 0.99), warmup_steps=200))
    run: RunConfig = field(default_factory=RunConfig)
