"""The one FASTA reader: plain, gzip or bgzip, read as a stream, one record at a time.

Training, ``seqzoo score`` (``--local``, ``--server``, ``--dask``), the Python API and genome
annotation all read FASTA here, so a file means the same thing on every path:

- ``>`` starts a record; its name is the header's first word, the rest is its description;
- blank lines and ``;`` comment lines are skipped anywhere (also before the first record);
- CRLF and LF line ends are the same; lower-case letters are kept as written (encoding reads
  them as upper case);
- a record may carry an RNA secondary structure as the line(s) after its sequence, as pysster's
  structure files do (``(((...)))`` or the annotated ``FTSHIM``), when ``structures=True``.

Every error names the file and line (or byte offset, for a byte range of a file).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from seqzoo.zoo.alphabets import ANNOTATED_STRUCTURE_LETTERS, DOT_BRACKET_LETTERS
from seqzoo.zoo.errors import InputError

STRUCTURE_LETTERS = set(ANNOTATED_STRUCTURE_LETTERS + DOT_BRACKET_LETTERS)
NUCLEOTIDE_CODES = set("ACGTUNRYSWKMBDHV")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class FastaRecord:
    """One FASTA record.

    Attributes
    ----------
    header : str
        The header line without ``>`` (name and description).
    sequence : str
        The sequence lines joined, as written.
    structure : str or None
        The record's structure lines joined, when it carries them.
    file : str
        The file it was read from.
    line : int or None
        1-based line of the header (None for a record read from a byte range of a file).
    line_starts : list of int
        Offset in ``sequence`` where each sequence line after the first starts (to find a character's line).
    """

    header: str
    sequence: str
    structure: str | None
    file: str = ""
    line: int | None = None
    line_starts: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The header's first word: the record's id."""
        return self.header.split(maxsplit=1)[0]

    @property
    def description(self) -> str:
        """The header after its first word."""
        parts = self.header.split(maxsplit=1)
        return parts[1] if len(parts) > 1 else ""

    def where(self) -> dict:
        """The record's place, for :meth:`SeqzooError.at`."""
        place = {"file": self.file, "record": self.name}
        if self.line is not None:
            place["line"] = self.line
        return place

    def line_of(self, offset: int) -> int | None:
        """The file line holding the sequence character at ``offset``."""
        if self.line is None:
            return None
        return self.line + 1 + sum(1 for start in self.line_starts if start <= offset)


def split_structure(lines: list[str]) -> tuple[list[str], list[str] | None]:
    """Split a record's lines into sequence lines and structure lines (the trailing half, if any).

    A record carries a structure when its lines can be cut at a line boundary into two halves of
    equal length whose second half uses only structure letters (``().`` or ``FTSHIM``) and at
    least one of them is not a nucleotide code (so a DNA record ``TTTT/TTTT`` stays a sequence).
    """
    total = sum(len(s) for s in lines)
    if len(lines) < 2 or total % 2:
        return lines, None
    acc = 0
    for cut, line in enumerate(lines[:-1], start=1):
        acc += len(line)
        if acc == total // 2:
            chars = set("".join(lines[cut:]).upper())
            if chars <= STRUCTURE_LETTERS and chars - NUCLEOTIDE_CODES:
                return lines[:cut], lines[cut:]
            return lines, None
        if acc > total // 2:
            break
    return lines, None


def parse_fasta(lines: Iterable[str], file: str, structures: bool = True, first_line: int | None = 1,
                first_offset: int | None = None) -> Iterator[FastaRecord]:
    """Records from FASTA text lines: the one parser under every reader.

    Parameters
    ----------
    lines : iterable of str
        The text, line by line (line ends kept or not).
    file : str
        The file name errors and records carry.
    structures : bool
        Recognise trailing structure lines (pysster's format).
    first_line : int or None
        The file line of the first of ``lines``; None when unknown (a byte range).
    first_offset : int or None
        The byte offset of the first of ``lines``, named in errors when the line is unknown.
    """
    header, start, parts = None, None, []
    position = first_offset

    def place(k: int) -> dict:
        if first_line is not None:
            return {"file": file, "line": first_line + k}
        return {"file": file, "offset": position} if position is not None else {"file": file}

    def record() -> FastaRecord:
        if not parts:
            raise InputError(f"record {header!r} has no sequence", **start)
        seq_lines, struct_lines = split_structure(parts) if structures else (parts, None)
        starts, acc = [], 0
        for s in seq_lines[:-1]:
            acc += len(s)
            starts.append(acc)
        return FastaRecord(header, "".join(seq_lines), None if struct_lines is None else "".join(struct_lines),
                           file, start.get("line"), starts)

    for k, raw in enumerate(lines):
        text = raw.strip()
        if text and not text.startswith(";"):
            if text.startswith(">"):
                if header is not None:
                    yield record()
                header, start, parts = text[1:].strip(), place(k), []
                if not header:
                    raise InputError("a FASTA header with no name", **start)
            elif header is None:
                raise InputError("expected a '>' header line before sequence text", **place(k))
            else:
                parts.append(text)
        if position is not None:
            position += len(raw)
    if header is not None:
        yield record()


class FastaReader:
    """The records of a FASTA file (plain, gzip or bgzip), read as a stream.

    ``position`` (compressed bytes read so far) and ``size`` drive progress bars. Use as a
    context manager, or call ``close``.

    Parameters
    ----------
    path : str or path
    structures : bool
        Recognise trailing structure lines (pysster's structure files).
    """

    def __init__(self, path: str | os.PathLike, structures: bool = True):
        self.path = Path(path)
        self.structures = structures
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, expected a file")
        self._raw = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        self.compressed = self._raw.peek(2)[:2] == GZIP_MAGIC  # peek, not seek: a pipe works too
        if not self.compressed and self.path.suffix == ".gz":
            self._raw.close()
            raise InputError(f"{self.path}: unreadable gzip file (no gzip header)")
        binary = gzip.GzipFile(fileobj=self._raw) if self.compressed else self._raw
        self._text = io.TextIOWrapper(binary, encoding="utf-8", errors="strict", newline=None)
        self.lines_read = 0
        self.seen_text = False

    @property
    def position(self) -> int:
        try:
            return self._raw.tell()
        except OSError:  # a pipe has no position
            return 0

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        self._text.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _lines(self) -> Iterator[str]:
        try:
            for line in self._text:
                self.lines_read += 1
                self.seen_text = self.seen_text or bool(line.strip())
                yield line
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {exc.object[exc.start]:#04x})", file=self.path,
                             line=self.lines_read + 1) from None
        except (OSError, EOFError, zlib.error) as exc:
            what = "unreadable gzip file" if self.compressed else "cannot read"
            raise InputError(f"{what} ({exc})", file=self.path) from None

    def __iter__(self) -> Iterator[FastaRecord]:
        return parse_fasta(self._lines(), str(self.path), self.structures)


def read_fasta(path: str | os.PathLike, structures: bool = True) -> list[FastaRecord]:
    """Every record of a FASTA file, in file order; an empty file or one with no record is an error."""
    with FastaReader(path, structures) as reader:
        records = list(reader)
        if not records:
            raise InputError(f"{path}: " + ("no sequences (no '>' records)" if reader.seen_text else "file is empty"))
    return records


def read_by_name(path: str | os.PathLike, structures: bool = False) -> dict[str, FastaRecord]:
    """Every record of a FASTA file by its name (file order); a name that appears twice is an error
    naming the file and line (a lookup by name would be ambiguous)."""
    by_name: dict[str, FastaRecord] = {}
    for record in read_fasta(path, structures):
        if record.name in by_name:
            raise InputError(f"{path}:{record.line}: record {record.name!r} appears twice")
        by_name[record.name] = record
    return by_name


def read_range(path: str | os.PathLike, start: int, end: int, structures: bool = True) -> list[FastaRecord]:
    """The records of a plain FASTA whose header starts in bytes ``[start, end)`` (:func:`iter_range`)."""
    return list(iter_range(path, start, end, structures))


def iter_range(path: str | os.PathLike, start: int, end: int, structures: bool = True) -> Iterator[FastaRecord]:
    """The records of a plain FASTA whose header starts in bytes ``[start, end)``, parsed one at a time.

    A scoring task reads its own partition of a large file this way (the range's bytes read at
    once, its records parsed as they are asked for); records carry the file and their name but no
    line number unless the range starts the file (counting lines would read all before ``start``).
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        begin = _record_start(f, start)
        stop = _record_start(f, end) if end < size else size
        if stop <= begin:
            return iter(())
        f.seek(begin)
        blob = f.read(stop - begin)
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {blob[exc.start]:#04x})", file=path, offset=begin + exc.start) from None
    return parse_fasta(io.StringIO(text, newline=""), str(path), structures,
                       first_line=1 if begin == 0 else None, first_offset=begin)


def _record_start(f, offset: int) -> int:
    """The offset of the first header ('>' at a line start) at or after ``offset`` (EOF if none)."""
    if offset == 0:
        return 0
    f.seek(offset - 1)
    carry = b""
    position = offset - 1
    while True:
        block = f.read(1 << 20)
        if not block:
            return position + len(carry)
        data = carry + block
        hit = data.find(b"\n>")
        if hit >= 0:
            return position + hit + 1
        position += len(data) - 1
        carry = data[-1:]
