"""A NumPy ``.npz`` written row block by row block, in bounded memory, complete or absent.

``np.savez`` needs every array in memory at once; attribution maps of a large FASTA do not fit.
``NpzWriter`` appends blocks of rows (axis 0) of each named array to a spill file beside the
output, and ``commit`` streams the spill files into one zip of ``.npy`` members (the layout
``np.load`` reads, zip64 for members over 4 GiB) under a temporary name, then renames it.
Arrays whose rows are few (names, metadata) are passed whole to ``commit``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import temporary_name

COPY_BYTES = 16 * 2**20


class NpzWriter:
    """Append row blocks of named arrays, then ``commit()`` (or ``abort()``) once.

    Parameters
    ----------
    path : str or PathLike
        The ``.npz`` to write.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path}: the folder {self.path.parent} does not exist")
        self._spill = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self._shapes: dict[str, tuple[tuple[int, ...], np.dtype, int]] = {}

    def append(self, name: str, block: np.ndarray) -> None:
        """Add the rows of ``block`` to array ``name`` (every block: the same dtype and row shape)."""
        block = np.ascontiguousarray(block)
        row, dtype, rows = self._shapes.setdefault(name, (block.shape[1:], block.dtype, 0))
        if block.shape[1:] != row or block.dtype != dtype:
            raise InputError(f"array {name!r}: a block of {block.dtype} {block.shape[1:]} rows after {dtype} {row}")
        with open(self._spill / f"{name}.raw", "ab") as spill:
            spill.write(block.tobytes())
        self._shapes[name] = (row, dtype, rows + block.shape[0])

    def commit(self, whole: dict[str, np.ndarray] | None = None) -> Path:
        """Write the ``.npz`` (appended arrays, then ``whole`` ones) and rename it into place."""
        tmp = temporary_name(self.path)
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, (row, dtype, rows) in self._shapes.items():
                    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                              "shape": (rows, *row)}
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member, \
                            open(self._spill / f"{name}.raw", "rb") as raw:
                        np.lib.format.write_array_header_2_0(member, header)
                        shutil.copyfileobj(raw, member, COPY_BYTES)
                for name, array in (whole or {}).items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            self.abort()
        return self.path

    def abort(self) -> None:
        """Drop everything appended; the output is never written."""
        shutil.rmtree(self._spill, ignore_errors=True)
