"""The one atomic-write helper: final name only on success, previous content kept on failure."""

from __future__ import annotations

import os
import stat

import pytest

from losatok_plugin.fileio import atomic_path, atomic_write_bytes, atomic_write_text, is_temp_file


def test_atomic_write_replaces_and_uses_normal_permissions(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "a.txt", "one")
    assert p.read_text() == "one"
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.txt"]


def test_failure_keeps_previous_file_and_leaves_no_temp(tmp_path):
    p = atomic_write_text(tmp_path / "a.wav", "old")
    with pytest.raises(OSError, match="No space"):
        with atomic_path(p) as tmp:
            assert tmp.suffix == ".wav" and tmp.parent == p.parent and is_temp_file(tmp)
            tmp.write_bytes(b"partial")
            raise OSError(28, "No space left on device")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["a.wav"]


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "x.bin"):
            pass
    assert not (tmp_path / "x.bin").exists()
