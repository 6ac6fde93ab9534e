"""Evaluation: metrics with known answers, probes, redundancy analysis, Fréchet distance, CLI."""

from __future__ import annotations

import csv
import json
import math

import pytest
import soundfile as sf
import torch

from losatok_plugin.cli import main as cli
from losatok_plugin.data import ManifestEntry, write_manifest
from losatok_plugin.eval import mel_distance, pesq_wb, si_sdr, stft_distance, stoi
from losatok_plugin.eval.analysis import components_for, effective_rank, explained_variance, frechet_distance
from losatok_plugin.eval.probe import clip_probe
from losatok_plugin.eval.recon import evaluate_reconstruction
from losatok_plugin.eval.representations import REPRESENTATIONS, XaresEncoder, extract

from .helpers import speechlike, synth_audio


def test_si_sdr_known_values():
    s = synth_audio(16000)[0].double()
    assert si_sdr(s, s).item() > 100
    n = torch.randn(16000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s0, n0 = s - s.mean(), n - n.mean()
    n0 = n0 - (n0 @ s0) / (s0 @ s0) * s0  # orthogonal to the (centred) signal
    for c in (0.1, 0.5):
        expected = 10 * math.log10((s0 @ s0).item() / (c**2 * (n0 @ n0).item()))
        assert si_sdr(s0, s0 + c * n0).item() == pytest.approx(expected, abs=1e-3)
        assert si_sdr(s0, 3.0 * (s0 + c * n0)).item() == pytest.approx(expected, abs=1e-3)  # scale-invariant
    assert math.isnan(si_sdr(torch.zeros(1000), torch.ones(1000)).item())


def test_spectral_distances_zero_on_identity_and_grow_with_noise():
    x = synth_audio(16000)
    assert mel_distance(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert stft_distance(x, x).item() == pytest.approx(0.0, abs=1e-6)
    small, big = x + 0.01 * torch.randn_like(x), x + 0.1 * torch.randn_like(x)
    assert 0 < mel_distance(x, small).item() < mel_distance(x, big).item()
    assert 0 < stft_distance(x, small).item() < stft_distance(x, big).item()


def test_flatness_gap_sees_noise_between_harmonics():
    from losatok_plugin.eval.metrics import band_flatness, flatness_gap

    t = torch.arange(32000) / 16000
    tone = sum(torch.sin(2 * math.pi * 200 * k * t) / k for k in range(1, 40))  # harmonics up to 7.8 kHz
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(32000, generator=g)
    assert flatness_gap(tone, tone) == pytest.approx(0.0, abs=1e-6)
    assert band_flatness(noise).min() > 0.4 and band_flatness(tone).max() < 0.2  # noise flat, harmonics not
    gaps = [flatness_gap(tone, tone + c * noise) for c in (0.003, 0.03, 0.3)]
    assert 0 < gaps[0] < gaps[1] < gaps[2]
    # a louder copy has the same flatness; two draws of noise nearly so
    assert flatness_gap(tone, 3 * tone) == pytest.approx(0.0, abs=1e-5)
    assert flatness_gap(noise, torch.randn(32000, generator=g)) < 0.02
    assert math.isnan(flatness_gap(torch.zeros(32000), tone)) and math.isnan(flatness_gap(tone[:500], tone[:500]))


def test_pesq_and_stoi_from_packages():
    x = speechlike()
    assert pesq_wb(x, x) > 4.4 and stoi(x, x) > 0.99
    noisy = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert pesq_wb(x, noisy) < 2.5 and stoi(x, noisy) < 0.95


def test_effective_rank_and_pca_of_rank_k_matrix():
    g = torch.Generator().manual_seed(0)
    k, d = 7, 64
    basis = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))[0].T  # k orthonormal rows
    coeffs = torch.linalg.qr(torch.randn(500, k, generator=g, dtype=torch.float64))[0]  # orthonormal columns
    coeffs = coeffs - coeffs.mean(0)
    x = coeffs @ basis
    assert effective_rank(x) == pytest.approx(k, rel=0.05)
    curve = explained_variance(x)
    assert components_for(curve, 0.999) <= k and curve[k - 1] == pytest.approx(1.0)
    assert effective_rank(torch.randn(2000, 16, generator=g)) > 15


def test_frechet_distance_identity_and_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 8, generator=g)
    assert abs(frechet_distance(a, a)) < 1e-6
    shift = torch.tensor([1.0, 2.0] + [0.0] * 6)
    assert frechet_distance(a, a + shift) == pytest.approx(5.0, rel=1e-6)
    b = torch.randn(4000, 8, generator=g)
    assert frechet_distance(a, b) < 0.05 < frechet_distance(a, 2 * b)


def test_xares_encoder_contract_up_to_ten_minutes(tiny_vae):
    enc = XaresEncoder(tiny_vae, "mu")
    assert (enc.sampling_rate, enc.output_dim, enc.hop_size_in_ms) == (16000, 16, 40)
    out = enc(torch.randn(2, 16000) * 0.1)
    assert out.shape == (2, 25, 16)
    ten_min = 0.1 * torch.randn(1, 16000 * 600, generator=torch.Generator().manual_seed(0))
    assert enc(ten_min).shape == (1, 15000, 16)
    assert XaresEncoder(tiny_vae, "unified_emb").output_dim == 64
    with pytest.raises(ValueError, match="unknown representation"):
        XaresEncoder(tiny_vae, "latent")
    assert "semantic_emb_low" in REPRESENTATIONS


def _tone_task(folder, n_per_class: int = 12):
    entries = []
    g = torch.Generator().manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    for label, (lo, hi) in {"low": (150, 300), "high": (1500, 3000)}.items():
        for i in range(n_per_class):
            f = lo + (hi - lo) * torch.rand((), generator=g).item()
            t = torch.arange(8000) / 16000
            x = 0.3 * torch.sin(2 * math.pi * f * t) + 0.01 * torch.randn(8000, generator=g)
            p = folder / f"{label}{i}.wav"
            sf.write(str(p), x.numpy(), 16000)
            entries.append(ManifestEntry(str(p), 0.5, "sound", label))
    return entries


def test_clip_probe_separates_tones(tiny_vae, tmp_path):
    entries = _tone_task(tmp_path / "tones")
    feats, kept, skipped = extract(tiny_vae, entries, "unified_emb", progress=False)
    assert not skipped and len(kept) == 24
    result = clip_probe(feats, [e.label for e in entries], [None] * 24, "tones", "unified_emb")
    assert result.accuracy >= 0.85 and result.chance <= 0.6 and result.n_test == 8


def test_recon_eval_reports_missing_silence_and_domains(tiny_vae, tmp_path):
    sf.write(str(tmp_path / "speech.wav"), speechlike(2.0).numpy(), 16000)
    sf.write(str(tmp_path / "silent.wav"), torch.zeros(16000).numpy(), 16000)
    sf.write(str(tmp_path / "music.wav"), synth_audio(16000)[0].numpy(), 16000)
    entries = [
        ManifestEntry(str(tmp_path / "speech.wav"), domain="speech"),
        ManifestEntry(str(tmp_path / "silent.wav"), domain="speech"),
        ManifestEntry(str(tmp_path / "music.wav"), domain="music"),
        ManifestEntry(str(tmp_path / "gone.wav"), domain="sound"),
    ]
    report = evaluate_reconstruction(entries, tmp_path / "out", model=tiny_vae, progress=False)
    assert [p for p, _ in report.missing] == [str(tmp_path / "gone.wav")]
    rows = {r["path"].split("/")[-1]: r for r in report.rows}
    assert rows["silent.wav"]["si_sdr"] is None and rows["silent.wav"]["skipped"]["si_sdr"] == "silent reference"
    assert rows["music.wav"]["skipped"]["pesq_wb"] == "speech only"
    assert rows["speech.wav"]["stoi"] is not None
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["summary"]  # allow_nan=False wrote it
    assert set(summary) == {"all", "speech", "music"} and summary["speech"]["clips"] == 2
    with (tmp_path / "out" / "per_file.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 3
    assert list((tmp_path / "out" / "mel").glob("*.png"))


def test_recon_eval_aligns_mismatched_lengths(tmp_path):
    x = synth_audio(16000)[0]
    sf.write(str(tmp_path / "a.wav"), x.numpy(), 16000)
    (tmp_path / "rec").mkdir()
    sf.write(str(tmp_path / "rec" / "a.wav"), x[:12000].numpy(), 16000)
    with pytest.warns(UserWarning, match="aligned to the shorter"):
        report = evaluate_reconstruction(
            [ManifestEntry(str(tmp_path / "a.wav"))], tmp_path / "out", recon_dir=tmp_path / "rec", progress=False
        )
    assert report.rows[0]["seconds"] == 0.75 and report.rows[0]["si_sdr"] > 100


def test_cli_eval_commands(tiny_vae, tmp_path, capsys):
    model = tmp_path / "model"
    tiny_vae.save_pretrained(model)
    entries = _tone_task(tmp_path / "tones", n_per_class=6)
    task = write_manifest(entries, tmp_path / "tones.jsonl")
    broken = write_manifest(entries[:3] + [ManifestEntry(str(tmp_path / "nope.wav"))], tmp_path / "broken.jsonl")
    assert cli(["eval", "recon", "--manifest", str(task), "--model", str(model), "--out", str(tmp_path / "r")]) == 0
    assert "all" in capsys.readouterr().out
    assert cli(["eval", "recon", "--manifest", str(broken), "--model", str(model), "--out", str(tmp_path / "r2")]) == 1
    assert (
        cli(
            [
                "eval",
                "probe",
                "--manifest",
                str(task),
                "--model",
                str(model),
                "--rep",
                "mu",
                "--rep",
                "unified_emb",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    assert len(json.loads((tmp_path / "p" / "probe.json").read_text())) == 2
    assert (tmp_path / "p" / "probe_accuracy.png").is_file()
    assert (
        cli(
            [
                "eval",
                "rank",
                "--manifest",
                str(task),
                "--model",
                str(model),
                "--rep",
                "unified_emb",
                "--rep",
                "mu",
                "--out",
                str(tmp_path / "k"),
            ]
        )
        == 0
    )
    assert (tmp_path / "k" / "pca_curve.png").is_file()
    assert (
        cli(["eval", "fd", "--ref", str(task), "--gen", str(task), "--model", str(model), "--out", str(tmp_path / "f")])
        == 0
    )
    assert abs(json.loads((tmp_path / "f" / "fd.json").read_text())["frechet_distance"]) < 1e-3


def test_frame_probe_on_frame_labels(tiny_vae, tmp_path):
    """Frame labels (one per 40 ms): first half low tone, second half high tone, in every clip."""
    from losatok_plugin.eval.probe import frame_probe

    feats, labels = [], []
    g = torch.Generator().manual_seed(0)
    t = torch.arange(8000) / 16000
    for i in range(10):
        lo = 0.3 * torch.sin(2 * math.pi * (200 + 20 * i) * t)
        hi = 0.3 * torch.sin(2 * math.pi * (2000 + 100 * i) * t)
        x = torch.cat([lo, hi]) + 0.01 * torch.randn(16000, generator=g)
        with torch.no_grad():
            f = tiny_vae.encode_features(x[None])["acoustic_emb"][0]  # local (no attention across time)
        feats.append(f)
        labels.append(["low"] * (f.shape[0] // 2) + ["high"] * (f.shape[0] - f.shape[0] // 2))
    splits = ["test" if i in (1, 5, 8) else "train" for i in range(10)]  # test tones inside the train range
    result = frame_probe(feats, labels, splits, "halves", "acoustic_emb")
    assert result.level == "frame" and result.n_test == 3 * 25 and result.accuracy > 0.9


def test_griffin_lim_baseline_is_deterministic_and_close_on_a_tone():
    import math

    from losatok_plugin.eval.baseline import GriffinLimMel
    from losatok_plugin.eval.metrics import mel_distance

    t = torch.arange(16000) / 16000
    tone = 0.3 * torch.sin(2 * math.pi * 440 * t)
    gl = GriffinLimMel(n_iter=16)
    a, b = gl(tone), gl(tone)
    assert a.shape == tone.shape and torch.equal(a, b)
    noise = 0.3 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    assert mel_distance(tone[None], a[None]) < 0.5 * mel_distance(tone[None], noise[None])


def test_rep_names_are_checked_at_parse_time(capsys):
    """``--rep lengths`` (a count, not a representation) and typos are refused by the parser (exit 2)."""
    from losatok_plugin.cli import REPRESENTATIONS as CLI_REPS
    from losatok_plugin.eval.representations import REPRESENTATIONS

    assert CLI_REPS == REPRESENTATIONS and "lengths" not in REPRESENTATIONS
    for rep in ("lengths", "mue"):
        with pytest.raises(SystemExit) as e:
            cli(["eval", "rank", "--manifest", "m.jsonl", "--model", "x", "--rep", rep, "--out", "o"])
        assert e.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


def test_eval_reports_as_library_calls(tiny_vae, tmp_path):
    """probe / rank / fd are library functions returning reports with to_json() and table()."""
    from losatok_plugin.eval.reports import run_fd, run_probes, run_rank

    entries = _tone_task(tmp_path / "tones", n_per_class=6)
    task = write_manifest(entries, tmp_path / "tones.jsonl")
    probe = run_probes(tiny_vae, [task], ["mu"], tmp_path / "p", progress=False)
    assert json.loads(probe.to_json()) == json.loads((tmp_path / "p" / "probe.json").read_text())
    assert probe.results[0]["task"] == "tones" and "accuracy" in probe.table() and probe.exit_code == 0
    rank = run_rank(tiny_vae, entries + [ManifestEntry(str(tmp_path / "nope.wav"))], ["mu"], tmp_path / "k")
    assert rank.rows[0]["dim"] == 16 and rank.exit_code == 1 and len(rank.missing) == 1
    assert json.loads(rank.to_json())["rows"] == rank.rows and "eff. rank" in rank.table()
    fd = run_fd(entries[:4], entries[4:8], tmp_path / "f", model=tiny_vae, representation="mu", progress=False)
    assert fd.frechet_distance > 0 and json.loads(fd.to_json())["frechet_distance"] == fd.frechet_distance
    assert "Fréchet distance (mu)" in fd.table()


def test_linear_readout_error_known_answers():
    from losatok_plugin.eval.analysis import linear_readout_error

    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 8, generator=g)
    w = torch.randn(8, 3, generator=g)
    err, mean = linear_readout_error(x, x @ w + 2.0)  # a linear function of x (with an offset): read out exactly
    assert err.shape == mean.shape == (3,) and float(err.max()) < 0.02 and float(mean.min()) > 0.5
    noise = torch.randn(400, 3, generator=g)  # independent of x: no better than the mean
    err, mean = linear_readout_error(x, noise)
    assert torch.allclose(err, mean, rtol=0.15)
    with pytest.raises(ValueError, match="feature frames"):
        linear_readout_error(x, noise[:10])
    with pytest.raises(ValueError, match="fit_fraction"):
        linear_readout_error(x, noise, fit_fraction=1.0)


def test_probe_latent_info_script_writes_a_table(tmp_path, monkeypatch):
    import runpy
    import sys
    from pathlib import Path

    from losatok_plugin import LoSATokVAE, tiny_config
    from losatok_plugin.data import build_manifest

    from .helpers import write_corpus

    torch.manual_seed(0)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "model")
    write_corpus(tmp_path / "audio", n=3, seconds=2.0)
    manifest = write_manifest(
        build_manifest(tmp_path / "audio", domain="music", progress=False)[0], tmp_path / "t.jsonl"
    )
    script = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "probe_latent_info.py"
    args = ["--model", str(tmp_path / "model"), "--manifest", str(manifest), "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    runpy.run_path(str(script), run_name="__main__")
    got = json.loads((tmp_path / "out" / "readouts.json").read_text())[str(tmp_path / "model")]["t music"]
    assert got["frames"] == 3 * 50 and all(math.isfinite(got[k]) and got[k] >= 0 for k in ("mu", "semantic_emb"))
    assert "| t music | 150 |" in (tmp_path / "out" / "readouts.md").read_text()
    monkeypatch.setattr(sys, "argv", [str(script), *args, "--centre-clips"])
    runpy.run_path(str(script), run_name="__main__")
    centred = json.loads((tmp_path / "out" / "readouts.json").read_text())[str(tmp_path / "model")]["t music"]
    assert centred["mean"] < got["mean"]  # the clips' own means no longer count as error
    monkeypatch.setattr(sys, "argv", [str(script), *args, "--target", "semantic"])
    runpy.run_path(str(script), run_name="__main__")
    sem = json.loads((tmp_path / "out" / "readouts.json").read_text())[str(tmp_path / "model")]["t music"]
    assert set(sem) == {"frames", "mean", "mu", "acoustic_emb", "acoustic_emb_low"}
    # mu is a linear map of acoustic_emb_low + semantic_emb_low: it reads SemBo's latent better than the mean does
    assert sem["mu"] < sem["mean"]
    assert "semantic_emb_low |" not in (tmp_path / "out" / "readouts.md").read_text().splitlines()[0]


def test_compare_clips_scores_models_and_baseline_per_source(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    from losatok_plugin import LoSATokVAE, tiny_config
    from losatok_plugin.data import build_manifest

    from .helpers import write_corpus

    for seed, name in ((0, "a"), (1, "b")):
        torch.manual_seed(seed)
        LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / name)
    write_corpus(tmp_path / "audio", n=4, seconds=1.0)
    rows = build_manifest(tmp_path / "audio", domain="sound", progress=False)[0]
    for i, e in enumerate(rows):
        e.extra["source"] = f"src{i % 2}"
    manifest = write_manifest(rows, tmp_path / "t.jsonl")
    script = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "compare_clips.py"
    out = tmp_path / "cmp.json"
    argv = [str(script), "3", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", "--manifest", str(manifest)]
    monkeypatch.setattr(sys, "argv", [*argv, "--domain", "sound", "--baseline", "--out", str(out)])
    runpy.run_path(str(script), run_name="__main__")
    got = json.loads(out.read_text())
    assert set(got) == {"a", "b", "griffin_lim", "mel_b_better_clips", "stft_b_better_clips", "flatness_b_better_clips"}
    for name in ("a", "b", "griffin_lim"):
        assert got[name]["clips"] == 3 and set(got[name]["all"]) == {"mel", "stft", "flatness"}
        assert got[name]["all"]["flatness"] > 0
        assert sum(v["clips"] for k, v in got[name].items() if k.startswith("src")) == 3
    assert 0 <= got["mel_b_better_clips"] <= 3
    # the trained baseline is far better than an untrained tiny model on mel distance
    assert got["griffin_lim"]["all"]["mel"] < got["a"]["all"]["mel"]
    monkeypatch.setattr(sys, "argv", [*argv[:2], "a", "--manifest", str(manifest)])
    with pytest.raises(SystemExit):
        runpy.run_path(str(script), run_name="__main__")
    # a manifest without clips of the domain is a one-line usage error, not a traceback
    monkeypatch.setattr(sys, "argv", [*argv, "--domain", "speech"])
    with pytest.raises(SystemExit):
        runpy.run_path(str(script), run_name="__main__")
    assert "has no speech clips" in capsys.readouterr().err
    # --wer is for speech only: a one-line usage error elsewhere
    monkeypatch.setattr(sys, "argv", [*argv, "--domain", "sound", "--wer", "5"])
    with pytest.raises(SystemExit):
        runpy.run_path(str(script), run_name="__main__")
    assert "--wer needs --domain speech" in capsys.readouterr().err


def test_compare_clips_wer_counts_words_of_every_system(tmp_path):
    import runpy
    from pathlib import Path

    from losatok_plugin import LoSATokVAE, tiny_config
    from losatok_plugin.data import build_manifest, load_audio

    from .helpers import write_corpus

    torch.manual_seed(0)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "a")
    write_corpus(tmp_path / "audio", n=4, seconds=1.03)  # not a whole number of 640-sample frames
    rows = build_manifest(tmp_path / "audio", domain="speech", progress=False)[0]
    for i, e in enumerate(rows):
        e.extra.update(source=f"src{i % 2}", lang="en" if i < 3 else "de", text="one two three four")
    manifest = write_manifest(rows, tmp_path / "t.jsonl")
    script = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "compare_clips.py"
    compare_wer = runpy.run_path(str(script))["compare_wer"]
    heard: list[int] = []

    def transcriber(audio):  # every system "hears" one of the four words wrong
        heard.append(len(audio))
        return "one two three"

    scored: list[int] = []

    def scorer(audio):  # DNSMOS stub
        scored.append(len(audio))
        return {"ovrl": 1.0, "sig": 1.0, "bak": 2.0}

    got = compare_wer(
        {"a": str(tmp_path / "a")}, manifest, 10, baseline=True, transcriber=transcriber, dnsmos_clips=2, scorer=scorer
    )
    assert got["clips"] == 3 and got["words"] == 12  # the German clip is left out
    assert got["wer"] == {"original": 0.25, "a": 0.25, "griffin_lim": 0.25}
    n = len(load_audio(rows[0].path))
    assert len(heard) == 9 and set(heard) == {n}  # whole clips, each system at the original's length
    # DNSMOS on the first 2 of the 3 WER clips, per system, reconstructions at the original's length
    assert len(scored) == 6 and set(scored) == {n}
    assert got["dnsmos"] == {
        s: {"clips": 2, "ovrl": 1.0, "sig": 1.0, "bak": 2.0} for s in ("original", "a", "griffin_lim")
    }
    zero = {"gap": 0.0, "lo": 0.0, "hi": 0.0, "level": 0.95, "clips": 3}  # every system made the same errors
    assert got["wer_gap_ci"] == {"original": {"a": zero, "griffin_lim": zero}}  # one model: no control to compare
    assert got["dnsmos_gap_ci"] == {"original": {"a": {**zero, "clips": 2}, "griffin_lim": {**zero, "clips": 2}}}
    two = compare_wer({"a": str(tmp_path / "a"), "b": str(tmp_path / "a")}, manifest, 10, transcriber=transcriber)
    assert set(two["wer_gap_ci"]) == {"original", "a"} and two["wer_gap_ci"]["a"] == {"b": zero}
    assert "dnsmos" not in compare_wer({"a": str(tmp_path / "a")}, manifest, 10, transcriber=transcriber)
    with pytest.raises(ValueError, match="no English speech clips"):
        compare_wer({}, write_manifest(rows[3:], tmp_path / "de.jsonl"), 10, transcriber=transcriber)


def test_compare_clips_n0_gives_the_wer_alone(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    from losatok_plugin import LoSATokVAE, tiny_config
    from losatok_plugin.data import build_manifest
    from losatok_plugin.eval import speech_quality

    from .helpers import write_corpus

    torch.manual_seed(0)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "a")
    write_corpus(tmp_path / "audio", n=2, seconds=1.0)
    rows = build_manifest(tmp_path / "audio", domain="speech", progress=False)[0]
    for e in rows:
        e.extra.update(source="src", lang="en", text="one two")
    manifest = write_manifest(rows, tmp_path / "t.jsonl")
    monkeypatch.setattr(speech_quality, "transcribe", lambda audio: "one")  # the script imports it at run time
    script = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "compare_clips.py"
    out = tmp_path / "wer.json"
    argv = [str(script), "0", f"a={tmp_path / 'a'}", "--manifest", str(manifest)]
    monkeypatch.setattr(sys, "argv", [*argv, "--wer", "5", "--out", str(out)])
    runpy.run_path(str(script), run_name="__main__")
    got = json.loads(out.read_text())
    assert set(got) == {"wer"}  # no clip scores were computed
    assert got["wer"]["clips"] == 2 and got["wer"]["wer"] == {"original": 0.5, "a": 0.5}
    monkeypatch.setattr(sys, "argv", argv)  # n=0 without --wer would score nothing
    with pytest.raises(SystemExit):
        runpy.run_path(str(script), run_name="__main__")
    assert "n=0 scores no clips" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", [*argv, "--dnsmos", "2"])  # DNSMOS scores the WER clips: needs --wer
    with pytest.raises(SystemExit):
        runpy.run_path(str(script), run_name="__main__")
    assert "--dnsmos scores the WER clips" in capsys.readouterr().err


def test_posterior_spread_counts_informative_and_noisy_dimensions(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    from losatok_plugin import LoSATokVAE, tiny_config
    from losatok_plugin.data import build_manifest

    from .helpers import write_corpus

    script = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "posterior_spread.py"
    spread = runpy.run_path(str(script))["spread"]
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4000, 4, generator=g)
    logvar = torch.log(torch.tensor([1e-6, 1e-6, 1.0, 0.04]))[None].expand(4000, 4)  # noise 0.001, 0.001, 1, 0.2
    got = spread(mu, logvar)
    assert got["informative"] == 2 and got["noisy"] == 1 and got["frames"] == 4000
    expected = 2 * 0.5 * math.log2(1 + 1e6) + 0.5 * math.log2(2) + 0.5 * math.log2(1 + 25)
    assert got["bits_per_frame"] == pytest.approx(expected, rel=0.02)  # mu's spread is 1 up to sampling
    torch.manual_seed(0)
    LoSATokVAE(**tiny_config().to_dict()).save_pretrained(tmp_path / "model")
    write_corpus(tmp_path / "audio", n=3, seconds=2.0)
    manifest = write_manifest(
        build_manifest(tmp_path / "audio", domain="music", progress=False)[0], tmp_path / "t.jsonl"
    )
    out = tmp_path / "spread.json"
    argv = [str(script), "3", f"tiny={tmp_path / 'model'}", "--manifest", str(manifest), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(script), run_name="__main__")
    music = json.loads(out.read_text())["tiny"]["music"]
    assert music["frames"] == 3 * 50 and music["dims"] == tiny_config().latent_channels
    assert "| tiny | music | 150 |" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", [argv[0], "1", *argv[2:]])
    with pytest.raises(SystemExit):  # one clip per domain has no spread: a one-line usage error
        runpy.run_path(str(script), run_name="__main__")
    assert "need n >= 2" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", [*argv[:3], "--manifest", str(tmp_path / "none.jsonl")])
    with pytest.raises(SystemExit):  # no manifest (no corpus yet): one line, not a traceback
        runpy.run_path(str(script), run_name="__main__")
    assert "manifest not found" in capsys.readouterr().err
