"""``seqzoo variants --dask``: chunks of a VCF scored by Dask workers, into parquet parts or one merged VCF.

Each task builds the chunk's ref/alt windows on the worker's genome, scores them with the
worker's engine and writes a part (or returns compact values for the client's merged VCF, written
in input order as results arrive).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from seqzoo.serving.dask.cluster import (
    peak_rss_mib,
    run_tasks,
    worker_engine,
    worker_genes,
    worker_genome,
    worker_name,
)
from seqzoo.serving.dask.score import PART, OutputFolder, summarise
from seqzoo.zoo.errors import InputError


@dataclass(frozen=True)
class VariantJob:
    """What every variants task needs (``merge``: return compact rows for a merged VCF)."""

    model: object
    genome: str
    contig_map: str | None
    genome_cache: str | None
    out_dir: str | None
    length: int
    classes: list
    scores: list
    strand: str
    rc_rule: str | None
    max_n_fraction: float
    device: str = "cpu"
    genes: str | None = None  # --strand auto: each variant's strand from this annotation

    def __call__(self, records, index: int) -> dict:
        return variants_partition(records, index, self)


def variants_partition(records: list, index: int, job: VariantJob) -> dict:
    """Task: windows for a chunk of VCF records, their effect scores, and either a parquet part
    (``job.out_dir``) or the compact rows and values for the client's merged VCF."""
    from seqzoo.serving.scorers import LocalScorer
    from seqzoo.serving.variant_scoring import score_chunk
    from seqzoo.serving.variant_writer import VariantTable

    started, cpu = time.perf_counter(), time.process_time()
    scorer = LocalScorer(worker_engine(job.model, job.device))
    genome = worker_genome(job.genome, job.contig_map, job.genome_cache)
    strand = worker_genes(job.genes, genome) if job.genes else job.strand
    rows, values, scored = score_chunk(scorer, records, genome, job.scores, strand, job.rc_rule, job.max_n_fraction)
    out = {"index": index, "rows": len(rows), "scored": len(scored), "worker": worker_name()}
    if job.out_dir is not None:
        with VariantTable(Path(job.out_dir) / PART.format(index), job.model, job.length, job.classes, job.scores,
                          job.strand, job.rc_rule) as writer:
            writer.write_chunk(records, rows, values)
    else:  # the windows themselves are not needed to annotate the VCF: do not ship them back
        out["windows"] = [replace(r, ref_window=None, alt_window=None) for r in rows]
        out["values"] = values
    out["seconds"] = time.perf_counter() - started
    out["cpu_seconds"] = time.process_time() - cpu
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def plain_records(chunk: list) -> list:
    """VcfRecords without their cyvcf2 object (which cannot travel to a worker)."""
    return [replace(r, variant=None) for r in chunk]


def score_variants(client, vcf: str, genome: str, model, output: str, scores: list[str], strand: str = "+",
                   rc_rule: str | None = None, contig_map: str | None = None, genome_cache: str | None = None,
                   max_n_fraction: float = 0.5, chunk_size: int = 10_000, window: int | None = None,
                   resources: dict | None = None, device: str = "cpu", progress: Callable | None = None,
                   genes: str | None = None) -> dict:
    """Score a VCF's variant effects on a Dask cluster (``strand="auto"`` with ``genes``: each
    variant on the strand of the genes it lies in).

    ``output`` is a folder of parquet parts (one row per variant x ALT x strand, the columns of
    ``seqzoo variants -o OUT.parquet``), or ``OUT.vcf`` / ``OUT.vcf.gz``: the input records,
    annotated, written by the client in input order as results arrive.

    Returns
    -------
    dict
        ``records``, ``rows``, ``scored``, ``parts``, ``seconds``, ``workers``, ``output``.
    """
    from seqzoo.serving.effects import check_rc_rule, check_scores
    from seqzoo.serving.variant_writer import open_writer
    from seqzoo.zoo.inputs import alphabet_from_dict
    from seqzoo.zoo.io.vcf import VcfReader

    started = time.monotonic()
    length = model.card.get("input", {}).get("length")
    if not length:
        raise InputError(f"model {model.name}:{model.version} takes any length; variant windows need a fixed one")
    alphabet = alphabet_from_dict(model.card["input"]["alphabet"])
    check_rc_rule(alphabet, rc_rule, strand)
    check_scores(scores, model.card, f"{model.name}:{model.version}")
    classes = list(model.card["classes"])
    if (strand == "auto") != bool(genes):
        raise InputError("strand 'auto' and a gene annotation go together")
    reference = worker_genome(genome, contig_map, genome_cache)  # index once, here
    if genes:
        worker_genes(genes, reference)  # a bad annotation fails here, before any task
    reader = VcfReader(vcf)
    merge = re.search(r"\.vcf(\.gz)?$", str(output).lower()) is not None
    folder = writer = None
    try:
        if merge:
            writer = open_writer(output, reader.vcf, model, int(length), classes, scores, strand, rc_rule)
        else:
            folder = OutputFolder(output)
        job = VariantJob(model, str(genome), contig_map, genome_cache, None if merge else str(folder.tmp), int(length),
                         classes, list(scores), strand, rc_rule, max_n_fraction, device, genes)
        held: deque = deque()  # the chunks in flight, with their cyvcf2 records, for the merged VCF

        def chunks():
            for chunk in reader.chunks(chunk_size):
                if merge:
                    held.append(chunk)
                yield plain_records(chunk)

        nthreads = sum(client.nthreads().values()) or 1
        results = []
        for result in run_tasks(client, job, chunks(), window or 2 * nthreads + 2, resources):
            if merge:
                chunk = held.popleft()
                writer.write_chunk(chunk, result.pop("windows"), result.pop("values"))
                result["records"] = len(chunk)
            results.append(result)
            if progress is not None:
                progress(result)
        summary = summarise(results, started)
        summary.update(scored=sum(r["scored"] for r in results), model=model.ref, digest=model.digest)
        if merge:
            writer.commit()
        else:
            folder.commit(summary)
    except BaseException:
        if writer is not None:
            writer.abort()
        if folder is not None:
            folder.abort()
        raise
    finally:
        reader.close()
    summary["output"] = str(output)
    return summary
