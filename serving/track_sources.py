"""Where a multimodal model's tracks come from when scoring: at a variant's coordinates
(``seqzoo variants --track-source``) and for the records of a FASTA (``seqzoo score --track``).

A multimodal model reads, beside the sequence window, tracks of its own lengths centred on the
same site (DeepRiPe's region type). For a variant, a letters track's window is read from a BED
file whose intervals name one letter each (``chr1  100  250  3`` marks 3'UTR positions): positions
no interval covers get ``N`` (the unknown letter); where intervals overlap, the one that starts
last wins. A numeric track's window is read from a bigWig (zoo.io.bigwig; NaN where it holds no
data). The window of a track of length T is ``[c - T // 2, c - T // 2 + T)`` around the variant's
first REF base c, the sequence window's rule; on the minus strand it is read backwards. The ref
and alt windows of a variant share it.

For the records of a FASTA, a letters track is a FASTA of the same record names, and a numeric
track a bigWig read at each record's header coordinates, centred as training read it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable

import numpy as np
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.bed import read_bed
from seqzoo.zoo.io.bigwig import Signal, is_bigwig
from seqzoo.zoo.numeric import NAME as NUMERIC


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

    def window(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """The letters of positions [start, end) of ``chrom`` (N where no interval covers), read
        backwards on ``-``."""
        out = np.full(end - start, ord("N"), dtype=np.uint8)
        if chrom in self.contigs:
            starts, ends, reach, letters = self.contigs[chrom]
            lo, hi = int(np.searchsorted(reach, start, side="right")), int(np.searchsorted(starts, end))
            for i in range(lo, hi):
                if ends[i] > start:
                    out[max(starts[i], start) - start:min(ends[i], end) - start] = letters[i]
        letters = out.tobytes().decode()
        return letters[::-1] if strand == "-" else letters


def open_sources(pairs: list[str] | None) -> dict[str, LetterTrack | Signal]:
    """``NAME=BED`` (letters) or ``NAME=FILE.bw`` (numbers) options -> a source per name."""
    from seqzoo.zoo.options import pairs as name_value

    sources = {}
    for name, path in name_value(pairs, "--track-source", "BED").items():
        if not os.path.isfile(path):
            raise InputError(f"--track-source {name}={path}: no such file")
        sources[name] = Signal(path) if is_bigwig(path) else LetterTrack(path, name)
    return sources


def check_sources(alphabet, sources: dict, ref: str) -> None:
    """Every given track of a multimodal model needs a source of its kind (a bigWig for a numeric
    track, a BED of letters otherwise); a source must name one of its tracks."""
    tracks = {t.name: t for t in getattr(alphabet, "tracks", ())}
    for name, source in sources.items():
        if name not in tracks:
            raise InputError(f"--track-source {name}: model {ref} has no such track "
                             f"({', '.join(tracks) or 'it reads the sequence only'})")
        if (tracks[name].source == NUMERIC) != isinstance(source, Signal):
            raise InputError(f"--track-source {name}={source.path}: the {name!r} track is "
                             f"{'numeric: give a bigWig' if tracks[name].source == NUMERIC else 'letters: give a BED'}")
    missing = [t for t in tracks.values() if t.source != "structure" and t.name not in sources]
    if missing:
        kind = "FILE.bw (its numbers" if missing[0].source == NUMERIC else "FILE.bed (its letters"
        raise InputError(f"model {ref} is multimodal: give --track-source {missing[0].name}={kind} at each "
                         f"variant's coordinates)")


def variant_tracks(rows: list, sources: dict, alphabet) -> dict[str, list] | None:
    """Each source's track window for each row (VariantWindow: chrom, pos, strand)."""
    if not sources:
        return None
    lengths = {t.name: t.length for t in alphabet.tracks}
    out = {}
    for name, source in sources.items():
        size = lengths[name]
        out[name] = [source.window(row.chrom, row.pos - 1 - size // 2, row.pos - 1 - size // 2 + size, row.strand)
                     for row in rows]
    return out


def record_tracks(pairs: list[str], alphabet) -> dict[str, Callable]:
    """``seqzoo score --track NAME=FILE`` options -> a reader per track: FASTA record -> its value
    (a track FASTA's letters of the same record name; a bigWig's numbers at the record's header
    coordinates, over the track's length centred as training read it)."""
    from seqzoo.zoo.io.coords import FORMS, record_coordinates
    from seqzoo.zoo.io.fasta import read_by_name
    from seqzoo.zoo.options import pairs as name_value

    tracks = {t.name: t for t in getattr(alphabet, "tracks", ())}
    lengths = {name: t.length for name, t in tracks.items()}
    readers = {}
    for name, path in name_value(pairs, "--track", "FILE").items():
        if name not in tracks:
            raise InputError(f"--track {name}={path}: the model has no track {name!r} "
                             f"({', '.join(tracks) or 'it reads the sequence only'})")
        if is_bigwig(path) != (tracks[name].source == NUMERIC):
            raise InputError(f"--track {name}={path}: the {name!r} track is "
                             f"{'numeric: give a bigWig' if tracks[name].source == NUMERIC else 'letters: give a FASTA'}")
        if is_bigwig(path):
            signal, size = Signal(path), lengths[name]

            def numbers(record, signal=signal, size=size, name=name):
                where = record_coordinates(record)
                if where is None:
                    raise InputError(f"no coordinates in the header for the numeric track {name!r} (give {FORMS})")
                return signal.around(where, size)

            readers[name] = numbers
        else:
            letters = {record_name: r.sequence for record_name, r in read_by_name(path).items()}

            def lookup(record, letters=letters, path=path, name=name):
                if record.name not in letters:
                    raise InputError(f"{path}: no record {record.name!r} for track {name!r}")
                return letters[record.name]

            readers[name] = lookup
    return readers
