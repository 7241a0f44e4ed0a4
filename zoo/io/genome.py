"""A reference genome: FASTA (plain, bgzip or plain gzip) read through pyfaidx, with contig aliases.

Variant windows are cut from here. Three things users trip over are handled once, in this file:

* Compression. pyfaidx reads plain and bgzip FASTA (with a ``.fai`` and, for bgzip, a ``.gzi``
  index). A *plain* gzip FASTA cannot be indexed; it is decompressed once into the cache folder
  (``$SEQZOO_CACHE/genomes`` or ``~/.cache/seqzoo/genomes``) and a message says so and how to
  avoid it (``gunzip x.fa.gz && bgzip x.fa``).
* The index. An index that lies beside the FASTA (``x.fa.fai``) is used as it is; otherwise it
  is built into the cache folder, never beside the user's file, so read-only folders work.
  Index files are built under a temporary name and renamed: complete or absent.
* Contig names. A VCF's contig name is matched to a FASTA record by this rule, first stage that
  matches wins (a stage that matches two different records is an error that names them):

  1. a mapping file (``--contig-map``: two columns, VCF name then FASTA name, tab or space
     separated, ``#`` comments), when one is given;
  2. the exact FASTA name (the first word of the header line);
  3. the name with a ``chr`` prefix added or dropped (``chr1`` <-> ``1``, ``chrM`` <-> ``MT``);
  4. an accession token of an NCBI-style header as given, then both without their versions: the header
     ``gi|88193823|ref|NC_007795.1|`` answers to ``NC_007795.1``, ``NC_007795`` and ``88193823``
     (the database tags gi, ref, gb, emb, dbj, lcl are not names).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import shutil
from pathlib import Path

import pyfaidx
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.atomic import atomic_path
from seqzoo.zoo.io.cache import cache_dir

log = logging.getLogger(__name__)

_DATABASE_TAGS = {"gi", "ref", "gb", "emb", "dbj", "lcl", "gnl", "pdb", "sp", "tr", "pir", "prf"}
_VERSION = re.compile(r"\.\d+$")


def compression(path: Path) -> str:
    """``"plain"``, ``"bgzip"`` or ``"gzip"`` from the file's first bytes (not its name)."""
    with open(path, "rb") as f:
        head = f.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    # BGZF: gzip with the FEXTRA flag and a 'BC' extra subfield (SAM spec, section 4.1)
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzip"
    return "gzip"


def _fingerprint(path: Path) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


def _decompress_once(path: Path, cache: Path) -> Path:
    """Decompress a plain-gzip FASTA into the cache (once per file version); returns the copy."""
    target = cache / f"{path.name.removesuffix('.gz')}.{_fingerprint(path)}.fa"
    if target.exists():
        return target
    log.warning("%s is plain gzip, which pyfaidx cannot index; decompressing it once into %s "
                "(bgzip the file to avoid this: gunzip %s && bgzip %s)", path, target, path.name,
                path.name.removesuffix(".gz"))
    try:
        with atomic_path(target) as tmp, gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot decompress the gzip FASTA ({exc})") from None
    return target


def _build_index(fasta: Path, index: Path, gzi: Path | None) -> None:
    """Build a .fai (and .gzi) under temporary names, then rename them into place."""
    tmp_fai = index.with_name(f".{index.name}.{os.getpid()}.tmp")
    tmp_gzi = gzi.with_name(f".{gzi.name}.{os.getpid()}.tmp") if gzi else None
    try:
        faidx = pyfaidx.Faidx(str(fasta), indexname=str(tmp_fai),
                              gzi_indexname=str(tmp_gzi) if tmp_gzi else None)
        faidx.close()
        if tmp_gzi and tmp_gzi.exists():
            os.replace(tmp_gzi, gzi)
        os.replace(tmp_fai, index)
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError, UnicodeDecodeError) as exc:
        raise _unreadable(fasta, exc) from None
    finally:
        tmp_fai.unlink(missing_ok=True)
        if tmp_gzi:
            tmp_gzi.unlink(missing_ok=True)


def _unreadable(fasta: Path, exc: Exception) -> InputError:
    """The one-line error of a FASTA pyfaidx cannot index: a repeated contig name, bytes that are not
    text, a plain file named ``.gz`` (pyfaidx goes by the name), or what pyfaidx says."""
    text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return InputError(f"{fasta}: not a FASTA file (byte {exc.start} is not text)")
    if text.startswith("Duplicate key"):
        return InputError(f"{fasta}: contig name {text.removeprefix('Duplicate key ')} appears twice; every "
                          "record of a reference genome needs its own name")
    if isinstance(exc, pyfaidx.UnsupportedCompressionFormat) and compression(fasta) == "plain":
        return InputError(f"{fasta}: the file is not compressed but its name ends in .gz; rename it without .gz "
                          "(or bgzip it)")
    return InputError(f"{fasta}: not a FASTA file pyfaidx can index ({text})")


def read_contig_map(path: str | os.PathLike) -> dict[str, str]:
    """Read a contig mapping file: ``VCF_NAME FASTA_NAME`` per line (tab or spaces, ``#`` comments).

    Returns
    -------
    dict
        VCF contig name -> FASTA record name.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"contig map {path} does not exist")
    mapping: dict[str, str] = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            fields = text.split()
            if len(fields) != 2:
                raise InputError(f"{path}:{number}: expected two columns (VCF name, FASTA name), "
                                 f"got {len(fields)}: {text[:80]!r}")
            if fields[0] in mapping and mapping[fields[0]] != fields[1]:
                raise InputError(f"{path}:{number}: contig {fields[0]!r} is mapped twice "
                                 f"({mapping[fields[0]]!r} and {fields[1]!r})")
            mapping[fields[0]] = fields[1]
    return mapping


def _chr_variants(name: str) -> list[str]:
    if name.lower().startswith("chr"):
        rest = name[3:]
        return [rest, "MT"] if rest.upper() == "M" else [rest]
    return ["chrM", "chr" + name] if name.upper() == "MT" else ["chr" + name]


def _accession_tokens(name: str) -> set[str]:
    """The '|'-separated tokens of an NCBI-style header, less the database tags."""
    return {token for token in name.split("|") if token and token.lower() not in _DATABASE_TAGS}


class ContigNames:
    """Contig names resolved by the rule of this module's docstring, over a genome's contigs.

    A ``Genome`` has one; a client of a server that holds the genome builds one from the
    server's contig list, so a BED or VCF name means the same contig on both sides.

    Parameters
    ----------
    lengths : dict
        FASTA record name -> length, in the genome's order.
    contig_map : str or Path, optional
        Mapping file of other names to FASTA names.
    source : str
        What the names belong to, for messages (the FASTA's path, or a server's address).
    """

    def __init__(self, lengths: dict[str, int], contig_map: str | os.PathLike | None = None, source: str = "the genome"):
        self.lengths, self.source = dict(lengths), source
        self._map = read_contig_map(contig_map) if contig_map else {}
        for other, fasta_name in self._map.items():
            if fasta_name not in self.lengths:
                raise NotFoundError(f"contig map {contig_map}: {other!r} maps to {fasta_name!r}, "
                                    f"which is not in {source} ({self.hint()})")
        self._exact = set(self.lengths)
        self._tokens: dict[str, set[str]] = {}
        self._bases: dict[str, set[str]] = {}
        for name in self.lengths:
            for token in _accession_tokens(name):
                self._tokens.setdefault(token, set()).add(name)
                self._bases.setdefault(_VERSION.sub("", token), set()).add(name)
        self._resolved: dict[str, str | None] = {}

    def hint(self) -> str:
        names = list(self.lengths)
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
        return f"its contigs: {shown}"

    def resolve(self, name: str) -> str | None:
        """The FASTA record name for a contig name, or None when no stage of the rule matches.

        Raises
        ------
        InputError
            When one stage of the rule matches two different records (ambiguous alias).
        """
        if name in self._resolved:
            return self._resolved[name]
        found: str | None = None
        if name in self._map:
            found = self._map[name]
        elif name in self._exact:
            found = name
        else:
            stages = (("chr prefix", set().union(*(self._exact & {v} for v in _chr_variants(name)))),
                      ("accession", self._tokens.get(name, set())),
                      ("accession without version", self._bases.get(_VERSION.sub("", name), set())))
            for stage, matches in stages:
                if len(matches) > 1:
                    raise InputError(f"contig {name!r} matches several records of {self.source} by "
                                     f"{stage}: {', '.join(sorted(matches))}; give --contig-map")
                if matches:
                    found = next(iter(matches))
                    break
        self._resolved[name] = found
        return found

    def require(self, name: str) -> str:
        """Like :meth:`resolve` but raises NotFoundError naming the contigs that exist."""
        found = self.resolve(name)
        if found is None:
            raise NotFoundError(f"contig {name!r} is not in {self.source} ({self.hint()})")
        return found


class Genome:
    """A reference FASTA with contig-name resolution and N-padded window fetches.

    Parameters
    ----------
    path : str or Path
        FASTA file: plain, bgzip or plain gzip (the latter is decompressed into ``cache``).
    contig_map : str or Path, optional
        Mapping file of VCF contig names to FASTA names (see the module docstring).
    cache : str or Path, optional
        Writable folder for decompressed copies and indexes (default ``$SEQZOO_CACHE/genomes``, see ``zoo.io.cache``).
    """

    def __init__(self, path: str | os.PathLike, contig_map: str | os.PathLike | None = None,
                 cache: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"reference genome {self.path} is a folder; give a FASTA file with --genome")
        if not self.path.is_file():
            raise NotFoundError(f"reference genome {self.path} does not exist (give a FASTA with --genome)")
        self.cache = Path(cache) if cache else cache_dir("genomes")
        self.compression = compression(self.path)
        fasta = self.path
        if self.compression == "gzip":
            self.cache.mkdir(parents=True, exist_ok=True)
            fasta = _decompress_once(self.path, self.cache)
        self.fasta_path = fasta
        index = Path(str(fasta) + ".fai")
        gzi = Path(str(fasta) + ".gzi") if self.compression == "bgzip" else None
        if not index.exists() or (gzi is not None and not gzi.exists()):
            stem = f"{fasta.name}.{_fingerprint(fasta)}"
            index = self.cache / f"{stem}.fai"
            gzi = self.cache / f"{stem}.gzi" if gzi is not None else None
            if not index.exists() or (gzi is not None and not gzi.exists()):
                try:
                    self.cache.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise InputError(f"{self.path} has no index and the cache folder {self.cache} is not "
                                     f"writable ({exc}); run `samtools faidx {self.path}` or set "
                                     "SEQZOO_CACHE to a writable folder") from None
                log.info("indexing %s into %s", fasta, index)
                _build_index(fasta, index, gzi)
        self.index_path = index
        try:
            self._fasta = pyfaidx.Fasta(str(fasta), indexname=str(index),
                                        gzi_indexname=str(gzi) if gzi else None, as_raw=True,
                                        sequence_always_upper=True, build_index=False, rebuild=False)
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError,
                UnicodeDecodeError) as exc:
            raise _unreadable(self.path, exc) from None
        self.lengths: dict[str, int] = {name: len(record) for name, record in self._fasta.records.items()}
        self.names = ContigNames(self.lengths, contig_map, str(self.path))

    def resolve(self, name: str) -> str | None:
        """The FASTA record name for a VCF or BED contig name (see :class:`ContigNames`), or None."""
        return self.names.resolve(name)

    def require(self, name: str) -> str:
        """Like :meth:`resolve` but raises NotFoundError naming the contigs that exist."""
        return self.names.require(name)

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Bases ``[start, end)`` (0-based, half-open) of a FASTA record, upper case.

        Positions outside the contig (before 0 or past its end) are returned as ``N``, so a
        window near a contig end keeps its length and its variant keeps its place.

        Parameters
        ----------
        contig : str
            A FASTA record name (use :meth:`resolve` for VCF names).
        start, end : int
            0-based half-open interval; may reach outside the contig.

        Returns
        -------
        str of length ``end - start``
        """
        if end < start:
            raise InputError(f"interval {contig}:{start}-{end} ends before it starts")
        length = self.lengths.get(contig)
        if length is None:
            raise NotFoundError(f"contig {contig!r} is not in {self.path} ({self.names.hint()})")
        lo, hi = max(start, 0), min(end, length)
        body = self._fasta[contig][lo:hi] if hi > lo else ""
        left = max(0, min(end, 0) - start)
        return "N" * left + body + "N" * (end - start - left - len(body))

    def close(self) -> None:
        self._fasta.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
