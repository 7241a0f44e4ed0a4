"""Reference and alternative windows of a model's input length around each variant.

Where the variant sits (the whole rule; tests check it base for base)
-------------------------------------------------------------------------
Let ``L`` be the model's length, ``c = L // 2`` and ``p = POS - 1`` the 0-based position of the
first base of REF (VCF alleles include their padding base as written; nothing is trimmed or
left-normalised). On the plus strand:

* ``ref = G[p - c : p - c + L]``: the first base of REF is at 0-based index ``c`` of the window
  (for L = 200, index 100, the 101st base); the ``c`` bases before it are the genome's.
* ``alt = (G[p - c : p] + ALT + G[p + len(REF) : ...])[:L]``: the same ``c`` bases, then ALT,
  then the genome after REF. An insertion pushes the right flank out and the window is cut back
  to ``L`` on the right; a deletion pulls the right flank in, extended from the reference so the
  window is still ``L`` long. An SNV or MNV changes only ``[c, c + len(ALT))``.
* Positions outside the contig are ``N`` (contig ends are padded, the variant keeps index ``c``).

On the minus strand both windows are reverse-complemented, so an allele that spans
``[s, e)`` on the plus strand spans ``[L - e, L - s)``: the first REF base of an SNV lands at
index ``L - 1 - c`` (99 for L = 200). Each window records its allele spans (``ref_span``,
``alt_span``, clipped to the window) so plots and outputs never recompute them.
For RNA models (the card's alphabet has U and no T), windows are transcribed T -> U after
reverse complementing.

What is skipped, with the reason in the row (never silently scored):
symbolic or breakend ALTs (``<DEL>``, ``*``, ``A[chr2:5[``), ALT ``.``, alleles with letters
other than ACGTN, ALT equal to REF, a contig the genome lacks, a POS past the contig's end, a
REF that does not match the genome (``ref_match`` is False), and windows more than
``max_n_fraction`` N.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from seqzoo.zoo.alphabets import reverse_complement
from seqzoo.zoo.errors import InputError

STRANDS = ("+", "-", "both")
_BASES = re.compile(r"^[ACGTNacgtn]+$")
_TO_RNA = str.maketrans("Tt", "Uu")


class VariantLike(Protocol):
    chrom: str
    pos: int
    id: str | None
    ref: str
    alts: list[str]


class GenomeLike(Protocol):
    lengths: dict[str, int]

    def resolve(self, name: str) -> str | None: ...

    def fetch(self, contig: str, start: int, end: int) -> str: ...


@dataclass
class VariantWindow:
    """One variant x ALT x strand: its windows, or the reason it was skipped.

    Attributes
    ----------
    record : int
        Index of the source record in the list given to :func:`build_windows`.
    alt_index : int
        0-based index of this ALT among the record's ALTs.
    key : str
        Variant ID used in outputs (see :func:`variant_key`).
    chrom, pos, ref, alt, strand : str, int, str, str, str
        As in the VCF (pos 1-based), strand ``+`` or ``-``.
    ref_match : bool or None
        REF equals the genome (N in REF matches any base); None when it could not be checked.
    ref_window, alt_window : str or None
        Length-L windows (None when skipped).
    ref_span, alt_span : tuple of int
        ``[start, end)`` of each allele inside its window (after reverse complement).
    skip : str or None
        Why no score was computed; None for a scored window.
    """

    record: int
    alt_index: int
    key: str
    chrom: str
    pos: int
    ref: str
    alt: str
    strand: str
    ref_match: bool | None = None
    ref_window: str | None = None
    alt_window: str | None = None
    ref_span: tuple[int, int] = (0, 0)
    alt_span: tuple[int, int] = (0, 0)
    skip: str | None = None


def _short(allele: str, limit: int = 12) -> str:
    if len(allele) <= limit:
        return allele
    return f"{len(allele)}bp-{hashlib.sha1(allele.encode()).hexdigest()[:8]}"


def variant_key(chrom: str, pos: int, vid: str | None, ref: str, alt: str, n_alts: int, strand: str,
                both: bool) -> str:
    """The ID of a variant x ALT (x strand) in outputs and in the attribution .npz.

    The VCF ID when there is one (``ID:ALT`` for multi-allelic records), else
    ``CHROM:POS:REF>ALT`` with alleles longer than 12 written as ``<len>bp-<sha1[:8]>``;
    ``/+`` or ``/-`` is appended when both strands are scored.
    """
    if vid:
        key = vid if n_alts <= 1 else f"{vid}:{_short(alt)}"
    else:
        key = f"{chrom}:{pos}:{_short(ref)}>{_short(alt)}"
    return f"{key}/{strand}" if both else key


def allele_problem(allele: str) -> str | None:
    """Why an ALT cannot be scored, or None (symbolic, breakend, missing, odd letters)."""
    if allele in ("", "."):
        return "no ALT allele"
    if allele == "*":
        return "ALT '*' (overlapping deletion) is not a sequence"
    if allele.startswith("<"):
        return f"symbolic ALT {allele[:40]} is not supported"
    if "[" in allele or "]" in allele or allele.startswith(".") or allele.endswith("."):
        return f"breakend ALT {allele[:40]} is not supported"
    if not _BASES.match(allele):
        bad = sorted(set(allele.upper()) - set("ACGTN"))
        return f"ALT has letters other than ACGTN: {''.join(bad)}"
    return None


def _ref_matches(vcf_ref: str, genome_ref: str) -> bool:
    if vcf_ref == genome_ref:
        return True
    return len(vcf_ref) == len(genome_ref) and all(a == b or a == "N" for a, b in zip(vcf_ref, genome_ref))


def allele_windows(segment: str, offset: int, ref_len: int, alt: str, length: int) -> tuple[str, str]:
    """Plus-strand ref and alt windows from a genome segment (see the module docstring).

    Parameters
    ----------
    segment : str
        Genome bases starting at ``p - c`` (``offset`` = c bases before REF), long enough for
        both windows: ``max(L, c + ref_len + L - c - len(alt))`` bases.
    offset : int
        c = L // 2, the index of REF's first base in the ref window.
    ref_len : int
    alt : str
    length : int
        L.

    Returns
    -------
    (ref_window, alt_window) : tuple of str, each of length L
    """
    ref_window = segment[:length]
    alt_window = (segment[:offset] + alt + segment[offset + ref_len:])[:length]
    if len(alt_window) != length or len(ref_window) != length:
        raise InputError(f"genome segment of {len(segment)} bases is too short for windows of {length}")
    return ref_window, alt_window


def build_windows(records: Iterable[VariantLike], genome: GenomeLike, length: int, strand: str = "+",
                  rna: bool = False, max_n_fraction: float = 0.5) -> list[VariantWindow]:
    """Windows for every record x ALT x strand, in input order (skips carry their reason).

    Parameters
    ----------
    records : iterable of VcfRecord-like
        Objects with ``chrom``, ``pos`` (1-based), ``id``, ``ref``, ``alts``.
    genome : Genome
        Resolves contig names and fetches N-padded bases.
    length : int
        The model's input length L (> 0).
    strand : {"+", "-", "both"} or GeneStrands
        A GeneStrands (``--strand auto``) scores each variant on the strands of the genes that
        cover its REF; a variant in no gene gets one skipped row (``+``); keys then end in the
        strand (``/+``, ``/-``).
    rna : bool
        Transcribe windows T -> U (an RNA model's alphabet).
    max_n_fraction : float
        Skip windows whose ref or alt is more than this fraction N (contig-end padding counts).

    Returns
    -------
    list of VariantWindow
        One per record x ALT x strand (``both`` gives ``+`` then ``-``); a record with no ALT
        gives one skipped row with ``alt_index`` 0 and ``alt`` ``"."``.
    """
    genes = None if isinstance(strand, str) else strand
    if genes is None and strand not in STRANDS:
        raise InputError(f"strand {strand!r} is not one of {', '.join(STRANDS)}")
    if length < 1:
        raise InputError(f"window length must be positive, got {length}")
    if genes is None:
        strands = ("+", "-") if strand == "both" else (strand,)
    suffixed = genes is not None or strand == "both"
    out: list[VariantWindow] = []
    for index, rec in enumerate(records):
        alts = rec.alts or ["."]
        contig = genome.resolve(rec.chrom)
        if genes is not None:
            strands = genes.strands(contig, rec.pos - 1, rec.pos - 1 + len(rec.ref)) if contig else ()
            outside = not strands
            strands = strands or ("+",)
        for alt_index, raw_alt in enumerate(alts):
            reason, genome_ref, windows = _check_and_cut(rec, raw_alt, contig, genome, length, max_n_fraction)
            if genes is not None and outside and reason is None:
                reason, windows = f"no annotated gene overlaps it ({genes.path.name}, --strand auto)", None
            for s in strands:
                row = VariantWindow(index, alt_index, variant_key(rec.chrom, rec.pos, rec.id, rec.ref, raw_alt,
                                                                  len(alts), s, suffixed),
                                    rec.chrom, rec.pos, rec.ref, raw_alt, s)
                if genome_ref is not None:
                    row.ref_match = _ref_matches(rec.ref.upper(), genome_ref)
                row.skip = reason
                if windows is not None:
                    _orient(row, windows, len(rec.ref), len(raw_alt), length, rna)
                out.append(row)
    return out


def _check_and_cut(rec, raw_alt: str, contig: str | None, genome, length: int, max_n_fraction: float):
    """(skip reason or None, the genome's REF bases or None, (ref window, alt window) or None) of one ALT."""
    ref, alt, p, c = rec.ref.upper(), raw_alt.upper(), rec.pos - 1, length // 2
    reason = allele_problem(raw_alt)
    if reason is None and not _BASES.match(ref):
        reason = f"REF has letters other than ACGTN: {''.join(sorted(set(ref) - set('ACGTN')))}"
    if reason is None and alt == ref:
        reason = "ALT is the same as REF"
    if reason is None and contig is None:
        reason = f"contig {rec.chrom!r} is not in the genome"
    if reason is None and p + len(ref) > genome.lengths[contig]:
        reason = f"REF ends past the end of {rec.chrom} ({genome.lengths[contig]} bases)"
    if reason is not None:
        return reason, None, None
    end = max(p - c + length, p + len(ref), p + len(ref) + length - c - len(alt))
    segment = genome.fetch(contig, p - c, end)
    genome_ref = segment[c:c + len(ref)]
    if not _ref_matches(ref, genome_ref):
        return (f"REF mismatch: the VCF has {_short(ref, 20)}, the genome has {_short(genome_ref, 20)} at "
                f"{rec.chrom}:{rec.pos}"), genome_ref, None
    windows = allele_windows(segment, c, len(ref), alt, length)
    n_frac = max(windows[0].count("N"), windows[1].count("N")) / length
    if n_frac > max_n_fraction:
        return (f"window is {100 * n_frac:.0f}% N (more than {100 * max_n_fraction:.0f}%; contig end or "
                "assembly gap)"), genome_ref, None
    return None, genome_ref, windows


def _orient(row: VariantWindow, windows: tuple[str, str], ref_len: int, alt_len: int, length: int, rna: bool) -> None:
    """Set the row's windows and allele spans for its strand (reverse complement on ``-``; U for RNA)."""
    c = length // 2
    ref_span, alt_span = (c, min(c + ref_len, length)), (c, min(c + alt_len, length))
    ref_w, alt_w = windows
    if row.strand == "-":
        ref_w, alt_w = reverse_complement(ref_w), reverse_complement(alt_w)
        ref_span = (length - ref_span[1], length - ref_span[0])
        alt_span = (length - alt_span[1], length - alt_span[0])
    if rna:
        ref_w, alt_w = ref_w.translate(_TO_RNA), alt_w.translate(_TO_RNA)
    row.ref_window, row.alt_window = ref_w, alt_w
    row.ref_span, row.alt_span = ref_span, alt_span
