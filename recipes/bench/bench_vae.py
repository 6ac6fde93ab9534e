"""Side-by-side CPU benchmark: LoSATok fp32 / bf16 / int8 / onnxruntime beside the autoencoders a user
would otherwise pick, with ratios, quality against fp32 and memory against audio length. One run:

    python recipes/bench/bench_vae.py            # full (many minutes on a 2-core CPU)
    python recipes/bench/bench_vae.py --quick    # smoke run: losatok-mini + EnCodec, 1 s of audio, no long-audio rows

Every configuration runs in its own subprocess (peak memory per row). Rows:
- ours: the official size (random weights) and the embedded ``losatok-mini`` (trained), in fp32, bf16
  (``from_pretrained(torch_dtype=bfloat16)`` / ``.to``), int8 (``vae.quantize("int8")``) and onnx
  (decoder exported with ``losatok export-onnx``, run by onnxruntime; the encoder stays PyTorch fp32).
- baselines at their published configurations, random weights, same audio duration: diffusers
  ``AutoencoderOobleck`` (Stable Audio Open VAE, 44.1 kHz stereo), transformers ``DacModel`` (DAC 16 kHz)
  and ``EncodecModel`` (EnCodec 24 kHz, 6 kbps).
- ``x fp32``: speed of the row relative to our fp32 path of the same size (>1 = faster).
- quality (ours): SNR of the reconstruction against fp32's and the multi-scale mel distance to the input,
  on the bundled clips recipes/assets/examples/*.wav.
- memory: RSS above the loaded model while encoding + decoding 1 and 10 min (official size).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "recipes" / "assets" / "examples"
OURS = ("fp32", "bf16", "int8", "onnx")


def _rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


class PeakRSS:
    """Samples the process RSS every 20 ms: ``peak`` in GB while the context is open."""

    def __enter__(self) -> PeakRSS:
        self.peak = _rss_gb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _rss_gb())
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_gb())


# -- model builders (inside workers) ----------------------------------------------------------------
def _ours(size: str, precision: str):
    import torch

    from losatok_plugin import LoSATokConfig, LoSATokVAE
    from losatok_plugin.cli import EMBEDDED_MODEL

    if size == "mini":
        dtype = torch.bfloat16 if precision == "bf16" else None
        model = LoSATokVAE.from_pretrained(EMBEDDED_MODEL, torch_dtype=dtype).eval()
    else:
        torch.manual_seed(0)
        model = LoSATokVAE(**LoSATokConfig().to_dict()).eval()  # random weights (default init)
        if precision == "bf16":
            model.to(torch.bfloat16)
    if precision == "int8":
        model.quantize("int8")
    decode = None
    if precision == "onnx":
        from losatok_plugin.export.onnx import OnnxDecoder, export_onnx

        folder = tempfile.mkdtemp(prefix="losatok_onnx_")
        session = OnnxDecoder(export_onnx(model, folder)["decoder"], threads=torch.get_num_threads())
        model.decoder = None  # the torch decoder is not used by this row (nor kept in memory)
        import gc

        gc.collect()
        decode = session.decode
    return model, decode


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


def worker(kind: str, precision: str, seconds: float, repeats: int, quality_dir: str | None) -> dict:
    import torch

    base_rss = _rss_gb()
    if kind in ("official", "mini"):
        model, onnx_decode = _ours(kind, precision)
        sr, channels = 16000, 1
        encode = lambda x: model.encode(x).latent_dist.mode()  # noqa: E731
        decode = onnx_decode or (lambda z: model.decode(z).sample)
    else:
        model, sr, channels, encode, decode = _baseline(kind)
    params = sum(p.numel() for p in model.parameters())
    loaded = _rss_gb()
    audio = torch.randn(1, channels, int(seconds * sr)) * 0.1
    enc_t, dec_t = [], []
    with torch.inference_mode(), PeakRSS() as peak:
        z = encode(audio)  # warm-up
        decode(z)
        for _ in range(repeats):
            t0 = time.perf_counter()
            z = encode(audio)
            t1 = time.perf_counter()
            decode(z)
            enc_t.append(t1 - t0)
            dec_t.append(time.perf_counter() - t1)
    row = {
        "kind": kind,
        "precision": precision,
        "params_m": params / 1e6,
        "weights_gb": _weights_gb(model),
        "loaded_gb": loaded - base_rss,
        "peak_above_gb": peak.peak - loaded,
        "encode": min(enc_t) / seconds,
        "decode": min(dec_t) / seconds,
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


def long_worker(kind: str, precision: str, minutes: float) -> dict:
    import torch

    model, onnx_decode = _ours(kind, precision)
    decode = (lambda z: onnx_decode(z)) if onnx_decode else (lambda z: model.decode(z).sample)
    audio = torch.randn(1, 1, int(minutes * 60 * 16000)) * 0.1
    loaded = _rss_gb()
    t0 = time.perf_counter()
    with torch.inference_mode(), PeakRSS() as peak:
        z = model.encode(audio).latent_dist.mode()
        t1 = time.perf_counter()
        out = decode(z)
    t2 = time.perf_counter()
    assert out.shape[-1] == 640 * z.shape[-1]
    return {
        "kind": kind,
        "precision": precision,
        "minutes": minutes,
        "loaded_gb": loaded,
        "above_gb": peak.peak - loaded,
        "encode_s": t1 - t0,
        "decode_s": t2 - t1,
    }


# -- driver -----------------------------------------------------------------------------------------
def _run(args: list[str], label: str) -> dict | None:
    print(f"[bench] {label} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"[bench] {label} FAILED:\n{out.stderr[-3000:]}", file=sys.stderr)
        return None
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"[bench] {label} done in {time.perf_counter() - t0:.0f} s: {json.dumps(row)}", file=sys.stderr, flush=True)
    return row


def _ratio(reference: float, value: float) -> str:
    return f"{reference / value:>6.2f}"


def quality_table(rows: list[dict], folder: Path) -> list[str]:
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
                y = np.load(folder / f"{kind}_{p}_{c}.npy")
                n = min(len(y), len(ref[c]), len(x))
                snrs.append(10 * np.log10(np.sum(ref[c][:n] ** 2) / max(np.sum((ref[c][:n] - y[:n]) ** 2), 1e-20)))
                mels.append(float(mel_distance(torch.from_numpy(x[:n]), torch.from_numpy(y[:n].copy()))[0]))
            mel = float(np.mean(mels))
            base_mel = mel if p == "fp32" else base_mel
            snr = "   (reference)" if p == "fp32" else f"min {min(snrs):5.1f}  " + " ".join(f"{s:.1f}" for s in snrs)
            change = f"{100 * (mel / base_mel - 1):+7.2f}%" if base_mel else ""
            lines.append(f"{kind:<9} {p:<9} {snr:<30} {mel:>8.4f} {change:>8}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: losatok-mini and EnCodec, 1 s, no long-audio rows"
    )
    parser.add_argument("--sizes", default="official,mini", help="our model sizes: official, mini")
    parser.add_argument("--precisions", default=",".join(OURS), help="ours: fp32, bf16, int8, onnx")
    parser.add_argument("--baselines", default="oobleck,dac,encodec", help="oobleck, dac, encodec ('' for none)")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length per call")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (the best is reported)")
    parser.add_argument("--long", default="1,10", help="minutes of audio for the memory rows ('' for none)")
    parser.add_argument("--long-precisions", default="fp32,bf16,int8", help="precisions of the memory rows")
    parser.add_argument("--threads", type=int, default=None, help="torch / onnxruntime threads (default: torch's)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quality-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        kind, precision, *minutes = args.worker.split(":")
        if minutes:
            print(json.dumps(long_worker(kind, precision, float(minutes[0]))))
        else:
            print(json.dumps(worker(kind, precision, args.seconds, args.repeats, args.quality_dir)))
        return
    if args.quick:
        args.sizes, args.seconds, args.repeats, args.long, args.baselines = "mini", 1.0, 1, "", "encodec"
    sizes = [s for s in args.sizes.split(",") if s]
    precisions = [p for p in args.precisions.split(",") if p]
    quality = Path(tempfile.mkdtemp(prefix="losatok_bench_"))
    rows = []
    threads = ["--threads", str(args.threads)] if args.threads else []
    common = ["--seconds", str(args.seconds), "--repeats", str(args.repeats), "--quality-dir", str(quality), *threads]
    for size in sizes:
        for p in precisions:
            r = _run(["--worker", f"{size}:{p}", *common], f"{size} {p}, {args.seconds:g} s audio")
            rows.append(r) if r else None
    for b in [b for b in args.baselines.split(",") if b]:
        r = _run(["--worker", f"{b}:fp32", *common], f"{b} fp32, {args.seconds:g} s audio")
        rows.append(r) if r else None
    long_rows = []
    for size in ["official"] if args.long else []:
        for p in [p for p in args.long_precisions.split(",") if p]:
            for minutes in args.long.split(","):
                r = _run(["--worker", f"{size}:{p}:{minutes}", *threads], f"{size} {p}, {minutes} min audio")
                long_rows.append(r) if r else None

    ref = {r["kind"]: r for r in rows if r["precision"] == "fp32" and r["kind"] in ("official", "mini")}
    anchor = ref.get("official") or ref.get("mini")
    header = (
        f"{'model':<9} {'prec':<5} {'params':>8} {'weights GB':>10} {'loaded GB':>9} {'peak+ GB':>8} "
        f"{'enc s/s':>8} {'dec s/s':>8} {'enc+dec':>8} {'x fp32':>7} {'enc x':>6} {'dec x':>6}"
    )
    print(
        f"\nspeed and memory: {args.seconds:g} s of audio, {rows[0]['threads'] if rows else '?'} threads, "
        "s/s = seconds per audio second (lower is faster); x fp32 = our fp32 time / this row's time "
        "(same size; baselines against our official fp32)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        base = ref.get(r["kind"], anchor) or r
        total = r["encode"] + r["decode"]
        print(
            f"{r['kind']:<9} {r['precision']:<5} {r['params_m']:>7.1f}M {r['weights_gb']:>10.3f} {r['loaded_gb']:>9.2f} "
            f"{r['peak_above_gb']:>8.2f} {r['encode']:>8.4f} {r['decode']:>8.4f} {total:>8.4f} "
            f"{_ratio(base['encode'] + base['decode'], total):>7} {_ratio(base['encode'], r['encode'])} "
            f"{_ratio(base['decode'], r['decode'])}"
        )
    print(
        "onnx rows: decoder in onnxruntime, encoder in PyTorch fp32 (the encoder is not exported); "
        "weights GB = PyTorch tensors only"
    )
    print(
        f"\nquality on {EXAMPLES.relative_to(ROOT)}/*.wav (reconstruction SNR against fp32; mel distance to the input)"
    )
    print("\n".join(quality_table(rows, quality)))
    if long_rows:
        print("\nmemory vs audio length (official size; RSS above the loaded model during encode + decode)")
        print(f"{'prec':<5} {'audio':>6} {'loaded GB':>9} {'above GB':>9} {'encode s':>9} {'decode s':>9}")
        for r in long_rows:
            print(
                f"{r['precision']:<5} {r['minutes']:>4g} m {r['loaded_gb']:>9.2f} {r['above_gb']:>9.3f} "
                f"{r['encode_s']:>9.1f} {r['decode_s']:>9.1f}"
            )


if __name__ == "__main__":
    main()
