"""The band-limited game voice casts (recipes/data/corpus_voices.py) on small trees of the packages' layout."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from losatok_plugin.data import read_manifest
from recipes.data import build_corpus, corpus_real, corpus_voices
from recipes.data.corpus_common import CorpusError

RATE = corpus_voices.VOICE_RATE


def _tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.5 * np.sin(2 * np.pi * freq * t)


def _mp3(audio: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, RATE, format="MP3")
    return buf.getvalue()


def _queen_container(entries: list[tuple[str, bytes]], compression: int = 1) -> bytes:
    """A ``queen.1c`` of ``entries`` laid out as the game's (header, table, then the data, offsets from the start)."""
    header = b"QTBL" + b"CEM10\0" + b"\0\0" + bytes([compression]) + struct.pack(">H", len(entries))
    offset = len(header) + 21 * len(entries)
    table, blobs = b"", b""
    for name, blob in entries:
        table += name.encode().ljust(12, b"\0") + b"\x01" + struct.pack(">II", offset + len(blobs), len(blob))
        blobs += blob
    return header + table + blobs


def _als(audio: np.ndarray) -> bytes:
    pcm = np.clip(np.round(audio * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    return b"\x07" * 32 + pcm + b"\x09" * 32


@pytest.fixture
def voice_tree(tmp_path):
    root = tmp_path / "root"
    queen = root / corpus_voices.QUEEN
    queen.parent.mkdir(parents=True)
    queen.write_bytes(
        _queen_container(
            [("0303B9J1.SB", _mp3(_tone(440, 1.0))), ("ROOM1.BBK", b"\1" * 50), ("1001P2.SB", _mp3(_tone(660, 0.5)))]
        )
    )
    for lang, stems in (("en", ("12", "VB3", "S1", "F2")), ("it", ("12",))):
        folder = root / corpus_voices.DRASCULA / lang
        folder.mkdir(parents=True)
        for stem in stems:
            (folder / f"{stem}.ALS").write_bytes(_als(_tone(300, 0.8)))
        (folder / "1.ALG").write_bytes(b"graphics")
    return root


def test_the_queen_table_is_read_and_only_spoken_lines_are_kept(voice_tree):
    lines = corpus_voices.queen_lines(voice_tree)
    assert [name for _, name, _, _ in lines] == ["0303B9J1.SB", "1001P2.SB"]
    audio = corpus_voices.read_queen_line(lines[0][0], *lines[0][2:])
    assert abs(len(audio) / 16000 - 1.0) < 0.1  # MP3 adds at most a frame of padding
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / len(audio) - 440) < 5  # the tone, resampled to 16 kHz, not garbage


def test_a_broken_queen_container_is_a_one_line_error(tmp_path):
    with pytest.raises(CorpusError, match="no QTBL header"):
        corpus_voices.read_queen_table(b"RIFF" + b"\0" * 40)
    with pytest.raises(CorpusError, match="not MP3"):
        corpus_voices.read_queen_table(_queen_container([("A.SB", b"x")], compression=0))
    whole = _queen_container([("A.SB", b"x" * 100)])
    with pytest.raises(CorpusError, match="past the end"):
        corpus_voices.read_queen_table(whole[:-10])
    with pytest.raises(CorpusError, match="cut short"):
        corpus_voices.read_queen_table(whole[:20])


def test_drascula_lines_skip_effects_and_decode_unsigned_8_bit(voice_tree):
    lines = corpus_voices.drascula_lines(voice_tree)
    assert sorted((Path(p).name, lang) for p, lang, _ in lines) == [
        ("12.ALS", "en"),
        ("12.ALS", "it"),
        ("VB3.ALS", "en"),
    ]
    assert {pkg for _, lang, pkg in lines if lang == "it"} == {"drascula-italian"}
    audio = corpus_voices.read_drascula_line(lines[0][0])
    assert len(audio) == round(int(0.8 * RATE) * 16000 / RATE)  # the 64 header / trailer bytes are not audio
    assert abs(np.argmax(np.abs(np.fft.rfft(audio))) * 16000 / len(audio) - 300) < 5
    assert abs(float(np.abs(audio).max()) - 0.5) < 0.05  # centred on 128, scaled by 128
    assert corpus_voices.drascula_character("VB12") == "VB" and corpus_voices.drascula_character("123") == "hero"


def test_voice_rows_are_band_limited_and_go_to_their_own_manifest(voice_tree, tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    train_row = {"path": "speech/a.wav", "duration": 1.0, "domain": "speech"}
    (corpus / "train.jsonl").write_text(json.dumps(train_row) + "\n")
    monkeypatch.setattr(build_corpus, "voice_jobs", lambda: corpus_voices.voice_jobs(voice_tree))
    assert build_corpus.main(["--out", str(corpus), "--voices-only", "--workers", "1"]) == 0
    voices = [json.loads(line) for line in (corpus / "train_voices.jsonl").read_text().splitlines()]
    assert len(voices) == 5 and {r["band"] for r in voices} == {"5.5k"}
    assert {r["source"] for r in voices} == {"flight-of-the-amazon-queen", "drascula", "drascula-italian"}
    assert all("text" not in r and "phonemes" not in r and r["domain"] == "speech" for r in voices)
    assert len({r["path"] for r in voices}) == 5  # the two 12.ALS lines do not overwrite each other
    both = [json.loads(line) for line in (corpus / "train_with_voices.jsonl").read_text().splitlines()]
    assert both == [train_row] + voices
    assert json.loads((corpus / "train.jsonl").read_text()) == train_row  # train.jsonl is not touched
    for e in read_manifest(corpus / "train_voices.jsonl"):
        assert sf.info(e.path).samplerate == 16000 and abs(sf.info(e.path).duration - e.duration) < 1e-3


def test_voices_only_needs_a_built_corpus_and_installed_casts(tmp_path, monkeypatch, capsys):
    assert build_corpus.main(["--out", str(tmp_path / "nowhere"), "--voices-only"]) == 2
    assert "run without --voices-only first" in capsys.readouterr().err
    (tmp_path / "train.jsonl").write_text("")
    monkeypatch.setattr(build_corpus, "voice_jobs", lambda: [])
    assert build_corpus.main(["--out", str(tmp_path), "--voices-only"]) == 2
    assert "apt-get install flight-of-the-amazon-queen drascula" in capsys.readouterr().err


def test_a_silent_line_is_dropped(tmp_path):
    als = tmp_path / "5.ALS"
    als.write_bytes(_als(np.zeros(RATE)))
    assert corpus_real.make_real("drascula", str(als), "train_voices", tmp_path / "o", ("en", "drascula")) == []
