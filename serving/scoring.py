"""The one scoring loop: records in, class probabilities out, whichever scorer computes them.

``seqzoo score`` in every mode (``serving.ops.score``, per partition), ``score_table`` and the
Python API all run :func:`score_records`, so they cut batches, check lengths and name errors the
same way and give identical rows by construction. Only the scorer differs: an in-process
engine, a server, or a Dask worker's engine (``serving/scorers.py``).

A record is anything with ``sequence``, ``structure`` (or None) and ``where()`` (its place for
error messages): a FASTA record (``seqzoo.zoo.io.fasta.FastaRecord``) or a table :class:`Row`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from seqzoo.zoo.errors import InputError, SeqzooError

SEQUENCE = "sequence"
STRUCTURE = "structure"
DEFAULT_BATCH = 1024


class Scorer(Protocol):
    """What the loop needs of a scorer: the model's facts and ``predict_batches``."""

    classes: list[str]
    length: int | None

    def predict_batches(self, batches: Iterable[list]) -> Iterator[np.ndarray]:
        """float32 [n, C] for each batch of records, in order; errors located with :func:`locate`."""


@dataclass(frozen=True)
class Row:
    """Item ``index`` of a table (``noun`` "row") or of a list (``noun`` "sequence"), as a record."""

    index: int
    sequence: str
    structure: str | None = None
    noun: str = "row"
    tracks: dict[str, str] | None = None  # a multimodal model's track letters (name -> string)

    def where(self) -> dict:
        return {"index": self.index, "noun": self.noun}


@dataclass
class Tracked:
    """A record (a FASTA record, a Row) with a multimodal model's track letters attached."""

    record: object
    tracks: dict[str, str]

    def __getattr__(self, name: str):
        if name == "record":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.record, name)


def with_tracks(records: Iterable, readers: dict[str, Callable]) -> Iterator[Tracked]:
    """Attach to each record its value of every track (a reader per track: record -> letters or
    numbers, serving.track_sources.record_tracks); an error is placed at the record."""
    for record in records:
        try:
            found = {name: read(record) for name, read in readers.items()}
        except InputError as exc:
            raise InputError(str(exc), **record.where()) from None
        yield Tracked(record, found)


def request_tracks(messages, n: int) -> dict[str, list]:
    """The tracks of a request (``seqzoo.v1.Track`` messages) for ``n`` sequences as name -> one
    string (letters) or one row of numbers (a numeric track's ``numbers``, split into ``n`` equal
    rows) per sequence; a name twice, or both fields, is an error."""
    tracks: dict[str, list] = {}
    for track in messages:
        if track.name in tracks:
            raise InputError(f"track {track.name!r} is given twice")
        if track.numbers and track.values:
            raise InputError(f"track {track.name!r}: give its letters (values) or its numbers, not both")
        if track.numbers:
            if not n or len(track.numbers) % n:
                raise InputError(f"track {track.name!r} has {len(track.numbers)} numbers, not a multiple of the "
                                 f"{n} sequences")
            tracks[track.name] = list(np.asarray(track.numbers, dtype=np.float64).reshape(n, -1))
        else:
            tracks[track.name] = list(track.values)
    return tracks


def tracks_of(batch: list) -> dict[str, list[str]] | None:
    """A batch's track letters (name -> one string per record), or None when it has none."""
    first = getattr(batch[0], "tracks", None)
    return None if not first else {name: [r.tracks[name] for r in batch] for name in first}


def locate(error: SeqzooError, batch: list) -> SeqzooError:
    """``error`` about item ``error.index`` of ``batch``, placed at that record instead."""
    if error.index is None or not 0 <= error.index < len(batch) or error.noun not in ("sequence", "structure"):
        return error
    placed = error.at(**{"index": None, "noun": "sequence", **batch[error.index].where()})
    if error.noun == "structure":  # the record's structure, not its sequence, is what is wrong
        placed.reason = f"its structure: {error.reason}"
        placed.args = (str(placed),)
    return placed


def batches(records: Iterable, size: int) -> Iterator[list]:
    """Consecutive records, ``size`` at most per batch, one length and one kind (with or without a
    structure) per batch, so no batch is ever padded and input order is kept."""
    if size < 1:
        raise InputError(f"batch size must be at least 1, got {size}")
    batch: list = []
    for record in records:
        if batch and (len(record.sequence) != len(batch[0].sequence)
                      or (record.structure is None) != (batch[0].structure is None) or len(batch) >= size):
            yield batch
            batch = []
        batch.append(record)
    if batch:
        yield batch


def check_lengths(batch: list, length: int | None, ref: str) -> None:
    """Refuse records of another length than a fixed-length model takes, naming the record."""
    if length is not None and batch and len(batch[0].sequence) != length:
        raise InputError(f"is {len(batch[0].sequence)} long but model {ref} takes {length}",
                         **batch[0].where())


def score_records(records: Iterable, scorer: Scorer, batch_size: int = DEFAULT_BATCH
                  ) -> Iterator[tuple[list, np.ndarray]]:
    """Score records in input order.

    Parameters
    ----------
    records : iterable of records
        Read lazily: a file of any size streams through in bounded memory.
    scorer : Scorer
    batch_size : int
        Records per forward pass or request.

    Yields
    ------
    (list of records, np.ndarray float32 [n, C])
        Each batch with its probabilities (columns in the order of ``scorer.classes``).
    """
    pending: list[list] = []

    def cut() -> Iterator[list]:
        for batch in batches(records, batch_size):
            pending.append(batch)
            yield batch

    for probs in scorer.predict_batches(cut()):
        yield pending.pop(0), probs


def probabilities(records: Iterable, scorer: Scorer, batch_size: int = DEFAULT_BATCH,
                  each: Callable[[list], None] | None = None) -> np.ndarray:
    """float32 [n, C] of the records, in input order; ``each(batch)`` sees every batch scored."""
    blocks: list[np.ndarray] = []
    for batch, probs in score_records(records, scorer, batch_size):
        if each is not None:
            each(batch)
        blocks.append(probs)
    return np.concatenate(blocks) if blocks else np.zeros((0, len(scorer.classes)), dtype=np.float32)


def named_scores(records: Iterable, scorer: Scorer, batch_size: int = DEFAULT_BATCH) -> dict:
    """Named records' (FASTA records') ``id`` and one float32 array per class, in input order."""
    ids: list[str] = []
    probs = probabilities(records, scorer, batch_size, lambda batch: ids.extend(r.name for r in batch))
    return {"id": ids, **{c: probs[:, k] for k, c in enumerate(scorer.classes)}}


def output_schema(input_schema, classes: list[str], sequence_column: str = SEQUENCE,
                  structure_column: str = STRUCTURE, keep_sequence: bool = False):
    """The pyarrow schema ``score_table`` returns for an input schema: the kept columns, then one
    float32 column per class."""
    import pyarrow as pa  # only tables need it: the variants path stays without pyarrow

    dropped = set() if keep_sequence else {sequence_column, structure_column}
    fields = [f for f in input_schema if f.name not in dropped]
    clash = sorted({f.name for f in fields} & set(classes))
    if clash:
        raise InputError(f"input column(s) {clash} have the same names as the model's classes; rename them")
    return pa.schema(fields + [pa.field(c, pa.float32()) for c in classes])


def score_table(table, scorer: Scorer, batch_size: int = DEFAULT_BATCH, sequence_column: str = SEQUENCE,
                structure_column: str = STRUCTURE, keep_sequence: bool = False):
    """Score every row of a table with :func:`score_records`.

    Parameters
    ----------
    table : pyarrow.Table
        A string column ``sequence_column``; optionally ``structure_column``; any other columns
        (ids, coordinates) are carried through unchanged.
    scorer : Scorer
    keep_sequence : bool
        Keep the sequence (and structure) columns in the output.

    Returns
    -------
    pyarrow.Table
        The carried columns, then one float32 column per class (named by the class), N rows.
    """
    import pyarrow as pa

    if sequence_column not in table.column_names:
        raise InputError(f"the table has no column {sequence_column!r} (columns: {', '.join(table.column_names)})")
    schema = output_schema(table.schema, scorer.classes, sequence_column, structure_column, keep_sequence)
    sequences = table.column(sequence_column).to_pylist()
    structures = (table.column(structure_column).to_pylist() if structure_column in table.column_names
                  else [None] * len(sequences))
    for i, s in enumerate(sequences):
        if s is None:
            raise InputError("the sequence is missing", index=i, noun="row")
    probs = probabilities([Row(i, s, t) for i, (s, t) in enumerate(zip(sequences, structures))], scorer, batch_size)
    kept = [table.column(f.name) for f in schema if f.name in table.column_names]
    columns = kept + [pa.array(probs[:, k], type=pa.float32()) for k in range(len(scorer.classes))]
    return pa.Table.from_arrays(columns, schema=schema)
