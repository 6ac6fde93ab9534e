"""The benchmark's own helpers: the memory probe, the memory-row plan and table (no model is run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "recipes" / "bench" / "bench_vae.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_vae", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peak_rss_sees_a_freed_allocation():
    bench = _bench()
    with bench.PeakRSS() as peak:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        del block
    base = bench._rss_gb()
    assert peak.peak - base > 0.15  # the peak survives the free
    with bench.PeakRSS() as later:
        pass
    assert later.peak - base < 0.1  # the mark is reset on entry: the earlier 200 MiB does not count again


def test_long_plan_and_memory_table():
    bench = _bench()
    plan = bench.parse_long_plan("mini=fp32,onnx@1,10;official=int8@1")
    assert plan == [
        ("mini", "fp32", "1"),
        ("mini", "fp32", "10"),
        ("mini", "onnx", "1"),
        ("mini", "onnx", "10"),
        ("official", "int8", "1"),
    ]
    assert bench.parse_long_plan("") == []
    rows = [
        dict(
            kind="mini",
            precision="fp32",
            minutes=1.0,
            stage="encode",
            loaded_gb=0.8,
            above_gb=0.123,
            seconds=2.0,
            cpu_seconds=1.5,
        ),
        dict(
            kind="mini",
            precision="fp32",
            minutes=1.0,
            stage="decode",
            loaded_gb=0.8,
            above_gb=0.045,
            seconds=1.0,
            cpu_seconds=0.5,
        ),
        dict(
            kind="official",
            precision="int8",
            minutes=1.0,
            stage="encode",
            loaded_gb=2.0,
            above_gb=0.3,
            seconds=9,
            cpu_seconds=8,
        ),
    ]
    lines = bench.memory_table(rows)
    assert len(lines) == 3
    assert "0.123" in lines[1] and "0.045" in lines[1]
    assert "n/m" in lines[2]  # official int8 decode not measured


def test_rows_past_the_deadline_are_listed_not_dropped():
    bench = _bench()
    import time

    assert bench._run(["--worker", "mini:fp32"], "mini fp32, 4 s audio", deadline=time.time() - 1) is None
    assert bench.CAPPED == ["mini fp32, 4 s audio: not run (past --deadline)"]
    assert bench._onnx_folder("/x/onnx_mini", "onnx-int8").name == "onnx_mini-int8"
    assert bench._onnx_folder("/x/onnx_mini", "onnx").name == "onnx_mini"


def test_workers_get_the_malloc_threshold(monkeypatch):
    """``--malloc-mmap-threshold`` reaches every worker's environment (and nothing is set without it)."""
    import subprocess

    bench = _bench()
    seen = []

    def fake_run(cmd, **kwargs):
        seen.append(kwargs["env"].get("MALLOC_MMAP_THRESHOLD_"))
        return subprocess.CompletedProcess(cmd, 0, stdout='{"kind": "mini"}\n', stderr="")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert bench._run(["--worker", "mini:fp32"], "mini fp32") == {"kind": "mini"}
    bench.WORKER_ENV["MALLOC_MMAP_THRESHOLD_"] = "131072"
    assert bench._run(["--worker", "mini:fp32"], "mini fp32") == {"kind": "mini"}
    assert seen == [None, "131072"]
