"""The offline corpus builder (recipes/data): generators, determinism, splits, manifests, missing tools."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from losatok_plugin.data import read_manifest
from losatok_plugin.data.labels import LabelSpace
from recipes.data import corpus_common, corpus_music, corpus_real, corpus_real_music, corpus_real_speech, corpus_sound

TOOLS = ("espeak-ng", "flite", "fluidsynth")
HAVE_TOOLS = all(shutil.which(t) for t in TOOLS) and any(Path(f).is_file() for f in corpus_music.SOUNDFONTS)


def test_sound_events_are_deterministic_labelled_and_levelled(tmp_path):
    for i in range(len(corpus_sound.SOUND_CLASSES)):
        row = corpus_sound.make_sound(i, 7, tmp_path / "a")
        again = corpus_sound.make_sound(i, 7, tmp_path / "b")
        x, sr = sf.read(str(tmp_path / "a" / row["path"]))
        y, _ = sf.read(str(tmp_path / "b" / again["path"]))
        assert sr == 16000 and np.array_equal(x, y) and row == again
        assert row["label"] in corpus_sound.SOUND_CLASSES and row["domain"] == "sound"
        rms_db = 20 * np.log10(np.sqrt(np.mean(x**2)))
        assert -45 < rms_db < -17 and np.abs(x).max() <= 0.99
        assert all(0 <= a < b <= row["duration"] + 1e-3 for a, b in row["events"])


def test_midi_writer_and_composer():
    assert corpus_music._varlen(0) == b"\x00" and corpus_music._varlen(0x80) == b"\x81\x00"
    assert corpus_music._varlen(0x0FFFFFFF) == b"\xff\xff\xff\x7f"
    for seed in range(6):
        midi, labels = corpus_music.compose(np.random.default_rng(seed))
        assert midi[:4] == b"MThd" and midi[14:18] == b"MTrk" and midi.endswith(b"\xff\x2f\x00")
        assert int.from_bytes(midi[18:22], "big") == len(midi) - 22
        assert labels["notes"] and 70 <= labels["tempo"] <= 160
        assert set(labels["families"]) <= set(corpus_music.GM_FAMILIES) | {"drums"}
        assert all(0 <= on < off for on, off, _, _ in labels["notes"])


def test_missing_tool_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(corpus_common.shutil, "which", lambda name: None)
    with pytest.raises(corpus_common.CorpusError, match="apt-get install espeak-ng"):
        corpus_common.require_tool("espeak-ng", "espeak-ng")


@pytest.mark.skipif(
    not HAVE_TOOLS, reason="needs espeak-ng, flite, fluidsynth and a GM soundfont (apt-get; .ci/run installs them)"
)
def test_build_small_corpus_end_to_end(tmp_path):
    from recipes.data import build_corpus

    out = tmp_path / "corpus"
    assert build_corpus.main(["--out", str(out), "--hours", "0.01", "--workers", "2", "--no-real", "--seed", "3"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["errors"] == 0
    rows = {s: read_manifest(out / f"{s}.jsonl") for s in ("train", "valid", "test", "test_real")}
    every = [e for r in rows.values() for e in r]
    assert {e.domain for e in every} == {"speech", "music", "sound"}
    assert not rows["test_real"]  # --no-real
    train_keys = {e.extra.get("text") for e in rows["train"] if e.domain == "speech"}
    assert not train_keys & {e.extra.get("text") for e in rows["test"] if e.domain == "speech"}  # split by text
    for e in every:
        info = sf.info(e.path)
        assert info.samplerate == 16000 and info.channels == 1 and abs(info.duration - e.duration) < 1e-3
    speech = [e for e in every if e.domain == "speech"]
    assert all(e.extra["phonemes"] and e.extra["text"] for e in speech)
    labels = LabelSpace.from_entries(every)
    assert len(labels.phonemes) > 10 and labels.langs
    # same seed, same corpus
    again = tmp_path / "again"
    build_corpus.main(["--out", str(again), "--hours", "0.01", "--workers", "1", "--no-real", "--seed", "3"])
    assert (again / "train.jsonl").read_text() == (out / "train.jsonl").read_text()


def test_real_speech_transcript_parsers():
    tux = "A green frog.\nfr.utf8=Une grenouille verte.\nca@valencia.utf8=Una granota.\nel.utf8=Ένας βάτραχος.\n"
    assert corpus_real_speech.parse_tuxpaint_text(tux) == {
        "en": "A green frog.",
        "fr": "Une grenouille verte.",
        "ca@valencia": "Una granota.",
        "el": "Ένας βάτραχος.",
    }
    ast = "; Core sounds\n\nactivated: Activated.\nbeeperr: [this is an error beep tone]\ndigits/1:  One. \n"
    assert corpus_real_speech.parse_asterisk_transcripts(ast) == {"activated": "Activated.", "digits/1": "One."}
    fest = '( ru_0001 "Она завела, прядь вол+ос." )\n( ru_0002 "Да." )\n'
    assert corpus_real_speech.parse_festvox_prompts(fest) == {"ru_0001": "Она завела, прядь волос.", "ru_0002": "Да."}
    assert corpus_real_speech.espeak_voice("en") == "en-us" and corpus_real_speech.espeak_voice("ca@valencia") == "ca"


def test_real_music_excerpts_are_spaced_and_whole_tracks_held_out(tmp_path):
    starts = corpus_real_music.segment_starts(95 * 100, 10 * 100, 3)
    assert starts == [0, 4000, 8000] and corpus_real_music.segment_starts(500, 1000, 3) == []
    folder = tmp_path / corpus_real_music.SOURCES["planetblupi-music-ogg"][0]
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        sf.write(str(folder / f"music{i:03d}.ogg"), 0.1 * rng.standard_normal(22050 * 25), 22050, format="OGG")
    jobs = corpus_real_music.music_jobs(tmp_path, seconds_per_track=20)
    assert len(jobs) == 12 and {j[2] for j in jobs} == {"train", "test_real"}  # some whole tracks held out
    rows = corpus_real.make_real(*jobs[0][:3], tmp_path / "out", jobs[0][3])
    assert len(rows) == 2 and {r["split"] for r in rows} == {jobs[0][2]}  # every excerpt of a track: one split
    for r in rows:
        info = sf.info(str(tmp_path / "out" / r["path"]))
        assert info.samplerate == 16000 and abs(info.duration - 10.0) < 1e-3
        assert r["license"] == "GPL-3+" and r["source"] == "planetblupi-music-ogg" and r["track"]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get; .ci/run installs it)")
def test_real_speech_rows_have_text_phonemes_licence_and_speaker_split(tmp_path):
    stamps = tmp_path / corpus_real_speech.TUXPAINT / "animals"
    stamps.mkdir(parents=True)
    (stamps / "frog.txt").write_text(
        "A green frog.\nfr.utf8=Une grenouille.\nel.utf8=Ένας βάτραχος.\n", encoding="utf-8"
    )
    tone = 0.2 * np.sin(np.linspace(0, 2000, 44100)).astype(np.float32)
    for suffix in ("", "_fr", "_el"):
        sf.write(str(stamps / f"frog_desc{suffix}.ogg"), tone, 44100, format="OGG")
    fest = tmp_path / corpus_real_speech.FESTVOX_RU
    (fest / "etc").mkdir(parents=True)
    (fest / "wav").mkdir()
    (fest / "etc" / "txt.done.data").write_text('( ru_0001 "Д+а, конечно." )\n', encoding="utf-8")
    sf.write(str(fest / "wav" / "ru_0001.wav"), tone[:16000], 16000)
    jobs = corpus_real_speech.speech_jobs(tmp_path)
    assert sorted((j[0], j[3][0], j[2]) for j in jobs) == [
        ("festvox_ru", "ru", "train"),
        ("tuxpaint", "el", "test_real"),
        ("tuxpaint", "en", "train"),
        ("tuxpaint", "fr", "train"),
    ]
    for job in jobs:
        (row,) = corpus_real.make_real(*job[:3], tmp_path / "out", job[3])
        assert row["text"] and row["phonemes"] and row["license"] and row["speaker"] and row["domain"] == "speech"
        assert sf.info(str(tmp_path / "out" / row["path"])).samplerate == 16000
    assert len({r["path"] for j in jobs for r in [corpus_real.make_real(*j[:3], tmp_path / "o2", j[3])[0]]}) == 4


@pytest.mark.skipif(
    not HAVE_TOOLS, reason="needs espeak-ng, flite, fluidsynth and a GM soundfont (apt-get; .ci/run installs them)"
)
def test_profile_corpus_prints_the_cost_of_each_kind_of_job(capsys):
    from recipes.data import profile_corpus

    assert profile_corpus.main(["--hours", "0.01", "--per-kind", "1", "--no-real"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert set(rows) == {"synth/speech", "synth/music", "synth/sound"}
    assert all(float(r[2]) > 0 for r in rows.values())  # CPU seconds per job, subprocesses included
    assert "estimated CPU of the whole build" in out.splitlines()[-1]


def test_asterisk_prompts_of_every_language_get_their_own_file():
    """Prompts in a sub-folder have the same name in every language; one voice's file must not overwrite another's."""
    base = Path("/usr/share/asterisk/sounds")
    paths = {
        corpus_real.real_speech_path("asterisk", base / voice / "dictate" / "both_help.g722", (voice[:2], voice, "t"))
        for voice in ("en_US_f_Allison", "es_MX_f_Allison", "fr_CA_f_June")
    }
    assert len(paths) == 3
    assert Path("real/speech/asterisk/es_MX_f_Allison_dictate_both_help.wav") in paths
    top = corpus_real.real_speech_path(
        "asterisk", base / "en_US_f_Allison" / "vm-login.g722", ("en", "en_US_f_Allison", "t")
    )
    assert top == Path("real/speech/asterisk/en_US_f_Allison_vm-login.wav")  # where earlier builds wrote it
    stamp = Path("/usr/share/tuxpaint/stamps/animals/birds/crow_desc_da.ogg")
    assert corpus_real.real_speech_path("tuxpaint", stamp, None).name == "animals_birds_crow_desc_da.wav"


def test_the_builder_refuses_manifests_whose_rows_share_a_wav():
    rows = [{"path": "a.wav"}, {"path": "b.wav"}, {"path": "a.wav"}, {"path": "a.wav"}]
    assert corpus_common.shared_paths(rows) == {"a.wav": 3}
    assert corpus_common.shared_paths(rows[:2]) == {}
