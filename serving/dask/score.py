"""``seqzoo score --dask``: a big input cut into partitions, each scored by a worker into a parquet part.

The client only plans partitions (``serving.dask.partitions``) and submits one task per
partition, at most ``window`` at a time, so its memory stays bounded whatever the input size.
Each worker loads the model once, reads its partition itself where it can, scores it with the
one scoring loop (``serving.scoring``) and writes ``part-NNNNN.parquet`` with the one table
writer. The output folder appears only when every part is written (assembled under a temporary
name, then renamed). Workers must see the input, the zoo version and the output folder at the
same paths (one machine, or a shared filesystem).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from seqzoo.serving.dask import DEFAULT_PARTITION_ROWS
from seqzoo.serving.dask.cluster import peak_rss_mib, run_tasks, worker_engine, worker_genome, worker_name
from seqzoo.serving.dask.partitions import (
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
)
from seqzoo.zoo.errors import InputError, NotFoundError, SeqzooError
from seqzoo.zoo.io.atomic import temporary_name
from seqzoo.zoo.io.table import TableWriter

PART = "part-{:05d}.parquet"


@dataclass(frozen=True)
class ScoreJob:
    """What every score task needs: the model version, where parts go, and scoring options."""

    model: object  # a zoo ModelVersion (picklable: name, version, digest, path, card)
    out_dir: str
    device: str = "cpu"
    batch_size: int = 1024
    convert_tu: bool = False
    sequence_column: str = "sequence"
    metadata: dict = field(default_factory=dict)

    def __call__(self, part, index: int) -> dict:
        return score_partition(part, index, self)


def score_partition(part, index: int, job: ScoreJob) -> dict:
    """Task: read one partition, score it with the one scoring loop on the worker's engine, write
    ``part-NNNNN.parquet`` (the same columns and model stamp as ``seqzoo score -o X.parquet``).

    Returns
    -------
    dict
        ``index``, ``rows``, ``seconds``, ``worker`` (its address), ``peak_rss_mib`` (of the
        worker process), ``path``.
    """
    from seqzoo.serving.scorers import LocalScorer
    from seqzoo.serving.scoring import score_table, write_scores

    started, cpu = time.perf_counter(), time.process_time()
    scorer = LocalScorer(worker_engine(job.model, job.device), job.convert_tu)
    target = Path(job.out_dir) / PART.format(index)
    if isinstance(part, (FastaRange, Records)):
        rows = write_scores(fasta_records(part), scorer, target, job.metadata, job.batch_size)
    else:
        table = load_table(part)
        try:
            scored = score_table(table, scorer, batch_size=job.batch_size, sequence_column=job.sequence_column)
        except SeqzooError as exc:
            if exc.index is None or exc.noun != "row":
                raise
            raise exc.at(**{"index": None, "noun": "sequence", **describe_row(part, table, exc.index)}) from None
        with TableWriter(target, scored.schema, job.metadata) as writer:
            writer.write(scored)
        rows = writer.rows
    return {"index": index, "rows": rows, "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu, "worker": worker_name(), "peak_rss_mib": peak_rss_mib(),
            "path": str(target)}


class OutputFolder:
    """A folder of parts assembled under a temporary name and renamed into place when complete."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists():
            raise InputError(f"{self.path} already exists; remove it or choose another output folder")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path.parent}: no such folder for the output")
        self.tmp = temporary_name(self.path)
        self.tmp.mkdir()

    def commit(self, summary: dict) -> Path:
        (self.tmp / "_SUCCESS.json").write_text(json.dumps(summary, indent=1) + "\n")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def summarise(results: Iterable[dict], started: float) -> dict:
    workers: dict[str, dict] = {}
    rows = parts = 0
    for r in results:
        rows += r["rows"]
        parts += 1
        w = workers.setdefault(r["worker"], {"peak_rss_mib": 0.0, "parts": 0, "task_seconds": 0.0, "cpu_seconds": 0.0})
        w["peak_rss_mib"] = round(max(w["peak_rss_mib"], r["peak_rss_mib"]), 1)
        w["parts"] += 1
        w["task_seconds"] = round(w["task_seconds"] + r["seconds"], 3)
        w["cpu_seconds"] = round(w["cpu_seconds"] + r.get("cpu_seconds", 0.0), 3)
    return {"rows": rows, "parts": parts, "seconds": time.monotonic() - started, "workers": dict(sorted(workers.items()))}


def score_partitions(client, input_path: str, model, output: str, partition_rows: int = DEFAULT_PARTITION_ROWS,
                     window: int | None = None, resources: dict | None = None, device: str = "cpu",
                     batch_size: int = 1024, convert_tu: bool = False, genome: str | None = None,
                     stride: int | None = None, genome_cache: str | None = None,
                     sequence_column: str = "sequence") -> dict:
    """Score a FASTA, parquet or BED (+ genome) input on a Dask cluster into a folder of parquet parts.

    Parameters
    ----------
    client : distributed.Client
    input_path : str
        ``.fa/.fasta`` (byte ranges read by the workers), ``.fa.gz`` (streamed by the client),
        ``.parquet`` (row groups read by the workers; a ``sequence`` column, others carried) or
        ``.bed`` (windows of the model's length every ``stride`` bases, read from ``genome``).
    model : ModelVersion
        The resolved, verified zoo version; workers load it from ``model.path``.
    output : str
        The folder to create: ``part-00000.parquet`` ... in input order, and ``_SUCCESS.json``.
    partition_rows : int
        Rows per partition (what one worker holds at a time).
    window : int, optional
        Partitions in flight (default: two per worker thread, plus two).
    resources : dict, optional
        Worker resources each task needs, e.g. ``{"GPU": 1}``.

    Returns
    -------
    dict
        ``rows``, ``parts``, ``seconds``, ``workers`` (address -> ``peak_rss_mib``), ``output``.
    """
    if partition_rows < 1:
        raise InputError(f"--partition-rows must be at least 1, got {partition_rows}")
    if not Path(input_path).is_file():
        raise NotFoundError(f"{input_path}: no such file")
    started = time.monotonic()
    kind = input_kind(input_path)
    card_length = model.card.get("input", {}).get("length")
    if kind == "fasta":
        parts: Iterable = plan_fasta(input_path, partition_rows)
    elif kind == "fasta.gz":
        parts = stream_fasta(input_path, partition_rows)
    elif kind == "parquet":
        parts = plan_parquet(input_path, partition_rows, sequence_column)
    else:
        if not genome:
            raise InputError(f"{input_path}: a BED input needs --genome FASTA to cut windows from")
        if not card_length:
            raise InputError(f"model {model.name}:{model.version} takes any length; BED windows need a fixed one")
        worker_genome(genome, cache=genome_cache)  # index it here once, not in every worker at once
        parts = plan_windows(input_path, genome, int(card_length), int(stride or card_length), partition_rows,
                             genome_cache)
    folder = OutputFolder(output)
    nthreads = sum(client.nthreads().values()) or 1
    job = ScoreJob(model, str(folder.tmp), device=device, batch_size=batch_size, convert_tu=convert_tu,
                   sequence_column=sequence_column,
                   metadata={"model": f"{model.name}:{model.version}", "digest": model.digest, "input": str(input_path)})
    try:
        results = list(run_tasks(client, job, parts, window or 2 * nthreads + 2, resources))
        summary = summarise(results, started)
        summary["model"], summary["digest"] = job.metadata["model"], model.digest
        folder.commit(summary)
    except BaseException:
        folder.abort()
        raise
    summary["output"] = str(folder.path)
    return summary
