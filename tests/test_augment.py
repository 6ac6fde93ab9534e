"""Stage 0's speech augmentation (``data/augment.py``): each transform, the config checks, the dataset hook."""

from __future__ import annotations

import random

import numpy as np
import pytest
import soundfile as sf
import torch

from losatok_plugin import tiny_config
from losatok_plugin.configuration import ConfigError
from losatok_plugin.data.augment import (
    SpeechAugmentConfig,
    add_noise,
    add_reverb,
    augment_speech,
    band_limit,
    speed_perturb,
)
from losatok_plugin.data.labels import LabelSpace
from losatok_plugin.data.manifest import ManifestEntry
from losatok_plugin.data.supervised_clips import SupervisedClips
from losatok_plugin.training.config import SemanticEncoderStageConfig
from losatok_plugin.training.yaml_config import load_dataclass

SR = 16000


def _tone(seconds: float = 1.0, hz: float = 200.0) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return 0.5 * torch.sin(2 * torch.pi * hz * t)


def _peak_hz(x: torch.Tensor) -> float:
    spec = torch.fft.rfft(x).abs()
    return float(torch.fft.rfftfreq(x.shape[-1], 1 / SR)[spec.argmax()])


def test_speed_perturb_changes_length_and_pitch_by_the_factor():
    x = _tone(1.0, 200.0)
    fast = speed_perturb(x, 1.25)  # factors on the grid 100 / n are exact
    assert fast.shape[0] == SR * 4 // 5
    assert _peak_hz(fast) == pytest.approx(250.0, abs=2.0)
    slow = speed_perturb(x, 0.8)
    assert slow.shape[0] == SR * 5 // 4
    assert abs(speed_perturb(x, 1.1).shape[0] - SR / 1.1) < SR / 100  # off the grid: within 1 %
    assert torch.equal(speed_perturb(x, 1.0), x)


def test_band_limit_removes_the_band_above_the_cutoff_and_keeps_below():
    x = _tone(1.0, 500.0) + _tone(1.0, 6000.0)
    y = band_limit(x, SR, 3400.0)
    spec, f = torch.fft.rfft(y).abs(), torch.fft.rfftfreq(x.shape[0], 1 / SR)
    orig = torch.fft.rfft(x).abs()
    assert spec[f > 3800].max() < 1e-3 * orig.max()
    band = (f > 490) & (f < 510)
    assert float(spec[band].max()) == pytest.approx(float(orig[band].max()), rel=1e-3)
    tel = band_limit(_tone(1.0, 100.0) + _tone(1.0, 1000.0), SR, 3400.0, telephone=True)
    spec = torch.fft.rfft(tel).abs()
    assert spec[f < 200].max() < 1e-3 * spec.max()


@pytest.mark.parametrize("pink", [False, True])
def test_noise_is_added_at_the_asked_snr(pink):
    x = _tone(2.0)
    y = add_noise(x, 20.0, torch.Generator().manual_seed(0), pink=pink)
    snr = 10 * torch.log10(x.pow(2).mean() / (y - x).pow(2).mean())
    assert float(snr) == pytest.approx(20.0, abs=0.01)


def test_reverb_keeps_the_direct_sound_and_adds_a_decaying_tail():
    x = torch.zeros(SR)
    x[1000] = 1.0
    y = add_reverb(x, SR, 0.5, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert y[:1000].abs().max() < 1e-6  # causal
    assert float(y[1000]) == pytest.approx(1.0, abs=1e-4)
    early, late = y[1100:2600].pow(2).sum(), y[5000:6500].pow(2).sum()
    assert early > 0 and late > 0 and late < early


def test_augment_speech_is_off_at_prob_0_and_reproducible_per_rng():
    x = _tone(1.0)
    assert torch.equal(augment_speech(x, SR, SpeechAugmentConfig(prob=0.0), random.Random(0)), x)
    cfg = SpeechAugmentConfig(prob=1.0, speed_prob=1.0, noise_prob=1.0, lowpass_prob=1.0, reverb_prob=1.0)
    a = augment_speech(x, SR, cfg, random.Random(3))
    b = augment_speech(x, SR, cfg, random.Random(3))
    c = augment_speech(x, SR, cfg, random.Random(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, x) and (a.shape != c.shape or not torch.equal(a, c))
    assert float(a.abs().max()) == pytest.approx(float(x.abs().max()), rel=1e-5)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"prob": 1.5}, "augment.prob"),
        ({"speed": [1.2, 0.9]}, "augment.speed"),
        ({"speed": [0.9, 3.0]}, "augment.speed"),
    ],
)
def test_bad_augment_settings_are_config_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        load_dataclass(SemanticEncoderStageConfig, {"augment": bad})


def test_stage0_config_reads_augment_ranges():
    cfg = load_dataclass(SemanticEncoderStageConfig, {"augment": {"prob": 0.5, "speed": [0.85, 1.15]}})
    assert cfg.augment.prob == 0.5 and tuple(cfg.augment.speed) == (0.85, 1.15)
    assert SemanticEncoderStageConfig().augment.prob == 0.0  # off unless asked: the shipped teacher's recipe


def test_supervised_clips_augment_training_speech_only(tmp_path):
    x = (0.4 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)).astype("float32")
    for name in ("speech", "music"):
        sf.write(str(tmp_path / f"{name}.wav"), x, SR)
    entries = [
        ManifestEntry(str(tmp_path / "speech.wav"), 1.0, "speech", None, {"lang": "en", "phonemes": "h@loU"}),
        ManifestEntry(str(tmp_path / "music.wav"), 1.0, "music", None, {}),
    ]
    labels = LabelSpace.from_entries(entries)
    cfg = SpeechAugmentConfig(prob=1.0, speed_prob=1.0, speed=(0.8, 0.8))
    model = tiny_config()
    train = SupervisedClips(entries, labels, 12.0, train=True, model=model, augment=cfg)
    plain = SupervisedClips(entries, labels, 12.0, train=True, model=model)
    valid = SupervisedClips(entries, labels, 12.0, train=False, model=model, augment=cfg)
    speech, music = train[(0, 7)], train[(1, 7)]
    assert speech["length"] > plain[(0, 7)]["length"] * 1.2  # 1 / 0.8 longer
    assert torch.equal(speech["phonemes"], plain[(0, 7)]["phonemes"]) and len(speech["phonemes"]) > 0
    assert torch.equal(music["audio"], plain[(1, 7)]["audio"])
    assert torch.equal(valid[(0, 7)]["audio"], plain[(0, 7)]["audio"])
