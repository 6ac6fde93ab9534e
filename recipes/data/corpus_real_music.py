"""Real, produced music from Debian game soundtrack packages, cut into 10 s excerpts.

| package (licence) | where | tracks |
| --- | --- | --- |
| warzone2100-music (GPL-2+ / CC-BY-SA-3.0) | ``usr/share/games/warzone2100/music`` (Opus) | 30, 4.05 h |
| planetblupi-music-ogg (GPL-3+) | ``usr/share/planetblupi/music`` (Vorbis) | 10, 2.72 h |
| wesnoth-1.16-music (GPL-2) | ``usr/share/games/wesnoth/1.16/data/core/music`` (Vorbis, orchestral) | 41, 2.14 h |

Whole tracks are held out: a track whose name falls in the ``HELD_OUT_FRACTION`` of a stable hash goes to
test_real with all its excerpts, so the test music was never heard in any part. ``seconds_per_track``
takes evenly spaced excerpts from each track (the whole track when it is shorter), which bounds build time
and disk use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .corpus_common import stable_fraction, to_16k_mono

SOURCES = {  # package -> (folder under root, file patterns, licence)
    "warzone2100-music": ("usr/share/games/warzone2100/music", ("**/*.opus", "**/*.ogg"), "GPL-2+ / CC-BY-SA-3.0"),
    "planetblupi-music-ogg": ("usr/share/planetblupi/music", ("*.ogg",), "GPL-3+"),
    "wesnoth-1.16-music": ("usr/share/games/wesnoth/1.16/data/core/music", ("*.ogg",), "GPL-2"),
}
HELD_OUT_FRACTION = 0.2
SEGMENT_SECONDS = 10.0


def music_files(root: Path = Path("/")) -> list[tuple[Path, str, str]]:
    """``(track, package, split)`` for every track found under ``root``."""
    found = []
    for package, (folder, patterns, _) in SOURCES.items():
        base = root / folder
        if not base.is_dir():
            continue
        tracks = sorted({f for pat in patterns for f in base.glob(pat) if f.is_file()})
        for f in tracks:
            key = f"{package}/{f.relative_to(base)}"
            found.append((f, package, "test_real" if stable_fraction(key) < HELD_OUT_FRACTION else "train"))
    return found


def music_jobs(root: Path = Path("/"), seconds_per_track: float = 60.0) -> list[tuple]:
    return [("real_music", str(f), split, (package, seconds_per_track)) for f, package, split in music_files(root)]


def segment_starts(n_samples: int, seg: int, max_segments: int) -> list[int]:
    """Start samples of up to ``max_segments`` evenly spaced, non-overlapping ``seg``-long excerpts."""
    total = n_samples // seg
    if total == 0:
        return []
    k = min(total, max(1, max_segments))
    slots = np.linspace(0, total - 1, k).round().astype(int)
    return sorted({int(s) * seg for s in slots})


def read_excerpts(path: str, seconds_per_track: float) -> list[tuple[float, np.ndarray]]:
    """``(start seconds, [N] float32 at 16 kHz)`` for each excerpt of one track.

    Seeks to each excerpt instead of decoding the whole track (a 6-minute Opus track takes ~10 s to decode
    here, one 10 s excerpt ~0.3 s)."""
    out = []
    with sf.SoundFile(path) as f:
        sr = f.samplerate
        seg = int(SEGMENT_SECONDS * sr)
        for start in segment_starts(f.frames, seg, round(seconds_per_track / SEGMENT_SECONDS)):
            f.seek(start)
            audio = f.read(seg, dtype="float32", always_2d=False)
            if len(audio) == seg:
                out.append((start / sr, to_16k_mono(audio, sr)))
    return out


def license_of(package: str) -> str:
    return SOURCES[package][2]
