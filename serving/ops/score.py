"""Scoring an input file: class probabilities of every FASTA record, parquet row or BED window.

    score(ScoreSettings("windows.fa", "scores.parquet"), executor)

The input is cut into partitions (``serving.ops.partitions``: byte ranges of a plain FASTA,
record chunks of a gzipped one, row groups of a parquet file, windows of BED regions on a
genome); each partition is scored by :class:`ScorePart` with the one scoring loop
(``serving.scoring``) wherever the executor runs it. The output is one table (``.tsv`` or
``.parquet``: the driver writes the partitions' rows in input order) or a folder of parquet parts
(any other name: each task writes its part; ``_SUCCESS.json`` sums the run up). Either appears
only when complete. Rows keep input order: a FASTA's ``id``, or a table's carried columns, then
one float32 column per class; the file records the model's ref and digest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from seqzoo.serving.ops import DEFAULT_PARTITION_ROWS, PART
from seqzoo.serving.ops.executors import summarise, task_costs
from seqzoo.serving.ops.partitions import (
    FastaRange,
    Records,
    describe_row,
    fasta_records,
    input_kind,
    load_table,
    plan_fasta,
    plan_parquet,
    plan_windows,
    stream_fasta,
    windows_schema,
)
from seqzoo.zoo.errors import InputError, NotFoundError, SeqzooError
from seqzoo.zoo.io.atomic import AtomicFolder
from seqzoo.zoo.io.table import FORMATS, TableWriter


@dataclass(frozen=True)
class ScoreSettings:
    """What ``seqzoo score`` is asked.

    ``input``: ``.fa/.fasta[.gz]``, ``.parquet`` (a ``sequence_column``; other columns carried) or
    ``.bed[.gz]`` (windows of the model's length every ``stride`` bases, default the length, cut
    from ``genome``). ``output``: ``.tsv``/``.parquet``, else a folder of parts. ``tracks``: a
    multimodal model's ``NAME=FILE`` tracks (``serving.track_sources.record_tracks``).
    """

    input: str
    output: str
    batch: int = 1024
    convert_tu: bool = False
    tracks: tuple[str, ...] = ()
    genome: str | None = None
    stride: int | None = None
    genome_cache: str | None = None
    partition_rows: int = DEFAULT_PARTITION_ROWS
    sequence_column: str = "sequence"

    def check(self) -> None:
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        if self.partition_rows < 1:
            raise InputError(f"--partition-rows must be at least 1, got {self.partition_rows}")
        if not Path(self.input).exists() or Path(self.input).is_dir():
            raise NotFoundError(f"{self.input}: no such file")
        one_table(self.output)


def one_table(output: str | os.PathLike) -> bool:
    """Whether ``output`` names one table (``.tsv``, ``.parquet``) rather than a folder of parts (a
    name without a suffix); any other suffix is an error."""
    suffix = Path(output).suffix.lower()
    if suffix and suffix not in FORMATS:
        raise InputError(f"-o {output}: name a .tsv or .parquet file, or a folder of parts (without a suffix)")
    return bool(suffix)


@dataclass(frozen=True)
class ScorePart:
    """Task: score one partition; return its table, or write it as part ``index`` of ``folder``."""

    settings: ScoreSettings
    facts: dict  # the model stamp of every output
    folder: str | None = None

    def __call__(self, context, item) -> dict:
        index, part = item
        started, cpu = time.perf_counter(), time.process_time()
        columns, rows = self.rows(context, part)
        out = {"index": index, "rows": len(rows["id"]) if isinstance(rows, dict) else rows.num_rows}
        if self.folder is not None:
            with TableWriter(Path(self.folder) / PART.format(index), columns, self.facts) as writer:
                writer.write(rows)
        else:
            out["data"] = rows
        return {**out, **task_costs(started, cpu)}

    def rows(self, context, part) -> tuple:
        """(columns, rows) of the partition: a FASTA's ids and probabilities as a mapping of arrays
        (no pyarrow for a TSV), a table's carried columns and probabilities as a pyarrow Table."""
        from seqzoo.serving.scoring import named_scores, score_table, with_tracks

        settings = self.settings
        scorer = context.scorer.converting(settings.convert_tu)
        if isinstance(part, (FastaRange, Records)):
            records = fasta_records(part)
            if settings.tracks:
                records = with_tracks(records, context.record_tracks(settings.tracks))
            return score_columns(scorer), named_scores(records, scorer, settings.batch)
        table = load_table(part)
        try:
            scored = score_table(table, scorer, settings.batch, settings.sequence_column)
        except SeqzooError as exc:
            if exc.index is None or exc.noun != "row":
                raise
            raise exc.at(**{"index": None, "noun": "sequence", **describe_row(part, table, exc.index)}) from None
        return scored.schema, scored


def score_columns(scorer) -> dict:
    """The columns of a FASTA's scores: ``id``, then one float32 column per class."""
    if "id" in scorer.classes:
        raise InputError("the model has a class named 'id'; it would clash with the id column")
    return {"id": "string", **dict.fromkeys(scorer.classes, "float32")}


def output_columns(settings: ScoreSettings, scorer, kind: str):
    """The output's columns for an input of ``kind`` (``partitions.input_kind``): a FASTA's ``id`` and
    classes, or a table's carried columns and classes."""
    if kind in ("fasta", "fasta.gz"):
        return score_columns(scorer)
    from seqzoo.serving.scoring import output_schema

    if kind == "parquet":
        import pyarrow.parquet as pq

        return output_schema(pq.read_schema(settings.input), scorer.classes, settings.sequence_column)
    return output_schema(windows_schema(), scorer.classes)


def plan(settings: ScoreSettings, scorer, kind: str) -> Iterable:
    """The partitions of an input of ``kind`` for the model ``scorer`` describes."""
    from seqzoo.zoo.alphabets import ProductAlphabet

    structures = isinstance(scorer.alphabet, ProductAlphabet)
    if settings.genome and kind != "bed":
        raise InputError(f"--genome: only a BED input is cut into windows of a genome ({settings.input} is {kind})")
    if kind == "fasta":
        return plan_fasta(settings.input, settings.partition_rows, structures)
    if kind == "fasta.gz":
        return stream_fasta(settings.input, settings.partition_rows, structures)
    if settings.tracks:
        raise InputError(f"--track: tracks are read for FASTA records; {settings.input} is {kind}")
    if kind == "parquet":
        return plan_parquet(settings.input, settings.partition_rows, settings.sequence_column)
    if not settings.genome:
        raise InputError(f"{settings.input}: a BED input needs --genome FASTA to cut windows from")
    if not scorer.length:
        raise InputError(f"model {scorer.ref} takes any length; BED windows need a fixed one")
    from seqzoo.serving.ops.executors import Context

    Context.genome(settings.genome, cache=settings.genome_cache)  # indexed here once, not by every task at once
    return plan_windows(settings.input, settings.genome, int(scorer.length),
                        int(settings.stride or scorer.length), settings.partition_rows, settings.genome_cache)


def score(settings: ScoreSettings, executor, progress: Callable[[int], None] | None = None) -> dict:
    """Score ``settings.input`` into ``settings.output`` with the executor's model.

    ``progress(rows)`` is called after each partition with the rows scored so far.

    Returns
    -------
    dict
        ``rows``, ``parts``, ``seconds``, ``workers``, ``model``, ``digest``, ``output``.
    """
    settings.check()
    scorer = executor.scorer
    started = time.monotonic()
    facts = {"model": scorer.ref, "digest": scorer.digest, "input": str(settings.input)}
    kind = input_kind(settings.input)
    parts = enumerate(plan(settings, scorer, kind))
    folder = writer = None
    results, done = [], 0
    try:
        if one_table(settings.output):  # opened before any work: an unwritable output is said at once
            writer = TableWriter(settings.output, output_columns(settings, scorer, kind), facts)
        else:
            folder = AtomicFolder(settings.output)
        task = ScorePart(settings, facts, None if folder is None else str(folder.tmp))
        for result in executor.map(task, parts):
            if writer is not None:
                writer.write(result.pop("data"))
            results.append(result)
            done += result["rows"]
            if progress is not None:
                progress(done)
        summary = {**summarise(results, started), "model": scorer.ref, "digest": scorer.digest}
        if folder is not None:
            folder.commit(summary)
        else:
            writer.commit()
    except BaseException:
        for w in (writer, folder):
            if w is not None:
                w.abort()
        raise
    summary["output"] = str(settings.output)
    return summary


@dataclass(frozen=True)
class ScoreRows:
    """Task: probabilities float32 [n, C] of a list of records (``serving.scoring.Row``) in memory."""

    batch: int = 1024
    convert_tu: bool = False

    def __call__(self, context, rows):
        from seqzoo.serving.scoring import probabilities

        return probabilities(rows, context.scorer.converting(self.convert_tu), self.batch)
