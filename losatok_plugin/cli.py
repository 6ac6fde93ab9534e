"""The ``losatok`` command (also ``python -m losatok_plugin``). Each subcommand is one library call.

    losatok info --model MODEL
    losatok teachers                      # semantic teachers known by name (training configs, eval fd)
    losatok encode  audio.wav folder/ --out latents/ [--model MODEL] [--batch-size 8] [--device cuda] [--force]
    losatok decode  latents/ --out wavs/            [--model MODEL]
    losatok reconstruct audio.wav --out recon/      [--model MODEL]
    losatok eval recon --manifest test.jsonl --model MODEL --out eval/recon
    losatok eval probe --manifest task1.jsonl --manifest task2.jsonl --model MODEL --rep mu --rep unified_emb --out eval/probe
    losatok eval rank  --manifest speech.jsonl --model MODEL --rep semantic_emb --rep mu --out eval/rank
    losatok eval fd    --ref real.jsonl --gen generated.jsonl --model MODEL --rep semantic_emb --out eval/fd

MODEL is a ``save_pretrained`` folder or an official checkpoint (default: the embedded model, when shipped). Outputs are JSON + PNG in ``--out``;
a short table is printed. Exit code 1 when files were missing or unreadable (the rest is evaluated).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EMBEDDED_MODEL = Path(__file__).parent / "pretrained" / "losatok-mini"


def _model(spec: str | None, device: str):
    from .loading import load_vae

    if spec is None:
        if not (EMBEDDED_MODEL / "config.json").is_file():
            raise SystemExit("no embedded model is shipped in this version: pass --model (a save_pretrained folder "
                             "or an official checkpoint such as losatok_kl1e-2.pth)")  # fmt: skip
        spec = str(EMBEDDED_MODEL)
    return load_vae(spec).eval().to(device)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def _files(inputs: list[str], suffixes: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and q.name.lower().endswith(suffixes))
        elif p.is_file():
            out.append(p)
        else:
            raise SystemExit(f"no such file or folder: {p}")
    if not out:
        raise SystemExit(f"no input files found in {inputs}")
    return out


def _writable(out: Path) -> None:
    """Create the output folder (parents too) and check that files can be written in it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".losatok_write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SystemExit(f"cannot write to output folder {out}: {e.strerror or e}") from None


def _outputs(files: list[Path], out: Path, suffix: str, force: bool) -> tuple[list[Path], list[Path], int]:
    """Output path per input; inputs whose output exists are dropped (unless --force) with a notice."""
    _writable(out)
    todo, targets, refused = [], [], 0
    for f in files:
        name = f.name[: -len(".latent.safetensors")] if f.name.endswith(".latent.safetensors") else f.stem
        target = out / (name + suffix)
        if target.exists() and not force:
            print(f"  exists, not overwritten (use --force): {target}", file=sys.stderr)
            refused += 1
            continue
        todo.append(f)
        targets.append(target)
    return todo, targets, refused


def _encode_batches(model, files: list[Path], batch_size: int, failures: list[tuple[Path, str]]):
    """Yield ``(file, latents [C, T], original_length)`` for audio files, encoded in padded batches.

    Unreadable, empty and too-short files are appended to ``failures`` (path, reason) and skipped.
    """
    import warnings

    import torch

    from .data.audio_io import AudioReadError, load_audio

    for i in range(0, len(files), batch_size):
        group, clips = [], []
        for f in files[i : i + batch_size]:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    clip = load_audio(f, model.sampling_rate, warn_downmix=True)
            except AudioReadError as e:
                failures.append((f, str(e)))
                continue
            for w in caught:
                print(f"  notice: {w.message}", file=sys.stderr)
            if clip.shape[0] < model.min_samples:
                failures.append((f, f"too short: {clip.shape[0]} samples, one latent frame needs {model.min_samples}"))
                continue
            group.append(f)
            clips.append(clip)
        if not clips:
            continue
        lengths = torch.tensor([c.shape[0] for c in clips])
        batch = torch.zeros(len(clips), int(lengths.max()))
        for j, c in enumerate(clips):
            batch[j, : c.shape[0]] = c
        with torch.inference_mode():
            dist = model.encode(batch.to(model.device), lengths=lengths).latent_dist
        for j, f in enumerate(group):
            yield f, dist.mode()[j, :, : int(dist.lengths[j])].float().cpu(), int(lengths[j])


def cmd_teachers(args) -> int:  # noqa: ARG001
    from .teachers import TEACHERS

    print("\n".join(TEACHERS))
    return 0


def cmd_info(args) -> int:
    model = _model(args.model, "cpu")
    n = sum(p.numel() for p in model.parameters())
    cfg = model.config
    print(f"model            {args.model or EMBEDDED_MODEL}")
    print(f"parameters       {n / 1e6:.2f} M (semantic encoder {sum(p.numel() for p in model.semantic_encoder.parameters()) / 1e6:.2f} M)")
    print(f"sample rate      {cfg.sampling_rate} Hz, mono")
    print(f"frame rate       {model.frame_rate:g} Hz (hop {cfg.hop_length} samples)")
    print(f"latent           {cfg.latent_channels} channels (float, Gaussian mean)")
    print(f"semantic width   {cfg.embed_dim}, depth {cfg.semantic_depth}; decoder width {cfg.decoder_dim}, depth {cfg.decoder_depth}")
    return 0


def cmd_encode(args) -> int:
    from tqdm import tqdm

    from .latent_file import SUFFIX, save_latents

    model = _model(args.model, args.device)
    files, targets, refused = _outputs(_files(args.inputs, AUDIO_SUFFIXES), Path(args.out), SUFFIX, args.force)
    where = dict(zip(files, targets))
    model_id = str(args.model or EMBEDDED_MODEL)
    failures: list[tuple[Path, str]] = []
    done = 0
    for f, z, n in tqdm(_encode_batches(model, files, args.batch_size, failures), total=len(files), desc="encode",
                        unit="file"):  # fmt: skip
        save_latents(where[f], z, model, n, model_id=model_id)
        done += 1
    return _summary("encoded", done, args.out, refused, failures)


def cmd_decode(args) -> int:
    import soundfile as sf
    import torch
    from tqdm import tqdm

    from .latent_file import SUFFIX, fit_length, load_latents

    model = _model(args.model, args.device)
    from .latent_file import LatentFileError

    files, targets, refused = _outputs(_files(args.inputs, (SUFFIX,)), Path(args.out), ".wav", args.force)
    failures: list[tuple[Path, str]] = []
    for f, target in tqdm(list(zip(files, targets)), desc="decode", unit="file"):
        try:
            lf = load_latents(f, model)
        except LatentFileError as e:
            failures.append((f, str(e)))
            continue
        with torch.inference_mode():
            audio = model.decode(lf.latents[None].to(model.device)).sample[0, 0].float().cpu()
        sf.write(str(target), fit_length(audio, lf.original_length).clamp(-1, 1).numpy(), model.sampling_rate)
    return _summary("decoded", len(files) - len(failures), args.out, refused, failures)


def cmd_reconstruct(args) -> int:
    import soundfile as sf
    import torch
    from tqdm import tqdm

    from .latent_file import fit_length

    model = _model(args.model, args.device)
    files, targets, refused = _outputs(_files(args.inputs, AUDIO_SUFFIXES), Path(args.out), ".wav", args.force)
    where = dict(zip(files, targets))
    failures: list[tuple[Path, str]] = []
    done = 0
    for f, z, n in tqdm(_encode_batches(model, files, args.batch_size, failures), total=len(files),
                        desc="reconstruct", unit="file"):  # fmt: skip
        with torch.inference_mode():
            audio = model.decode(z[None].to(model.device)).sample[0, 0].float().cpu()
        sf.write(str(where[f]), fit_length(audio, n).clamp(-1, 1).numpy(), model.sampling_rate)
        done += 1
    return _summary("reconstructed", done, args.out, refused, failures)


def _summary(verb: str, done: int, out: str, refused: int, failures: list[tuple[Path, str]]) -> int:
    """Print what happened; exit code 1 when any input was not processed."""
    for f, reason in failures:
        print(f"  failed: {f}: {reason}", file=sys.stderr)
    extra = (f"; {refused} skipped (exist)" if refused else "") + (f"; {len(failures)} failed" if failures else "")
    print(f"{verb} {done} files to {out}{extra}")
    return 1 if refused or failures else 0


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
    model = _model(args.model, args.device) if args.model else None
    codec = None
    if args.baseline == "griffin-lim":
        from .eval.baseline import GriffinLimMel

        codec = GriffinLimMel()
    report = evaluate_reconstruction(_entries(args.manifest), args.out, model=model, recon_dir=args.recon_dir,
                                     plots=args.plots, codec=codec)  # fmt: skip
    print(f"{'domain':<10} {'clips':>5} " + " ".join(f"{m:>9}" for m in METRICS))
    for domain, s in report.summary.items():
        cells = " ".join(f"{s[m]:>9.4f}" if m in s else f"{'-':>9}" for m in METRICS)
        print(f"{domain:<10} {s['clips']:>5} {cells}")
    print(f"per-file CSV, summary.json and mel PNGs in {args.out}")
    return _report_missing(report.missing)


def cmd_probe(args) -> int:
    from .data import read_manifest
    from .eval.plots import plot_probe_bars
    from .eval.probe import clip_probe, frame_probe
    from .eval.representations import extract

    model = _model(args.model, args.device)
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
    (out / "probe.json").write_text(json.dumps(results, indent=2))
    plot_probe_bars(results, out / "probe_accuracy.png")
    print(f"{'task':<20} {'representation':<18} {'level':<6} {'accuracy':>9} {'chance':>7} {'train':>6} {'test':>5}")
    for r in results:
        print(f"{r['task']:<20} {r['representation']:<18} {r['level']:<6} {r['accuracy']:>9.3f} {r['chance']:>7.3f} "
              f"{r['n_train']:>6} {r['n_test']:>5}")  # fmt: skip
    return _report_missing(missing)


def cmd_rank(args) -> int:
    import torch

    from .eval.analysis import components_for, effective_rank, explained_variance
    from .eval.plots import plot_pca_curves
    from .eval.representations import extract

    model = _model(args.model, args.device)
    entries = _entries(args.manifest)
    rows, curves, missing = [], {}, []
    for rep in args.rep:
        feats, _, skipped = extract(model, entries, rep)
        missing += skipped
        x = torch.cat(feats)
        curve = explained_variance(x)
        curves[rep] = curve
        rows.append({"representation": rep, "dim": x.shape[1], "frames": x.shape[0],
                     "effective_rank": effective_rank(x), "pcs_90": components_for(curve, 0.90),
                     "pcs_99": components_for(curve, 0.99)})  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rank.json").write_text(json.dumps({"rows": rows, "curves": {k: v.tolist() for k, v in curves.items()}}))
    plot_pca_curves(curves, out / "pca_curve.png")
    print(f"{'representation':<18} {'dim':>5} {'frames':>7} {'eff. rank':>9} {'PCs 90%':>8} {'PCs 99%':>8}")
    for r in rows:
        print(f"{r['representation']:<18} {r['dim']:>5} {r['frames']:>7} {r['effective_rank']:>9.1f} "
              f"{r['pcs_90']:>8} {r['pcs_99']:>8}")  # fmt: skip
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

    if args.teacher:  # any registry teacher as the embedding
        from .teachers import load_teacher

        teacher = load_teacher(args.teacher_type, args.teacher).to(args.device)
        ref, _, miss_a = _teacher_features(teacher, _entries(args.ref), args.device)
        gen, _, miss_b = _teacher_features(teacher, _entries(args.gen), args.device)
        args.rep = f"{args.teacher_type} teacher"
    else:
        model = _model(args.model, args.device)
        ref, _, miss_a = extract(model, _entries(args.ref), args.rep)
        gen, _, miss_b = extract(model, _entries(args.gen), args.rep)
    fd = frechet_distance(torch.cat(ref), torch.cat(gen))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"representation": args.rep, "frechet_distance": fd, "ref_clips": len(ref), "gen_clips": len(gen)}
    (out / "fd.json").write_text(json.dumps(result, indent=2))
    print(f"Fréchet distance ({args.rep}): {fd:.4f}  [{len(ref)} reference clips, {len(gen)} generated clips]")
    return _report_missing(miss_a + miss_b)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="losatok", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def io_args(sp, what: str):
        sp.add_argument("inputs", nargs="+", help=f"{what} files or folders (searched recursively)")
        sp.add_argument("--out", required=True, help="output folder")
        sp.add_argument("--model", default=None, help="save_pretrained folder or official checkpoint")
        sp.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
        sp.add_argument("--batch-size", type=int, default=4, help="files encoded together (padded, with lengths)")
        sp.add_argument("--force", action="store_true", help="overwrite existing outputs")

    tch = sub.add_parser("teachers", help="list the semantic teachers known by name")
    tch.set_defaults(func=cmd_teachers)
    info = sub.add_parser("info", help="model size, frame rate, latent dimension")
    info.add_argument("--model", default=None, help="save_pretrained folder or official checkpoint")
    info.set_defaults(func=cmd_info)
    enc = sub.add_parser("encode", help="audio files -> latent files (.latent.safetensors)")
    io_args(enc, "audio (wav/flac/ogg)")
    enc.set_defaults(func=cmd_encode)
    dec = sub.add_parser("decode", help="latent files -> 16 kHz wav of the original length")
    io_args(dec, "latent")
    dec.set_defaults(func=cmd_decode)
    rec = sub.add_parser("reconstruct", help="audio -> latents -> audio (wav)")
    io_args(rec, "audio (wav/flac/ogg)")
    rec.set_defaults(func=cmd_reconstruct)
    ev = sub.add_parser("eval", help="evaluate a tokenizer: recon | probe | rank | fd")
    evs = ev.add_subparsers(dest="what", required=True)

    def common(sp, model_required=True):
        sp.add_argument("--model", required=model_required, help="save_pretrained folder or official checkpoint")
        sp.add_argument("--out", required=True, help="output folder (JSON + PNG)")
        sp.add_argument("--device", default="cpu", help="torch device")

    r = evs.add_parser("recon", help="reconstruction metrics over a manifest")
    r.add_argument("--manifest", action="append", required=True, help="manifest(s) of reference audio")
    r.add_argument("--recon-dir", default=None, help="score existing reconstructions (same file names) instead")
    r.add_argument("--baseline", choices=["griffin-lim"], default=None,
                   help="score the classical baseline instead: 128-band mel at 25 Hz inverted with Griffin-Lim")
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
