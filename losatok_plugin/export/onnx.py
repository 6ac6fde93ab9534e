"""ONNX export of the LoSATok encoder (audio -> latent mean, logvar) and decoder (latents -> waveform).

    paths = export_onnx(vae, "onnx/")              # onnx/encoder.onnx, onnx/decoder.onnx (+ export.json)
    export_onnx(vae, "onnx-int8/", precision="int8")  # the same, dynamically int8-quantized (export/quantize.py)
    encoder = OnnxEncoder("onnx/")                 # encoder(audio [B, 1, N]).mean -> [B, 128, T]
    decoder = OnnxDecoder("onnx/decoder.onnx")     # audio [B, 1, 640·T] = decoder(z [B, 128, T])

The decoder graph is the Vocos decoder with its ISTFT rewritten as a ``conv_transpose1d`` over a fixed
windowed inverse-DFT basis (:class:`~losatok_plugin.nn.istft.ConvISTFT`); the encoder graph takes its
STFTs from a ``conv1d`` over a fixed windowed DFT basis (:class:`~losatok_plugin.nn.conv_stft.ConvSTFT`)
and runs the semantic encoder's 10.08 s chunks as one zero-padded, masked batch
(:class:`~losatok_plugin.export.encoder.ExportableEncoder`). No complex tensors, no FFT op, no
data-dependent control flow; batch and time axes are dynamic. Both graphs work in one pass over what they
are given; long input is fed in windows, so memory stays flat in the length and the outputs equal one pass:
``OnnxDecoder.decode`` feeds latent windows with 32 frames of context each side; ``OnnxEncoder`` feeds
windows of whole semantic chunks (4 = 40.32 s) of the reflect-padded clip together with the clip's semantic
dB peak (the floor is relative to the whole clip's maximum), which a small third graph,
``encoder_peak.onnx``, takes window by window first, as ``LoSATokVAE.encode`` does.

Not exported: the encoder of a model whose semantic teacher is a transformers model (only Dasheng is
rewritten; the export then writes the decoder alone and says why), and per-item ``lengths`` of padded
batches (encode items of different lengths separately).

Needs the ``[deploy]`` extra (onnx, onnxscript for torch's exporter, onnxruntime to run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.losatok_vae import LoSATokVAE
from ..models.precision import is_quantized
from ..nn.istft import ConvISTFT
from ..nn.mel import reflect_pad_window
from .encoder import ExportableEncoder, SemanticPeak, encoder_export_blocker

OPSET = 18
DECODER_FILE = "decoder.onnx"
ENCODER_FILE = "encoder.onnx"
PEAK_FILE = "encoder_peak.onnx"
EXTERNAL_DATA_BYTES = 1_800_000_000
EXPORT_PRECISIONS = ("fp32", "int8")


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


def _export(module: nn.Module, example: tuple, path: Path, names: tuple[list[str], list[str]], axes) -> None:
    """torch.export + ONNX (dynamo) of ``module(*example)`` to ``path``, one file, dynamic ``axes``."""
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            example,
            dynamo=True,
            input_names=names[0],
            output_names=names[1],
            dynamic_shapes=axes,
            opset_version=OPSET,
            optimize=True,
            verbose=False,
        )
    # protobuf caps one file at 2 GB: larger graphs (the official encoder, ~2.5 GB) keep their weights in
    # ``<name>.onnx.data`` beside it, which onnxruntime finds on its own
    size = sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    program.save(str(path), external_data=size > EXTERNAL_DATA_BYTES)


def export_onnx(
    vae: LoSATokVAE, out_dir: str | Path, example_frames: int = 50, encoder: bool = True, precision: str = "fp32"
) -> dict[str, Path]:
    """Export the decoder and the encoder of ``vae`` (float32 weights; a bf16 model is cast to float32 in
    place) to ``out_dir``.

    Args:
        vae: the model (not int8-quantized in PyTorch: ``precision="int8"`` quantizes the graphs).
        out_dir: folder for ``decoder.onnx``, ``encoder.onnx`` and ``export.json`` (shapes, sample rate,
            opset; ``encoder_skipped`` says why when the encoder could not be exported).
        example_frames: latent length of the decoder's tracing example (the exported time axis is dynamic).
        encoder: also export the encoder (when :func:`encoder_export_blocker` allows it).
        precision: ``fp32``, or ``int8``: the float graphs are exported to a scratch folder, then dynamically
            quantized into ``out_dir`` by onnxruntime (:mod:`~losatok_plugin.export.quantize`; the same
            layers as ``vae.quantize("int8")``).

    Returns:
        ``{"decoder": path}`` plus ``"encoder": path`` when the encoder was exported.
    """
    _require("onnx")
    _require("onnxscript")
    if precision not in EXPORT_PRECISIONS:
        raise ExportError(f"unknown ONNX precision {precision!r}: choose one of {', '.join(EXPORT_PRECISIONS)}")
    if is_quantized(vae):
        raise ExportError("an int8-quantized model cannot be exported: export the float model")
    if precision == "int8":
        import tempfile

        from .quantize import quantize_onnx_graphs

        _require("onnxruntime")
        with tempfile.TemporaryDirectory(prefix="losatok_onnx_") as scratch:
            paths = export_onnx(vae, scratch, example_frames, encoder)
            quantize_onnx_graphs(vae, scratch, out_dir)
        return {name: Path(out_dir) / path.name for name, path in paths.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vae = vae.to(device="cpu", dtype=torch.float32).eval()
    paths = {"decoder": out / DECODER_FILE}
    # Dim.DYNAMIC: the traced graph is size-generic, but torch.export would otherwise refuse a batch or
    # chunk count of 1 over shape guards it adds (broadcasts, memory formats) that the ONNX graph drops.
    dyn = torch.export.Dim.DYNAMIC
    z = torch.randn(2, vae.latent_dim, example_frames)
    _export(ExportableDecoder(vae).eval(), (z,), paths["decoder"], (["latents"], ["audio"]), {"z": {0: dyn, 2: dyn}})
    meta = {
        "decoder": DECODER_FILE,
        "inputs": {"latents": ["batch", vae.latent_dim, "frames"]},
        "outputs": {"audio": ["batch", 1, f"{vae.hop_length}*frames"]},
        "sampling_rate": vae.sampling_rate,
        "hop_length": vae.hop_length,
        "frame_rate": vae.frame_rate,
        "min_samples": vae.min_samples,
        "opset": OPSET,
        "model_config": dict(vae.config),
    }
    blocker = encoder_export_blocker(vae) if encoder else "not requested"
    if blocker is None:
        paths["encoder"], paths["encoder_peak"] = out / ENCODER_FILE, out / PEAK_FILE
        module = ExportableEncoder(vae).eval()
        # traced on two full semantic chunks plus a tail, at a length that is no multiple of anything
        sem = vae.semantic_encoder
        padded = torch.randn(2, 1, (2 * sem.chunk_tokens + 3) * vae.hop_length + 77 + 2 * module.pad) * 0.1
        peak = torch.full((2,), float("-inf"))
        names = (["padded_audio", "peak"], ["mean", "logvar"])
        axes = {"padded": {0: dyn, 2: dyn}, "peak": {0: dyn}}
        _export(module, (padded, peak), paths["encoder"], names, axes)
        peak_names = (["padded_audio"], ["peak"])
        _export(SemanticPeak(vae).eval(), (padded,), paths["encoder_peak"], peak_names, {"padded": axes["padded"]})
        samples = "samples + 2*pad"
        meta["encoder"], meta["encoder_peak"] = ENCODER_FILE, PEAK_FILE
        meta["encoder_io"] = {
            "inputs": {"padded_audio": ["batch", 1, samples], "peak": ["batch"]},
            "outputs": {k: ["batch", vae.latent_dim, "(1 + samples // 160) // 4"] for k in ("mean", "logvar")},
            "padded_audio": "the audio reflect-padded by `pad` samples each side (or a window of that)",
            "peak": "the semantic dB floor's peak of the whole clip (encoder_peak.onnx, max over windows); -inf: the input's own",
        }
        meta["encoder_window"] = {
            "pad": module.pad,
            "mel_hop": sem.front_end.hop_length,
            "patch_frames": sem.patch_time,
            "chunk_frames": sem.chunk_tokens * sem.patch_time,
            "window_chunks": sem.chunks_per_batch,
        }
    else:
        meta["encoder_skipped"] = blocker
    (out / "export.json").write_text(json.dumps(meta, indent=2, default=str))
    return paths


def _session(path: str | Path, default_file: str, threads: int | None):
    """An onnxruntime CPU session over ``path`` (a file, or a folder holding ``default_file``)."""
    _require("onnxruntime")
    import onnxruntime as ort

    path = Path(path)
    if path.is_dir():
        path = path / default_file
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model at {path}")
    options = ort.SessionOptions()
    # onnxruntime's CPU memory arena stays on: it keeps buffers across calls (windowed long audio creeps up:
    # losatok-mini encode 0.067 -> 0.151 GB above the model from 1 to 10 min), but without it the official
    # graphs peak 2 GB higher on their first call (logs/onnx_arena_2026-11-29.txt)
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass
class OnnxLatents:
    """What :class:`OnnxEncoder` returns: ``mean`` and ``logvar``, each ``[B, C, T]`` float32 (as
    ``vae.encode(x).latent_dist.mean`` / ``.logvar``)."""

    mean: torch.Tensor
    logvar: torch.Tensor


class OnnxEncoder:
    """onnxruntime sessions over ``encoder.onnx`` (and ``encoder_peak.onnx``): ``__call__(audio [B, 1, N]) ->
    OnnxLatents`` (mean and logvar ``[B, C, (1 + N // 160) // 4]``); numpy or torch in, torch float32 out.
    Audio at 16 kHz in [-1, 1]; ``[B, N]`` and ``[N]`` are accepted too.

    Audio up to ``window_chunks`` semantic chunks runs in one pass; longer audio in windows of that many
    chunks (memory flat in N), equal to one pass to float rounding: first the clip's semantic dB peak,
    window by window (``encoder_peak.onnx``), then each window of the reflect-padded clip with that peak.
    Windows start on chunk boundaries (the semantic chunks are independent) and carry the STFTs' padding
    from their neighbours, so every frame, token and chunk is the one-pass one (the windowing of
    ``LoSATokVAE.encode``). A folder exported before the windowed graphs (input ``audio``) runs in one pass.

    Args:
        path: the exported ``encoder.onnx`` (or its folder).
        threads: intra-op threads (default: onnxruntime's choice).
        window_chunks: semantic chunks per window (default: ``export.json``'s, 4 = 40.32 s).
    """

    def __init__(self, path: str | Path, threads: int | None = None, window_chunks: int | None = None) -> None:
        self.session = _session(path, ENCODER_FILE, threads)
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        meta = json.loads((folder / "export.json").read_text()) if (folder / "export.json").is_file() else {}
        self.min_samples = meta.get("min_samples", 1)
        self.window = meta.get("encoder_window")
        self.padded_input = "padded_audio" in {i.name for i in self.session.get_inputs()}
        if self.padded_input and not self.window:
            raise ValueError(f"{folder / 'export.json'} is missing or has no 'encoder_window': re-export the model")
        self.peak_session = _session(folder / PEAK_FILE, PEAK_FILE, threads) if self.padded_input else None
        if self.window and window_chunks is not None:
            if window_chunks < 1:
                raise ValueError(f"window_chunks must be >= 1, got {window_chunks}")
            self.window = {**self.window, "window_chunks": window_chunks}

    def __call__(self, audio: torch.Tensor | np.ndarray) -> OnnxLatents:
        """audio ``[B, 1, N]`` / ``[B, N]`` / ``[N]`` float at 16 kHz -> :class:`OnnxLatents` ``[B, C, T]``."""
        x = audio.detach().cpu().float().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio, np.float32)
        x = x.reshape((1,) * (3 - x.ndim) + x.shape) if x.ndim < 3 else x
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"OnnxEncoder expects mono audio [B, 1, N], got {tuple(np.shape(audio))}")
        if x.shape[-1] < self.min_samples:
            raise ValueError(f"audio of {x.shape[-1]} samples is too short: the encoder needs {self.min_samples}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not self.padded_input:  # an export of the one-pass graph
            mean, logvar = self.session.run(["mean", "logvar"], {"audio": x})
            return OnnxLatents(mean=torch.from_numpy(mean), logvar=torch.from_numpy(logvar))
        w = self.window
        hop, pad, patch = w["mel_hop"], w["pad"], w["patch_frames"]
        audio_t = torch.from_numpy(x)[:, 0]  # [B, N], no copy
        frames = 1 + audio_t.shape[-1] // hop
        span = w["window_chunks"] * w["chunk_frames"]
        windows = [(f0, min(f0 + span, frames)) for f0 in range(0, frames, span)]

        def padded(f0: int, f1: int) -> np.ndarray:  # frames f0..f1-1 of the centred STFTs, with their padding
            return reflect_pad_window(audio_t, pad, f0 * hop, (f1 - 1) * hop + 2 * pad)[:, None].contiguous().numpy()

        if len(windows) == 1:
            peak = np.full((x.shape[0],), -np.inf, dtype=np.float32)  # the graph takes the input's own
        else:  # the clip's peak first (the maximum of the window maxima), as LoSATokVAE.encode does
            peak = np.max([self.peak_session.run(["peak"], {"padded_audio": padded(*fw)})[0] for fw in windows], 0)
        means, logvars = [], []
        for f0, f1 in windows:
            if (f1 - f0) // patch == 0:  # a tail shorter than one token yields none (its frames count in the peak)
                continue
            mean, logvar = self.session.run(["mean", "logvar"], {"padded_audio": padded(f0, f1), "peak": peak})
            means.append(mean)
            logvars.append(logvar)
        return OnnxLatents(
            mean=torch.from_numpy(np.concatenate(means, axis=-1)),
            logvar=torch.from_numpy(np.concatenate(logvars, axis=-1)),
        )


class OnnxDecoder:
    """onnxruntime session over ``decoder.onnx``: ``__call__(z [B, C, T]) -> audio [B, 1, hop · T]`` (numpy
    or torch in, torch float32 out).

    Args:
        path: the exported ``decoder.onnx`` (or its folder).
        threads: intra-op threads (default: onnxruntime's choice).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.session = _session(path, DECODER_FILE, threads)

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
