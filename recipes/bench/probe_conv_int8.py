"""Would int8 convolutions speed up the onnxruntime int8 graphs? (issue 16, the 3x goal)

    python recipes/bench/probe_conv_int8.py --float onnx/ --int8 onnx-int8/ [--out /tmp/probe]

Takes a float export and its ``--precision int8`` copy (the same model), then:
1. per-operator time of the int8 encoder (4 s of audio) and decoder (100 frames = 4 s) from onnxruntime's
   profiler, one thread: how much of each graph is still float (convolutions above all);
2. quantizes the decoder's dense convolutions (``Conv`` nodes that are not depthwise; the 1280x1280x7 input
   conv at the official size) on top of the int8 decoder with onnxruntime's ``quantize_dynamic``
   (``ConvInteger``), as s8 7-bit weights (like the Linear layers) and as u8 8-bit weights, and times each
   decoder (CPU seconds per audio second, best of 2 after a warm-up, one thread) with its SNR against the
   float decoder on the same random latents.
The encoder's convolutions (two patch embeddings, the two STFT bases) are too small to matter (step 1).
Quantized graphs go to ``--out`` (a scratch folder), never into the repository.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _session(path: Path, profile: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feeds(seconds: float = 4.0) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(seconds * 16000) + 2 * 512)).astype(np.float32)[None, None]
    return {
        "decoder.onnx": {"latents": rng.standard_normal((1, 128, int(seconds * 25))).astype(np.float32)},
        "encoder.onnx": {"padded_audio": audio, "peak": np.full((1,), -np.inf, np.float32)},
    }


def op_profile(path: Path, feed: dict, scratch: Path, top: int = 8) -> list[str]:
    """Share of kernel time per operator type (two profiled runs after session start)."""
    session = _session(path, str(scratch / "profile"))
    session.run(None, feed)
    session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: collections.Counter = collections.Counter()
    by_node: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
            by_node[(e["args"]["op_name"], e["name"][: -len("_kernel_time")])] += e["dur"]
    total = sum(by_op.values())
    lines = [f"{path.parent.name}/{path.name}: kernel time by operator (share of the graph)"]
    lines += [f"  {op:<24} {100 * t / total:5.1f} %" for op, t in by_op.most_common(top)]
    convs = [(node, t) for (op, node), t in by_node.most_common() if op == "Conv"]
    if convs:
        lines.append(f"  largest Conv node: {convs[0][0]}, {100 * convs[0][1] / total:.1f} %")
    return lines


def dense_convs(path: Path) -> list[str]:
    """Names of the ``Conv`` nodes with a constant, non-depthwise weight (input channels per group > 1)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    dims = {i.name: tuple(i.dims) for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and dims.get(n.input[1], (0, 1))[1] > 1]


def cpu_per_second(path: Path, feed: dict, seconds: float = 4.0) -> tuple[float, np.ndarray]:
    session = _session(path)
    session.run(None, feed)
    best, out = float("inf"), None
    for _ in range(2):
        c0 = time.process_time()
        out = session.run(None, feed)[0]
        best = min(best, time.process_time() - c0)
    return best / seconds, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--float", dest="float_dir", required=True, help="float export folder (losatok export-onnx)")
    parser.add_argument("--int8", dest="int8_dir", required=True, help="its --precision int8 copy")
    parser.add_argument("--out", default=None, help="scratch folder for the conv-quantized decoders")
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fdir, qdir = Path(args.float_dir), Path(args.int8_dir)
    out = Path(args.out or tempfile.mkdtemp(prefix="probe_conv_int8_"))
    out.mkdir(parents=True, exist_ok=True)
    feeds = _feeds()
    for name in ("encoder.onnx", "decoder.onnx"):
        print("\n".join(op_profile(qdir / name, feeds[name], out)), flush=True)
    convs = dense_convs(qdir / "decoder.onnx")
    print(f"dense decoder convolutions quantized below: {convs}")
    variants = {"float": fdir / "decoder.onnx", "int8 (Linear layers)": qdir / "decoder.onnx"}
    for label, weight_type, reduce_range in (
        ("s8 7-bit", QuantType.QInt8, True),
        ("u8 8-bit", QuantType.QUInt8, False),
    ):
        path = out / f"decoder_conv_{weight_type.name}.onnx"
        quantize_dynamic(
            str(qdir / "decoder.onnx"),
            str(path),
            nodes_to_quantize=convs,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            reduce_range=reduce_range,
            weight_type=weight_type,
        )
        variants[f"int8 + ConvInteger {label}"] = path
    ref = None
    print("decoder, 4 s (100 frames), one thread: CPU s per audio s, SNR against the float decoder")
    for label, path in variants.items():
        speed, y = cpu_per_second(path, feeds["decoder.onnx"])
        ref = y if ref is None else ref
        snr = 10 * np.log10(np.sum(ref**2) / max(np.sum((ref - y) ** 2), 1e-30))
        print(f"  {label:<30} {speed:.4f} s/s   SNR {snr:6.1f} dB", flush=True)


if __name__ == "__main__":
    main()
