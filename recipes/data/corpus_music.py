"""Procedural music: MIDI composed from a seed (melody, chords, bass, drums; several keys and tempos),
rendered by fluidsynth with a General MIDI soundfont. Labels: instrument families, notes, tempo, key."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np

from .corpus_common import CorpusError, read_16k, require_tool, run, set_level, write_wav

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
GM_FAMILIES = (
    "piano",
    "chromatic_percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth_lead",
    "synth_pad",
    "synth_effects",
    "ethnic",
    "percussive",
    "sound_effects",
)
FAMILIES = (*GM_FAMILIES[:12], "ethnic", "drums")  # the classes used as labels (no effects families)
MELODY_FAMILIES = (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 13)
CHORD_FAMILIES = (0, 2, 3, 5, 6, 11)
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PROGRESSIONS = ((0, 4, 5, 3), (0, 3, 4, 0), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 0, 4))
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TICKS = 480  # per beat


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, (n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out)


def midi_file(events: list[tuple[int, bytes]], tempo_bpm: float) -> bytes:
    """A format-0 Standard MIDI File from ``(tick, message bytes)`` events."""
    track = bytearray(b"\x00\xff\x51\x03" + int(60e6 / tempo_bpm).to_bytes(3, "big"))
    last = 0
    for tick, msg in sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80)):
        track += _varlen(tick - last) + msg
        last = tick
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


class Score:
    """Notes in beats, turned into MIDI events and a note list in seconds."""

    def __init__(self, tempo: float) -> None:
        self.tempo, self.events, self.notes = tempo, [], []

    def program(self, channel: int, program: int) -> None:
        self.events.append((0, bytes([0xC0 | channel, program])))

    def note(self, channel: int, pitch: int, start: float, length: float, velocity: int, family: str) -> None:
        a, b = int(start * TICKS), int((start + length) * TICKS)
        self.events += [(a, bytes([0x90 | channel, pitch, velocity])), (b, bytes([0x80 | channel, pitch, 0]))]
        sec = 60.0 / self.tempo
        self.notes.append([round(start * sec, 3), round((start + length) * sec, 3), pitch, family])


def compose(rng: np.random.Generator) -> tuple[bytes, dict]:
    """A few bars of music; returns the MIDI bytes and the labels."""
    tempo = float(rng.integers(70, 161))
    key, mode = int(rng.integers(12)), ("major", "minor")[int(rng.integers(2))]
    scale = SCALES[mode]
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    bars = int(rng.integers(3, 7))
    layout = ("solo", "melody_chords", "band", "band", "chords", "drums")[int(rng.integers(6))]
    score = Score(tempo)
    families: set[str] = set()

    def pick_program(fams: tuple[int, ...]) -> tuple[int, str]:
        fam = fams[int(rng.integers(len(fams)))]
        return fam * 8 + int(rng.integers(8)), GM_FAMILIES[fam]

    def degree(d: int, octave: int) -> int:
        return 12 * octave + key + scale[d % 7] + 12 * (d // 7)

    if layout in ("solo", "melody_chords", "band"):
        program, fam = pick_program(MELODY_FAMILIES)
        score.program(0, program)
        families.add(fam)
        d, t = int(rng.integers(0, 7)), 0.0
        while t < bars * 4:
            length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            d = int(np.clip(d + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), -3, 10))
            if rng.random() > 0.1:
                score.note(0, degree(d, 5), t, min(length, bars * 4 - t) * 0.95, int(rng.integers(70, 115)), fam)
            t += length
    if layout in ("melody_chords", "band", "chords"):
        program, fam = pick_program(CHORD_FAMILIES)
        score.program(1, program)
        families.add(fam)
        arpeggio = rng.random() < 0.4
        for bar in range(bars):
            root = prog[bar % len(prog)]
            chord = [degree(root + k, 4) for k in (0, 2, 4)]
            if arpeggio:
                for i in range(8):
                    score.note(1, chord[i % 3], bar * 4 + i * 0.5, 0.45, int(rng.integers(55, 90)), fam)
            else:
                for p in chord:
                    score.note(1, p, bar * 4, 3.9, int(rng.integers(50, 85)), fam)
    if layout == "band":
        program = 32 + int(rng.integers(8))
        score.program(2, program)
        families.add("bass")
        for bar in range(bars):
            root = degree(prog[bar % len(prog)], 2)
            for beat in range(4):
                score.note(
                    2,
                    root + (7 if beat == 2 and rng.random() < 0.5 else 0),
                    bar * 4 + beat,
                    0.9,
                    int(rng.integers(70, 105)),
                    "bass",
                )
    if layout in ("band", "drums"):
        families.add("drums")
        fill = rng.random() < 0.5
        for bar in range(bars):
            for eighth in range(8):
                t = bar * 4 + eighth * 0.5
                score.note(9, 42, t, 0.25, int(rng.integers(50, 90)), "drums")  # closed hi-hat
                if eighth in (0, 4) or (fill and eighth == 5):
                    score.note(9, 36, t, 0.25, 110, "drums")  # kick
                if eighth in (2, 6):
                    score.note(9, 38, t, 0.25, 100, "drums")  # snare
    labels = {
        "tempo": tempo,
        "key": f"{KEY_NAMES[key]} {mode}",
        "layout": layout,
        "families": sorted(families),
        "notes": sorted(score.notes),
    }
    return midi_file(score.events, tempo), labels


def soundfonts() -> tuple[str, ...]:
    """The General MIDI soundfonts installed (at least one is needed)."""
    found = tuple(f for f in SOUNDFONTS if Path(f).is_file())
    if not found:
        raise CorpusError("no General MIDI soundfont; install: apt-get install fluid-soundfont-gm timgm6mb-soundfont")
    return found


def render(midi: bytes, soundfont: str, seconds: float) -> np.ndarray:
    require_tool("fluidsynth", "fluidsynth")
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "m.mid", Path(tmp) / "m.wav"
        mid.write_bytes(midi)
        run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", "16000", "-F", str(wav), soundfont, str(mid)], "fluidsynth")
        audio = read_16k(wav)
    return audio[: int(seconds * 16000)]


def make_music(index: int, seed: int, out_dir: Path) -> dict:
    """One rendered piece; returns its manifest row."""
    rng = np.random.default_rng([seed, 2, index])
    midi, labels = compose(rng)
    fonts = soundfonts()
    soundfont = fonts[int(rng.integers(len(fonts)))]
    end = max(n[1] for n in labels["notes"]) + 0.8
    audio = set_level(render(midi, soundfont, end), rng)
    rel = Path("music") / f"midi_{index:06d}.wav"
    duration = write_wav(out_dir / rel, audio)
    label = labels["families"][0] if len(labels["families"]) == 1 else "ensemble_mix"
    return {
        "path": str(rel),
        "duration": round(duration, 4),
        "domain": "music",
        "label": label,
        "source": "fluidsynth",
        "soundfont": Path(soundfont).name,
        **labels,
        "split_key": f"music{index}",
    }
