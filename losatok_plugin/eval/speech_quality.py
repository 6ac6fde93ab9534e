"""Offline speech measures for generated speech: English word error rate and DNSMOS quality.

* WER: pocketsphinx 5.1.1's bundled en-us acoustic model, language model and dictionary (no network).
  A weak recogniser (about 26 % WER on clean prompts): compare generated speech with real and
  decoded clips under the same recogniser, never with published numbers.
* DNSMOS: speechmos 0.0.1.1 (onnxruntime), no-reference P.835 overall / signal / background MOS.

Both come with the ``[eval]`` extra; the imports happen here, with an error naming the extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from .bootstrap import GapCI, paired_gap_ci


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


_PLAIN_TEXT = re.compile(r"^[A-Za-z][A-Za-z ,.;:?!'\-]*$")


def plain_words(text: str) -> bool:
    """True for a transcript of letters and punctuation only (digits, ``*``, ``#``, ``<beep>`` are read
    aloud in ways a word-level reference cannot score fairly: "1" may be "one" or "first")."""
    return bool(_PLAIN_TEXT.match(text.strip())) and bool(_words(text))


@dataclass
class WERResult:
    """Corpus WER of several versions of the same clips under one recogniser.

    Attributes:
        clips: number of clips; words: reference words in all of them.
        wer: ``{system: total word edits / total reference words}`` (0.25 = 25 %).
        hypotheses: ``{system: [transcript per clip]}`` in clip order.
        errors: ``{system: [word edits per clip]}``; ref_words: ``[reference words per clip]``, both in clip order
            (what :meth:`gap_ci` resamples).
    """

    clips: int = 0
    words: int = 0
    wer: dict[str, float] = field(default_factory=dict)
    hypotheses: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, list[int]] = field(default_factory=dict)
    ref_words: list[int] = field(default_factory=list)

    def gap_ci(self, system: str, base: str = "original", **kwargs) -> GapCI:
        """WER of ``system`` minus that of ``base`` (fractions) with its paired bootstrap interval over the
        clips (:func:`~.bootstrap.paired_gap_ci`; ``kwargs``: ``n_boot``, ``level``, ``seed``)."""
        for name in (system, base):
            if name not in self.errors:
                raise KeyError(f"no per-clip errors for {name!r} (systems: {', '.join(self.errors)})")
        return paired_gap_ci(self.errors[base], self.errors[system], self.ref_words, **kwargs)

    def to_dict(self) -> dict:
        return asdict(self)


def wer_by_system(
    texts: Sequence[str],
    systems: Mapping[str, Sequence[np.ndarray]],
    transcriber: Callable[[np.ndarray], str] = transcribe,
    progress: bool = False,
) -> WERResult:
    """Corpus WER of each system's clips against the same transcripts.

    Args:
        texts: one reference transcript per clip.
        systems: ``{"original": [clip [N] at 16 kHz, ...], "losatok": [...], ...}``, each in ``texts`` order.
        transcriber: ``[N] -> text``; :func:`transcribe` (pocketsphinx) unless a test stubs it.
        progress: a progress bar per system (pocketsphinx takes about 2 s per clip).
    """
    ref_words = [len(_words(t)) for t in texts]
    words = sum(ref_words)
    out = WERResult(clips=len(texts), words=words, ref_words=ref_words)
    for name, clips in systems.items():
        if len(clips) != len(texts):
            raise ValueError(f"{name}: {len(clips)} clips for {len(texts)} transcripts")
        hyps = [transcriber(x) for x in tqdm(clips, desc=f"WER {name}", unit="clip", disable=not progress)]
        errors = [word_errors(ref, hyp)[0] for ref, hyp in zip(texts, hyps)]
        out.wer[name] = sum(errors) / max(words, 1)
        out.hypotheses[name] = hyps
        out.errors[name] = errors
    return out


def dnsmos(audio: np.ndarray, sample_rate: int = 16000) -> dict[str, float]:
    """DNSMOS ``{"ovrl", "sig", "bak"}`` of ``audio`` ``[N]`` at 16 kHz (speechmos)."""
    try:
        from speechmos import dnsmos as _dnsmos
    except ImportError as e:  # pragma: no cover - [eval] extra
        raise ImportError("DNSMOS needs the [eval] extra: pip install 'losatok-plugin[eval]'") from e
    r = _dnsmos.run(np.clip(audio, -1, 1).astype(np.float32), sr=sample_rate)
    return {"ovrl": float(r["ovrl_mos"]), "sig": float(r["sig_mos"]), "bak": float(r["bak_mos"])}


DNSMOS_KEYS = ("ovrl", "sig", "bak")


def dnsmos_per_clip(
    systems: Mapping[str, Sequence[np.ndarray]],
    scorer: Callable[[np.ndarray], dict[str, float]] = dnsmos,
    progress: bool = False,
) -> dict[str, list[dict[str, float]]]:
    """DNSMOS of every clip of every system: ``{system: [{"ovrl", "sig", "bak"} per clip]}`` in clip order.

    Args:
        systems: ``{"original": [clip [N] at 16 kHz, ...], "losatok": [...], ...}``.
        scorer: ``[N] -> {"ovrl", "sig", "bak"}``; :func:`dnsmos` unless a test stubs it.
        progress: a progress bar per system (DNSMOS takes about 2 s per clip on this CPU).
    """
    return {
        name: [scorer(x) for x in tqdm(clips, desc=f"DNSMOS {name}", unit="clip", disable=not progress)]
        for name, clips in systems.items()
    }


def summarise_dnsmos(per_clip: Mapping[str, Sequence[Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean DNSMOS of each system: ``{system: {"ovrl", "sig", "bak", "clips"}}`` (only ``clips`` when empty)."""
    out = {}
    for name, scores in per_clip.items():
        row: dict[str, float] = {"clips": len(scores)}
        if scores:
            row.update({k: float(np.mean([s[k] for s in scores])) for k in DNSMOS_KEYS})
        out[name] = row
    return out


def dnsmos_gap_ci(
    per_clip: Mapping[str, Sequence[Mapping[str, float]]],
    system: str,
    base: str = "original",
    key: str = "ovrl",
    **kwargs,
) -> GapCI:
    """Mean ``key`` of ``system`` minus that of ``base`` over the same clips, with its paired bootstrap interval
    (:func:`~.bootstrap.paired_gap_ci`; ``kwargs``: ``n_boot``, ``level``, ``seed``)."""
    return paired_gap_ci([s[key] for s in per_clip[base]], [s[key] for s in per_clip[system]], **kwargs)


def dnsmos_by_system(
    systems: Mapping[str, Sequence[np.ndarray]],
    scorer: Callable[[np.ndarray], dict[str, float]] = dnsmos,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Mean DNSMOS of each system's clips: ``{system: {"ovrl", "sig", "bak", "clips"}}``.

    Args:
        systems: ``{"original": [clip [N] at 16 kHz, ...], "losatok": [...], ...}``.
        scorer: ``[N] -> {"ovrl", "sig", "bak"}``; :func:`dnsmos` unless a test stubs it.
        progress: a progress bar per system (DNSMOS takes about 2 s per clip on this CPU).
    """
    return summarise_dnsmos(dnsmos_per_clip(systems, scorer, progress))
