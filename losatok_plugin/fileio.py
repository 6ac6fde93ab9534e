"""Atomic file writes: the one helper every writer in the package uses.

A reader never sees a half-written file under its final name: data goes to a hidden temporary file
in the same folder (same file system, so the rename is atomic), is flushed to disk, and is then
``os.replace``-d onto the final name. On any error (a full disk, a kill signal turned into an
exception, a bug in the writer) the temporary file is removed and the previous file at ``path``, if
any, is left untouched. Final files get the usual permissions (``0o666`` minus the umask), not the
``0o600`` of ``tempfile.mkstemp``.

    with atomic_path(out / "a.wav") as tmp:   # tmp: Path, e.g. out/.a.wav.k3j9x.tmp.wav
        soundfile.write(tmp, audio, sr)      # the temp name keeps the suffix: format sniffing works
    atomic_write_bytes(out / "index.json", data)
    atomic_write_text(out / "latest", "step_00000100")
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TMP_MARKER = ".tmp"


def _umask() -> int:
    # Reading the umask means setting it; do it once per call, immediately restoring it.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows, or a file system that refuses directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """A fresh hidden temporary name next to ``path`` that keeps its suffix (``.a.wav.<rand>.tmp.wav``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_MARKER}{path.suffix}")


def is_temp_file(path: str | Path) -> bool:
    """True for a temporary file left by :func:`atomic_path` (e.g. after ``kill -9``); scanners skip these."""
    name = Path(path).name
    return name.startswith(".") and f"{TMP_MARKER}." in name or name.endswith(TMP_MARKER)


@contextlib.contextmanager
def atomic_path(path: str | Path, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path`` atomically.

    Args:
        path: the final file name. Its folder is created if missing.
        fsync: flush the file and its folder to disk (off only for throw-away files in tests).

    Yields:
        A ``Path`` in the same folder that does not exist yet; the caller writes the file there.

    On an exception inside the block the temporary file is removed and the exception propagates;
    ``path`` keeps its previous content (or stays absent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {path}")
        if tmp.is_file():
            if fsync:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        if fsync:
            _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    path = Path(path)
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
    return path


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8", fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)
