"""Offline speech measures for generated speech: English word error rate and DNSMOS quality.

* WER: pocketsphinx 5.1.1's bundled en-us acoustic model, language model and dictionary (no network).
  A weak recogniser (about 26 % WER on clean prompts): compare generated speech with real and
  decoded clips under the same recogniser, never with published numbers.
* DNSMOS: speechmos 0.0.1.1 (onnxruntime), no-reference P.835 overall / signal / background MOS.

Both come with the ``[eval]`` extra; the imports happen here, with an error naming the extra.
"""

from __future__ import annotations

import re

import numpy as np


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", text.lower()).split()


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """``(edit distance in words, reference words)`` between two transcripts (case and punctuation ignored)."""
    r, h = _words(ref), _words(hyp)
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, start=1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, start=1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)], len(r)


_DECODER = None


def transcribe(audio: np.ndarray, sample_rate: int = 16000) -> str:
    """English transcript of ``audio`` ``[N]`` float in [-1, 1] at 16 kHz (pocketsphinx)."""
    global _DECODER
    if sample_rate != 16000:
        raise ValueError("transcribe expects 16 kHz audio")
    try:
        from pocketsphinx import Decoder
    except ImportError as e:  # pragma: no cover - [eval] extra
        raise ImportError("WER needs the [eval] extra: pip install 'losatok-plugin[eval]'") from e
    if _DECODER is None:
        _DECODER = Decoder(samprate=16000, loglevel="FATAL")
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
    _DECODER.start_utt()
    _DECODER.process_raw(pcm, full_utt=True)
    _DECODER.end_utt()
    hyp = _DECODER.hyp()
    return hyp.hypstr if hyp is not None else ""


def corpus_wer(refs: list[str], clips: list[np.ndarray]) -> float:
    """Word error rate over a set: total word edits / total reference words."""
    errors = words = 0
    for ref, x in zip(refs, clips):
        e, n = word_errors(ref, transcribe(x))
        errors, words = errors + e, words + n
    return errors / max(words, 1)


def dnsmos(audio: np.ndarray, sample_rate: int = 16000) -> dict[str, float]:
    """DNSMOS ``{"ovrl", "sig", "bak"}`` of ``audio`` ``[N]`` at 16 kHz (speechmos)."""
    try:
        from speechmos import dnsmos as _dnsmos
    except ImportError as e:  # pragma: no cover - [eval] extra
        raise ImportError("DNSMOS needs the [eval] extra: pip install 'losatok-plugin[eval]'") from e
    r = _dnsmos.run(np.clip(audio, -1, 1).astype(np.float32), sr=sample_rate)
    return {"ovrl": float(r["ovrl_mos"]), "sig": float(r["sig_mos"]), "bak": float(r["bak_mos"])}
