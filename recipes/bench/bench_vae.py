"""Side-by-side CPU benchmark: LoSATok fp32 / bf16 / int8 / onnxruntime beside the autoencoders a user
would otherwise pick, with ratios, quality against fp32 and memory against audio length. One run:

    python recipes/bench/bench_vae.py            # full (many minutes on a 2-core CPU)
    python recipes/bench/bench_vae.py --quick    # smoke run: losatok-mini + EnCodec, 1 s of audio, one 6 s memory row

Every configuration runs in its own subprocess (peak memory per row). Rows:
- ours: the official size (random weights) and the embedded ``losatok-mini`` (trained), in fp32, bf16
  (``from_pretrained(torch_dtype=bfloat16)`` / ``.to``), int8 (``vae.quantize("int8")``), onnx
  (encoder and decoder exported once per size with ``export_onnx``, run by onnxruntime: ``OnnxEncoder``,
  ``OnnxDecoder.decode``; no PyTorch model in that process) and onnx-int8 (those graphs quantized by
  onnxruntime's ``quantize_dynamic``, ``export_onnx(precision="int8")``). ``--onnx-from size=DIR`` reuses a
  float export (the official one takes ~10 minutes) and its int8 sibling ``DIR-int8`` when there is one.
- baselines at their published configurations, random weights, same audio duration: diffusers
  ``AutoencoderOobleck`` (Stable Audio Open VAE, 44.1 kHz stereo), transformers ``DacModel`` (DAC 16 kHz)
  and ``EncodecModel`` (EnCodec 24 kHz, 6 kbps).
- speed: CPU seconds of the worker process (all its threads) per audio second, best of ``--repeats`` after
  a warm-up call; wall time alongside. CPU time keeps the ratios meaningful on a shared machine, where
  wall time mostly measures the other jobs. ``x fp32``: the row's speed relative to our fp32 path of the
  same size (>1 = faster).
- quality (ours): SNR of the reconstruction against fp32's and the multi-scale mel distance to the input,
  on the bundled clips recipes/assets/examples/*.wav.
- memory vs audio length (``--long-plan``): peak RSS above the loaded model, encode and decode measured
  separately, each in a fresh process: RSS after loading, then the kernel's peak-RSS mark is reset
  (``/proc/self/clear_refs``) and read back after the call (``getrusage`` ``ru_maxrss``, the same mark).
  Unlike tracemalloc this counts every allocation (torch, onnxruntime, BLAS). Decode runs on random latents
  of the same length. Default plan: both sizes at 1 and 10 min in every precision but official bf16, which
  runs at 1 min only (bf16 has no hardware path on an AVX2 CPU: ~15 s per audio second).
- caps: ``--row-limit size:precision=SECONDS`` stops a row after that much wall time and ``--deadline
  MINUTES`` starts no row after that; either is listed under "not measured (capped)", never dropped silently.

``--json PATH`` also writes every row as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "recipes" / "assets" / "examples"
OURS = ("fp32", "bf16", "int8", "onnx", "onnx-int8")


def _rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM, which ``ru_maxrss`` reports) to the current RSS (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Peak RSS in GB (``peak``) while the context is open: the kernel's high-water mark, reset on entry
    (``/proc/self/clear_refs``) and read with ``getrusage`` on exit; where the mark cannot be reset, the RSS
    sampled every 20 ms (``method`` says which)."""

    def __enter__(self) -> PeakRSS:
        self.peak = _rss_gb()
        self.method = "hwm" if _reset_peak() else "sampled"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self.method == "sampled":
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _rss_gb())
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self.method == "sampled":
            self._thread.join()
            self.peak = max(self.peak, _rss_gb())
        else:
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


# -- model builders (inside workers) ----------------------------------------------------------------
def _ours(size: str, precision: str, onnx_dir: str | None = None):
    """(encode, decode, params, weights GB) of our model; ``onnx`` runs the graphs in ``onnx_dir``."""
    import torch

    if precision in ("onnx", "onnx-int8"):
        from losatok_plugin.export.onnx import OnnxDecoder, OnnxEncoder

        onnx_dir = _onnx_folder(onnx_dir, precision)
        threads = torch.get_num_threads()
        encoder = OnnxEncoder(Path(onnx_dir) / "encoder.onnx", threads=threads)
        decoder = OnnxDecoder(Path(onnx_dir) / "decoder.onnx", threads=threads)
        meta = json.loads((Path(onnx_dir) / "sizes.json").read_text())
        return (lambda x: encoder(x).mean), decoder.decode, meta["params"], meta["bytes"] / 1024**3

    from losatok_plugin import LoSATokConfig, LoSATokVAE

    if size == "mini":
        dtype = torch.bfloat16 if precision == "bf16" else None
        model = LoSATokVAE.from_pretrained("losatok-mini", torch_dtype=dtype).eval()
    else:
        torch.manual_seed(0)
        model = LoSATokVAE(**LoSATokConfig().to_dict()).eval()  # random weights (default init)
        if precision == "bf16":
            model.to(torch.bfloat16)
    if precision == "int8":
        model.quantize("int8")
    params = sum(p.numel() for p in model.parameters())
    return (
        (lambda x: model.encode(x).latent_dist.mode()),
        (lambda z: model.decode(z).sample),
        params,
        _weights_gb(model),
    )


def _onnx_folder(folder: str, precision: str) -> Path:
    """The float export's folder, or its int8 sibling (``<folder>-int8``) for ``onnx-int8``."""
    return Path(folder + "-int8") if precision == "onnx-int8" else Path(folder)


def _graph_bytes(folder: Path) -> int:
    return sum(
        f.stat().st_size
        for f in folder.iterdir()
        if f.name.startswith(("encoder.onnx", "encoder_peak.onnx", "decoder.onnx"))
    )


def export_worker(size: str, folder: str, int8: bool = True) -> dict:
    """Export our model of ``size`` (fp32) to ``folder`` (kept when it already holds both graphs: pass an
    earlier export with ``--onnx-from``), and its onnxruntime int8 copy to ``<folder>-int8``; each folder's
    ``sizes.json`` records parameters and bytes."""
    import torch

    from losatok_plugin import LoSATokConfig, LoSATokVAE
    from losatok_plugin.export.onnx import export_onnx
    from losatok_plugin.export.quantize import quantize_onnx_graphs

    if size == "mini":
        model = LoSATokVAE.from_pretrained("losatok-mini").eval()
    else:
        torch.manual_seed(0)
        model = LoSATokVAE(**LoSATokConfig().to_dict()).eval()
    params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    reused = all((Path(folder) / f).is_file() for f in ("encoder.onnx", "decoder.onnx"))
    if not reused:
        export_onnx(model, folder)
    info = {"params": params, "bytes": _graph_bytes(Path(folder)), "seconds": time.perf_counter() - t0}
    (Path(folder) / "sizes.json").write_text(json.dumps(info))
    out = {"kind": size, "reused": reused, **info}
    if int8:
        t0 = time.perf_counter()
        q = _onnx_folder(folder, "onnx-int8")
        q_reused = all((q / f).is_file() for f in ("encoder.onnx", "decoder.onnx", "export.json"))
        if q_reused:  # an int8 sibling copied by --onnx-from
            layers = json.loads((q / "export.json").read_text())["int8_layers"]
        else:
            layers = quantize_onnx_graphs(model, folder, q)
        q_info = {"params": params, "bytes": _graph_bytes(q), "seconds": time.perf_counter() - t0}
        (q / "sizes.json").write_text(json.dumps(q_info))
        out.update(
            int8_bytes=q_info["bytes"],
            int8_seconds=q_info["seconds"],
            int8_layers=sum(map(len, layers.values())),
            int8_reused=q_reused,
        )
    return out


def _baseline(name: str):
    import torch

    torch.manual_seed(0)
    if name == "oobleck":
        from diffusers import AutoencoderOobleck

        m = AutoencoderOobleck().eval()  # Stable Audio Open VAE configuration
        return m, m.config.sampling_rate, 2, (lambda x: m.encode(x).latent_dist.mode()), (lambda z: m.decode(z).sample)
    if name == "dac":
        from transformers import DacConfig, DacModel

        m = DacModel(DacConfig()).eval()  # DAC 16 kHz configuration
        return (
            m,
            m.config.sampling_rate,
            1,
            (lambda x: m.encode(x).quantized_representation),
            (lambda z: m.decode(quantized_representation=z).audio_values),
        )
    from transformers import EncodecConfig, EncodecModel

    m = EncodecModel(EncodecConfig()).eval()  # EnCodec 24 kHz configuration

    def enc(x):
        out = m.encode(x, bandwidth=6.0)
        return out.audio_codes, out.audio_scales

    return m, m.config.sampling_rate, 1, enc, (lambda c: m.decode(c[0], c[1]).audio_values)


def _weights_gb(model) -> float:
    total = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    for m in model.modules():  # int8 packed Linear weights are not parameters
        packed = getattr(m, "_packed_params", None)
        if packed is not None and hasattr(packed, "_weight_bias"):
            w, b = packed._weight_bias()
            total += w.numel() * w.element_size() + (b.numel() * b.element_size() if b is not None else 0)
    return total / 1024**3


def worker(kind: str, precision: str, seconds: float, repeats: int, quality_dir: str | None, onnx_dir=None) -> dict:
    import torch

    base_rss = _rss_gb()
    if kind in ("official", "mini"):
        encode, decode, params, weights = _ours(kind, precision, onnx_dir)
        sr, channels = 16000, 1
    else:
        model, sr, channels, encode, decode = _baseline(kind)
        params, weights = sum(p.numel() for p in model.parameters()), _weights_gb(model)
    loaded = _rss_gb()
    audio = torch.randn(1, channels, int(seconds * sr)) * 0.1
    enc_t, dec_t, enc_cpu, dec_cpu = [], [], [], []
    with torch.inference_mode(), PeakRSS() as peak:
        z = encode(audio)  # warm-up
        decode(z)
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            z = encode(audio)
            t1, c1 = time.perf_counter(), time.process_time()
            decode(z)
            enc_t.append(t1 - t0)
            dec_t.append(time.perf_counter() - t1)
            enc_cpu.append(c1 - c0)
            dec_cpu.append(time.process_time() - c1)
    row = {
        "kind": kind,
        "precision": precision,
        "params_m": params / 1e6,
        "weights_gb": weights,
        "loaded_gb": loaded - base_rss,
        "peak_above_gb": peak.peak - loaded,
        "memory_method": peak.method,
        "encode": min(enc_cpu) / seconds,  # CPU seconds of this process (all its threads) per audio second
        "decode": min(dec_cpu) / seconds,
        "encode_wall": min(enc_t) / seconds,
        "decode_wall": min(dec_t) / seconds,
        "threads": torch.get_num_threads(),
    }
    if quality_dir and kind in ("official", "mini"):
        import numpy as np
        import soundfile as sf

        for f in sorted(EXAMPLES.glob("*.wav")):
            x, _ = sf.read(str(f), dtype="float32")
            with torch.inference_mode():
                y = decode(encode(torch.from_numpy(x)[None, None]))
            np.save(Path(quality_dir) / f"{kind}_{precision}_{f.stem}.npy", y.float().numpy()[0, 0])
    return row


def long_worker(kind: str, precision: str, minutes: float, stage: str, onnx_dir: str | None = None) -> dict:
    """Peak RSS above the loaded model while encoding (or decoding) ``minutes`` of audio, in this process."""
    import torch

    encode, decode, _, _ = _ours(kind, precision, onnx_dir)
    n = int(minutes * 60 * 16000)
    frames = (1 + n // 160) // 4
    torch.manual_seed(0)
    if stage == "encode":
        x = torch.randn(1, 1, n) * 0.1
    else:  # random latents of the length ``minutes`` encode to (the decode cost does not depend on values)
        x = torch.randn(1, _latent_dim(kind), frames)
    loaded = _rss_gb()
    with torch.inference_mode(), PeakRSS() as peak:
        t0, c0 = time.perf_counter(), time.process_time()
        out = (encode if stage == "encode" else decode)(x)
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
    expected = (1, frames) if stage == "encode" else (1, 640 * frames)
    assert (out.shape[0], out.shape[-1]) == expected, (tuple(out.shape), expected)
    return {
        "kind": kind,
        "precision": precision,
        "minutes": minutes,
        "stage": stage,
        "loaded_gb": loaded,
        "above_gb": peak.peak - loaded,
        "memory_method": peak.method,
        "seconds": took,
        "cpu_seconds": cpu,
        "threads": torch.get_num_threads(),
    }


def _latent_dim(kind: str) -> int:
    if kind == "official":
        return 128
    from losatok_plugin.loading import EMBEDDED_MODELS

    return json.loads((Path(EMBEDDED_MODELS["losatok-mini"]) / "config.json").read_text())["latent_channels"]


# -- driver -----------------------------------------------------------------------------------------
CAPPED: list[str] = []  # rows not measured: over the per-row limit or past the deadline (printed as footnotes)
WORKER_ENV: dict[str, str] = {}  # extra environment of every worker (--malloc-mmap-threshold)


def _run(args: list[str], label: str, limit: float | None = None, deadline: float | None = None) -> dict | None:
    """One worker process; ``limit``: seconds of wall time before it is stopped, ``deadline``: a
    ``time.time()`` after which no row starts (both recorded in :data:`CAPPED`)."""
    if deadline is not None and time.time() > deadline:
        CAPPED.append(f"{label}: not run (past --deadline)")
        print(f"[bench] {label} skipped (deadline)", file=sys.stderr, flush=True)
        return None
    if deadline is not None:
        limit = min(limit or float("inf"), max(deadline - time.time(), 1.0))
    print(f"[bench] {label} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        env = {**os.environ, **WORKER_ENV}
        out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        CAPPED.append(f"{label}: stopped after {limit:.0f} s of wall time (--row-limit / --deadline)")
        print(f"[bench] {label} CAPPED after {limit:.0f} s", file=sys.stderr, flush=True)
        return None
    if out.returncode != 0:
        print(f"[bench] {label} FAILED:\n{out.stderr[-3000:]}", file=sys.stderr)
        return None
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"[bench] {label} done in {time.perf_counter() - t0:.0f} s: {json.dumps(row)}", file=sys.stderr, flush=True)
    return row


def _ratio(reference: float, value: float) -> str:
    return f"{reference / value:>6.2f}"


def quality_table(rows: list[dict], folder: Path, records: list[dict] | None = None) -> list[str]:
    import numpy as np
    import soundfile as sf
    import torch

    from losatok_plugin.eval.metrics import mel_distance

    lines = [f"{'model':<9} {'precision':<9} {'SNR vs fp32 dB (per clip)':<30} {'mel dist':>8} {'vs fp32':>8}"]
    clips = {f.stem: sf.read(str(f), dtype="float32")[0] for f in sorted(EXAMPLES.glob("*.wav"))}
    for kind in ("official", "mini"):
        ref = {
            c: np.load(folder / f"{kind}_fp32_{c}.npy") for c in clips if (folder / f"{kind}_fp32_{c}.npy").is_file()
        }
        if not ref:
            continue
        base_mel = None
        for r in rows:
            if r["kind"] != kind:
                continue
            p = r["precision"]
            snrs, mels = [], []
            for c, x in clips.items():
                if c not in ref or not (folder / f"{kind}_{p}_{c}.npy").is_file():
                    continue  # a clip this row (or fp32) did not reconstruct
                y = np.load(folder / f"{kind}_{p}_{c}.npy")
                n = min(len(y), len(ref[c]), len(x))
                snrs.append(10 * np.log10(np.sum(ref[c][:n] ** 2) / max(np.sum((ref[c][:n] - y[:n]) ** 2), 1e-20)))
                mels.append(float(mel_distance(torch.from_numpy(x[:n]), torch.from_numpy(y[:n].copy()))[0]))
            mel = float(np.mean(mels))
            base_mel = mel if p == "fp32" else base_mel
            snr = "   (reference)" if p == "fp32" else f"min {min(snrs):5.1f}  " + " ".join(f"{s:.1f}" for s in snrs)
            change = f"{100 * (mel / base_mel - 1):+7.2f}%" if base_mel else ""
            lines.append(f"{kind:<9} {p:<9} {snr:<30} {mel:>8.4f} {change:>8}")
            if records is not None:
                records.append(
                    {
                        "kind": kind,
                        "precision": p,
                        "snr_db": [float(v) for v in snrs],
                        "mel_distance": mel,
                        "clips": list(clips),
                    }
                )
    return lines


def parse_long_plan(plan: str) -> list[tuple[str, str, str]]:
    """``"mini=fp32,int8@1,10;official=fp32@1"`` -> [(size, precision, minutes), ...] in that order."""
    out = []
    for part in [p for p in plan.split(";") if p.strip()]:
        size, rest = part.split("=")
        precisions, minutes = rest.split("@")
        out += [(size.strip(), p, m) for p in precisions.split(",") for m in minutes.split(",")]
    return out


def memory_table(long_rows: list[dict]) -> list[str]:
    """Encode and decode rows of the same size / precision / length side by side."""
    lines = [
        f"{'model':<9} {'prec':<9} {'audio':>6} {'loaded GB':>9} {'enc peak+ GB':>12} {'dec peak+ GB':>12} "
        f"{'enc CPU s':>9} {'dec CPU s':>9}"
    ]
    keys = list(dict.fromkeys((r["kind"], r["precision"], r["minutes"]) for r in long_rows))
    for kind, p, minutes in keys:
        by = {r["stage"]: r for r in long_rows if (r["kind"], r["precision"], r["minutes"]) == (kind, p, minutes)}
        enc, dec = by.get("encode"), by.get("decode")
        loaded = (enc or dec)["loaded_gb"]
        cell = lambda r, k, f: format(r[k], f) if r else "n/m"  # noqa: E731
        lines.append(
            f"{kind:<9} {p:<9} {minutes:>4g} m {loaded:>9.2f} {cell(enc, 'above_gb', '.3f'):>12} "
            f"{cell(dec, 'above_gb', '.3f'):>12} {cell(enc, 'cpu_seconds', '.1f'):>9} {cell(dec, 'cpu_seconds', '.1f'):>9}"
        )
    return lines


DEFAULT_LONG_PLAN = "mini=fp32,bf16,int8,onnx,onnx-int8@1,10;official=fp32,int8,onnx,onnx-int8@1,10;official=bf16@1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: losatok-mini and EnCodec, 1 s, one 6 s memory row"
    )
    parser.add_argument("--sizes", default="official,mini", help="our model sizes: official, mini")
    parser.add_argument("--precisions", default=",".join(OURS), help="ours: fp32, bf16, int8, onnx, onnx-int8")
    parser.add_argument("--baselines", default="oobleck,dac,encodec", help="oobleck, dac, encodec ('' for none)")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length per call")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (the best is reported)")
    parser.add_argument(
        "--long-plan",
        default=DEFAULT_LONG_PLAN,
        help="memory rows, 'size=precisions@minutes;...' ('' for none); each (size, precision, minutes) "
        f"measures encode and decode in fresh processes (default {DEFAULT_LONG_PLAN!r})",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch / onnxruntime threads (default: torch's)")
    parser.add_argument(
        "--onnx-from",
        default="",
        help="reuse float ONNX exports, 'size=DIR,...' (DIR from `losatok export-onnx`; the int8 copy is made here "
        "unless DIR-int8 exists beside it, which is then reused too)",
    )
    parser.add_argument(
        "--row-limit",
        default="",
        help="wall-time caps per row, 'size:precision=SECONDS,...' (e.g. 'official:bf16=900'): a row past its cap "
        "is stopped and named in the footnotes",
    )
    parser.add_argument(
        "--deadline", type=float, default=None, help="minutes from start after which no further row starts"
    )
    parser.add_argument(
        "--malloc-mmap-threshold",
        type=int,
        default=None,
        help="run the workers with glibc's MALLOC_MMAP_THRESHOLD_ fixed at this many bytes (e.g. 131072): freed "
        "buffers above it go back to the system at once, so peak RSS counts live memory, not what glibc's heap "
        "keeps after earlier windows (default: glibc's adaptive threshold)",
    )
    parser.add_argument("--json", default=None, help="also write every row (speed, quality, memory) to this file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quality-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--onnx-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        kind, precision, *rest = args.worker.split(":")
        if precision == "export":
            print(json.dumps(export_worker(kind, args.onnx_dir, "onnx-int8" in args.precisions.split(","))))
        elif rest:
            print(json.dumps(long_worker(kind, precision, float(rest[0]), rest[1], args.onnx_dir)))
        else:
            print(json.dumps(worker(kind, precision, args.seconds, args.repeats, args.quality_dir, args.onnx_dir)))
        return
    if args.quick:
        args.sizes, args.seconds, args.repeats, args.baselines = "mini", 1.0, 1, "encodec"
        args.long_plan = "mini=fp32,onnx@0.1"
    if args.malloc_mmap_threshold:
        WORKER_ENV["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold)
    sizes = [s for s in args.sizes.split(",") if s]
    precisions = [p for p in args.precisions.split(",") if p]
    long_plan = parse_long_plan(args.long_plan)
    scratch = Path(tempfile.mkdtemp(prefix="losatok_bench_"))
    quality = scratch / "quality"
    quality.mkdir()
    threads = ["--threads", str(args.threads)] if args.threads else []
    onnx_dirs: dict[str, str] = {}
    exports = []
    deadline = time.time() + 60 * args.deadline if args.deadline else None
    limits = {k: float(v) for k, v in (item.split("=") for item in args.row_limit.split(",") if item)}
    reuse = dict(item.split("=") for item in args.onnx_from.split(",") if item)
    onnx_sizes = [
        *(sizes if {"onnx", "onnx-int8"} & set(precisions) else []),
        *(k for k, p, _ in long_plan if "onnx" in p),
    ]
    for size in dict.fromkeys(onnx_sizes):
        folder = scratch / f"onnx_{size}"
        if size in reuse:
            shutil.copytree(reuse[size], folder)
            if Path(reuse[size] + "-int8").is_dir():  # its int8 sibling too: no new quantization
                shutil.copytree(reuse[size] + "-int8", _onnx_folder(str(folder), "onnx-int8"))
        export = ["--worker", f"{size}:export", "--onnx-dir", str(folder), "--precisions", ",".join(precisions)]
        r = _run([*export, *threads], f"{size} ONNX export", deadline=deadline)
        if r:
            onnx_dirs[size] = str(folder)
            exports.append(r)
    rows = []
    common = ["--seconds", str(args.seconds), "--repeats", str(args.repeats), "--quality-dir", str(quality), *threads]
    for size in sizes:
        for p in precisions:
            if "onnx" in p and size not in onnx_dirs:
                continue
            onnx = ["--onnx-dir", onnx_dirs[size]] if "onnx" in p else []
            label = f"{size} {p}, {args.seconds:g} s audio"
            r = _run(["--worker", f"{size}:{p}", *common, *onnx], label, limits.get(f"{size}:{p}"), deadline)
            rows.append(r) if r else None
    for b in [b for b in args.baselines.split(",") if b]:
        r = _run(["--worker", f"{b}:fp32", *common], f"{b} fp32, {args.seconds:g} s audio", deadline=deadline)
        rows.append(r) if r else None
    long_rows = []
    for size, p, minutes in long_plan:
        if "onnx" in p and size not in onnx_dirs:
            continue
        onnx = ["--onnx-dir", onnx_dirs[size]] if "onnx" in p else []
        for stage in ("encode", "decode"):
            args_ = ["--worker", f"{size}:{p}:{minutes}:{stage}", *threads, *onnx]
            r = _run(args_, f"{size} {p} {stage}, {minutes} min", limits.get(f"{size}:{p}"), deadline)
            long_rows.append(r) if r else None

    ref = {r["kind"]: r for r in rows if r["precision"] == "fp32" and r["kind"] in ("official", "mini")}
    anchor = ref.get("official") or ref.get("mini")
    header = (
        f"{'model':<9} {'prec':<9} {'params':>8} {'weights GB':>10} {'loaded GB':>9} {'peak+ GB':>8} "
        f"{'enc s/s':>8} {'dec s/s':>8} {'enc+dec':>8} {'x fp32':>7} {'enc x':>6} {'dec x':>6} {'wall e+d':>8}"
    )
    print(
        f"\nspeed and memory: {args.seconds:g} s of audio, {rows[0]['threads'] if rows else '?'} threads, "
        "s/s = CPU seconds of the process per audio second (lower is faster; CPU time, not wall time, so that "
        "other jobs on a shared machine do not enter the ratios); x fp32 = our fp32 time / this row's time "
        "(same size; baselines against our official fp32)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        base = ref.get(r["kind"], anchor) or r
        total = r["encode"] + r["decode"]
        print(
            f"{r['kind']:<9} {r['precision']:<9} {r['params_m']:>7.1f}M {r['weights_gb']:>10.3f} {r['loaded_gb']:>9.2f} "
            f"{r['peak_above_gb']:>8.2f} {r['encode']:>8.4f} {r['decode']:>8.4f} {total:>8.4f} "
            f"{_ratio(base['encode'] + base['decode'], total):>7} {_ratio(base['encode'], r['encode'])} "
            f"{_ratio(base['decode'], r['decode'])} {r['encode_wall'] + r['decode_wall']:>8.4f}"
        )
    print(
        "onnx rows: encoder and decoder in onnxruntime (weights GB = size of the .onnx files); onnx-int8: the "
        "same graphs dynamically int8-quantized by onnxruntime (export/quantize.py); "
        "int8 weights GB counts the packed int8 weights"
    )
    for e in exports:
        how = "reused (--onnx-from)" if e.get("reused") else f"{e['seconds']:.0f} s"
        line = f"ONNX export of {e['kind']}: {how}, {e['bytes'] / 1024**3:.3f} GB"
        if "int8_bytes" in e:
            how = "reused (--onnx-from DIR-int8)" if e.get("int8_reused") else f"{e['int8_seconds']:.0f} s"
            line += f"; onnxruntime int8: {how}, {e['int8_bytes'] / 1024**3:.3f} GB, {e['int8_layers']} layers"
        print(line)
    print(
        f"\nquality on {EXAMPLES.relative_to(ROOT)}/*.wav (reconstruction SNR against fp32; mel distance to the input)"
    )
    quality_records: list[dict] = []
    print("\n".join(quality_table(rows, quality, quality_records)))
    if long_rows:
        method = (
            "kernel peak-RSS mark reset per call" if all(r["memory_method"] == "hwm" for r in long_rows) else "mixed"
        )
        print(
            "\nmemory vs audio length: peak RSS above the loaded model, encode and decode each in a fresh process "
            f"({method}; decode of random latents of that length); n/m = not measured"
            + (f"; workers ran with MALLOC_MMAP_THRESHOLD_={args.malloc_mmap_threshold}" if WORKER_ENV else "")
        )
        print("\n".join(memory_table(long_rows)))
    if CAPPED:
        print("\nnot measured (capped):\n" + "\n".join(f"- {c}" for c in CAPPED))
    if args.json:
        out = {
            "capped": CAPPED,
            "args": vars(args),
            "speed": rows,
            "quality": quality_records,
            "memory": long_rows,
            "exports": exports,
            "cpu_threads": os.cpu_count(),
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
