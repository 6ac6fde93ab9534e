"""Fault injection on the CLI / file side (issues 12 and 13): full disks, interrupts, concurrent runs,
non-finite inputs. CPU only, tiny model, seconds each. Training faults live in tests/test_faults.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from losatok_plugin import AudioInputError
from losatok_plugin.cli import main as cli
from losatok_plugin.latent_file import SUFFIX, load_latents

from .helpers import synth_audio

REPO = Path(__file__).resolve().parents[1]
ENOSPC = OSError(28, "No space left on device")


@pytest.fixture()
def model_dir(tiny_vae, tmp_path):
    tiny_vae.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def clips(folder: Path, n: int = 3, length: int = 8000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"c{i:02d}.wav"
        sf.write(str(p), synth_audio(length, seed=i)[0].numpy(), 16000)
        paths.append(p)
    return paths


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def full_disk_after(real, n_ok: int):
    """A writer that works ``n_ok`` times, then writes half a file and fails like a full disk."""
    calls = []

    def write(*args, **kwargs):
        calls.append(1)
        if len(calls) > n_ok:
            target = args[1] if len(args) > 1 and isinstance(args[1], (str, Path)) else args[0]
            Path(target).write_bytes(b"RIFF partial")
            raise ENOSPC
        return real(*args, **kwargs)

    return write


# -- full disk -----------------------------------------------------------------------------------------
def test_full_disk_during_latent_writes_keeps_previous_outputs(model_dir, tmp_path, monkeypatch, capsys):
    import losatok_plugin.latent_file as lf

    clips(tmp_path / "in")
    out = tmp_path / "lat"
    args = ["encode", str(tmp_path / "in"), "--out", str(out), "--model", str(model_dir), "--batch-size", "1"]
    assert cli(args) == 0
    before = snapshot(out)
    monkeypatch.setattr(lf, "save_file", full_disk_after(lf.save_file, 0))
    capsys.readouterr()
    assert cli([*args, "--force"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("losatok: error: [Errno 28] No space left on device")
    assert snapshot(out) == before  # every earlier output untouched, no partial or temporary file


def test_full_disk_during_wav_writes_keeps_previous_outputs(model_dir, tmp_path, monkeypatch, capsys):
    clips(tmp_path / "in")
    assert cli(["encode", str(tmp_path / "in"), "--out", str(tmp_path / "lat"), "--model", str(model_dir)]) == 0
    out = tmp_path / "wav"
    for verb, src in (("decode", tmp_path / "lat"), ("reconstruct", tmp_path / "in")):
        args = [verb, str(src), "--out", str(out / verb), "--model", str(model_dir), "--batch-size", "1"]
        assert cli(args) == 0
        before = snapshot(out / verb)
        with monkeypatch.context() as m:
            m.setattr(sf, "write", full_disk_after(sf.write, 1))
            assert cli([*args, "--force"]) == 1
        assert "No space left on device" in capsys.readouterr().err
        assert snapshot(out / verb) == before
        # a later run without --force sees complete files only: all up to date, nothing truncated
        assert cli(args) == 0
        assert "up to date" in capsys.readouterr().out
        for p in (out / verb).iterdir():
            assert len(sf.read(str(p))[0]) == 8000


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot mount a tmpfs here (the injected-OSError tests cover the same paths)")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_really_full_disk_keeps_previous_outputs(model_dir, tmp_path, capsys):
    clips(tmp_path / "in", n=2)
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        args = ["encode", str(tmp_path / "in"), "--out", str(disk / "lat"), "--model", str(model_dir)]
        assert cli(args) == 0
        before = snapshot(disk / "lat")
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as f:  # fill the disk
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        assert cli([*args, "--force"]) == 1
        assert "No space left on device" in capsys.readouterr().err
        assert snapshot(disk / "lat") == before


# -- interrupts and concurrent runs ----------------------------------------------------------------
def losatok(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "losatok_plugin", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def assert_clean_latents(out: Path, n: int) -> None:
    names = sorted(p.name for p in out.iterdir())
    assert all(name.endswith(SUFFIX) and not name.startswith(".") for name in names), names
    assert len(names) == n
    for name in names:
        load_latents(out / name)


def test_sigint_exits_130_and_leaves_only_complete_files(model_dir, tmp_path, capsys):
    # Enough files, and the child at a lower priority than this poller, that the signal lands mid-run even
    # on a loaded machine. The child starts with SIGINT at its default disposition, as from a terminal: a
    # child inherits an ignored SIGINT (an earlier test in the same pytest process can leave it ignored), and
    # Python then installs no KeyboardInterrupt handler, so Ctrl-C would be ignored (seen in the full suite).
    def child_setup():
        os.nice(5)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    n = 120
    clips(tmp_path / "in", n=n, length=16000)
    out = tmp_path / "lat"
    proc = losatok(
        "encode",
        str(tmp_path / "in"),
        "--out",
        str(out),
        "--model",
        str(model_dir),
        "--batch-size",
        "1",
        preexec_fn=child_setup,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out.is_dir() and any(p.name.endswith(SUFFIX) for p in out.iterdir())):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    done = len(list(out.iterdir()))
    assert 0 < done < n
    assert_clean_latents(out, done)
    # the re-run finishes the job
    capsys.readouterr()
    assert cli(["encode", str(tmp_path / "in"), "--out", str(out), "--model", str(model_dir)]) == 0
    assert f"encoded {n - done} files" in capsys.readouterr().out
    assert_clean_latents(out, n)


def test_two_concurrent_encode_runs_leave_no_corrupt_file(tiny_vae, tmp_path, monkeypatch):
    # Two runs (threads with one model: loading models in threads at once would race inside diffusers'
    # empty-weights context) write the same 12 outputs into one folder.
    import threading

    import losatok_plugin.latent_file as lf
    from losatok_plugin.batch import encode_files

    real = lf.save_file

    def slow_disk(*args, **kwargs):  # widen the window in which both runs write the same output
        real(*args, **kwargs)
        time.sleep(0.05)

    monkeypatch.setattr(lf, "save_file", slow_disk)
    clips(tmp_path / "in", n=12)
    out = tmp_path / "lat"
    results, errors = [], []

    def run():
        try:
            results.append(encode_files(tiny_vae, [tmp_path / "in"], out, batch_size=1, force=True, progress=False))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    runs = [threading.Thread(target=run) for _ in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(timeout=300)
    assert not errors and [r.exit_code for r in results] == [0, 0], (errors, [r.failures for r in results])
    assert_clean_latents(out, 12)


def test_concurrent_writes_of_one_latent_file_never_fail_or_corrupt(tiny_vae, tmp_path, monkeypatch):
    # the layer under encode: two writers of the same 12 names (a shared temporary name made half of
    # these writes fail with FileNotFoundError before the fix)
    import threading

    import losatok_plugin.latent_file as lf

    real = lf.save_file

    def slow_disk(*args, **kwargs):
        real(*args, **kwargs)
        time.sleep(0.02)

    monkeypatch.setattr(lf, "save_file", slow_disk)
    errors = []

    def run():
        for i in range(12):
            try:
                lf.save_latents(tmp_path / f"c{i:02d}{SUFFIX}", torch.randn(16, 10), tiny_vae, 6400)
            except Exception as e:  # noqa: BLE001 - counted below
                errors.append(e)

    runs = [threading.Thread(target=run) for _ in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(timeout=120)
    assert errors == []
    assert_clean_latents(tmp_path, 12)


# -- non-finite input: API and CLI -------------------------------------------------------------------
def test_non_finite_input_outcomes(tiny_vae, model_dir, tmp_path, capsys):
    x = synth_audio(16000)
    bad = x.clone()
    bad[0, 100] = float("nan")
    with pytest.raises(AudioInputError, match="NaN or inf"):  # API: refused, named
        tiny_vae.encode(bad)
    with pytest.raises(AudioInputError, match="far outside the range"):
        tiny_vae.encode(x * 1e18)
    folder = tmp_path / "in"
    clips(folder, n=2)
    sf.write(str(folder / "nan.wav"), bad[0].numpy(), 16000, subtype="FLOAT")
    sf.write(str(folder / "huge.wav"), (x[0] * 1e18).numpy().astype(np.float32), 16000, subtype="FLOAT")
    for verb in ("encode", "reconstruct"):
        out = tmp_path / verb
        rc = cli([verb, str(folder), "--out", str(out), "--model", str(model_dir), "--batch-size", "4"])
        captured = capsys.readouterr()
        assert rc == 1  # CLI: each bad file reported, the good ones processed
        assert f"failed: {folder / 'nan.wav'}: audio contains NaN or inf" in captured.err
        assert f"failed: {folder / 'huge.wav'}: encode produced NaN/inf latents" in captured.err
        assert sorted(p.name for p in out.iterdir()) == (
            [f"c00{SUFFIX}", f"c01{SUFFIX}"] if verb == "encode" else ["c00.wav", "c01.wav"]
        )
    for p in (tmp_path / "encode").iterdir():
        assert torch.isfinite(load_latents(p).latents).all()
