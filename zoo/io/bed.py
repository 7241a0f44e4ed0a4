"""The one BED reader: intervals of a BED3+ file (plain or gzip), 0-based and half-open."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass

from seqzoo.zoo.errors import InputError


@dataclass(frozen=True)
class BedRecord:
    """One BED interval: ``chrom``, ``start`` (0-based), ``end`` (exclusive), ``name`` ("." when absent),
    ``strand`` ("." when absent), and the file line it came from."""

    chrom: str
    start: int
    end: int
    name: str = "."
    strand: str = "."
    line: int = 0


def _is_text(line: str) -> bool:
    """Whether a line read with ``surrogateescape`` was valid UTF-8 (no escaped byte in it)."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_bed(path: str | os.PathLike) -> Iterator[BedRecord]:
    """Every record of a BED file in order; ``track``, ``browser``, ``#`` and blank lines are skipped.

    Errors name the file and line: fewer than 3 tab-separated fields, coordinates that are not
    integers or not an interval (``0 <= start < end``), a strand other than ``+ - .``.
    """
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rt", errors="surrogateescape") as f:
        for lineno, line in enumerate(f, 1):
            if "\x00" in line or not (line.isascii() or _is_text(line)):
                raise InputError("not text (a BED file is tab-separated text)", file=path, line=lineno)
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) < 3:
                raise InputError("a BED record needs chrom, start and end (tab-separated)", file=path, line=lineno)
            try:
                start, end = int(cells[1]), int(cells[2])
            except ValueError:
                raise InputError(f"start and end must be integers, got {cells[1]!r} and {cells[2]!r}",
                                 file=path, line=lineno) from None
            if start < 0 or end <= start:
                raise InputError(f"start {start} and end {end} are not an interval (0 <= start < end)",
                                 file=path, line=lineno)
            strand = cells[5] if len(cells) > 5 and cells[5] else "."
            if strand not in ("+", "-", "."):
                raise InputError(f"strand {strand!r} is not one of + - .", file=path, line=lineno)
            yield BedRecord(cells[0], start, end, cells[3] if len(cells) > 3 and cells[3] else ".", strand, lineno)
