"""Gene strands from an annotation (BED6 or GTF), for ``seqzoo variants --strand auto``.

An RBP binds the transcript, so a variant is scored on the strand of the gene it lies in.
``GeneStrands.strands(contig, start, end)`` answers which strands annotated genes cover an
interval: ``("+",)``, ``("-",)``, both (genes on the two strands overlap it) or none
(intergenic). Contig names are resolved through the genome's alias rule when one is given.

GTF: the ``gene`` lines (or, when a file has none, ``transcript`` then ``exon`` lines),
1-based inclusive coordinates; BED: 0-based half-open, the strand in column 6. Plain or gzip.
"""

from __future__ import annotations

import gzip
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.bed import read_bed

BIN = 1 << 16  # intervals are indexed by the 64 kb bins they touch


def _open_text(path: Path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path)


def _gtf(path: Path) -> list[tuple[str, int, int, str]]:
    by_feature: dict[str, list] = defaultdict(list)
    with _open_text(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 8:
                raise InputError(f"{path}:{number}: a GTF line has 9 tab-separated columns, this one {len(cols)}")
            try:
                start, end = int(cols[3]) - 1, int(cols[4])
            except ValueError:
                raise InputError(f"{path}:{number}: start and end must be integers, got {cols[3]!r}, {cols[4]!r}") \
                    from None
            if cols[6] in "+-" and cols[6]:
                by_feature[cols[2]].append((cols[0], start, end, cols[6]))
    for feature in ("gene", "transcript", "exon"):
        if by_feature.get(feature):
            return by_feature[feature]
    raise InputError(f"{path}: no gene, transcript or exon line with a strand")


def _bed(path: Path) -> list[tuple[str, int, int, str]]:
    out = []
    for record in read_bed(path):
        if record.strand not in ("+", "-"):
            raise InputError(f"{path}:{record.line}: no strand in column 6 (--strand auto needs the genes' strands)")
        out.append((record.chrom, record.start, record.end, record.strand))
    return out


class GeneStrands:
    """Stranded intervals of an annotation, indexed for overlap queries.

    Parameters
    ----------
    path : str or Path
        ``.gtf`` / ``.gtf.gz`` (GTF) or anything else read as BED6.
    genome : Genome, optional
        Its ``resolve`` maps the annotation's contig names to the FASTA's (``chr1`` <-> ``1``);
        intervals on contigs the genome lacks are dropped.
    """

    def __init__(self, path: str | os.PathLike, genome=None):
        self.path = Path(path)
        name = self.path.name.lower()
        rows = _gtf(self.path) if name.endswith((".gtf", ".gtf.gz", ".gff", ".gff.gz")) else _bed(self.path)
        grouped: dict[str, list] = defaultdict(list)
        for chrom, start, end, strand in rows:
            contig = genome.resolve(chrom) if genome is not None else chrom
            if contig is not None and end > start:
                grouped[contig].append((start, end, strand == "-"))
        self._index = {}
        for contig, items in grouped.items():
            arr = np.array(items, dtype=np.int64)
            bins: dict[int, list[int]] = defaultdict(list)
            for i, (start, end, _) in enumerate(arr):
                for b in range(int(start) // BIN, (int(end) - 1) // BIN + 1):
                    bins[b].append(i)
            self._index[contig] = (arr, {b: np.array(v) for b, v in bins.items()})
        self.intervals = len(rows)

    def strands(self, contig: str, start: int, end: int) -> tuple[str, ...]:
        """The strands of the genes overlapping ``[start, end)`` of a (FASTA-named) contig."""
        if contig not in self._index:
            return ()
        arr, bins = self._index[contig]
        found = set()
        for b in range(start // BIN, max(start, end - 1) // BIN + 1):
            candidates = bins.get(b)
            if candidates is None:
                continue
            hits = arr[candidates]
            hits = hits[(hits[:, 0] < max(end, start + 1)) & (hits[:, 1] > start)]
            found.update("-" if minus else "+" for minus in hits[:, 2])
        return tuple(s for s in ("+", "-") if s in found)
