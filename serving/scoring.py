"""The one scoring core: a table of sequences in, the same rows with class probabilities out.

``seqzoo score --local`` calls it on each chunk of a FASTA file, and batch jobs call it on each
partition from their workers, so every path scores with the same encoding and batching.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from seqzoo.zoo.errors import InputError

SEQUENCE = "sequence"
STRUCTURE = "structure"


def output_schema(input_schema: pa.Schema, classes: list[str], sequence_column: str = SEQUENCE,
                  structure_column: str = STRUCTURE, keep_sequence: bool = False) -> pa.Schema:
    """The schema ``score_table`` returns for an input schema: the kept columns, then one float32
    column per class."""
    dropped = set() if keep_sequence else {sequence_column, structure_column}
    fields = [f for f in input_schema if f.name not in dropped]
    clash = sorted({f.name for f in fields} & set(classes))
    if clash:
        raise InputError(f"input column(s) {clash} have the same names as the model's classes; rename them")
    return pa.schema(fields + [pa.field(c, pa.float32()) for c in classes])


def score_table(table: pa.Table, engine, batch_size: int = 1024, sequence_column: str = SEQUENCE,
                structure_column: str = STRUCTURE, convert_tu: bool = False,
                keep_sequence: bool = False) -> pa.Table:
    """Score every row of a table with a model.

    Rows are encoded in the model's alphabet (structure models fold rows that have no
    structure), grouped by length (a batch never mixes lengths) and scored ``batch_size`` at a
    time, then put back in input order.

    Parameters
    ----------
    table : pyarrow.Table
        A string column ``sequence_column``; optionally ``structure_column``; any other columns
        (ids, coordinates) are carried through unchanged.
    engine : Engine
        A loaded engine (``serving.engine.Engine``).
    batch_size : int
        Sequences per forward pass.
    convert_tu : bool
        Read T as U for RNA models (U as T for DNA models).
    keep_sequence : bool
        Keep the sequence (and structure) columns in the output.

    Returns
    -------
    pyarrow.Table
        The carried columns, then one float32 column per class (named by the class), N rows.
    """
    if sequence_column not in table.column_names:
        raise InputError(f"the table has no column {sequence_column!r} (columns: {', '.join(table.column_names)})")
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    schema = output_schema(table.schema, engine.classes, sequence_column, structure_column, keep_sequence)
    sequences = table.column(sequence_column).to_pylist()
    structures = (table.column(structure_column).to_pylist() if structure_column in table.column_names else None)
    n = len(sequences)
    probs = np.zeros((n, len(engine.classes)), dtype=np.float32)
    for i, s in enumerate(sequences):
        if s is None:
            raise InputError(f"row {i}: the sequence is missing")
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(sequences):
        by_length.setdefault(len(s), []).append(i)
    for rows in by_length.values():
        for start in range(0, len(rows), batch_size):
            index = rows[start:start + batch_size]
            batch = [sequences[i] for i in index]
            struct = [structures[i] for i in index] if structures is not None else None
            if struct is not None and any(s is None for s in struct):
                struct = None if all(s is None for s in struct) else struct
                if struct is not None:
                    missing = index[next(k for k, s in enumerate(struct) if s is None)]
                    raise InputError(f"row {missing}: the structure is missing (give all or none in a batch)")
            try:
                codes = engine.encode(batch, struct, convert_tu=convert_tu)
            except InputError as exc:
                raise InputError(_rows_named(str(exc), index)) from None
            probs[index] = engine.predict(codes)
    kept = [table.column(f.name) for f in schema if f.name in table.column_names]
    columns = kept + [pa.array(probs[:, k], type=pa.float32()) for k in range(len(engine.classes))]
    return pa.Table.from_arrays(columns, schema=schema)


def _rows_named(message: str, index: list[int]) -> str:
    """Rewrite 'sequence i' (an index into a batch) as 'row r' (the table's row)."""
    import re

    def swap(match: re.Match) -> str:
        i = int(match.group(1))
        return f"row {index[i]}" if i < len(index) else match.group(0)

    return re.sub(r"\bsequence (\d+)", swap, message)
