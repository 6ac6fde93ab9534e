"""Real speech with transcripts from Debian packages; IPA phonemes for every transcript through espeak-ng.

| source | package (licence) | speakers | split |
| --- | --- | --- | --- |
| Tux Paint stamp descriptions | tuxpaint-stamps-default (GPL-2) | volunteers, 13 languages, full band | languages in ``TUXPAINT_HELD_OUT`` -> test_real |
| Asterisk core prompts | asterisk-core-sounds-{en,es,fr,it,ru}-g722 (CC-BY-SA-3.0) | one professional voice per language, 16 kHz G.722 | English voice -> test_real (English WER) |
| festvox-ru utterances | festvox-ru (BSD-like) | one Russian male speaker, 16 kHz | train |

Splits are by speaker group (language for Tux Paint, voice for Asterisk), so test_real holds voices never heard
in training. Each function that finds files takes ``root`` (default ``/``) so that tests can point it at a
small tree of the same layout.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .corpus_common import CorpusError, read_16k, run, to_16k_mono

TUXPAINT = Path("usr/share/tuxpaint/stamps")
ASTERISK = Path("usr/share/asterisk/sounds")
ASTERISK_DOC = Path("usr/share/doc")
FESTVOX_RU = Path("usr/share/festival/voices/russian/msu_ru_nsh_clunits")
TUXPAINT_HELD_OUT = ("el", "da")  # 18 + 5 minutes of voices never heard in training
ASTERISK_HELD_OUT = ("en",)  # the English voice: WER of originals vs reconstructions is measured on it
ASTERISK_LANGS = ("en", "es", "fr", "it", "ru")
# Tux Paint / Asterisk language code -> espeak-ng voice
ESPEAK_VOICE = {"en": "en-us", "pt": "pt", "pt_BR": "pt-br"}
LICENSES = {
    "tuxpaint-stamps-default": "GPL-2.0",
    "asterisk-core-sounds": "CC-BY-SA-3.0",
    "festvox-ru": "BSD-like (festvox)",
}


def espeak_voice(lang: str) -> str:
    return ESPEAK_VOICE.get(lang, lang.split("_")[0].split("@")[0])


def phonemize(text: str, lang: str) -> str:
    """espeak-ng's IPA for ``text`` in ``lang``; empty when the text has nothing to say."""
    if not text.strip():
        return ""
    return " ".join(run(["espeak-ng", "-q", "--ipa", "-v", espeak_voice(lang), text], "espeak-ng phonemes").split())


# -- Tux Paint ---------------------------------------------------------------------------------------
def parse_tuxpaint_text(txt: str) -> dict[str, str]:
    """``<stamp>.txt`` -> ``{lang: description}``; the first line without a ``lang.utf8=`` prefix is English."""
    out: dict[str, str] = {}
    for i, line in enumerate(txt.splitlines()):
        line = line.strip()
        m = re.match(r"^([A-Za-z_@]+)\.utf8=(.*)$", line)
        if m:
            out.setdefault(m.group(1), m.group(2).strip())
        elif i == 0 and line:
            out.setdefault("en", line)
    return out


def tuxpaint_files(root: Path = Path("/")) -> list[tuple[Path, str, str]]:
    """``(ogg, lang, text)`` for every spoken description whose transcript exists."""
    base = root / TUXPAINT
    if not base.is_dir():
        return []
    found = []
    for ogg in sorted(base.rglob("*_desc*.ogg")):
        m = re.match(r"^(.*)_desc(?:_([A-Za-z@]+))?(?:\.ogg)?$", ogg.stem)
        if m is None:
            continue
        stamp, lang = m.group(1), m.group(2) or "en"
        txt = ogg.with_name(f"{stamp}.txt")
        if not txt.is_file():
            continue
        text = parse_tuxpaint_text(txt.read_text(encoding="utf-8", errors="ignore")).get(lang)
        if text:
            found.append((ogg, lang, text))
    return found


# -- Asterisk ----------------------------------------------------------------------------------------
def parse_asterisk_transcripts(txt: str) -> dict[str, str]:
    """``core-sounds-<lang>.txt`` (``name: text`` lines, ``;`` comments) -> ``{name: text}``.

    Bracketed descriptions (``[this is an error beep tone]``) are not speech and are dropped."""
    out: dict[str, str] = {}
    for line in txt.splitlines():
        if not line.strip() or line.lstrip().startswith(";") or ":" not in line:
            continue
        name, text = line.split(":", 1)
        text = text.strip()
        if not text or text.startswith("["):
            continue
        out[name.strip()] = re.sub(r"\s+", " ", text)
    return out


def asterisk_voice_dir(root: Path, lang: str) -> Path | None:
    """Folder of the one professional voice of ``lang`` (``en_US_f_Allison``...), or None."""
    base = root / ASTERISK
    if not base.is_dir():
        return None
    dirs = sorted(d for d in base.iterdir() if d.is_dir() and d.name.split("_")[0] == lang and d.name.count("_") >= 3)
    return dirs[0] if dirs else None


def asterisk_files(root: Path = Path("/")) -> list[tuple[Path, str, str, str]]:
    """``(g722, lang, voice, text)`` for every prompt with a transcript."""
    found = []
    for lang in ASTERISK_LANGS:
        voice_dir = asterisk_voice_dir(root, lang)
        doc = root / ASTERISK_DOC / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"
        if voice_dir is None or not doc.is_file():
            continue
        texts = parse_asterisk_transcripts(gzip.decompress(doc.read_bytes()).decode("utf-8", errors="ignore"))
        for name, text in sorted(texts.items()):
            f = voice_dir / f"{name}.g722"
            if f.is_file():
                found.append((f, lang, voice_dir.name, text))
    return found


def read_g722(path: Path) -> np.ndarray:
    """Raw G.722 (16 kHz) -> float32 ``[N]`` through ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise CorpusError("ffmpeg not found (needed to decode Asterisk G.722 prompts); apt-get install ffmpeg")
    res = subprocess.run(
        [ffmpeg, "-v", "error", "-f", "g722", "-i", str(path), "-ar", "16000", "-ac", "1", "-f", "f32le", "-"],
        capture_output=True,
    )
    if res.returncode != 0:
        raise CorpusError(f"ffmpeg could not decode {path}: {res.stderr.decode(errors='ignore')[:200]}")
    return to_16k_mono(np.frombuffer(res.stdout, dtype="<f4"), 16000)


# -- festvox-ru --------------------------------------------------------------------------------------
def parse_festvox_prompts(txt: str) -> dict[str, str]:
    """``etc/txt.done.data`` lines ``( ru_0001 "text" )`` -> ``{utt: text}`` (stress marks ``+`` removed)."""
    out = {}
    for m in re.finditer(r'\(\s*(\S+)\s+"(.*)"\s*\)', txt):
        out[m.group(1)] = m.group(2).replace("+", "")
    return out


def festvox_files(root: Path = Path("/")) -> list[tuple[Path, str]]:
    base = root / FESTVOX_RU
    prompts = base / "etc" / "txt.done.data"
    if not prompts.is_file():
        return []
    texts = parse_festvox_prompts(prompts.read_text(encoding="utf-8", errors="ignore"))
    return [
        (base / "wav" / f"{utt}.wav", text)
        for utt, text in sorted(texts.items())
        if (base / "wav" / f"{utt}.wav").is_file()
    ]


# -- jobs --------------------------------------------------------------------------------------------
def speech_jobs(root: Path = Path("/")) -> list[tuple]:
    """Job tuples ``(kind, path, split, meta)`` for every real utterance with a transcript found under ``root``."""
    jobs: list[tuple] = []
    for ogg, lang, text in tuxpaint_files(root):
        split = "test_real" if lang in TUXPAINT_HELD_OUT else "train"
        jobs.append(("tuxpaint", str(ogg), split, (lang, text)))
    for f, lang, voice, text in asterisk_files(root):
        split = "test_real" if lang in ASTERISK_HELD_OUT else "train"
        jobs.append(("asterisk", str(f), split, (lang, voice, text)))
    for wav, text in festvox_files(root):
        jobs.append(("festvox_ru", str(wav), "train", ("ru", text)))
    return jobs


def load_speech(kind: str, src: str) -> np.ndarray:
    return read_g722(Path(src)) if kind == "asterisk" else read_16k(src)


def speech_row(kind: str, src: str, meta: tuple) -> dict:
    """Manifest fields of one real utterance (everything but path, duration and split)."""
    if kind == "tuxpaint":
        lang, text = meta
        source, speaker = "tuxpaint-stamps-default", f"tuxpaint_{lang}"
    elif kind == "asterisk":
        lang, voice, text = meta
        source, speaker = f"asterisk-core-sounds-{lang}-g722", voice
    else:
        lang, text = meta
        source, speaker = "festvox-ru", "msu_ru_nsh"
    license_key = "asterisk-core-sounds" if kind == "asterisk" else source
    ipa = phonemize(text, lang)
    return {
        "domain": "speech",
        "label": lang,
        "lang": lang,
        "text": text,
        "phonemes": ipa,
        "source": source,
        "speaker": speaker,
        "license": LICENSES[license_key],
        "band": "full" if kind != "asterisk" else "7k",
    }
