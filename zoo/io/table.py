"""The one table writer: rows to TSV or parquet, complete or absent, stamped with the model that made them.

``seqzoo score`` (every path), Dask parts and ``seqzoo variants`` tables all write here. The
model's ref and digest (and any other facts the caller gives) travel with the rows: parquet
files carry them as a key-value metadata entry (JSON; ``seqzoo_score`` for scores,
``seqzoo_variants`` for variant effects), TSV files as a first line ``#<key> {...}``, so an
output file always says which exact model version scored it.
Readers of the TSV skip lines starting with ``#`` (``pandas.read_csv(..., comment="#")``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import AtomicFile

FORMATS = (".tsv", ".parquet")
SCORES_KEY = "seqzoo_score"


def table_format(path: str | os.PathLike) -> str:
    """``tsv`` or ``parquet`` from the output's name."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: the output must end in .tsv or .parquet")
    return suffix[1:]


def read_metadata(path: str | os.PathLike, key: str = SCORES_KEY) -> dict:
    """The facts a seqzoo table carries under ``key`` (model ref, digest, ...), from either format."""
    if table_format(path) == "parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta.get(key.encode(), b"{}"))
    with open(path) as f:
        first = f.readline()
    return json.loads(first[len(f"#{key} "):]) if first.startswith(f"#{key} ") else {}


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


TYPES = ("string", "float32", "int64", "bool")


class TableWriter(AtomicFile):
    """Write rows to ``path`` (.tsv or .parquet) under a temporary name; complete or absent.

    Parameters
    ----------
    path : str or path
        The output; its folder must exist.
    columns : dict of str -> str, or pyarrow.Schema
        Column names and types (``string``, ``float32``, ``int64``, ``bool``), or a schema (a
        table of any columns, e.g. carried through from a parquet input).
    facts : dict
        What the output records about its making, at least ``model`` (ref) and ``digest``.
    key : str
        The metadata entry (parquet) or ``#`` line tag (TSV) the facts go under.

    ``write(data)`` appends rows: a mapping name -> list or numpy array (missing floats as NaN,
    written as null / an empty cell), or a pyarrow Table. TSV never imports pyarrow (a TSV output
    costs no 0.2 s of start-up). ``commit()`` renames the file into place, ``abort()`` removes it;
    as a context manager it commits on success and aborts on an error.
    """

    def __init__(self, path: str | os.PathLike, columns, facts: dict, key: str = SCORES_KEY):
        self.kind = table_format(path)
        if not Path(path).parent.is_dir():
            raise InputError(f"{Path(path).parent}: no such folder for the output")
        super().__init__(path)
        self.types = dict(columns) if isinstance(columns, dict) else None
        self.names = list(self.types) if self.types is not None else list(columns.names)
        bad = [t for t in (self.types or {}).values() if t not in TYPES]
        if bad:
            raise InputError(f"column types {bad} are not among {', '.join(TYPES)}")
        self.rows = 0
        self._parquet = self._tsv = None
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = columns if self.types is None else pa.schema(
                [pa.field(n, getattr(pa, {"bool": "bool_"}.get(t, t))()) for n, t in self.types.items()])
            self.schema = schema.with_metadata({key.encode(): json.dumps(facts).encode()})
            self._parquet = pq.ParquetWriter(str(self.tmp), self.schema)
        else:
            self._tsv = open(self.tmp, "w", newline="")  # noqa: SIM115 (closed by commit or abort)
            self._tsv.write(f"#{key} {json.dumps(facts)}\n" + "\t".join(self.names) + "\n")

    def write(self, data) -> None:
        """Append rows: a mapping name -> list / numpy array, or a pyarrow Table."""
        table = hasattr(data, "schema")
        if self._parquet is not None:
            self._parquet.write_table(data.select(self.names).cast(self.schema) if table else self._arrow(data))
            self.rows += data.num_rows if table else len(data[self.names[0]])
            return
        columns = [data.column(n).to_pylist() if table else
                   (data[n].tolist() if hasattr(data[n], "tolist") else list(data[n])) for n in self.names]
        self._tsv.writelines("\t".join(_cell(v) for v in row) + "\n" for row in zip(*columns))
        self.rows += len(columns[0]) if columns else 0

    def _arrow(self, data: dict):
        """A pyarrow Table of the writer's schema from a mapping of columns (NaN floats -> null)."""
        import numpy as np
        import pyarrow as pa

        arrays = []
        for field in self.schema:
            value = data[field.name]
            if pa.types.is_floating(field.type):
                value = np.asarray(value, dtype=np.float32)
                arrays.append(pa.array(value, field.type, mask=np.isnan(value)))
            else:
                arrays.append(pa.array(value, field.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._tsv is not None:
            self._tsv.close()
            self._tsv = None
