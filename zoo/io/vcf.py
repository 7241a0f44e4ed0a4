"""Read a VCF or BCF (plain or compressed) in chunks of records, through cyvcf2.

htslib (under cyvcf2) is fast but not safe on bad text: a blank line or a truncated record can
crash the process, and a bad QUAL silently becomes 0. So a text VCF is first checked line by
line in Python (one streaming pass, about a second per million lines): every malformed line is
reported by its line number, in one error, before anything is scored or written. BCF is binary
and written by tools; htslib's own errors are reported with the record number.

Records keep their cyvcf2 object so the annotated-VCF writer can write every input record back.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seqzoo.zoo.errors import InputError, NotFoundError

MAX_REPORTED = 10
_INTEGER = re.compile(r"^[0-9]+$")


@dataclass
class VcfRecord:
    """One VCF record (a line), with every ALT of a multi-allelic site.

    Attributes
    ----------
    number : int
        1-based ordinal among the data records.
    line : int or None
        1-based line number in a text VCF (None for BCF).
    chrom : str
    pos : int
        1-based position of the first base of REF, as in the file.
    id : str or None
        The ID column, None when it is ``.``.
    ref : str
    alts : list of str
        ALT alleles in file order (empty when ALT is ``.``).
    variant : cyvcf2.Variant
        The record itself, for writing it back.
    """

    number: int
    line: int | None
    chrom: str
    pos: int
    id: str | None
    ref: str
    alts: list[str]
    variant: object

    def where(self, path: str | os.PathLike) -> str:
        """``file:LINE`` (text) or ``file: record N`` (BCF), for messages."""
        return f"{path}:{self.line}" if self.line is not None else f"{path}: record {self.number}"


def _open_text(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return open(path, "rt", encoding="utf-8", errors="replace", newline="\n")


def is_bcf(path: str | os.PathLike) -> bool:
    """True for BCF (binary) input, from the decompressed magic bytes."""
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as f:
            return f.read(3) == b"BCF"
    except (OSError, EOFError):
        return False


def check_text_vcf(path: str | os.PathLike) -> tuple[int, int]:
    """Check a text VCF line by line before htslib reads it.

    Checks what htslib cannot survive or would silently misread: the ``##fileformat`` line, a
    ``#CHROM`` header before the first record, blank lines, fewer than 8 tab-separated columns,
    empty CHROM / REF / ALT, a POS that is not a positive integer, a QUAL that is not a number.
    Allele letters are not checked here: unsupported alleles are skipped per row with a reason.

    Parameters
    ----------
    path : str or Path
        A plain or gzip/bgzip-compressed VCF.

    Returns
    -------
    (int, int)
        The number of header lines (record k, 0-based, is on line ``header + k + 1``) and of records.

    Raises
    ------
    InputError
        Naming ``file:LINE`` and the problem for up to 10 bad lines (and how many more).
    """
    problems: list[str] = []
    count = 0
    header = 0
    records = 0
    seen_columns = False
    try:
        with _open_text(Path(path)) as f:
            for number, line in enumerate(f, 1):
                line = line.rstrip("\n").rstrip("\r")
                if number == 1 and not line.startswith("##fileformat=VCF"):
                    raise InputError(f"{path}:1: not a VCF: the first line must be ##fileformat=VCFv4.x, "
                                     f"got {line[:60]!r}")
                if line.startswith("#"):
                    if seen_columns:
                        problem = "header line after the #CHROM line"
                    else:
                        header = number
                        seen_columns = line.startswith("#CHROM")
                        continue
                elif not seen_columns:
                    problem = "record before the #CHROM header line"
                else:
                    problem = _check_record(line)
                    records += 1
                if problem:
                    count += 1
                    if len(problems) < MAX_REPORTED:
                        problems.append(f"{path}:{number}: {problem}")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the VCF ({exc})") from None
    if not seen_columns and not problems:
        raise InputError(f"{path}: no #CHROM header line: not a VCF")
    if problems:
        more = f" (and {count - len(problems)} more malformed lines)" if count > len(problems) else ""
        raise InputError("malformed VCF: " + "; ".join(problems) + more)
    return header, records


def _check_record(line: str) -> str | None:
    if not line.strip():
        return "blank line"
    fields = line.split("\t", 8)
    if len(fields) < 8:
        return (f"{len(fields)} tab-separated columns, a record needs at least 8 "
                f"(CHROM POS ID REF ALT QUAL FILTER INFO): {line[:80]!r}")
    chrom, pos, _id, ref, alt, qual = fields[:6]
    if not chrom:
        return "empty CHROM"
    if not _INTEGER.match(pos) or int(pos) < 1:
        return f"POS {pos[:40]!r} is not a positive integer"
    if not ref:
        return "empty REF"
    if not alt:
        return "empty ALT (use '.' for none)"
    if qual != ".":
        try:
            float(qual)
        except ValueError:
            return f"QUAL {qual[:40]!r} is not a number or '.'"
    return None


class VcfReader:
    """Stream a VCF/BCF in chunks of :class:`VcfRecord`.

    Parameters
    ----------
    path : str or Path
        ``.vcf``, ``.vcf.gz`` (gzip or bgzip) or ``.bcf``.
    check : bool
        Check a text VCF line by line first (see :func:`check_text_vcf`; it also counts the
        records, ``.records``, for progress bars); leave on unless a trusted tool wrote the file.
    threads : int
        htslib decompression threads.
    """

    def __init__(self, path: str | os.PathLike, check: bool = True, threads: int = 1) -> None:
        import cyvcf2

        self.path = Path(path)
        if not self.path.is_file():
            raise NotFoundError(f"VCF {self.path} does not exist")
        self.binary = is_bcf(self.path)
        self.header_lines, self.records = (check_text_vcf(self.path) if (check and not self.binary)
                                           else (None, None))
        try:
            self.vcf = cyvcf2.VCF(str(self.path), threads=threads, lazy=True)
        except Exception as exc:  # noqa: BLE001 (cyvcf2 raises a bare Exception for unreadable files)
            raise InputError(f"{self.path}: htslib cannot open it as VCF/BCF ({exc})") from None

    def chunks(self, size: int = 10_000) -> Iterator[list[VcfRecord]]:
        """Yield lists of at most ``size`` records, in file order."""
        if size < 1:
            raise InputError(f"chunk size must be positive, got {size}")
        chunk: list[VcfRecord] = []
        number = 0
        iterator = iter(self.vcf)
        while True:
            try:
                variant = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 (htslib parse failure: cyvcf2 raises a bare Exception)
                where = (f"{self.path}:{self.header_lines + number + 1}" if self.header_lines is not None
                         else f"{self.path}: record {number + 1}")
                raise InputError(f"{where}: htslib cannot parse the record ({exc})") from None
            number += 1
            line = self.header_lines + number if self.header_lines is not None else None
            alts = [a for a in variant.ALT if a not in ("", ".")]
            chunk.append(VcfRecord(number, line, variant.CHROM, variant.POS, variant.ID, variant.REF,
                                   alts, variant))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        self.vcf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
