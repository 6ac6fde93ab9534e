"""Real recordings from Debian packages, so the model does not learn synthetic timbres only.

| source | package | domain | split |
| --- | --- | --- | --- |
| KTuberling words, spoken by people in ~25 languages | ktuberling-data | speech | languages in ``HELD_OUT_LANGS`` -> test_real |
| desktop / accessibility sound effects | sound-theme-freedesktop, sound-icons, frozen-bubble-data | sound | ~40 % of files -> test_real |
| Frozen Bubble's game music (produced recordings) | frozen-bubble-data | music | intro + 2-player theme -> test_real |
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from corpus_common import read_16k, stable_fraction, write_wav

KTUBERLING = Path("/usr/share/ktuberling/sounds")
HELD_OUT_LANGS = ("fr", "ru", "sv", "it", "pt")
SFX_DIRS = (Path("/usr/share/sounds/freedesktop/stereo"), Path("/usr/share/sounds/sound-icons"),
            Path("/usr/share/games/frozen-bubble/snd"))
MUSIC_FILES = {"frozen-mainzik-1p.ogg": "train", "frozen-mainzik-2p.ogg": "test_real", "introzik.ogg": "test_real"}
MUSIC_SEGMENT = 10.0
SKIP_LANGS = ("sr@ijekavian", "sr@ijekavianlatin")  # the same recordings as sr / sr@latin


def available_sources() -> dict[str, bool]:
    return {"ktuberling-data": KTUBERLING.is_dir(), **{str(d): d.is_dir() for d in SFX_DIRS}}


def real_jobs() -> list[tuple[str, str, str]]:
    """``(kind, source path, split)`` for every real file found (missing packages are simply absent)."""
    jobs = []
    if KTUBERLING.is_dir():
        for lang_dir in sorted(p for p in KTUBERLING.iterdir() if p.is_dir()):
            lang = lang_dir.name
            if lang in SKIP_LANGS:
                continue
            split = "test_real" if lang in HELD_OUT_LANGS else "train"
            for f in sorted(list(lang_dir.glob("*.ogg")) + list(lang_dir.glob("*.wav"))):
                jobs.append(("ktuberling", str(f), split))
    for d in SFX_DIRS:
        for f in sorted(list(d.glob("*.oga")) + list(d.glob("*.ogg")) + list(d.glob("*.wav"))) if d.is_dir() else []:
            if f.name in MUSIC_FILES:
                jobs.append(("game_music", str(f), MUSIC_FILES[f.name]))
            else:
                jobs.append(("sfx", str(f), "test_real" if stable_fraction(f.name) < 0.4 else "train"))
    return jobs


def make_real(kind: str, src: str, split: str, out_dir: Path) -> list[dict]:
    """Convert one real file to 16 kHz mono (music cut into 10 s segments); returns manifest rows."""
    src_path = Path(src)
    audio = read_16k(src_path)
    if len(audio) < 1600 or np.abs(audio).max() < 1e-4:
        return []  # too short or silent to be useful
    peak = np.abs(audio).max()
    if peak > 0.98:
        audio = audio * (0.98 / peak)
    rows = []
    if kind == "ktuberling":
        lang = src_path.parent.name
        # .ogg names are English glosses of the spoken word; .wav names are the word itself
        word = src_path.stem.replace("_", " ").replace("egypt ", "")
        rel = Path("real/speech") / lang.replace("@", "_") / f"{src_path.stem}.wav"
        dur = write_wav(out_dir / rel, audio)
        rows.append({"path": str(rel), "duration": round(dur, 4), "domain": "speech", "label": lang, "lang": lang,
                     "source": "ktuberling-data", "name": word, "split": split})
    elif kind == "sfx":
        rel = Path("real/sound") / f"{src_path.parent.name}_{src_path.stem}.wav"
        dur = write_wav(out_dir / rel, audio)
        rows.append({"path": str(rel), "duration": round(dur, 4), "domain": "sound", "label": src_path.stem,
                     "source": str(src_path.parent), "split": split})
    else:
        seg = int(MUSIC_SEGMENT * 16000)
        for i in range(len(audio) // seg):
            rel = Path("real/music") / f"{src_path.stem}_{i:03d}.wav"
            dur = write_wav(out_dir / rel, audio[i * seg : (i + 1) * seg])
            rows.append({"path": str(rel), "duration": round(dur, 4), "domain": "music", "label": "game_music",
                         "source": "frozen-bubble-data", "split": split})
    return rows
