"""The ``losatok`` command (also ``python -m losatok_plugin``). Each subcommand is one library call.

    losatok info --model MODEL
    losatok teachers                      # semantic teachers known by name (training configs, eval fd)
    losatok encode  audio.wav folder/ --out latents/ [--model MODEL] [--batch-size 8] [--device cuda] [--force]
    losatok decode  latents/ --out wavs/            [--model MODEL]
    losatok reconstruct audio.wav --out recon/      [--model MODEL] [--precision fp32|bf16|int8]
    losatok export-onnx --model MODEL --out onnx/   # encoder.onnx + decoder.onnx for onnxruntime (extra [deploy])
                                                    # [--precision int8]: dynamically quantized graphs
    losatok eval recon --manifest test.jsonl --model MODEL --out eval/recon
    losatok eval probe --manifest task1.jsonl --manifest task2.jsonl --model MODEL --rep mu --rep unified_emb --out eval/probe
    losatok eval rank  --manifest speech.jsonl --model MODEL --rep semantic_emb --rep mu --out eval/rank
    losatok eval fd    --ref real.jsonl --gen generated.jsonl --model MODEL --rep semantic_emb --out eval/fd
    losatok generate --pipeline DIR --prompt "..." --seconds 4 --out x.wav [--steps 20 --cfg 3 --seed 0]

MODEL is a short name (``losatok-mini``, the embedded default), a ``save_pretrained`` folder, an official
checkpoint (``losatok_kl1e-2.pth``) or a folder holding it as downloaded. encode / decode / reconstruct mirror
each input's path relative to the folder given; existing outputs are kept ("up to date"; ``--force`` redoes
them); every file is written atomically. Eval outputs are JSON + PNG in ``--out``; a short table is printed.
Exit codes: 0 done or up to date, 1 some inputs failed (the rest are processed) or an error, 2 a bad
command line, 130 interrupted. Errors are one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys

from .checkpoints import DEFAULT_MODEL

MODEL_HELP = "model: short name (losatok-mini, the default), save_pretrained folder, or official checkpoint / folder"


class UsageError(ValueError):
    """A bad command line (e.g. a device this machine lacks): reported as one line, exit code 2."""


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise UsageError(f"--device {device!r} is not a torch device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"--device {device}: CUDA is not available on this machine (no GPU or a CPU-only torch); use --device cpu"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {device}: MPS is not available on this machine; use --device cpu")


PRECISIONS = ("fp32", "bf16", "int8")  # = models.precision.PRECISIONS, spelled here to keep the parser torch-free
# = eval.representations.REPRESENTATIONS (the tensors of LoSATokFeatures), spelled here for the same reason
REPRESENTATIONS = (
    "z",
    "mu",
    "logvar",
    "semantic_emb",
    "acoustic_emb",
    "unified_emb",
    "semantic_emb_low",
    "acoustic_emb_low",
    "unified_emb_low",
)


def add_precision_arg(sp: argparse.ArgumentParser) -> None:
    """``--precision fp32|bf16|int8`` on a subcommand that runs the model (applied by :func:`_model`)."""
    sp.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (reference numerics), bf16 (float32 islands kept) or int8 (dynamic, CPU)",
    )


def _model(spec: str | None, device: str, precision: str = "fp32"):
    """The model at ``spec`` (None: the embedded default), on ``device`` at ``precision``; a bad spec or device
    answers before torch is imported."""
    from .checkpoints import check_model_spec

    check_model_spec(spec or DEFAULT_MODEL)
    _check_device(device)
    from .loading import load_vae
    from .models.precision import apply_precision

    return apply_precision(load_vae(spec).eval().to(device), precision)


def _print_result(result) -> int:
    """Notices and failures to stderr, the one-line summary to stdout; the run's exit code."""
    for notice in result.notices:
        print(f"  notice: {notice}", file=sys.stderr)
    for f, reason in result.failures:
        print(f"  failed: {f}: {reason}", file=sys.stderr)
    print(result.summary())
    return result.exit_code


def cmd_teachers(args) -> int:  # noqa: ARG001
    from .teacher_names import TEACHER_NAMES

    print("\n".join(TEACHER_NAMES))
    return 0


def cmd_info(args) -> int:
    from .loading import model_info

    print(model_info(args.model).table())
    return 0


def cmd_encode(args) -> int:
    model = _model(args.model, args.device, args.precision)  # first: a bad --model/--device answers at once
    from .batch import encode_files

    return _print_result(
        encode_files(
            model, args.inputs, args.out, args.batch_size, args.force, model_id=str(args.model or DEFAULT_MODEL)
        )
    )


def cmd_decode(args) -> int:
    model = _model(args.model, args.device, args.precision)  # first: a bad --model/--device answers at once
    from .batch import decode_files

    return _print_result(decode_files(model, args.inputs, args.out, args.batch_size, args.force))


def cmd_reconstruct(args) -> int:
    model = _model(args.model, args.device, args.precision)  # first: a bad --model/--device answers at once
    from .batch import reconstruct_files

    return _print_result(reconstruct_files(model, args.inputs, args.out, args.batch_size, args.force))


def cmd_recon(args) -> int:
    if sum(x is not None for x in (args.model, args.recon_dir, args.baseline)) != 1:
        raise UsageError("give exactly one of --model, --recon-dir, --baseline")
    model = _model(args.model, args.device, args.precision) if args.model else None
    from .eval.recon import evaluate_reconstruction
    from .eval.reports import read_manifests

    codec = None
    if args.baseline == "griffin-lim":
        from .eval.baseline import GriffinLimMel

        codec = GriffinLimMel()
    report = evaluate_reconstruction(
        read_manifests(args.manifest), args.out, model=model, recon_dir=args.recon_dir, plots=args.plots, codec=codec
    )
    print(report.table())
    print(f"per-file CSV, summary.json and mel PNGs in {args.out}")
    return _report_missing(report)


def _report_missing(report) -> int:
    for path, reason in report.missing:
        print(f"  missing/unreadable: {path}: {reason}", file=sys.stderr)
    return report.exit_code


def cmd_probe(args) -> int:
    model = _model(args.model, args.device, args.precision)
    from .eval.reports import run_probes

    seeds = range(args.seed, args.seed + args.seeds)
    report = run_probes(model, args.manifest, args.rep, args.out, seeds=seeds, train_fraction=args.train_fraction)
    print(report.table())
    return _report_missing(report)


def cmd_rank(args) -> int:
    model = _model(args.model, args.device, args.precision)
    from .eval.reports import read_manifests, run_rank

    report = run_rank(model, read_manifests(args.manifest), args.rep, args.out)
    print(report.table())
    return _report_missing(report)


def cmd_fd(args) -> int:
    from .eval.reports import read_manifests, run_fd

    model = teacher = None
    if args.teacher:  # any registry teacher as the embedding
        from .teachers import load_teacher

        teacher = load_teacher(args.teacher_type, args.teacher).to(args.device)
    else:
        model = _model(args.model, args.device, args.precision)
    report = run_fd(
        read_manifests(args.ref),
        read_manifests(args.gen),
        args.out,
        model=model,
        representation=args.rep,
        teacher=teacher,
        teacher_name=args.teacher_type,
        device=args.device,
    )
    print(report.table())
    return _report_missing(report)


def cmd_export_onnx(args) -> int:
    from .export.encoder import encoder_export_blocker
    from .export.onnx import export_onnx

    model = _model(args.model, "cpu")
    paths = export_onnx(model, args.out, precision=args.precision)
    print("\n".join(f"{name:<8} {path}" for name, path in paths.items()))
    if "encoder" not in paths:
        print(f"encoder  not exported: {encoder_export_blocker(model)}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="losatok", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    debug_help = "show Python tracebacks instead of one-line errors (accepted anywhere on the line)"
    p.add_argument("--debug", action="store_true", help=debug_help)
    sub = p.add_subparsers(dest="command", required=True)

    def io_args(sp, what: str, batch_help: str):
        sp.add_argument(
            "inputs",
            nargs="+",
            help=f"{what} files or folders (searched recursively; outputs mirror the paths relative to each folder)",
        )
        sp.add_argument("--out", required=True, help="output folder")
        sp.add_argument("--model", default=None, help=MODEL_HELP)
        sp.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
        sp.add_argument("--batch-size", type=int, default=4, help=batch_help)
        force_help = "redo outputs that exist from an earlier run (never another input's output)"
        sp.add_argument("--force", action="store_true", help=force_help)
        add_precision_arg(sp)

    audio_batch = "files encoded together (sorted by length, padded, with lengths)"
    tch = sub.add_parser("teachers", help="list the semantic teachers known by name")
    tch.set_defaults(func=cmd_teachers)
    info = sub.add_parser("info", help="model size, frame rate, latent dimension")
    info.add_argument("--model", default=None, help=MODEL_HELP)
    info.set_defaults(func=cmd_info)
    enc = sub.add_parser("encode", help="audio files -> latent files (.latent.safetensors)")
    io_args(enc, "audio (wav/flac/ogg)", audio_batch)
    enc.set_defaults(func=cmd_encode)
    dec = sub.add_parser("decode", help="latent files -> 16 kHz wav of the original length")
    io_args(dec, "latent", "latent files with the same number of frames decoded together")
    dec.set_defaults(func=cmd_decode)
    rec = sub.add_parser("reconstruct", help="audio -> latents -> audio (wav)")
    io_args(rec, "audio (wav/flac/ogg)", audio_batch)
    rec.set_defaults(func=cmd_reconstruct)
    onx = sub.add_parser("export-onnx", help="export the encoder and decoder to ONNX (extra [deploy])")
    onx.add_argument("--model", default=None, help="save_pretrained folder or official checkpoint")
    onx.add_argument(
        "--out", required=True, help="output folder (encoder.onnx, encoder_peak.onnx, decoder.onnx, export.json)"
    )
    onx.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "int8"),
        help="fp32, or int8: the graphs dynamically int8-quantized by onnxruntime (same layers as PyTorch int8)",
    )
    onx.set_defaults(func=cmd_export_onnx)
    ev = sub.add_parser("eval", help="evaluate a tokenizer: recon | probe | rank | fd")
    evs = ev.add_subparsers(dest="what", required=True)

    def common(sp, model_required=True):
        sp.add_argument("--model", required=model_required, help=MODEL_HELP)
        sp.add_argument("--out", required=True, help="output folder (JSON + PNG)")
        sp.add_argument("--device", default="cpu", help="torch device")
        add_precision_arg(sp)

    r = evs.add_parser("recon", help="reconstruction metrics over a manifest")
    r.add_argument("--manifest", action="append", required=True, help="manifest(s) of reference audio")
    r.add_argument("--recon-dir", default=None, help="score existing reconstructions (same file names) instead")
    r.add_argument(
        "--baseline",
        choices=["griffin-lim"],
        default=None,
        help="score the classical baseline instead: 128-band mel at 25 Hz inverted with Griffin-Lim",
    )
    r.add_argument("--plots", type=int, default=3, help="mel comparison PNGs for the first N files")
    common(r, model_required=False)
    r.set_defaults(func=cmd_recon)

    pr = evs.add_parser("probe", help="linear probes (one task per labelled manifest)")
    pr.add_argument("--manifest", action="append", required=True, help="labelled manifest = one task")
    pr.add_argument(
        "--rep", action="append", required=True, choices=REPRESENTATIONS, help="representation(s), e.g. mu, unified_emb"
    )
    pr.add_argument("--seed", type=int, default=0, help="split / classifier seed (the first of --seeds)")
    pr.add_argument("--seeds", type=int, default=1, help="number of seeds (seed, seed+1, ...): mean ± std")
    pr.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="each seed fits on this random fraction of the training clips (0.8 with --seeds 3 for a spread)",
    )
    common(pr)
    pr.set_defaults(func=cmd_probe)

    rk = evs.add_parser("rank", help="effective rank and PCA curves (redundancy analysis)")
    rk.add_argument("--manifest", action="append", required=True, help="manifest(s) of audio")
    rk.add_argument("--rep", action="append", required=True, choices=REPRESENTATIONS, help="representation(s)")
    common(rk)
    rk.set_defaults(func=cmd_rank)

    fd = evs.add_parser("fd", help="Fréchet distance between two sets of audio")
    fd.add_argument("--ref", action="append", required=True, help="manifest(s) of reference audio")
    fd.add_argument("--gen", action="append", required=True, help="manifest(s) of generated audio")
    fd.add_argument(
        "--rep", default="semantic_emb", choices=REPRESENTATIONS, help="embedding used (default: the semantic teacher)"
    )
    fd.add_argument("--teacher", default=None, help="use a registry teacher at this path instead of --model")
    fd.add_argument("--teacher-type", default="midashenglm", help="registry name (see `losatok teachers`)")
    common(fd, model_required=False)
    fd.set_defaults(func=cmd_fd)

    gen = sub.add_parser("generate", help="text -> audio with a saved DiT pipeline folder (TTS / TTM / TTA)")
    gen.add_argument(
        "--pipeline",
        required=True,
        help="save_pretrained pipeline folder, or a shipped one by name: dit-tts-mini, dit-ttm-mini, dit-tta-mini",
    )
    gen.add_argument("--prompt", required=True, help="transcript (TTS) or caption (music / sound)")
    gen.add_argument("--seconds", type=float, default=None, help="duration (default: the pipeline's rule, TTS only)")
    gen.add_argument("--out", required=True, help="output wav file")
    gen.add_argument("--steps", type=int, default=None, help="sampling steps (default: the pipeline's)")
    gen.add_argument("--cfg", type=float, default=None, help="classifier-free guidance scale (default: the pipeline's)")
    gen.add_argument("--seed", type=int, default=0, help="noise seed")
    gen.add_argument("--device", default="cpu", help="torch device")
    gen.set_defaults(func=cmd_generate)
    return p


def cmd_generate(args) -> int:
    from .generation.generate import GenerateError, generate

    try:
        r = generate(args.pipeline, args.prompt, args.out, args.seconds, args.steps, args.cfg, args.seed, args.device)
    except GenerateError as e:  # a bad prompt, duration or folder: the command line's fault
        raise UsageError(str(e)) from None
    print(f"wrote {r.seconds:.2f} s to {r.path} (prompt: {r.prompt!r})")
    return 0


# Errors that mean "bad input or environment", not "bug": one line, no traceback (``--debug`` shows it).
def _expected_errors() -> tuple[type[BaseException], ...]:
    return (ValueError, OSError, RuntimeError, ImportError)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Exit codes: 0 done (or up to date), 1 some inputs failed or an error,
    2 a bad command line, 130 interrupted (Ctrl-C; no partial output file is left)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    try:
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(
            "losatok: interrupted; every output written so far is complete (re-run to finish: existing "
            "outputs are kept)",
            file=sys.stderr,
        )
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns errors into exit codes
        if args.debug:
            raise
        message = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if not isinstance(e, _expected_errors()):
            message = f"internal error ({type(e).__name__}): {message} (run with --debug for the traceback)"
        elif isinstance(e, OSError) and e.filename and str(e.filename) not in message:
            message = f"{message}: {e.filename}"
        print(f"losatok: error: {message}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
