"""Track letters at a variant's coordinates, for multimodal models (``seqzoo variants --track-source``).

A multimodal model reads, beside the sequence window, tracks of its own lengths centred on the
same site (DeepRiPe's region type). For a variant, each track's window is read from a BED file
whose intervals name one letter each (``chr1  100  250  3`` marks 3'UTR positions): positions no
interval covers get ``N`` (the unknown letter); where intervals overlap, the one that starts last
wins. The window of a track of length T is ``[c - T // 2, c - T // 2 + T)`` around the variant's
first REF base c, the sequence window's rule; on the minus strand it is read backwards. The ref
and alt windows of a variant share it.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.bed import read_bed


class LetterTrack:
    """A BED file of one-letter intervals, read once into sorted arrays per contig."""

    def __init__(self, path: str | os.PathLike, name: str):
        self.path, self.name = str(path), name
        spans = defaultdict(list)
        for record in read_bed(path):
            if len(record.name) != 1:
                raise InputError(f"{path}:{record.line}: the name column must be one letter of the {name!r} track, "
                                 f"got {record.name!r}")
            spans[record.chrom].append((record.start, record.end, ord(record.name.upper())))
        if not spans:
            raise InputError(f"{path}: no intervals for track {name!r}")
        self.contigs = {}
        for chrom, items in spans.items():
            items.sort()
            starts, ends, letters = (np.asarray(column, dtype=np.int64) for column in zip(*items))
            self.contigs[chrom] = (starts, ends, np.maximum.accumulate(ends), letters.astype(np.uint8))

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """The letters of positions [start, end) of ``chrom`` (N where no interval covers)."""
        out = np.full(end - start, ord("N"), dtype=np.uint8)
        if chrom in self.contigs:
            starts, ends, reach, letters = self.contigs[chrom]
            lo, hi = int(np.searchsorted(reach, start, side="right")), int(np.searchsorted(starts, end))
            for i in range(lo, hi):
                if ends[i] > start:
                    out[max(starts[i], start) - start:min(ends[i], end) - start] = letters[i]
        return out.tobytes().decode()


def open_sources(pairs: list[str] | None) -> dict[str, LetterTrack]:
    """``NAME=BED`` options -> LetterTrack per name."""
    from seqzoo.zoo.options import pairs as name_value

    sources = {}
    for name, path in name_value(pairs, "--track-source", "BED").items():
        if not os.path.isfile(path):
            raise InputError(f"--track-source {name}={path}: no such file")
        sources[name] = LetterTrack(path, name)
    return sources


def check_sources(alphabet, sources: dict, ref: str) -> None:
    """Every letters track of a multimodal model needs a source; a source must name one of its tracks."""
    tracks = {t.name: t for t in getattr(alphabet, "tracks", ())}
    for name in sources:
        if name not in tracks:
            raise InputError(f"--track-source {name}: model {ref} has no such track "
                             f"({', '.join(tracks) or 'it reads the sequence only'})")
    missing = [t.name for t in tracks.values() if t.source == "letters" and t.name not in sources]
    if missing:
        raise InputError(f"model {ref} is multimodal: give --track-source {missing[0]}=FILE.bed (its "
                         f"{missing[0]!r} letters at each variant's coordinates)")


def variant_tracks(rows: list, sources: dict[str, LetterTrack], alphabet) -> dict[str, list[str]] | None:
    """Each source's track window for each row (VariantWindow: chrom, pos, strand)."""
    if not sources:
        return None
    lengths = {t.name: t.length for t in alphabet.tracks}
    out = {}
    for name, source in sources.items():
        size = lengths[name]
        values = []
        for row in rows:
            start = row.pos - 1 - size // 2
            letters = source.fetch(row.chrom, start, start + size)
            values.append(letters[::-1] if row.strand == "-" else letters)
        out[name] = values
    return out
