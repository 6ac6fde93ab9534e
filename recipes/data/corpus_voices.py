"""Band-limited voice casts of two adventure games: many more voices, no transcripts (``train_voices.jsonl``).

| source | package (licence) | voices | audio | rows |
| --- | --- | --- | --- | --- |
| Flight of the Amazon Queen | flight-of-the-amazon-queen (freeware, DFSG; see its copyright) | English voice cast, 4.6 h | MP3 11.025 kHz, 16 kbit/s, in ``queen.1c`` | ``*.SB`` entries |
| Drascula: The Vampire Strikes Back | drascula, drascula-spanish, drascula-italian (BSD-like) | en / es / it casts, about 0.8 h each | raw unsigned 8-bit, 11.025 kHz (``*.ALS``) | all but ``S*`` / ``F*`` (effects) |

Both are sampled at 11.025 kHz, so nothing above 5.5 kHz is in them: every row carries ``band: "5.5k"``, and the
rows go to a manifest of their own, ``train_voices.jsonl``, never to ``train.jsonl`` or a test split. The builder also
writes ``train_with_voices.jsonl`` (``train.jsonl``'s rows, then these), the manifest a tokenizer run names to hear
these voices; ``make mini`` keeps training on ``train.jsonl``, so its runs reproduce unchanged. The rows have no text
and no phonemes: stages that need labels learn nothing from them but the domain and language.

Each function that finds files takes ``root`` (default ``/``) so that tests can point it at a small tree of the same
layout.
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from .corpus_common import CorpusError, to_16k_mono

QUEEN = Path("usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
DRASCULA = Path("usr/share/scummvm/drascula")
DRASCULA_LANGS = {"en": "drascula", "es": "drascula-spanish", "it": "drascula-italian"}
DRASCULA_EFFECTS = ("S", "F")  # S*.ALS / F*.ALS are sound effects, not lines
VOICE_RATE = 11025
LICENSES = {
    "flight-of-the-amazon-queen": "Flight-of-the-Amazon-Queen licence (freeware, DFSG; debian/copyright)",
    "drascula": "Drascula licence (BSD-like; debian/copyright)",
}
SPLIT = "train_voices"
KINDS = ("fotaq", "drascula")  # job kinds of this module (recipes/data/corpus_real.make_real)


# -- Flight of the Amazon Queen ----------------------------------------------------------------------
def read_queen_table(data: bytes) -> list[tuple[str, int, int]]:
    """Entries ``(name, offset, size)`` of a ``queen.1c`` container (offsets from the start of the file).

    Layout: ``QTBL``, a 6-byte version, 2 bytes, a compression byte (1 = MP3), a big-endian u16 count, then per
    entry a 12-byte NUL-padded name, a bundle byte, a big-endian u32 offset and a big-endian u32 size."""
    if data[:4] != b"QTBL" or len(data) < 15:
        raise CorpusError("not a Flight of the Amazon Queen data file (no QTBL header)")
    if data[12] != 1:
        raise CorpusError(f"queen.1c: speech compression {data[12]} is not MP3 (1); this build reads MP3 only")
    (count,) = struct.unpack(">H", data[13:15])
    entries, pos = [], 15
    for _ in range(count):
        if pos + 21 > len(data):
            raise CorpusError(f"queen.1c: table cut short ({count} entries announced)")
        name = data[pos : pos + 12].split(b"\0")[0].decode("ascii", errors="replace")
        offset, size = struct.unpack(">II", data[pos + 13 : pos + 21])
        if offset + size > len(data):
            raise CorpusError(f"queen.1c: entry {name} runs past the end of the file")
        entries.append((name, offset, size))
        pos += 21
    return entries


def queen_lines(root: Path = Path("/")) -> list[tuple[str, str, int, int]]:
    """``(container, name, offset, size)`` for every spoken line (``*.SB``) of the game; [] when not installed."""
    path = root / QUEEN
    if not path.is_file():
        return []
    entries = read_queen_table(path.read_bytes())
    return [(str(path), name, off, size) for name, off, size in entries if name.upper().endswith(".SB")]


def read_queen_line(container: str, offset: int, size: int) -> np.ndarray:
    """One MP3 entry of the container -> float32 ``[N]`` at 16 kHz (decoded by libsndfile)."""
    with open(container, "rb") as f:
        f.seek(offset)
        blob = f.read(size)
    try:
        audio, sr = sf.read(io.BytesIO(blob), dtype="float64", always_2d=False)
    except sf.LibsndfileError as e:
        raise CorpusError(f"could not decode {container}@{offset}: {e}") from None
    return to_16k_mono(audio, sr)


# -- Drascula ----------------------------------------------------------------------------------------
def drascula_character(stem: str) -> str:
    """``VB12`` -> ``VB``, ``B3`` -> ``B``; numbered files (``123``) are the hero's lines."""
    prefix = re.match(r"^([A-Za-z]*)", stem).group(1).upper()
    return prefix or "hero"


def drascula_lines(root: Path = Path("/")) -> list[tuple[str, str, str]]:
    """``(path, lang, package)`` for every spoken line of the installed Drascula languages."""
    found = []
    for lang, package in DRASCULA_LANGS.items():
        folder = root / DRASCULA / lang
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if f.suffix.upper() != ".ALS":
                continue
            if drascula_character(f.stem) in DRASCULA_EFFECTS:
                continue
            found.append((str(f), lang, package))
    return found


def read_drascula_line(path: str) -> np.ndarray:
    """A ``.ALS`` file (32-byte header, unsigned 8-bit samples at 11.025 kHz, 32 trailing bytes) -> float32 16 kHz."""
    raw = Path(path).read_bytes()
    if len(raw) <= 64:
        raise CorpusError(f"{path}: {len(raw)} bytes, too short for a Drascula sound")
    pcm = (np.frombuffer(raw[32:-32], dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    return to_16k_mono(pcm, VOICE_RATE)


# -- jobs and rows -----------------------------------------------------------------------------------
def available(root: Path = Path("/")) -> dict[str, bool]:
    return {
        "flight-of-the-amazon-queen": (root / QUEEN).is_file(),
        **{pkg: (root / DRASCULA / lang).is_dir() for lang, pkg in DRASCULA_LANGS.items()},
    }


def voice_jobs(root: Path = Path("/")) -> list[tuple]:
    """``(kind, source, split, meta)`` job tuples for every line found (missing packages are simply absent)."""
    jobs: list[tuple] = [("fotaq", f"{c}#{name}", SPLIT, (off, size)) for c, name, off, size in queen_lines(root)]
    jobs += [("drascula", path, SPLIT, (lang, package)) for path, lang, package in drascula_lines(root)]
    return jobs


def load_voice(kind: str, src: str, meta: tuple) -> np.ndarray:
    if kind == "fotaq":
        return read_queen_line(src.split("#", 1)[0], *meta)
    return read_drascula_line(src)


def voice_row(kind: str, src: str, meta: tuple) -> tuple[Path, dict]:
    """Where one line is written (relative to the corpus) and its manifest fields (all but path, duration, split)."""
    if kind == "fotaq":
        name = Path(src.split("#", 1)[1]).stem
        rel = Path("real/speech/fotaq") / f"{name}.wav"
        fields = {"lang": "en", "source": "flight-of-the-amazon-queen", "speaker": "fotaq-cast"}
        license_ = LICENSES["flight-of-the-amazon-queen"]
    else:
        lang, package = meta
        stem = Path(src).stem
        rel = Path("real/speech/drascula") / lang / f"{stem}.wav"
        fields = {"lang": lang, "source": package, "speaker": f"drascula-{lang}-{drascula_character(stem)}"}
        license_ = LICENSES["drascula"]
    return rel, {"domain": "speech", "label": fields["lang"], **fields, "license": license_, "band": "5.5k"}
