"""Genomic coordinates in FASTA headers: the one parser behind ``seqzoo sites`` and chromosome hold-out.

Three header forms are read (the first that matches wins):

- iONMF / iDeep: ``chr1,+,368294,368394`` (chrom, strand, start, end; a trailing ``;`` and
  anything after it, such as ``class:1``, are allowed);
- region: ``chr1:368294-368394(+)`` (bedtools getfasta -s), ``chr1:368294-368394:+`` or
  ``chr1:368294-368394`` (no strand: ``+``);
- BED-like: ``chr1 368294 368394 [name score strand]`` (whitespace-separated).

Which base the numbers count from differs between tools, so the record's own length decides:
``end - start == len`` is BED's 0-based half-open interval, ``end - start + 1 == len`` a closed
interval whose start counts from 1 (samtools regions, iONMF); a header whose span fits neither
is kept as 0-based half-open. Every interval comes out 0-based and half-open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seqzoo.zoo.errors import InputError

_IONMF = re.compile(r"^(?P<chrom>[^,\s:]+),(?P<strand>[+-]),(?P<start>-?\d+),(?P<end>-?\d+)(?:[;,\s]|$)")
_REGION = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>-?\d+)-(?P<end>-?\d+)(?:\((?P<paren>[+-.])\)|:(?P<colon>[+-.]))?"
                     r"(?:[;,\s]|$)")
_BED = re.compile(r"^(?P<chrom>\S+)\s+(?P<start>\d+)\s+(?P<end>\d+)(?:\s+\S+\s+\S+\s+(?P<strand>[+-.]))?(?:\s|$)")
LABEL = re.compile(r"(?:^|[;\s])class:(?P<label>[^;\s]*)")
MAX_COORDINATE = 10**12  # past any genome's contig; larger numbers are a broken header, not a place
FORMS = "chr1,+,100,200 or chr1:100-200(+) or 'chr1 100 200 name 0 +'"


@dataclass(frozen=True)
class Coordinates:
    """A 0-based half-open interval on a strand (``+`` or ``-``)."""

    chrom: str
    start: int
    end: int
    strand: str

    @property
    def centre(self) -> int:
        return (self.start + self.end) // 2

    def window(self, length: int) -> tuple[int, int]:
        """The interval [start, end) of a ``length``-long window centred as the record's sequence is:
        window position j is sequence position ``n // 2 - length // 2 + j`` (n = end - start), read
        5' to 3' on the record's strand (so on ``-`` the interval is read backwards)."""
        before = (self.end - self.start) // 2 - length // 2
        if self.strand == "-":
            return self.end - before - length, self.end - before
        return self.start + before, self.start + before + length


def parse_coordinates(header: str, length: int | None = None) -> Coordinates | None:
    """The coordinates a FASTA header carries (see the module docstring), or None.

    Parameters
    ----------
    header : str
        The header line without ``>`` (leading spaces allowed).
    length : int, optional
        The record's sequence length, which decides the counting convention.
    """
    text = header.strip()
    for pattern in (_IONMF, _REGION, _BED):
        match = pattern.match(text)
        if match is None:
            continue
        groups = match.groupdict()
        strand = groups.get("strand") or groups.get("paren") or groups.get("colon") or "+"
        start, end = int(groups["start"]), int(groups["end"])
        place = f"{groups['chrom'][:60]}:{groups['start'][:20]}-{groups['end'][:20]}"
        if start < 0 or end < 0:
            raise InputError(f"coordinates {place}: a coordinate is negative")
        if end < start:
            raise InputError(f"coordinates {place}: the end is before the start")
        if end > MAX_COORDINATE:
            raise InputError(f"coordinates {place}: past any genome (at most {MAX_COORDINATE:.0e})")
        if length is not None and end - start + 1 == length:  # closed, counted from 1
            start -= 1
        return Coordinates(groups["chrom"], start, end, "+" if strand == "." else strand)
    return None


def record_coordinates(record) -> Coordinates | None:
    """The coordinates of a FASTA record: its whole header, else the header after the record's
    name (``>site_12 chr1:100-200(+)``), or None."""
    return (parse_coordinates(record.header, len(record.sequence))
            or parse_coordinates(record.description, len(record.sequence)))


def ionmf_label(header: str) -> int | None:
    """The ``class:1`` / ``class:0`` label of an iONMF header, or None when it has none; any other
    value (``class:7``, ``class:yes``) or two labels is an InputError, never read as bound."""
    labels = [m.group("label") for m in LABEL.finditer(header)]
    if not labels:
        return None
    if len(labels) > 1:
        raise InputError(f"{len(labels)} class labels in one header ({', '.join('class:' + v[:20] for v in labels)}); "
                         "a record is class:0 or class:1")
    if labels[0] not in ("0", "1"):
        raise InputError(f"label class:{labels[0][:20]} is not class:0 or class:1")
    return int(labels[0])
