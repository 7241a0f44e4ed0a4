"""Reading windows of a bigWig signal (pyBigWig): a numeric track's values at genomic coordinates.

One reader for training (``seqzoo train --track NAME=FILE.bw`` at each record's coordinates),
scoring (``seqzoo score --track NAME=FILE.bw`` at each record's header coordinates) and variant
effects (``seqzoo variants --track-source NAME=FILE.bw`` around each variant). A position the file
does not cover and a position past a contig's end read NaN (no data, the track's baseline); a
window on a contig the file lacks, or wholly off its contig, is an InputError: a silent window of
"no data" would change the scores without a word. Contig names resolve as a genome's do (``chr1`` finds ``1``; zoo.io.genome.ContigNames). On the
minus strand a window is read backwards, as its sequence is.
"""

from __future__ import annotations

import os
from typing import Self

import numpy as np
from seqzoo.zoo.errors import InputError

SUFFIXES = (".bw", ".bigwig")


def is_bigwig(path: str | os.PathLike) -> bool:
    """Whether a path names a bigWig file (by its suffix)."""
    return str(path).lower().endswith(SUFFIXES)


class Signal:
    """An open bigWig file; ``window`` reads one interval, NaN where it holds no data."""

    def __init__(self, path: str | os.PathLike):
        import pyBigWig
        from seqzoo.zoo.io.genome import ContigNames

        self.path = str(path)
        if not os.path.isfile(self.path):
            raise InputError(f"{self.path}: no such file")
        try:
            self._file = pyBigWig.open(self.path)
        except RuntimeError:
            self._file = None
        if self._file is None or not self._file.isBigWig():
            raise InputError(f"{self.path}: not a bigWig file")
        self.lengths = dict(self._file.chroms())
        self.names = ContigNames(self.lengths, source=self.path)

    def has(self, chrom: str) -> bool:
        """Whether ``chrom`` (or an alias of it) is one of the file's contigs."""
        return self.names.resolve(chrom) is not None

    def window(self, chrom: str, start: int, end: int, strand: str = "+") -> np.ndarray:
        """float64 [end - start]: the values of positions [start, end) (0-based), reversed on ``-``."""
        out = np.full(end - start, np.nan)
        name = self.names.resolve(chrom)
        if name is None:
            raise InputError(f"{self.path}: no contig {str(chrom)[:60]!r} in this bigWig ({self.names.hint()})")
        lo, hi = max(start, 0), min(end, self.lengths[name])
        if lo >= hi:
            raise InputError(f"{self.path}: the window {str(chrom)[:60]}:{start}-{end} lies outside contig {name} "
                             f"(length {self.lengths[name]})")
        out[lo - start:hi - start] = self._file.values(name, lo, hi, numpy=True)
        return out[::-1].copy() if strand == "-" else out

    def around(self, where, length: int) -> np.ndarray:
        """float64 [length]: the window of a record at ``where`` (zoo.io.coords.Coordinates),
        centred as its sequence and read 5' to 3' on its strand (``Coordinates.window``)."""
        return self.window(where.chrom, *where.window(length), where.strand)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_signal(path: str | os.PathLike, lengths: dict[str, int], values: dict[str, np.ndarray]) -> None:
    """Write per-base values (contig -> float [length]; NaN = no data) as a bigWig, atomically: runs
    of equal values become one interval each."""
    import pyBigWig
    from seqzoo.zoo.io.atomic import atomic_path

    with atomic_path(path) as staging:
        bw = pyBigWig.open(str(staging), "w")
        try:
            bw.addHeader(list(lengths.items()), maxZooms=10)
            for chrom in lengths:
                row = np.asarray(values.get(chrom, ()), dtype=np.float64)
                if not np.isfinite(row).any():
                    continue
                change = np.flatnonzero((row[1:] != row[:-1]) & ~(np.isnan(row[1:]) & np.isnan(row[:-1]))) + 1
                starts = np.concatenate([[0], change])
                ends = np.concatenate([change, [len(row)]])
                keep = np.isfinite(row[starts])
                bw.addEntries([chrom] * int(keep.sum()), starts[keep].tolist(), ends=ends[keep].tolist(),
                              values=row[starts[keep]].tolist())
        finally:
            bw.close()
