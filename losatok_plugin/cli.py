"""The ``losatok`` command (also ``python -m losatok_plugin``). Each subcommand is one library call.

    losatok info --model MODEL
    losatok teachers                      # semantic teachers known by name (training configs, eval fd)
    losatok encode  audio.wav folder/ --out latents/ [--model MODEL] [--batch-size 8] [--device cuda] [--force]
    losatok decode  latents/ --out wavs/            [--model MODEL]
    losatok reconstruct audio.wav --out recon/      [--model MODEL] [--precision fp32|bf16|int8]
    losatok export-onnx --model MODEL --out onnx/   # decoder.onnx for onnxruntime (extra [deploy])
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
import json
import sys
from pathlib import Path

EMBEDDED_MODEL = Path(__file__).parent / "pretrained" / "losatok-mini"
DEFAULT_MODEL = "losatok-mini"
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


def add_precision_arg(sp: argparse.ArgumentParser) -> None:
    """``--precision fp32|bf16|int8`` on a subcommand that runs the model (applied by :func:`_model`)."""
    sp.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (reference numerics), bf16 (float32 islands kept) or int8 (dynamic, CPU)",
    )


def _model(spec: str | None, device: str, precision: str = "fp32"):
    from .loading import check_model_spec, load_vae

    check_model_spec(spec or DEFAULT_MODEL)
    _check_device(device)
    from .models.precision import apply_precision

    return apply_precision(load_vae(spec or DEFAULT_MODEL).eval().to(device), precision)


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
    from .loading import describe_model

    d = describe_model(args.model or DEFAULT_MODEL)
    cfg = d["config"]
    frame_rate = cfg["sampling_rate"] / cfg["hop_length"]
    print(f"model            {d['path']}")
    print(f"parameters       {d['parameters'] / 1e6:.2f} M (semantic encoder {d['semantic_parameters'] / 1e6:.2f} M)")
    print(f"sample rate      {cfg['sampling_rate']} Hz, mono")
    print(f"frame rate       {frame_rate:g} Hz (hop {cfg['hop_length']} samples)")
    print(f"latent           {cfg['latent_channels']} channels (float, Gaussian mean)")
    print(
        f"semantic width   {cfg['embed_dim']}, depth {cfg['semantic_depth']}; decoder width {cfg['decoder_dim']}, "
        f"depth {cfg['decoder_depth']}"
    )
    return 0


def cmd_encode(args) -> int:
    model = _model(
        args.model, args.device, args.precision
    )  # first: a bad --model/--device answers before heavy imports
    from .batch import encode_files

    return _print_result(
        encode_files(
            model, args.inputs, args.out, args.batch_size, args.force, model_id=str(args.model or DEFAULT_MODEL)
        )
    )


def cmd_decode(args) -> int:
    model = _model(
        args.model, args.device, args.precision
    )  # first: a bad --model/--device answers before heavy imports
    from .batch import decode_files

    return _print_result(decode_files(model, args.inputs, args.out, args.batch_size, args.force))


def cmd_reconstruct(args) -> int:
    model = _model(
        args.model, args.device, args.precision
    )  # first: a bad --model/--device answers before heavy imports
    from .batch import reconstruct_files

    return _print_result(reconstruct_files(model, args.inputs, args.out, args.batch_size, args.force))


def _entries(paths: list[str]):
    from .data import read_manifest

    out = []
    for p in paths:
        out += read_manifest(p)
    return out


def _report_missing(missing: list[tuple[str, str]]) -> int:
    for path, reason in missing:
        print(f"  missing/unreadable: {path}: {reason}", file=sys.stderr)
    return 1 if missing else 0


def cmd_recon(args) -> int:
    from .eval.recon import METRICS, evaluate_reconstruction

    if sum(x is not None for x in (args.model, args.recon_dir, args.baseline)) != 1:
        print("error: give exactly one of --model, --recon-dir, --baseline", file=sys.stderr)
        return 2
    model = _model(args.model, args.device, args.precision) if args.model else None
    codec = None
    if args.baseline == "griffin-lim":
        from .eval.baseline import GriffinLimMel

        codec = GriffinLimMel()
    report = evaluate_reconstruction(
        _entries(args.manifest), args.out, model=model, recon_dir=args.recon_dir, plots=args.plots, codec=codec
    )
    for stat, suffix in (("mean", ""), ("median", "_median")):
        print(f"{'domain':<10} {'clips':>5} {stat:>6} " + " ".join(f"{m:>9}" for m in METRICS))
        for domain, s in report.summary.items():
            cells = " ".join(f"{s[m + suffix]:>9.4f}" if m + suffix in s else f"{'-':>9}" for m in METRICS)
            print(f"{domain:<10} {s['clips']:>5} {stat:>6} {cells}")
    print("metrics undefined for a clip (silent reference or output, ...) are left out: see 'skipped' in the CSV")
    print(f"per-file CSV, summary.json and mel PNGs in {args.out}")
    return _report_missing(report.missing)


def cmd_probe(args) -> int:
    from .data import read_manifest
    from .eval.plots import plot_probe_bars
    from .eval.probe import clip_probe, frame_probe
    from .eval.representations import extract
    from .fileio import atomic_write_text

    model = _model(args.model, args.device, args.precision)
    results, missing = [], []
    for manifest in args.manifest:
        entries = read_manifest(manifest)
        task = Path(manifest).stem
        for rep in args.rep:
            feats, kept, skipped = extract(model, entries, rep)
            missing += skipped
            kept_entries = [entries[i] for i in kept]
            splits = [e.extra.get("split") for e in kept_entries]
            if all("frame_labels" in e.extra for e in kept_entries):
                frame_labels = [list(map(str, e.extra["frame_labels"])) for e in kept_entries]
                results.append(frame_probe(feats, frame_labels, splits, task, rep, seed=args.seed).to_dict())
            labelled = [(f, e.label, s) for f, e, s in zip(feats, kept_entries, splits) if e.label is not None]
            if labelled:
                f, y, s = map(list, zip(*labelled))
                results.append(clip_probe(f, y, s, task, rep, seed=args.seed).to_dict())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "probe.json", json.dumps(results, indent=2))
    plot_probe_bars(results, out / "probe_accuracy.png")
    print(f"{'task':<20} {'representation':<18} {'level':<6} {'accuracy':>9} {'chance':>7} {'train':>6} {'test':>5}")
    for r in results:
        print(
            f"{r['task']:<20} {r['representation']:<18} {r['level']:<6} {r['accuracy']:>9.3f} {r['chance']:>7.3f} "
            f"{r['n_train']:>6} {r['n_test']:>5}"
        )
    return _report_missing(missing)


def cmd_rank(args) -> int:
    import torch

    from .eval.analysis import components_for, effective_rank, explained_variance
    from .eval.plots import plot_pca_curves
    from .eval.representations import extract
    from .fileio import atomic_write_text

    model = _model(args.model, args.device, args.precision)
    entries = _entries(args.manifest)
    rows, curves, missing = [], {}, []
    for rep in args.rep:
        feats, _, skipped = extract(model, entries, rep)
        missing += skipped
        x = torch.cat(feats)
        curve = explained_variance(x)
        curves[rep] = curve
        rows.append(
            {
                "representation": rep,
                "dim": x.shape[1],
                "frames": x.shape[0],
                "effective_rank": effective_rank(x),
                "pcs_90": components_for(curve, 0.90),
                "pcs_99": components_for(curve, 0.99),
            }
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves_json = {k: v.tolist() for k, v in curves.items()}
    atomic_write_text(out / "rank.json", json.dumps({"rows": rows, "curves": curves_json}))
    plot_pca_curves(curves, out / "pca_curve.png")
    print(f"{'representation':<18} {'dim':>5} {'frames':>7} {'eff. rank':>9} {'PCs 90%':>8} {'PCs 99%':>8}")
    for r in rows:
        print(
            f"{r['representation']:<18} {r['dim']:>5} {r['frames']:>7} {r['effective_rank']:>9.1f} "
            f"{r['pcs_90']:>8} {r['pcs_99']:>8}"
        )
    return _report_missing(missing)


def _teacher_features(teacher, entries, device: str):
    import torch

    from .data.audio_io import AudioReadError, load_audio

    feats, missing = [], []
    for e in entries:
        try:
            with torch.inference_mode():
                feats.append(teacher(load_audio(e.path)[None].to(device))[0].float().cpu())
        except (AudioReadError, ValueError) as err:
            missing.append((e.path, str(err)))
    return feats, None, missing


def cmd_fd(args) -> int:
    import torch

    from .eval.analysis import frechet_distance
    from .eval.representations import extract
    from .fileio import atomic_write_text

    if args.teacher:  # any registry teacher as the embedding
        from .teachers import load_teacher

        teacher = load_teacher(args.teacher_type, args.teacher).to(args.device)
        ref, _, miss_a = _teacher_features(teacher, _entries(args.ref), args.device)
        gen, _, miss_b = _teacher_features(teacher, _entries(args.gen), args.device)
        args.rep = f"{args.teacher_type} teacher"
    else:
        model = _model(args.model, args.device, args.precision)
        ref, _, miss_a = extract(model, _entries(args.ref), args.rep)
        gen, _, miss_b = extract(model, _entries(args.gen), args.rep)
    fd = frechet_distance(torch.cat(ref), torch.cat(gen))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"representation": args.rep, "frechet_distance": fd, "ref_clips": len(ref), "gen_clips": len(gen)}
    atomic_write_text(out / "fd.json", json.dumps(result, indent=2))
    print(f"Fréchet distance ({args.rep}): {fd:.4f}  [{len(ref)} reference clips, {len(gen)} generated clips]")
    return _report_missing(miss_a + miss_b)


def cmd_export_onnx(args) -> int:
    from .export.onnx import export_onnx

    paths = export_onnx(_model(args.model, "cpu"), args.out)
    print("\n".join(f"{name:<8} {path}" for name, path in paths.items()))
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
    onx = sub.add_parser("export-onnx", help="export the decoder (latents -> waveform) to ONNX (extra [deploy])")
    onx.add_argument("--model", default=None, help="save_pretrained folder or official checkpoint")
    onx.add_argument("--out", required=True, help="output folder (decoder.onnx, export.json)")
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
    pr.add_argument("--rep", action="append", required=True, help="representation(s), e.g. mu, unified_emb")
    pr.add_argument("--seed", type=int, default=0, help="split / classifier seed")
    common(pr)
    pr.set_defaults(func=cmd_probe)

    rk = evs.add_parser("rank", help="effective rank and PCA curves (redundancy analysis)")
    rk.add_argument("--manifest", action="append", required=True, help="manifest(s) of audio")
    rk.add_argument("--rep", action="append", required=True, help="representation(s)")
    common(rk)
    rk.set_defaults(func=cmd_rank)

    fd = evs.add_parser("fd", help="Fréchet distance between two sets of audio")
    fd.add_argument("--ref", action="append", required=True, help="manifest(s) of reference audio")
    fd.add_argument("--gen", action="append", required=True, help="manifest(s) of generated audio")
    fd.add_argument("--rep", default="semantic_emb", help="embedding used (default: the semantic teacher)")
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
