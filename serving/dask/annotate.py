"""``seqzoo annotate --dask``: pieces of the regions scored by Dask workers, tracks written by the client.

The client cuts every region on every strand into pieces of at most ``annotate.PIECE``
positions (``annotate.pieces``); each task scores one piece on the worker's genome with the
worker's engine (``annotate.region_scores``: the rule and the shared pass of ``--local``) and
returns the asked classes' values. Results arrive in submission order, so the client feeds
the bigWig writers and peak callers exactly as ``--local`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from seqzoo.serving.dask.cluster import peak_rss_mib, run_tasks, worker_engine, worker_genome, worker_name


@dataclass(frozen=True)
class AnnotateJob:
    """What every annotation task needs."""

    model: object
    genome: str
    contig_map: str | None
    genome_cache: str | None
    stride: int
    columns: list
    device: str = "cpu"

    def __call__(self, piece, index: int) -> dict:
        return annotate_piece(piece, index, self)


def annotate_piece(piece: tuple, index: int, job: AnnotateJob) -> dict:
    """Task: (positions, values [k, K]) of one (Region, strand) piece."""
    from seqzoo.serving.annotate import region_scores

    started, cpu = time.perf_counter(), time.process_time()
    region, strand = piece
    engine = worker_engine(job.model, job.device)
    genome = worker_genome(job.genome, job.contig_map, job.genome_cache)
    rna = "U" in engine.alphabet.letters
    parts = list(region_scores(engine, genome, region, job.stride, strand, rna))
    return {"index": index, "chrom": region.chrom, "strand": strand,
            "positions": np.concatenate([p for p, _, _ in parts]),
            "values": np.concatenate([v[:, job.columns] for _, v, _ in parts]),
            "shared_pass": any(shared for _, _, shared in parts),
            "rows": sum(len(p) for p, _, _ in parts), "worker": worker_name(),
            "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
            "peak_rss_mib": peak_rss_mib()}


def annotate_pieces(client, job: AnnotateJob, pieces: Iterable[tuple], window: int | None = None,
                    resources: dict | None = None, results: list | None = None) -> Iterator[tuple]:
    """(contig, strand, positions, values, shared_pass) per piece, in order; each task's result
    (less its arrays) is appended to ``results`` for the run's summary."""
    nthreads = sum(client.nthreads().values()) or 1
    worker_genome(job.genome, job.contig_map, job.genome_cache)  # index once, here, before the workers
    for result in run_tasks(client, job, pieces, window or 2 * nthreads + 2, resources):
        positions, values = result.pop("positions"), result.pop("values")
        if results is not None:
            results.append(result)
        yield result["chrom"], result["strand"], positions, values, result["shared_pass"]
