"""Folder-level encode / decode / reconstruct: what ``losatok encode|decode|reconstruct`` run.

Naming. Outputs mirror each input's path relative to the folder given (``in/a/song.wav`` ->
``out/a/song.latent.safetensors``); a file given directly is named by its file name. When two
inputs of one run would get the same output name (``a/song.wav`` and ``a/song.flac``), both keep
their extension (``song.wav.latent.safetensors``, ``song.flac.latent.safetensors``); if names still
collide, the later input is reported as failed: one input never overwrites another's output.

Existing outputs. An output that already exists is left alone and counted as up to date
(``force=True`` redoes it; it never overwrites another input's output of the same run). Every file
is written atomically (:mod:`losatok_plugin.fileio`): an interrupt, a kill or a full disk never
leaves a truncated file under a final name.

Failures. Each input that cannot be processed (unreadable, too short, NaN/inf samples, values
that give non-finite latents or audio, invalid latent files) is reported in
:attr:`BatchResult.failures` with its reason; the others are processed.

Batching. ``encode`` and ``reconstruct`` sort files by duration before batching (padded batches
of similar lengths: a 90 s file is not padded together with 1 s clips); ``decode`` batches latent
files with the same number of frames.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data.audio_io import AUDIO_SUFFIXES
from .fileio import atomic_path, is_temp_file
from .latent_file import SUFFIX as LATENT_SUFFIX


class InputError(ValueError):
    """The inputs or the output folder of a batch run are unusable (nothing was processed)."""


@dataclass
class Job:
    """One input file and the output it gets."""

    source: Path
    target: Path


@dataclass
class BatchResult:
    """What a batch run did. ``exit_code``: 0 when every input has its output, else 1."""

    verb: str
    out: Path
    written: list[Path] = field(default_factory=list)
    up_to_date: list[Path] = field(default_factory=list)  # outputs that existed and were left alone
    failures: list[tuple[Path, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def summary(self) -> str:
        """One line: ``encoded 3 files to out; 2 up to date; 1 failed`` or ``up to date: ...``."""
        if not self.written and not self.failures and self.up_to_date:
            return f"up to date: all {len(self.up_to_date)} outputs exist in {self.out} (--force to redo them)"
        extra = (f"; {len(self.up_to_date)} up to date (exist; --force to redo)" if self.up_to_date else "") + (
            f"; {len(self.failures)} failed" if self.failures else ""
        )
        return f"{self.verb} {len(self.written)} files to {self.out}{extra}"


# -- inputs and names ------------------------------------------------------------------------------
def find_inputs(
    inputs: Sequence[str | Path], suffixes: tuple[str, ...], exclude: Path | None = None
) -> list[tuple[Path, Path]]:
    """``(file, name relative to its input folder)`` for every matching file, in a stable order.

    Folders are searched recursively (hidden files, temporary files of interrupted writes and files
    under ``exclude``, the output folder, are skipped); a file given directly is taken whatever its
    suffix. Raises :class:`InputError` for a missing path or when nothing is found.
    """
    found: list[tuple[Path, Path]] = []
    skip = exclude.resolve() if exclude is not None else None
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for q in sorted(p.rglob("*")):
                rel = q.relative_to(p)
                if not q.is_file() or not q.name.lower().endswith(suffixes) or is_temp_file(q):
                    continue
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if skip is not None and skip in q.resolve().parents:
                    continue
                found.append((q, rel))
        elif p.is_file():
            found.append((p, Path(p.name)))
        else:
            raise InputError(f"no such file or folder: {p}")
    if not found:
        raise InputError(f"no input files ({' '.join(suffixes)}) found in {' '.join(map(str, inputs))}")
    return found


def _candidates(rel: Path, out_suffix: str) -> list[Path]:
    """Output names for an input, shortest first (the longer one keeps the input's extension)."""
    name = rel.name
    if name.endswith(LATENT_SUFFIX):
        base = name[: -len(LATENT_SUFFIX)]
        short = base[: -len(Path(base).suffix)] if Path(base).suffix.lower() in AUDIO_SUFFIXES else base
        names = [short + out_suffix, base + out_suffix]
    else:
        names = [Path(name).stem + out_suffix, name + out_suffix]
    return [rel.parent / n for n in dict.fromkeys(names)]


def plan_outputs(
    found: Sequence[tuple[Path, Path]], out: Path, out_suffix: str
) -> tuple[list[Job], list[tuple[Path, str]]]:
    """Give each input a distinct output path under ``out`` (see the module docstring).

    Returns ``(jobs, failures)``; an input whose every candidate name is taken by another input of
    this run is a failure, never a silent overwrite.
    """
    options = [_candidates(rel, out_suffix) for _, rel in found]
    count = Counter(opts[0] for opts in options)
    count_long = Counter((opts[0], opts[-1]) for opts in options)
    jobs: list[Job] = []
    failures: list[tuple[Path, str]] = []
    taken: dict[Path, Path] = {}
    for (src, _), opts in zip(found, options):
        # The short name unless another input wants it too; then the name with the extension, if that
        # one is unique (a/song.wav vs a/song.flac). Still taken: a failure, never an overwrite.
        unique_long = count_long[(opts[0], opts[-1])] == 1
        name = opts[-1] if count[opts[0]] > 1 and unique_long else opts[0]
        if name in taken:
            failures.append(
                (
                    src,
                    f"its output {out / name} is also the output of {taken[name]} in this run; "
                    "not written (give the files in separate runs or rename one)",
                )
            )
            continue
        taken[name] = src
        jobs.append(Job(src, out / name))
    return jobs, failures


def check_writable(out: Path) -> None:
    """Create ``out`` (parents too) and check that files can be written there; :class:`InputError` if not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        # a probe file of its own: runs writing to the same folder at once must not remove each other's probe
        with tempfile.TemporaryFile(dir=out, prefix=".losatok_write_test"):
            pass
    except OSError as e:
        raise InputError(f"cannot write to output folder {out}: {e.strerror or e}") from None


def prepare(
    inputs: Sequence[str | Path], out: str | Path, suffixes: tuple[str, ...], out_suffix: str, force: bool, verb: str
) -> tuple[list[Job], BatchResult]:
    """Inputs -> jobs still to do, and a result holding the up-to-date outputs and naming failures."""
    out = Path(out)
    found = find_inputs(inputs, suffixes, exclude=out)
    check_writable(out)
    jobs, failures = plan_outputs(found, out, out_suffix)
    result = BatchResult(verb, out, failures=failures)
    todo = []
    for job in jobs:
        if job.target.exists() and not force:
            result.up_to_date.append(job.target)
        else:
            todo.append(job)
    return todo, result


# -- audio side ------------------------------------------------------------------------------------
def _duration(path: Path) -> float:
    import soundfile as sf

    try:
        info = sf.info(str(path))
        return info.frames / max(info.samplerate, 1)
    except Exception:  # noqa: BLE001 - unreadable files are reported when they are read
        return 0.0


def sort_by_length(jobs: Sequence[Job]) -> list[Job]:
    """Jobs ordered by input duration (header only), so that padded batches hold similar lengths."""
    return sorted(jobs, key=lambda j: _duration(j.source))


def _load_clip(model, job: Job, failures: list[tuple[Path, str]], notices: list[str]) -> torch.Tensor | None:
    from .data.audio_io import AudioReadError, NonFiniteAudioError, load_audio

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clip = load_audio(job.source, model.sampling_rate, warn_downmix=True)
    except NonFiniteAudioError as e:
        failures.append((job.source, f"audio contains NaN or inf samples (first at sample {e.sample})"))
        return None
    except AudioReadError as e:
        failures.append((job.source, str(e)))
        return None
    notices += [str(w.message) for w in caught]
    if clip.shape[0] < model.min_samples:
        failures.append((job.source, f"too short: {clip.shape[0]} samples, one latent frame needs {model.min_samples}"))
        return None
    if not torch.isfinite(clip).all():
        bad = int((~torch.isfinite(clip)).nonzero()[0])
        failures.append((job.source, f"audio contains NaN or inf samples (first at sample {bad})"))
        return None
    return clip


def _encode_padded(model, clips: list[torch.Tensor]) -> list[torch.Tensor]:
    lengths = torch.tensor([c.shape[0] for c in clips])
    batch = torch.zeros(len(clips), int(lengths.max()))
    for j, c in enumerate(clips):
        batch[j, : c.shape[0]] = c
    with torch.inference_mode():
        dist = model.encode(batch.to(model.device), lengths=lengths).latent_dist
    return [dist.mode()[j, :, : int(dist.lengths[j])].float().cpu() for j in range(len(clips))]


def encode_jobs(
    model, jobs: Sequence[Job], batch_size: int, failures: list[tuple[Path, str]], notices: list[str]
) -> Iterator[tuple[Job, torch.Tensor, int]]:
    """Yield ``(job, latents [C, T], original_length)``, encoding files of similar length together.

    A file that cannot be read or encoded is appended to ``failures`` (path, reason); when a batch
    fails, its files are retried one by one so that only the bad one is reported.
    """
    from .audio import AudioInputError

    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    ordered = sort_by_length(jobs)
    for i in range(0, len(ordered), batch_size):
        group, clips = [], []
        for job in ordered[i : i + batch_size]:
            clip = _load_clip(model, job, failures, notices)
            if clip is not None:
                group.append(job)
                clips.append(clip)
        if not clips:
            continue
        try:
            latents = _encode_padded(model, clips)
        except AudioInputError:  # isolate the offending file(s) and report each with its reason
            yield from _encode_one_by_one(model, group, clips, failures)
            continue
        for job, z, clip in zip(group, latents, clips):
            yield job, z, clip.shape[0]


def _encode_one_by_one(model, group, clips, failures) -> Iterator[tuple[Job, torch.Tensor, int]]:
    from .audio import AudioInputError

    for job, clip in zip(group, clips):
        try:
            (z,) = _encode_padded(model, [clip])
        except AudioInputError as e:
            failures.append((job.source, str(e)))
            continue
        yield job, z, clip.shape[0]


def _decode_to_wav(model, z: torch.Tensor, n: int) -> torch.Tensor:
    """``[B, C, T]`` -> list of ``[N]`` float audio trimmed/padded to ``n``, clipped to [-1, 1]."""
    from .latent_file import fit_length

    with torch.inference_mode():
        audio = model.decode(z.to(model.device)).sample[:, 0].float().cpu()
    return fit_length(audio, n).clamp(-1, 1)


def write_wav(path: Path, audio: torch.Tensor, sample_rate: int) -> Path:
    """Write mono ``audio [N]`` as a 16-bit wav, atomically."""
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio.numpy(), sample_rate, format="WAV", subtype="PCM_16")
    return path


def _run(
    jobs: Sequence[Job], result: BatchResult, work: Iterable[tuple[Job, Callable[[], Path]]], desc: str, progress: bool
) -> BatchResult:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=desc, unit="file", disable=not progress or not jobs, file=sys.stderr)
    planned_failures = len(result.failures)  # naming collisions: not part of ``jobs``
    try:
        for job, write in work:
            try:
                result.written.append(write())
            except (ValueError, OSError) as e:
                if isinstance(e, OSError) and e.errno in _FATAL_ERRNOS:
                    raise
                result.failures.append((job.source, str(e)))
            # files that failed while being read or encoded count as done too
            bar.update(len(result.written) + len(result.failures) - planned_failures - bar.n)
    finally:
        bar.close()
    return result


# A full disk or a read-only file system fails every later write too: stop the run (a clear error).
_FATAL_ERRNOS = (28, 30, 122)  # ENOSPC, EROFS, EDQUOT


def encode_files(
    model,
    inputs: Sequence[str | Path],
    out: str | Path,
    batch_size: int = 4,
    force: bool = False,
    model_id: str = "",
    progress: bool = True,
) -> BatchResult:
    """Encode audio files/folders to latent files under ``out`` (see the module docstring).

    Returns:
        :class:`BatchResult` (outputs ``<name>.latent.safetensors``, latents ``[C, T]`` float32).
    """
    from .latent_file import save_latents

    jobs, result = prepare(inputs, out, AUDIO_SUFFIXES, LATENT_SUFFIX, force, "encoded")
    work = (
        (job, lambda job=job, z=z, n=n: save_latents(job.target, z, model, n, model_id=model_id))
        for job, z, n in encode_jobs(model, jobs, batch_size, result.failures, result.notices)
    )
    return _run(jobs, result, work, "encode", progress)


def reconstruct_files(
    model,
    inputs: Sequence[str | Path],
    out: str | Path,
    batch_size: int = 4,
    force: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Audio -> latents -> 16 kHz wav of the original length under ``out`` (``<name>.wav``)."""
    from .audio import AudioInputError

    jobs, result = prepare(inputs, out, AUDIO_SUFFIXES, ".wav", force, "reconstructed")

    def work():
        for job, z, n in encode_jobs(model, jobs, batch_size, result.failures, result.notices):
            try:
                audio = _decode_to_wav(model, z[None], n)[0]
            except AudioInputError as e:
                result.failures.append((job.source, str(e)))
                continue
            yield job, lambda job=job, audio=audio: write_wav(job.target, audio, model.sampling_rate)

    return _run(jobs, result, work(), "reconstruct", progress)


def decode_files(
    model,
    inputs: Sequence[str | Path],
    out: str | Path,
    batch_size: int = 4,
    force: bool = False,
    progress: bool = True,
) -> BatchResult:
    """Latent files -> 16 kHz wav of each file's ``original_length`` under ``out`` (``<name>.wav``).

    Latent files are validated (:func:`~losatok_plugin.latent_file.load_latents`); files with the same
    number of frames are decoded together, ``batch_size`` at a time.
    """
    from .audio import AudioInputError
    from .latent_file import LatentFileError, load_latents

    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    jobs, result = prepare(inputs, out, (LATENT_SUFFIX,), ".wav", force, "decoded")

    def work():
        loaded = []
        for job in jobs:
            try:
                loaded.append((job, load_latents(job.source, model)))
            except LatentFileError as e:
                result.failures.append((job.source, str(e)))
        by_t: dict[int, list] = {}
        for job, lf in loaded:
            by_t.setdefault(lf.latents.shape[-1], []).append((job, lf))
        for _, same in sorted(by_t.items()):
            for i in range(0, len(same), batch_size):
                group = same[i : i + batch_size]
                try:
                    z = torch.stack([lf.latents for _, lf in group])
                    audio = _decode_to_wav(model, z, max(lf.original_length for _, lf in group))
                    pieces = [(job, audio[j, : lf.original_length]) for j, (job, lf) in enumerate(group)]
                except AudioInputError:
                    pieces = []
                    for job, lf in group:
                        try:
                            pieces.append((job, _decode_to_wav(model, lf.latents[None], lf.original_length)[0]))
                        except AudioInputError as e:
                            result.failures.append((job.source, str(e)))
                for job, audio in pieces:
                    yield job, lambda job=job, audio=audio: write_wav(job.target, audio, model.sampling_rate)

    return _run(jobs, result, work(), "decode", progress)
