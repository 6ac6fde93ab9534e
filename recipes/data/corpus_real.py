"""Real recordings from Debian packages, so the model does not learn synthetic timbres only.

| source | package | domain | split |
| --- | --- | --- | --- |
| KTuberling words, spoken by people in ~25 languages | ktuberling-data | speech | languages in ``HELD_OUT_LANGS`` -> test_real |
| desktop / accessibility sound effects | sound-theme-freedesktop, sound-icons, frozen-bubble-data | sound | ~40 % of files -> test_real |
| Frozen Bubble's game music (produced recordings) | frozen-bubble-data | music | intro + 2-player theme -> test_real |
| game sound effects, real keyboard keys | wordwarvi-sound, bucklespring-data | sound | ~40 % of files -> test_real |
| real speech with transcripts (Tux Paint, Asterisk, festvox-ru) | see ``corpus_real_speech.py`` | speech | by speaker group |
| game soundtracks (warzone2100, planetblupi, wesnoth) | see ``corpus_real_music.py`` | music | whole tracks -> test_real |
| band-limited game voice casts, no transcripts (FOTAQ, Drascula) | see ``corpus_voices.py`` | speech | all -> train_voices |

Every row carries its ``source`` package and ``license``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import corpus_real_music as music
from . import corpus_real_speech as speech
from . import corpus_voices as voices
from .corpus_common import read_16k, stable_fraction, write_wav

KTUBERLING = Path("/usr/share/ktuberling/sounds")
HELD_OUT_LANGS = ("fr", "ru", "sv", "it", "pt")
SFX_LICENSES = {  # folder -> (package, licence)
    "/usr/share/sounds/freedesktop/stereo": ("sound-theme-freedesktop", "GPL-2+ / CC-BY-SA / CC-BY"),
    "/usr/share/sounds/sound-icons": ("sound-icons", "GPL-2+"),
    "/usr/share/games/frozen-bubble/snd": ("frozen-bubble-data", "GPL-2"),
    "/usr/share/wordwarvi/sounds": ("wordwarvi-sound", "GPL-2+ / CC-BY / CC0 (per file, see its copyright)"),
    "/usr/share/buckle/wav": ("bucklespring-data", "GPL-2"),
}
SFX_DIRS = tuple(Path(d) for d in SFX_LICENSES)
KTUBERLING_LICENSE = "GPL-2+"
MUSIC_FILES = {"frozen-mainzik-1p.ogg": "train", "frozen-mainzik-2p.ogg": "test_real", "introzik.ogg": "test_real"}
MUSIC_SEGMENT = 10.0
SKIP_LANGS = ("sr@ijekavian", "sr@ijekavianlatin")  # the same recordings as sr / sr@latin


def available_sources() -> dict[str, bool]:
    root = Path("/")
    return {
        "ktuberling-data": KTUBERLING.is_dir(),
        **{str(d): d.is_dir() for d in SFX_DIRS},
        "tuxpaint-stamps-default": (root / speech.TUXPAINT).is_dir(),
        "asterisk-core-sounds-*-g722": (root / speech.ASTERISK).is_dir(),
        "festvox-ru": (root / speech.FESTVOX_RU).is_dir(),
        **{pkg: (root / folder).is_dir() for pkg, (folder, _, _) in music.SOURCES.items()},
        **voices.available(root),
    }


def real_jobs(music_seconds_per_track: float = 60.0) -> list[tuple]:
    """``(kind, source path, split, meta)`` for every real file found (missing packages are simply absent)."""
    jobs: list[tuple] = []
    if KTUBERLING.is_dir():
        for lang_dir in sorted(p for p in KTUBERLING.iterdir() if p.is_dir()):
            lang = lang_dir.name
            if lang in SKIP_LANGS:
                continue
            split = "test_real" if lang in HELD_OUT_LANGS else "train"
            for f in sorted(list(lang_dir.glob("*.ogg")) + list(lang_dir.glob("*.wav"))):
                jobs.append(("ktuberling", str(f), split, None))
    for d in SFX_DIRS:
        for f in sorted(list(d.glob("*.oga")) + list(d.glob("*.ogg")) + list(d.glob("*.wav"))) if d.is_dir() else []:
            if f.name in MUSIC_FILES:
                jobs.append(("game_music", str(f), MUSIC_FILES[f.name], None))
            else:
                split = "test_real" if stable_fraction(f"{d.name}/{f.name}") < 0.4 else "train"
                jobs.append(("sfx", str(f), split, None))
    jobs += speech.speech_jobs()
    jobs += music.music_jobs(seconds_per_track=music_seconds_per_track)
    jobs += voices.voice_jobs()
    return jobs


def real_speech_path(kind: str, src: Path, meta: tuple | None) -> Path:
    """Where a real utterance is written, unique per source file.

    Tux Paint stamp names repeat across categories (the category path is kept); Asterisk prompts in a
    sub-folder (``dictate/both_help``) have the same names in every language, so the path holds the voice
    (``en_US_f_Allison``) and the whole name below it. The voice prefix leaves top-level prompts where
    earlier builds wrote them.
    """
    if kind == "tuxpaint":
        name = "_".join(src.parts[-3:-1] + (src.stem,))
    elif kind == "asterisk":
        voice = meta[1]
        below = src.parts[src.parts.index(voice) + 1 : -1] if voice in src.parts[:-1] else ()
        name = "_".join((voice, *below, src.stem))
    else:
        name = f"{src.parent.name}_{src.stem}"
    return Path("real/speech") / kind / f"{name}.wav"


def make_real(kind: str, src: str, split: str, out_dir: Path, meta: tuple | None = None) -> list[dict]:
    """Convert one real file to 16 kHz mono (music cut into 10 s segments); returns manifest rows."""
    src_path = Path(src)
    if kind == "real_music":
        return _make_real_music(src_path, split, out_dir, meta)
    if kind in voices.KINDS:
        audio = voices.load_voice(kind, src, meta)
    elif kind in ("tuxpaint", "asterisk", "festvox_ru"):
        audio = speech.load_speech(kind, src)
    else:
        audio = read_16k(src_path)
    if len(audio) < 1600 or np.abs(audio).max() < 1e-4:
        return []  # too short or silent to be useful
    peak = np.abs(audio).max()
    if peak > 0.98:
        audio = audio * (0.98 / peak)
    rows = []
    if kind in voices.KINDS:
        rel, fields = voices.voice_row(kind, src, meta)
        dur = write_wav(out_dir / rel, audio)
        rows.append({"path": str(rel), "duration": round(dur, 4), **fields, "split": split})
    elif kind in ("tuxpaint", "asterisk", "festvox_ru"):
        rel = real_speech_path(kind, src_path, meta)
        fields = speech.speech_row(kind, src, meta)
        dur = write_wav(out_dir / rel, audio)
        rows.append({"path": str(rel), "duration": round(dur, 4), **fields, "split": split})
    elif kind == "ktuberling":
        lang = src_path.parent.name
        # .ogg names are English glosses of the spoken word; .wav names are the word itself
        word = src_path.stem.replace("_", " ").replace("egypt ", "")
        rel = Path("real/speech") / lang.replace("@", "_") / f"{src_path.stem}.wav"
        dur = write_wav(out_dir / rel, audio)
        rows.append(
            {
                "path": str(rel),
                "duration": round(dur, 4),
                "domain": "speech",
                "label": lang,
                "lang": lang,
                "source": "ktuberling-data",
                "license": KTUBERLING_LICENSE,
                "name": word,
                "split": split,
            }
        )
    elif kind == "sfx":
        rel = Path("real/sound") / f"{src_path.parent.name}_{src_path.stem}.wav"
        dur = write_wav(out_dir / rel, audio)
        package, license_ = SFX_LICENSES.get(str(src_path.parent), (str(src_path.parent), "unknown"))
        rows.append(
            {
                "path": str(rel),
                "duration": round(dur, 4),
                "domain": "sound",
                "label": src_path.stem,
                "source": package,
                "license": license_,
                "split": split,
            }
        )
    else:
        seg = int(MUSIC_SEGMENT * 16000)
        for i in range(len(audio) // seg):
            rel = Path("real/music") / f"{src_path.stem}_{i:03d}.wav"
            dur = write_wav(out_dir / rel, audio[i * seg : (i + 1) * seg])
            rows.append(
                {
                    "path": str(rel),
                    "duration": round(dur, 4),
                    "domain": "music",
                    "label": "game_music",
                    "source": "frozen-bubble-data",
                    "license": "GPL-2",
                    "split": split,
                }
            )
    return rows


def _make_real_music(src_path: Path, split: str, out_dir: Path, meta: tuple) -> list[dict]:
    package, seconds_per_track = meta
    rows = []
    track = "_".join(src_path.relative_to(src_path.parents[1]).with_suffix("").parts)
    for start, clip in music.read_excerpts(str(src_path), seconds_per_track):
        peak = float(np.abs(clip).max())
        if peak < 1e-3:
            continue  # silent gap between movements
        if peak > 0.98:
            clip = clip * (0.98 / peak)
        rel = Path("real/music") / package / f"{track}_{int(start):05d}.wav"
        dur = write_wav(out_dir / rel, clip)
        rows.append(
            {
                "path": str(rel),
                "duration": round(dur, 4),
                "domain": "music",
                "label": "game_music",
                "source": package,
                "license": music.license_of(package),
                "track": f"{package}/{track}",
                "split": split,
            }
        )
    return rows
