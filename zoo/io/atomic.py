"""Files that are complete or absent: written under a temporary name in the same folder, then renamed.

Every output seqzoo writes goes through here, so a killed process never leaves a half-written
card, manifest, table or plot behind (``os.replace`` is atomic within one filesystem).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqzoo.zoo.errors import InputError


def temporary_name(path: str | os.PathLike) -> Path:
    """A fresh hidden name beside ``path`` (same folder, so the final rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` on success, remove it on error.

    The temporary name keeps ``path``'s suffix, so writers that choose a format by suffix
    (matplotlib, ONNX) still do.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


class AtomicFile:
    """Base of the streaming writers: ``tmp`` beside ``path`` is written, then ``commit()`` renames it
    onto ``path`` or ``abort()`` removes it. Subclasses write to ``self.tmp`` and close their handle
    in ``_close()``. As a context manager it commits on success and aborts on an error."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.is_dir():  # refused before any work, not after it when the rename fails
            raise InputError(f"{self.path}: is a folder; name an output file")
        self.tmp = temporary_name(self.path)

    def _close(self) -> None:
        """Flush and close whatever writes ``self.tmp``."""

    def commit(self) -> Path:
        self._close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
