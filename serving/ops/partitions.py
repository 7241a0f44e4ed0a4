"""Partitions of an input to score, planned by the driver and read by the task that scores each.

A plain FASTA becomes byte ranges (a task reads its own range, on a Dask worker too), a gzipped
FASTA chunks of records streamed by the driver (gzip cannot seek), a parquet file runs of row
groups, a BED file windows of the model's length on a genome. Every reader is the project's one reader of its format
(``zoo.io.fasta``, ``zoo.io.bed``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from seqzoo.serving.ops.executors import Context
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.bed import read_bed
from seqzoo.zoo.io.fasta import FastaReader, iter_range

# bytes of plain FASTA per partition: about DEFAULT_PARTITION_ROWS records of 200 nt
BYTES_PER_ROW = 220


@dataclass(frozen=True)
class FastaRange:
    """Records of a plain FASTA whose header starts in bytes ``[start, end)``."""

    path: str
    start: int
    end: int
    structures: bool = False  # records carry a dot-bracket line (a structure model's input)


@dataclass(frozen=True)
class Records:
    """Records read by the client (a gzipped FASTA is not seekable)."""

    path: str
    records: list


@dataclass(frozen=True)
class RowGroups:
    """Row groups of a parquet file (a ``sequence`` column, any others carried through)."""

    path: str
    groups: tuple


@dataclass(frozen=True)
class Windows:
    """Windows of BED regions: ``regions`` rows are (chrom, start, end, name, first, count, line);
    window k of a region starts at ``start + k * stride`` (a region shorter than the window gets one
    window centred on it)."""

    bed: str
    genome: str
    regions: tuple
    length: int
    stride: int
    cache: str | None = None


def input_kind(path: str | os.PathLike) -> str:
    """``parquet`` or ``bed`` from the file name; anything else is FASTA (its reader says so when
    it is not): ``fasta`` (plain, read by byte ranges) or ``fasta.gz`` (gzip or bgzip by its magic,
    or not a regular file - a pipe, ``/dev/stdin`` - streamed, never opened twice)."""
    name = str(path).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if re.search(r"\.bed(\.gz)?$", name):
        return "bed"
    if not Path(path).is_file():
        return "fasta.gz"
    with open(path, "rb") as f:
        return "fasta.gz" if f.read(2) == b"\x1f\x8b" else "fasta"


def plan_fasta(path: str, partition_rows: int, structures: bool = False) -> list[FastaRange]:
    """Byte ranges of a plain FASTA, about ``partition_rows`` records of 200 nt each."""
    size = Path(path).stat().st_size
    step = max(4096, partition_rows * BYTES_PER_ROW)
    return [FastaRange(str(path), start, min(start + step, size), structures)
            for start in range(0, max(size, 1), step)]


def stream_fasta(path: str, partition_rows: int, structures: bool = False) -> Iterator[Records]:
    """Records of a (gzipped) FASTA read by the driver, ``partition_rows`` at a time."""
    with FastaReader(path, structures=structures) as reader:
        chunk: list = []
        for record in reader:
            chunk.append(record)
            if len(chunk) >= partition_rows:
                yield Records(str(path), chunk)
                chunk = []
        if chunk:
            yield Records(str(path), chunk)


def plan_parquet(path: str, partition_rows: int, sequence_column: str = "sequence") -> list[RowGroups]:
    """Consecutive row groups of a parquet file, about ``partition_rows`` rows per partition."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it as parquet ({exc})") from None
    if sequence_column not in meta.schema.to_arrow_schema().names:
        raise InputError(f"{path}: no column {sequence_column!r} (columns: "
                         f"{', '.join(meta.schema.to_arrow_schema().names)})")
    parts, current, rows = [], [], 0
    for g in range(meta.num_row_groups):
        current.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= partition_rows:
            parts.append(RowGroups(str(path), tuple(current)))
            current, rows = [], 0
    if current or not parts:
        parts.append(RowGroups(str(path), tuple(current)))
    return parts


def plan_windows(bed: str, genome: str, length: int, stride: int, partition_rows: int,
                 cache: str | None = None) -> Iterator[Windows]:
    """Partitions of about ``partition_rows`` windows of length ``length`` over the BED regions."""
    if stride < 1:
        raise InputError(f"--stride must be at least 1, got {stride}")
    regions, rows = [], 0
    for r in read_bed(bed):
        count = max(1, (r.end - r.start - length) // stride + 1)
        first = 0
        while first < count:
            take = min(count - first, partition_rows - rows)
            regions.append((r.chrom, r.start, r.end, r.name, first, take, r.line))
            rows += take
            first += take
            if rows >= partition_rows:
                yield Windows(str(bed), str(genome), tuple(regions), length, stride, cache)
                regions, rows = [], 0
    if regions:
        yield Windows(str(bed), str(genome), tuple(regions), length, stride, cache)


def windows_schema():
    """The pyarrow schema of a Windows partition's table (``read_windows``)."""
    import pyarrow as pa

    return pa.schema([("chrom", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("name", pa.string()),
                      ("sequence", pa.string())])


def read_windows(part: Windows):
    """``pyarrow.Table`` (chrom, start, end, name, sequence) of a Windows partition."""
    import numpy as np
    import pyarrow as pa

    genome = Context.genome(part.genome, cache=part.cache)
    chroms, starts, names, sequences = [], [], [], []
    for chrom, start, end, name, first, count, line in part.regions:
        contig = genome.resolve(chrom)
        if contig is None:
            raise NotFoundError(f"contig {chrom!r} is not in {part.genome}", file=part.bed, line=line)
        if end - start < part.length:  # one window centred on a short region
            positions = [start + (end - start) // 2 - part.length // 2]
        else:
            positions = [start + k * part.stride for k in range(first, first + count)]
        span_start, span_end = positions[0], positions[-1] + part.length
        segment = genome.fetch(contig, span_start, span_end)
        for p in positions:
            offset = p - span_start
            sequences.append(segment[offset:offset + part.length])
        chroms.extend([chrom] * len(positions))
        starts.extend(positions)
        names.extend([name] * len(positions))
    starts_array = np.asarray(starts, dtype=np.int64)
    return pa.table({"chrom": pa.array(chroms, pa.string()), "start": pa.array(starts_array),
                     "end": pa.array(starts_array + part.length), "name": pa.array(names, pa.string()),
                     "sequence": pa.array(sequences, pa.string())}, schema=windows_schema())


def fasta_records(part) -> Iterable:
    """The FASTA records of a FastaRange (parsed as they are asked for: scoring starts with the
    first batch) or Records partition."""
    if isinstance(part, FastaRange):
        return iter_range(part.path, part.start, part.end, structures=part.structures)
    return part.records


def load_table(part):
    """The input rows of a RowGroups or Windows partition as a pyarrow Table."""
    import pyarrow.parquet as pq

    if isinstance(part, RowGroups):
        return (pq.ParquetFile(part.path).read_row_groups(list(part.groups)) if part.groups
                else pq.read_schema(part.path).empty_table())
    if isinstance(part, Windows):
        return read_windows(part)
    raise TypeError(f"not a table partition: {type(part).__name__}")


def describe_row(part, table, index: int) -> dict:
    """The place of row ``index`` of a table partition, for an error message."""
    if isinstance(part, Windows):
        return {"file": part.bed, "record": f"window {table.column('chrom')[index].as_py()}:"
                                             f"{table.column('start')[index].as_py()} of region "
                                             f"{table.column('name')[index].as_py()}"}
    return {"file": part.path, "index": index, "noun": f"row (of row groups {list(part.groups)})"}
