"""Training data: read labelled sequences, fix their length, split them, and check for leaks.

Inputs are pysster's (one FASTA per class, or one FASTA whose headers carry class indices such
as ``>0,2``) or a table (CSV, TSV, parquet) with a sequence column and one or more label
columns. A FASTA record may carry its own structure (dot-bracket or annotated F/T/S/H/I/M) as
the line(s) after the sequence, as pysster's structure files do; then every record must.

Every error names the file and line (or table row) and the offending character or field, so a
user can fix the input; readers never replace characters at random (the alphabet's unknown
rule applies to ``N`` and IUPAC codes only).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from seqzoo.zoo.alphabets import (
    INVALID,
    Alphabet,
    get_alphabet,
)
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.coords import FORMS, Coordinates, record_coordinates
from seqzoo.zoo.io.fasta import FastaRecord, read_fasta
from seqzoo.zoo.manifest import sha256_file

TASKS = ("binary", "multiclass", "multilabel")


CHROM = "chrom"  # a table's chromosome column (seqzoo sites writes it), for chromosome hold-out


def sha256_hex(path: str | os.PathLike) -> str:
    """The bare hex sha256 of a file, as the card's ``training.files`` list records it."""
    return sha256_file(path).removeprefix("sha256:")


@dataclass
class LabelledSet:
    """Labelled sequences, as read (before length fixing and encoding).

    Parameters
    ----------
    sequences : list of str, length N
    labels : np.ndarray, shape=(N, C), float32 0/1
        One-hot for binary/multiclass, any 0/1 pattern for multilabel.
    classes : list of str, length C
    task : {"binary", "multiclass", "multilabel"}
    structures : list of str or None
        Structures given in the input (None when the input has none).
    origins : list of str, length N
        ``file:line`` (or ``file: row i``) of each record, for error messages.
    files : list of dict
        ``{"path", "sha256", "class", "records"}`` of each input file (for the card).
    chroms : list of str or None
        Each record's chromosome (from FASTA header coordinates or a table's ``chrom`` column;
        None where a record has none), for chromosome hold-out.
    coordinates : list of Coordinates or None
        Each record's interval and strand (FASTA header coordinates, or a table's ``chrom``,
        ``start``, ``end`` and ``strand`` columns), for numeric tracks; empty when unknown.
    tracks : dict of str -> list of str
        Track inputs read with the records (a table's ``--track-column``), N strings each.
    """

    sequences: list[str]
    labels: np.ndarray
    classes: list[str]
    task: str
    structures: list[str] | None = None
    origins: list[str] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    chroms: list[str | None] = field(default_factory=list)
    tracks: dict[str, list[str]] = field(default_factory=dict)
    coordinates: list[Coordinates | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, index: np.ndarray) -> LabelledSet:
        """The records at ``index`` (int array), files and classes kept."""
        index = np.asarray(index, dtype=np.int64)
        return LabelledSet([self.sequences[i] for i in index], self.labels[index], list(self.classes), self.task,
                           None if self.structures is None else [self.structures[i] for i in index],
                           [self.origins[i] for i in index] if self.origins else [], self.files,
                           [self.chroms[i] for i in index] if self.chroms else [],
                           {name: [values[i] for i in index] for name, values in self.tracks.items()},
                           [self.coordinates[i] for i in index] if self.coordinates else [])

    def counts(self) -> dict[str, int]:
        """Records per class (label column sums)."""
        return {c: int(n) for c, n in zip(self.classes, self.labels.sum(axis=0))}


def check_characters(sequences: Sequence[str], origins: Sequence[str], alphabet: Alphabet,
                     convert_tu: bool = False, records: Sequence[FastaRecord] | None = None,
                     path: Path | None = None) -> None:
    """Raise an InputError naming file:line and character of the first character outside ``alphabet``."""
    lut = alphabet.lookup(convert_tu)
    for i, seq in enumerate(sequences):
        raw = seq.encode("ascii", errors="replace")
        bad = np.flatnonzero(lut[np.frombuffer(raw, dtype=np.uint8)] == INVALID)
        if len(bad):
            pos = int(bad[0])
            where = f"{path}:{records[i].line_of(pos)}" if records is not None else origins[i]
            hint = " (use --alphabet rna)" if seq[pos].upper() == "U" and "T" in alphabet.letters else (
                " (use --alphabet dna)" if seq[pos].upper() == "T" and "U" in alphabet.letters else "")
            raise InputError(f"{where}: character {seq[pos]!r} is not in the {alphabet.name} alphabet "
                             f"{alphabet.letters}{hint}")


def infer_alphabet(sequences: Sequence[str], unknown: str = "zero") -> Alphabet:
    """Guess ``rna``, ``dna`` or ``protein`` from the letters used (the card then names it)."""
    chars: set[str] = set()
    for seq in sequences:
        chars.update(seq.upper())
    nucleotide = set("ACGTUNRYSWKMBDHV")
    if chars <= nucleotide:
        return get_alphabet("rna" if "U" in chars and "T" not in chars else "dna", unknown)
    return get_alphabet("protein", unknown)


def _check_structures(structures: list[str | None], origins: list[str]) -> list[str] | None:
    """All records carry a structure, or none does; lengths are checked later against the sequence."""
    have = [s is not None for s in structures]
    if not any(have):
        return None
    if not all(have):
        missing = have.index(False) if have[0] else have.index(True)
        raise InputError(f"{origins[missing]}: mixed input: some records carry a structure line and "
                         f"others do not (first {'without' if have[0] else 'with'} one here)")
    return structures  # type: ignore[return-value]


def read_class_files(pairs: Sequence[tuple[str, str | os.PathLike]], matches: dict[str, str] | None = None
                     ) -> tuple[LabelledSet, list]:
    """Read one FASTA file per class (pysster's input).

    Parameters
    ----------
    pairs : list of (label, path)
        Class name and file; a label may repeat (its files are concatenated).
    matches : {label: text}, optional
        Keep only the records of that label's files whose header contains the text (one labelled
        file read as several classes: iONMF's ``class:1`` / ``class:0`` headers).

    Returns
    -------
    (LabelledSet, records)
        The set (task binary for 2 classes, multiclass for more) and, for error messages, the
        list of (path, FastaRecord) per sequence.
    """
    if not pairs:
        raise InputError("no input: give --class LABEL=PATH (one per class) or --table")
    classes = list(dict.fromkeys(label for label, _ in pairs))
    if len(classes) < 2:
        raise InputError(f"only one class ({classes[0]!r}): a classifier needs at least two --class labels")
    matches = matches or {}
    for label in matches:
        if label not in classes:
            raise InputError(f"--class-match {label}: no --class {label}=PATH (classes: {', '.join(classes)})")
    sequences, structures, origins, files, where, label_index, coordinates = [], [], [], [], [], [], []
    for label, path in pairs:
        path = Path(path)
        records = read_fasta(path)
        if label in matches:
            records = [r for r in records if matches[label] in r.header]
            if not records:
                raise InputError(f"{path}: no record header contains {matches[label]!r} (--class-match {label})")
        files.append({"path": str(path), "sha256": sha256_hex(path), "class": label, "records": len(records)})
        for r in records:
            sequences.append(r.sequence)
            structures.append(r.structure)
            origins.append(f"{path}:{r.line}")
            where.append((path, r))
            label_index.append(classes.index(label))
            coordinates.append(record_coordinates(r))
    labels = np.zeros((len(sequences), len(classes)), dtype=np.float32)
    labels[np.arange(len(sequences)), label_index] = 1.0
    task = "binary" if len(classes) == 2 else "multiclass"
    return LabelledSet(sequences, labels, classes, task, _check_structures(structures, origins), origins,
                       files, _chroms(coordinates), coordinates=coordinates), where


def _chroms(coordinates: list[Coordinates | None]) -> list[str | None]:
    return [None if where is None else where.chrom for where in coordinates]


def chromosome_split(dataset: LabelledSet, chroms: Sequence[str], flag: str) -> tuple[np.ndarray, np.ndarray]:
    """(records not on ``chroms``, records on them): the hold-out of ``flag`` (``--test-chroms``).

    Every record needs a chromosome (FASTA header coordinates or a table's chrom column); a
    chromosome no record lies on, or a split left empty, is an error naming it.
    """
    if not dataset.chroms or any(c is None for c in dataset.chroms):
        i = next((k for k, c in enumerate(dataset.chroms) if c is None), 0)
        where = dataset.origins[i] if dataset.origins else f"record {i + 1}"
        raise InputError(f"{flag} needs every record's chromosome; {where} has none (FASTA headers such as "
                         f"{FORMS}, or a table column 'chrom')")
    have = np.asarray(dataset.chroms)
    present = set(dataset.chroms)
    for chrom in chroms:
        if chrom not in present:
            shown = ", ".join(sorted(present, key=lambda c: (len(c), c))[:30])
            raise InputError(f"{flag} {chrom}: no record lies on it (the records' chromosomes: {shown})")
    held = np.isin(have, list(chroms))
    if held.all():
        raise InputError(f"{flag} {','.join(chroms)}: every record lies on these chromosomes; nothing is left to "
                         "train on")
    return np.flatnonzero(~held), np.flatnonzero(held)


def parse_label_header(header: str, where: str) -> list[int]:
    """Class indices from a multi-label header such as ``0,2`` (pysster's format)."""
    token = header.split()[0] if header.split() else ""
    try:
        indices = [int(t) for t in token.split(",") if t != ""]
    except ValueError:
        raise InputError(f"{where}: header {header!r} is not a comma-separated list of class indices "
                         "such as >0,2") from None
    if not indices or min(indices) < 0:
        raise InputError(f"{where}: header {header!r} has no class indices (expected e.g. >0,2)")
    return indices


def read_multilabel_fasta(path: str | os.PathLike, class_names: Sequence[str] | None = None
                          ) -> tuple[LabelledSet, list]:
    """Read one FASTA whose headers list each record's class indices (``>0,2``): a multilabel set."""
    path = Path(path)
    records = read_fasta(path)
    parsed = [parse_label_header(r.header, f"{path}:{r.line}") for r in records]
    n_classes = max(max(p) for p in parsed) + 1
    if class_names is not None:
        if len(class_names) < n_classes:
            raise InputError(f"{path}: headers use class index {n_classes - 1} but only {len(class_names)} "
                             "class names were given")
        n_classes = len(class_names)
    classes = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    if n_classes < 2:
        raise InputError(f"{path}: only one class (index 0): a classifier needs at least two")
    labels = np.zeros((len(records), n_classes), dtype=np.float32)
    for i, p in enumerate(parsed):
        labels[i, p] = 1.0
    origins = [f"{path}:{r.line}" for r in records]
    files = [{"path": str(path), "sha256": sha256_hex(path), "class": "*", "records": len(records)}]
    coordinates = [record_coordinates(r) for r in records]
    data = LabelledSet([r.sequence for r in records], labels, classes, "multilabel",
                       _check_structures([r.structure for r in records], origins), origins, files,
                       _chroms(coordinates), coordinates=coordinates)
    return data, [(path, r) for r in records]


def _read_frame(path: Path):
    """(pandas DataFrame, row -> "file:line" namer) of a CSV / TSV / parquet table; errors name the file."""
    import pandas as pd

    if not path.exists():
        raise InputError(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    try:
        if name.endswith(".parquet"):
            frame = pd.read_parquet(path)
            row_name = lambda i: f"{path}: row {i + 1}"
        else:
            sep = "," if name.endswith(".csv") else "\t"
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, compression="infer")
            row_name = lambda i: f"{path}:{i + 2}"
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: unreadable file ({exc})") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: file is empty") from None
    except Exception as exc:  # noqa: BLE001 - parser errors of pandas/pyarrow: one line naming the file
        raise InputError(f"{path}: cannot read the table ({str(exc).splitlines()[0]})") from None
    return frame, row_name


def read_table(path: str | os.PathLike, sequence_column: str, label_columns: Sequence[str],
               structure_column: str | None = None, track_columns: dict[str, str] | None = None) -> LabelledSet:
    """Read a CSV / TSV / parquet table of sequences and labels.

    One label column: its distinct values are the classes (2 -> binary, more -> multiclass).
    Several label columns: a multilabel (multitask) set; each column holds 0/1 (or true/false).

    Parameters
    ----------
    path : str or path
        ``.csv``, ``.tsv`` / ``.txt`` (tab), ``.parquet``, optionally gzipped (``.csv.gz``).
    sequence_column : str
    label_columns : list of str
    structure_column : str, optional
        A column of structures given with the sequences.
    track_columns : dict of track name -> column, optional
        Columns of per-position track letters (the set's ``tracks``).
    """
    path = Path(path)
    frame, row_name = _read_frame(path)
    if not len(label_columns):
        raise InputError("no label column given (--label-columns A,B)")
    track_columns = dict(track_columns or {})
    for column in [sequence_column, *label_columns, *track_columns.values()] + \
            ([structure_column] if structure_column else []):
        if column not in frame.columns:
            raise InputError(f"{path}: column {column!r} is missing (columns: {', '.join(map(str, frame.columns))})")
    if not len(frame):
        raise InputError(f"{path}: no sequences (the table has no rows)")
    sequences = [str(s).strip() for s in frame[sequence_column]]
    origins = [row_name(i) for i in range(len(frame))]
    for i, s in enumerate(sequences):
        if not s:
            raise InputError(f"{origins[i]}: empty sequence in column {sequence_column!r}")
    if len(label_columns) == 1:
        values = [str(v).strip() for v in frame[label_columns[0]]]
        classes = sorted(set(values), key=lambda v: (len(v), v))
        if len(classes) < 2:
            raise InputError(f"{path}: column {label_columns[0]!r} has one class only ({classes[0]!r})")
        labels = np.zeros((len(values), len(classes)), dtype=np.float32)
        labels[np.arange(len(values)), [classes.index(v) for v in values]] = 1.0
        task = "binary" if len(classes) == 2 else "multiclass"
    else:
        classes = list(label_columns)
        labels = np.zeros((len(frame), len(classes)), dtype=np.float32)
        truth = {"1": 1.0, "0": 0.0, "true": 1.0, "false": 0.0, "1.0": 1.0, "0.0": 0.0}
        for j, column in enumerate(classes):
            for i, v in enumerate(frame[column]):
                key = str(v).strip().lower()
                if key not in truth:
                    raise InputError(f"{origins[i]}: column {column!r} holds {v!r}; multilabel columns hold 0/1")
                labels[i, j] = truth[key]
            if labels[:, j].min() == labels[:, j].max():
                raise InputError(f"{path}: label column {column!r} has one value only ({int(labels[0, j])})")
        task = "multilabel"
    structures = None
    if structure_column:
        structures = [str(s).strip() for s in frame[structure_column]]
        empty = [i for i, s in enumerate(structures) if not s]
        if empty and len(empty) < len(structures):
            raise InputError(f"{origins[empty[0]]}: mixed input: some rows have a structure and others do not")
        structures = None if empty else structures
    files = [{"path": str(path), "sha256": sha256_hex(path), "class": "*", "records": len(frame)}]
    chroms = [str(c).strip() or None for c in frame[CHROM]] if CHROM in frame.columns else []
    tracks = {name: [str(v).strip() for v in frame[column]] for name, column in track_columns.items()}
    return LabelledSet(sequences, labels, classes, task, structures, origins, files, chroms, tracks,
                       _table_coordinates(frame, chroms, origins))


def _table_coordinates(frame, chroms: list[str | None], origins: list[str]) -> list[Coordinates | None]:
    """Each row's Coordinates from the ``chrom``, ``start``, ``end`` (0-based, half-open) and
    optional ``strand`` columns (``seqzoo sites`` writes them); empty without them."""
    if not chroms or not {"start", "end"} <= set(frame.columns):
        return []
    strands = frame["strand"] if "strand" in frame.columns else ["+"] * len(frame)
    out = []
    for i, (chrom, start, end, strand) in enumerate(zip(chroms, frame["start"], frame["end"], strands)):
        try:
            start, end = int(start), int(end)
        except (TypeError, ValueError):
            raise InputError(f"{origins[i]}: start {start!r} and end {end!r} must be whole numbers") from None
        strand = str(strand).strip() or "+"
        if end < start or strand not in ("+", "-", "."):
            raise InputError(f"{origins[i]}: interval {start}-{end} on strand {strand!r} is not a genomic interval")
        out.append(None if chrom is None else Coordinates(chrom, start, end, "-" if strand == "-" else "+"))
    return out


def choose_length(sequences: Sequence[str]) -> int:
    """The default fixed length: the longest sequence (shorter ones are padded)."""
    return max(len(s) for s in sequences)


def centre(sequences: Sequence[str], length: int, pad_left: str = "N", pad_right: str | None = None) -> list[str]:
    """Centre every string in a window of ``length``: pad both sides, or crop both sides.

    Padding puts ``floor(extra / 2)`` characters on the left (``pad_left``) and the rest on the
    right (``pad_right``, default the same character); cropping removes ``floor(excess / 2)`` from
    the left. Structure strings use ``F``/``T`` (annotated) or ``.`` so that their element
    letters stay meaningful (the padded bases are unknown, so their one-hot rows are zero).
    """
    pad_right = pad_left if pad_right is None else pad_right
    out = []
    for s in sequences:
        n = len(s)
        if n >= length:
            start = (n - length) // 2
            out.append(s[start:start + length])
        else:
            left = (length - n) // 2
            out.append(pad_left * left + s + pad_right * (length - n - left))
    return out


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held) with ``fraction`` of every label pattern held out.

    Parameters
    ----------
    labels : np.ndarray, shape=(N, C)
    fraction : float in (0, 1)
    seed : int

    Returns
    -------
    (rest, held) : int64 arrays, sorted
        Each stratum (distinct label row) contributes ``round(fraction * n)`` records to ``held``
        (at least one when it has two or more records), chosen by a seeded permutation.
    """
    if not 0 < fraction < 1:
        raise InputError(f"split fraction {fraction} must be between 0 and 1")
    rng = np.random.default_rng(seed)
    keys = np.unique(labels, axis=0, return_inverse=True)[1].reshape(-1)
    held = []
    for k in np.unique(keys):
        members = np.flatnonzero(keys == k)
        members = members[rng.permutation(len(members))]
        n = round(fraction * len(members))
        if len(members) >= 2:
            n = min(max(n, 1), len(members) - 1)
        held.append(members[:n])
    held_index = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), held_index)
    return rest.astype(np.int64), held_index.astype(np.int64)


def _key(sequence: str) -> str:
    return sequence.upper().replace("T", "U")


def is_all_unknown(sequence: str, alphabet: Alphabet) -> bool:
    """True when no position of ``sequence`` holds a letter of the alphabet (e.g. all N)."""
    letters = set(alphabet.letters)
    return not any(c in letters for c in sequence.upper())


def leakage(train: Sequence[str], val: Sequence[str], test: Sequence[str], alphabet: Alphabet) -> dict:
    """Report sequences shared between splits and all-unknown (all-N) sequences.

    Returns
    -------
    dict
        ``{"train_test": n, "val_test": n, "train_val": n, "all_unknown": {split: n}}``: numbers
        of records of the first split whose sequence (case-insensitive, T = U) occurs in the second.
    """
    test_keys = {_key(s) for s in test}
    val_keys = {_key(s) for s in val}
    return {
        "train_test": sum(_key(s) in test_keys for s in train),
        "val_test": sum(_key(s) in test_keys for s in val),
        "train_val": sum(_key(s) in val_keys for s in train),
        "all_unknown": {name: sum(is_all_unknown(s, alphabet) for s in seqs)
                        for name, seqs in (("train", train), ("val", val), ("test", test))},
    }


def leak_mask(sequences: Sequence[str], others: Sequence[Sequence[str]], alphabet: Alphabet) -> np.ndarray:
    """bool [N]: records to keep, dropping those found in any of ``others`` and all-unknown ones."""
    keys = set()
    for group in others:
        keys.update(_key(s) for s in group)
    return np.array([_key(s) not in keys and not is_all_unknown(s, alphabet) for s in sequences], dtype=bool)


def set_structures(sets: dict, form: str, processes: int | None = None, quiet: bool = True) -> dict:
    """Each set's (name -> LabelledSet or None) structures in ``form``: the ones its records carry
    (lengths checked), else folded by ViennaRNA (``processes``; a progress bar unless ``quiet``)."""
    from seqzoo.zoo import structure as fold

    structures = {}
    for name, ds in sets.items():
        if ds is None:
            continue
        if ds.structures is not None:
            for i, (s, t) in enumerate(zip(ds.sequences, ds.structures)):
                if len(s) != len(t):
                    raise InputError(f"{ds.origins[i]}: structure is {len(t)} long but the sequence {len(s)}")
            structures[name] = fold.convert(ds.structures, form)
        else:
            structures[name] = fold.structures(ds.sequences, form, processes, progress=not quiet)
    return structures
