"""ONNX export of the LoSATok decoder (latents -> waveform), runnable with onnxruntime.

    paths = export_onnx(vae, "onnx/")              # onnx/decoder.onnx (+ export.json)
    session = OnnxDecoder("onnx/decoder.onnx")     # audio [B, 1, 640·T] = session(z [B, 128, T])

The graph is the Vocos decoder with its ISTFT rewritten as a ``conv_transpose1d`` over a fixed
windowed inverse-DFT basis (:class:`~losatok_plugin.nn.istft.ConvISTFT`): no complex tensors and no
FFT op. Batch and time axes are dynamic. The graph decodes in one pass, so its memory grows with T; for
long audio feed it windows of latents with 32 frames of context each side, as
``LoSATokVAE._decode_windows`` does (outputs stitch exactly).

The encoder is not exported: its STFT front ends, per-item dB floor and the semantic encoder's
data-dependent chunking (independent 252-token chunks plus a shorter tail) need a rewrite of their own.

Needs the ``[deploy]`` extra (onnx, onnxscript for torch's exporter, onnxruntime to run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.losatok_vae import LoSATokVAE
from ..models.precision import is_quantized
from ..nn.istft import ConvISTFT

OPSET = 18
DECODER_FILE = "decoder.onnx"


class ExportError(RuntimeError):
    """The model cannot be exported (or a needed package is missing)."""


class ExportableDecoder(nn.Module):
    """The model's decoder with :class:`ConvISTFT`: latents ``[B, C, T]`` -> audio ``[B, 1, hop · T]`` float32."""

    def __init__(self, vae: LoSATokVAE) -> None:
        super().__init__()
        self.decoder = vae.decoder
        head = vae.decoder.head.istft
        self.istft = ConvISTFT(head.n_fft, head.hop_length)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z ``[B, C, T]`` float32 -> audio ``[B, 1, hop_length · T]`` float32."""
        x = self.decoder.backbone(self.decoder.upsampler(z))
        mag, phase = self.decoder.head.polar(x)
        return self.istft(mag * torch.cos(phase), mag * torch.sin(phase)).unsqueeze(1)


def _require(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ExportError(f"ONNX export needs {module!r}: pip install 'losatok-plugin[deploy]'")


def export_onnx(vae: LoSATokVAE, out_dir: str | Path, example_frames: int = 50) -> dict[str, Path]:
    """Export the decoder of ``vae`` (float32 weights; a bf16 model is exported in float32) to ``out_dir``.

    Args:
        vae: the model (not int8-quantized).
        out_dir: folder for ``decoder.onnx`` and ``export.json`` (shapes, sample rate, opset).
        example_frames: latent length of the tracing example (the exported time axis is dynamic).

    Returns:
        ``{"decoder": path}``.
    """
    _require("onnx")
    _require("onnxscript")
    if is_quantized(vae):
        raise ExportError("an int8-quantized model cannot be exported: export the float model")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vae = vae.to(device="cpu", dtype=torch.float32).eval()
    module = ExportableDecoder(vae).eval()
    z = torch.randn(2, vae.latent_dim, example_frames)
    path = out / DECODER_FILE
    time_axis = torch.export.Dim("frames", min=1, max=100_000)
    batch_axis = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            (z,),
            dynamo=True,
            input_names=["latents"],
            output_names=["audio"],
            dynamic_shapes={"z": {0: batch_axis, 2: time_axis}},
            opset_version=OPSET,
            optimize=True,
            verbose=False,
        )
    program.save(str(path), external_data=False)
    meta = {
        "decoder": DECODER_FILE,
        "inputs": {"latents": ["batch", vae.latent_dim, "frames"]},
        "outputs": {"audio": ["batch", 1, f"{vae.hop_length}*frames"]},
        "sampling_rate": vae.sampling_rate,
        "hop_length": vae.hop_length,
        "frame_rate": vae.frame_rate,
        "opset": OPSET,
        "model_config": dict(vae.config),
    }
    (out / "export.json").write_text(json.dumps(meta, indent=2, default=str))
    return {"decoder": path}


class OnnxDecoder:
    """onnxruntime session over ``decoder.onnx``: ``__call__(z [B, C, T]) -> audio [B, 1, hop · T]`` (numpy
    or torch in, torch float32 out).

    Args:
        path: the exported ``decoder.onnx`` (or its folder).
        threads: intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        _require("onnxruntime")
        import onnxruntime as ort

        path = Path(path)
        if path.is_dir():
            path = path / DECODER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX decoder at {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, z: torch.Tensor | np.ndarray) -> torch.Tensor:
        """z ``[B, C, T]`` -> audio ``[B, 1, hop_length · T]`` float32."""
        z = z.detach().cpu().float().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, dtype=np.float32)
        (audio,) = self.session.run(["audio"], {"latents": z})
        return torch.from_numpy(audio)

    def decode(self, z: torch.Tensor | np.ndarray, window_frames: int = 750, context_frames: int = 32) -> torch.Tensor:
        """Long latents ``[B, C, T]`` -> audio ``[B, 1, hop · T]`` in windows of ``window_frames`` with
        ``context_frames`` of context each side (memory flat in T; equal to one pass, like
        ``LoSATokVAE.decode``)."""
        z = torch.as_tensor(z)
        t = z.shape[-1]
        pieces = []
        for t0 in range(0, t, window_frames):
            t1 = min(t0 + window_frames, t)
            a, b = max(0, t0 - context_frames), min(t, t1 + context_frames)
            audio = self(z[..., a:b])
            hop = audio.shape[-1] // (b - a)
            pieces.append(audio[..., (t0 - a) * hop : (t1 - a) * hop])
        return torch.cat(pieces, dim=-1)
