"""Synthetic speech: espeak-ng (several languages and voice variants) and flite voices, with IPA phonemes.

Text: Debian's fortunes for English, random word sequences from Debian's word lists for the other
languages. Phonemes come from espeak-ng's IPA output for the text in the voice's language; they are the
CTC targets of the small teacher (``losatok_plugin.data.labels.phoneme_tokens`` splits them into symbols).
"""

from __future__ import annotations

import re
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from .corpus_common import CorpusError, read_16k, require_tool, run, set_level, trim_silence, write_wav

FORTUNE_FILES = ("fortunes", "literature", "riddles")
FORTUNE_DIR = Path("/usr/share/games/fortunes")
WORD_LISTS = {  # espeak language -> Debian word list
    "de": "/usr/share/dict/ngerman",
    "fr": "/usr/share/dict/french",
    "es": "/usr/share/dict/spanish",
    "it": "/usr/share/dict/italian",
    "nl": "/usr/share/dict/dutch",
    "pt": "/usr/share/dict/portuguese",
}
ESPEAK_LANGS = ("en-us", "en", *WORD_LISTS)
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "adam",
    "anika",
    "benjamin",
    "caleb",
    "david",
    "ed",
    "Andy",
    "Annie",
    "Mike",
)
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


@lru_cache(maxsize=1)
def english_sentences() -> tuple[str, ...]:
    """Sentences of 20-160 plain-ASCII characters cut from Debian's fortunes (package fortunes-min)."""
    out: list[str] = []
    for name in FORTUNE_FILES:
        f = FORTUNE_DIR / name
        if not f.is_file():
            continue
        for record in f.read_text(encoding="utf-8", errors="ignore").split("\n%\n"):
            text = " ".join(record.split())
            for s in re.split(r"(?<=[.!?])\s+", text):
                s = s.strip(" -\"'")
                if 20 <= len(s) <= 160 and s.isascii() and re.fullmatch(r"[A-Za-z0-9 ,.;:!?'\"-]+", s):
                    out.append(s)
    if not out:
        raise CorpusError(f"no fortunes under {FORTUNE_DIR}; install it with: apt-get install fortunes-min")
    return tuple(sorted(set(out)))


@lru_cache(maxsize=8)
def words(lang: str) -> tuple[str, ...]:
    path = Path(WORD_LISTS[lang])
    if not path.is_file():
        raise CorpusError(f"word list {path} missing; install the Debian word list package for {lang!r}")
    ws = [w.strip() for w in path.read_text(encoding="utf-8", errors="ignore").splitlines()]
    return tuple(w for w in ws if 2 <= len(w) <= 14 and w.isalpha() and "'" not in w)


def phonemize(text: str, lang: str) -> str:
    """espeak-ng's IPA for ``text`` in ``lang`` (no audio)."""
    require_tool("espeak-ng", "espeak-ng")
    return " ".join(run(["espeak-ng", "-q", "--ipa", "-v", lang, text], "espeak-ng phonemes").split())


def pick_text(rng: np.random.Generator, lang: str) -> str:
    if lang.startswith("en"):
        sents = english_sentences()
        n = 1 if rng.random() < 0.6 else 2
        return " ".join(sents[int(rng.integers(len(sents)))] for _ in range(n))
    ws = words(lang)
    return " ".join(ws[int(rng.integers(len(ws)))] for _ in range(int(rng.integers(4, 11)))) + "."


def synth_espeak(text: str, lang: str, variant: str, speed: int, pitch: int, wav: Path) -> str:
    require_tool("espeak-ng", "espeak-ng")
    out = run(
        ["espeak-ng", "-v", f"{lang}+{variant}", "-s", str(speed), "-p", str(pitch), "--ipa", "-w", str(wav), text],
        "espeak-ng",
    )
    return " ".join(out.split())


def synth_flite(text: str, voice: str, stretch: float, f0: float, wav: Path) -> None:
    require_tool("flite", "flite")
    run(
        [
            "flite",
            "-voice",
            voice,
            "--setf",
            f"duration_stretch={stretch:.2f}",
            "--setf",
            f"int_f0_target_mean={f0:.0f}",
            "-t",
            text,
            "-o",
            str(wav),
        ],
        "flite",
    )


def make_speech(index: int, seed: int, out_dir: Path) -> dict:
    """One synthetic utterance; returns its manifest row (path relative to the corpus root)."""
    rng = np.random.default_rng([seed, 1, index])
    engine = "flite" if rng.random() < 0.3 else "espeak-ng"
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        if engine == "flite":
            lang, voice = "en-us", FLITE_VOICES[int(rng.integers(len(FLITE_VOICES)))]
            text = pick_text(rng, "en")
            synth_flite(text, voice, float(rng.uniform(0.85, 1.25)), float(rng.uniform(90, 200)), wav)
            ipa = phonemize(text, lang)
        else:
            lang = ESPEAK_LANGS[int(rng.integers(len(ESPEAK_LANGS)))]
            variant = ESPEAK_VARIANTS[int(rng.integers(len(ESPEAK_VARIANTS)))]
            voice = f"{lang}+{variant}"
            text = pick_text(rng, lang)
            ipa = synth_espeak(text, lang, variant, int(rng.integers(120, 210)), int(rng.integers(25, 75)), wav)
        audio = trim_silence(read_16k(wav))
    audio = set_level(audio, rng)
    rel = Path("speech") / f"{engine}_{index:06d}.wav"
    duration = write_wav(out_dir / rel, audio)
    return {
        "path": str(rel),
        "duration": round(duration, 4),
        "domain": "speech",
        "label": lang,
        "source": engine,
        "voice": voice,
        "lang": lang,
        "text": text,
        "phonemes": ipa,
        "split_key": text,
    }
