"""RNA secondary structure: ViennaRNA minimum-free-energy folding and pysster's annotation.

Training folds every sequence of a structure model, and so does the server for requests that
bring no structure, so this lives in ``zoo`` (no PyTorch). Folding is the expensive step
(~35 ms per 200-nt sequence per core), and CLIP-seq sets repeat sequences, so folds are cached
by sequence hash in memory and on disk (an SQLite file under ``$SEQZOO_CACHE`` or
``~/.cache/seqzoo``, keyed by ViennaRNA version and temperature), and new sequences are folded
in a process pool.

The annotated form is pysster's (forgi's element letters): ``F`` unpaired 5' end, ``T``
unpaired 3' end, ``S`` paired (stem), ``H`` hairpin loop, ``I`` interior loop or bulge,
``M`` multiloop, including the unpaired stretches of the exterior loop between two stems.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.cache import cache_dir

FORMS = ("annotated", "dot-bracket")
_MEMORY: dict[str, str] = {}
_POOL_MIN = 64  # fold fewer sequences than this in-process (a pool costs more to start)


def vienna_version() -> str:
    """The installed ViennaRNA version (the card records it beside the predictor's name)."""
    import RNA

    return str(RNA.__version__)


def _normalise(sequence: str) -> str:
    return sequence.upper().replace("T", "U")


def _key(sequence: str, temperature: float) -> str:
    return hashlib.sha256(f"{temperature:g}|{_normalise(sequence)}".encode()).hexdigest()


def _fold_chunk(args: tuple[list[str], float]) -> list[str]:
    import RNA

    sequences, temperature = args
    md = RNA.md()
    md.temperature = temperature
    return [RNA.fold_compound(s, md).mfe()[0] if s else "" for s in sequences]


class _DiskCache:
    """SQLite table key -> dot-bracket; concurrent writers are serialised by SQLite itself."""

    def __init__(self, folder: Path, version: str):
        self.path = folder / f"structure-vienna-{version}.sqlite"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("CREATE TABLE IF NOT EXISTS fold (key TEXT PRIMARY KEY, structure TEXT NOT NULL)")
        except (OSError, sqlite3.Error):
            self.db = None  # an unwritable cache folder slows folding down but never breaks it

    def get(self, keys: list[str]) -> dict[str, str]:
        if self.db is None or not keys:
            return {}
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(f"SELECT key, structure FROM fold WHERE key IN ({','.join('?' * len(chunk))})",
                                   chunk)
            found.update(rows.fetchall())
        return found

    def put(self, items: Iterable[tuple[str, str]]) -> None:
        if self.db is None:
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO fold VALUES (?, ?)", list(items))
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def fold(sequences: Sequence[str], processes: int | None = None, temperature: float = 37.0,
         use_cache: bool = True, progress: bool = False) -> list[str]:
    """Minimum-free-energy dot-bracket structures of RNA (or DNA, read as RNA) sequences.

    Parameters
    ----------
    sequences : list of str
        Any case; T is read as U; N and other letters are left unpaired by ViennaRNA.
    processes : int, optional
        Worker processes for the sequences not in the cache (default: all cores).
    temperature : float
        Folding temperature in degrees Celsius (ViennaRNA's default 37).
    use_cache : bool
        Read and write the in-memory and on-disk caches.
    progress : bool
        Show a progress bar on stderr while folding.

    Returns
    -------
    list of str
        One dot-bracket string per sequence, same lengths.
    """
    if isinstance(sequences, str):
        raise InputError("fold() takes a list of sequences, got one string")
    keys = [_key(s, temperature) for s in sequences]
    result: dict[str, str] = {}
    disk = _DiskCache(cache_dir(), vienna_version()) if use_cache else None
    try:
        if use_cache:
            result.update({k: _MEMORY[k] for k in keys if k in _MEMORY})
            result.update(disk.get([k for k in dict.fromkeys(keys) if k not in result]))
        todo = {}
        for k, s in zip(keys, sequences):
            if k not in result:
                todo.setdefault(k, _normalise(s))
        if todo:
            todo_keys, todo_seqs = list(todo), list(todo.values())
            folded = _fold_many(todo_seqs, processes, temperature, progress)
            new = dict(zip(todo_keys, folded))
            result.update(new)
            if use_cache:
                disk.put(new.items())
        if use_cache:
            _MEMORY.update(result)
    finally:
        if disk is not None:
            disk.close()
    return [result[k] for k in keys]


def _fold_many(sequences: list[str], processes: int | None, temperature: float, progress: bool) -> list[str]:
    processes = processes or os.cpu_count() or 1
    if processes <= 1 or len(sequences) < _POOL_MIN:
        return _fold_chunk((sequences, temperature))
    size = max(8, min(256, len(sequences) // (processes * 8) or 1))
    chunks = [(sequences[i:i + size], temperature) for i in range(0, len(sequences), size)]
    out: list[str] = []
    from tqdm import tqdm

    with ProcessPoolExecutor(max_workers=processes) as pool:
        bar = tqdm(total=len(sequences), desc="folding", unit="seq", disable=not progress, leave=False)
        for part in pool.map(_fold_chunk, chunks):
            out.extend(part)
            bar.update(len(part))
        bar.close()
    return out


def pair_table(dot_bracket: str) -> list[int]:
    """Partner index of every position (-1 when unpaired); raises on unbalanced brackets."""
    stack: list[int] = []
    pairs = [-1] * len(dot_bracket)
    for i, c in enumerate(dot_bracket):
        if c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                raise InputError(f"structure {dot_bracket!r}: ')' at position {i + 1} closes nothing")
            j = stack.pop()
            pairs[i], pairs[j] = j, i
        elif c != ".":
            raise InputError(f"structure {dot_bracket!r}: character {c!r} at position {i + 1} is not "
                             "dot-bracket ( ) .")
    if stack:
        raise InputError(f"structure {dot_bracket!r}: '(' at position {stack[-1] + 1} is never closed")
    return pairs


def annotate(dot_bracket: str) -> str:
    """pysster's annotated structure (F T S H I M) of a dot-bracket string.

    An unpaired base closed by pair (p, q) is in a hairpin (H) when the loop holds no other
    pair, an interior loop or bulge (I) when it holds one, a multiloop (M) when it holds two or
    more. An unpaired base in the exterior loop is F before the first pair, T after the last,
    M between two stems; with no pair at all, the whole sequence is F.
    """
    pairs = pair_table(dot_bracket)
    n = len(dot_bracket)
    enclosing = [-1] * n  # opening position of the pair closing each unpaired base's loop
    branches: dict[int, int] = {-1: 0}  # pairs directly inside each loop
    stack = [-1]
    for i, c in enumerate(dot_bracket):
        if c == "(":
            branches[stack[-1]] += 1
            stack.append(i)
            branches[i] = 0
        elif c == ")":
            stack.pop()
        else:
            enclosing[i] = stack[-1]
    paired = [i for i in range(n) if pairs[i] >= 0]
    first, last = (paired[0], paired[-1]) if paired else (n, -1)
    out = []
    for i in range(n):
        if pairs[i] >= 0:
            out.append("S")
        elif enclosing[i] >= 0:
            out.append("HIM"[min(branches[enclosing[i]], 2)])
        elif i < first:
            out.append("F")
        elif i > last:
            out.append("T")
        else:
            out.append("M")
    return "".join(out)


def structures(sequences: Sequence[str], form: str = "annotated", processes: int | None = None,
               progress: bool = False) -> list[str]:
    """Fold sequences and return their structures in ``form`` (``annotated`` or ``dot-bracket``)."""
    if form not in FORMS:
        raise InputError(f"structure form {form!r} is not one of {', '.join(FORMS)}")
    folded = fold(sequences, processes=processes, progress=progress)
    return folded if form == "dot-bracket" else [annotate(s) for s in folded]


def convert(given: Sequence[str], form: str) -> list[str]:
    """Bring user-given structures to ``form``: dot-bracket is annotated on request; annotated stays."""
    out = []
    for i, s in enumerate(given):
        letters = set(s.upper())
        if letters <= set("().") and form == "annotated":
            out.append(annotate(s))
        elif letters <= set("().") or (letters <= set("FTSHIM") and form == "annotated"):
            out.append(s.upper())
        else:
            raise InputError(f"{s[:30]!r} is not a {form} structure "
                             f"({'F T S H I M' if form == 'annotated' else '( ) .'})", index=i, noun="structure")
    return out
