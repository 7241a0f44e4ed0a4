"""Files and folders that are complete or absent: written under a temporary name in the same folder,
then renamed.

Every output seqzoo writes goes through here, so a killed process never leaves a half-written
card, manifest, table or plot behind (``os.replace`` is atomic within one filesystem).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqzoo.zoo.errors import InputError


def _owner() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def temporary_name(path: str | os.PathLike) -> Path:
    """A fresh hidden name beside ``path`` (same folder, so the final rename is atomic), carrying its
    owner (host and process id). Temporaries of ``path`` left by a process of this host that no
    longer runs (killed with SIGKILL, or the machine lost power) are removed first."""
    path = Path(path)
    clear_stale(path)
    return path.with_name(f".{path.name}.{_owner()}.{uuid.uuid4().hex}.tmp{path.suffix}")


def clear_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` whose owner was a process of this host that has ended;
    returns them. Another host's (a shared filesystem) and a live process's are left alone."""
    path = Path(path)
    head, tail = f".{path.name}.", f".tmp{path.suffix}"
    host, removed = socket.gethostname(), []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(head) and entry.name.endswith(tail)):
            continue
        owner = entry.name[len(head):len(entry.name) - len(tail)].rpartition(".")[0]
        owner_host, _, pid = owner.rpartition("-")
        if owner_host != host or not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        target = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        removed.append(target)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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


class AtomicFolder:
    """A folder assembled under a temporary name beside ``path``: ``commit()`` renames it onto
    ``path`` when complete, ``abort()`` removes it. ``path`` must not exist (with ``empty_ok``: or
    be an empty folder, which the commit replaces)."""

    def __init__(self, path: str | os.PathLike, empty_ok: bool = False):
        self.path = Path(path)
        if self.path.exists() and not (empty_ok and self.path.is_dir() and not any(self.path.iterdir())):
            raise InputError(f"{self.path} already exists; remove it or choose another output folder")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path.parent}: no such folder for the output")
        self.tmp = temporary_name(self.path)
        self.tmp.mkdir()

    def commit(self, summary: dict | None = None) -> Path:
        """Rename the folder into place (with ``summary``: written first as ``_SUCCESS.json``)."""
        if summary is not None:
            (self.tmp / "_SUCCESS.json").write_text(json.dumps(summary, indent=1) + "\n")
        if self.path.exists():
            self.path.rmdir()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
