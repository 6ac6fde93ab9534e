"""Dynamic int8 quantization of the exported ONNX graphs (onnxruntime's ``quantize_dynamic``).

    export_onnx(vae, "onnx-int8/", precision="int8")   # float export, then this, into the same folder
    quantize_onnx_graphs(vae, "onnx/", "onnx-int8/")  # or on an existing float export

The same layers as PyTorch's ``vae.quantize("int8")`` (:func:`~losatok_plugin.models.precision.int8_linear_names`):
each ``MatMul`` / ``Gemm`` whose weight is one of those ``nn.Linear`` weights gets int8 weights (one scale per
output channel) and activations quantized per call (``DynamicQuantizeLinear`` + ``MatMulInteger``).
Everything else stays float32 as exported: the float32 islands (STFT / mel convolutions, the ISTFT head's
projection, the Gaussian head), SemBo and the acoustic branch's 128-d projections (the latent itself),
attention's activation-by-activation products and all convolutions. Graph nodes carry no module names,
so layers are found by their weights (byte-equal to ``weight`` or its transpose).

``reduce_range`` (7-bit weights) is on: onnxruntime's int8 GEMM on x86 without VNNI (AVX2) multiplies
u8 × s8 pairs with ``vpmaddubsw``, whose 16-bit sums saturate at full range. Measured on losatok-mini and
the bundled clips: 36-39 dB SNR against the float graphs with 7-bit weights, 13-18 dB with 8-bit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
from torch import nn

from ..models.precision import int8_linear_names

GRAPH_FILES = ("decoder.onnx", "encoder.onnx")
COPIED_FILES = ("encoder_peak.onnx",)  # no Linear layer: copied as it is
EXTERNAL_DATA_BYTES = 1_800_000_000


def _key(array: np.ndarray) -> tuple[tuple[int, ...], str]:
    a = np.ascontiguousarray(array, dtype=np.float32)
    return a.shape, hashlib.sha1(a.tobytes()).hexdigest()


def int8_nodes(graph_path: str | Path, vae: nn.Module) -> dict[str, str]:
    """``{node name: layer name}`` of the ``MatMul`` / ``Gemm`` nodes of the graph at ``graph_path`` whose
    weight is a Linear layer that int8 quantizes (see the module docstring)."""
    import onnx
    from onnx import numpy_helper

    layers = dict(vae.named_modules())
    wanted: dict[tuple, str] = {}
    for name in int8_linear_names(vae):
        w = layers[name].weight.detach().float().cpu().numpy()
        wanted[_key(w.T)] = name  # MatMul(x, W^T)
        wanted[_key(w)] = name  # Gemm(x, W, transB=1)
    model = onnx.load(str(graph_path), load_external_data=True)
    initializers = {i.name: i for i in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in initializers:
            layer = wanted.get(_key(numpy_helper.to_array(initializers[node.input[1]])))
            if layer is not None:
                found[node.name] = layer
    return found


def quantize_onnx_graphs(vae: nn.Module, src_dir: str | Path, out_dir: str | Path) -> dict[str, list[str]]:
    """Dynamic int8 copies of the float graphs in ``src_dir`` (exported from ``vae`` by ``export_onnx``) in
    ``out_dir``, with ``export.json`` (``precision: int8``, the quantized layers per graph).

    Returns:
        ``{graph file: [quantized layer names]}``.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, out = Path(src_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, list[str]] = {}
    for name in GRAPH_FILES:
        if not (src / name).is_file():
            continue
        nodes = int8_nodes(src / name, vae)
        big = sum(f.stat().st_size for f in src.glob(name + "*")) > EXTERNAL_DATA_BYTES
        quantize_dynamic(
            str(src / name),
            str(out / name),
            nodes_to_quantize=list(nodes),
            per_channel=True,
            reduce_range=True,
            weight_type=QuantType.QInt8,
            use_external_data_format=big,
        )
        done[name] = sorted(nodes.values())
    for name in COPIED_FILES:
        for f in src.glob(name + "*"):  # the graph and its external data, if any
            shutil.copyfile(f, out / f.name)
    meta_path = src / "export.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta.update(precision="int8", int8_layers=done, int8_method="onnxruntime quantize_dynamic, per channel, 7-bit")
    (out / "export.json").write_text(json.dumps(meta, indent=2, default=str))
    return done
