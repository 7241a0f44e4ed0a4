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


class TableWriter(AtomicFile):
    """Write ``pyarrow`` tables of one schema to ``path`` (.tsv or .parquet) under a temporary name.

    Parameters
    ----------
    path : str or path
        The output; its folder must exist.
    schema : pyarrow.Schema
        The columns every written table has (cast to it).
    facts : dict
        What the output records about its making, at least ``model`` (ref) and ``digest``.
    key : str
        The metadata entry (parquet) or ``#`` line tag (TSV) the facts go under.

    ``write(table)`` appends rows, ``commit()`` renames the file into place, ``abort()`` removes it;
    as a context manager it commits on success and aborts on an error.
    """

    def __init__(self, path: str | os.PathLike, schema, facts: dict, key: str = SCORES_KEY):
        self.kind = table_format(path)
        if not Path(path).parent.is_dir():
            raise InputError(f"{Path(path).parent}: no such folder for the output")
        super().__init__(path)
        self.schema = schema.with_metadata({key.encode(): json.dumps(facts).encode()})
        self.rows = 0
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetWriter(str(self.tmp), self.schema)
            self._tsv = None
        else:
            self._parquet = None
            self._tsv = open(self.tmp, "w", newline="")  # noqa: SIM115 (closed by commit or abort)
            self._tsv.write(f"#{key} {json.dumps(facts)}\n" + "\t".join(schema.names) + "\n")

    def write(self, table) -> None:
        """Append the rows of ``table`` (a pyarrow.Table with the writer's columns)."""
        table = table.select(self.schema.names).cast(self.schema)
        if self._parquet is not None:
            self._parquet.write_table(table)
        else:
            columns = [c.to_pylist() for c in table.columns]
            self._tsv.writelines("\t".join(_cell(v) for v in row) + "\n" for row in zip(*columns))
        self.rows += table.num_rows

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._tsv is not None:
            self._tsv.close()
            self._tsv = None
