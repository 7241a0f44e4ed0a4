"""The ``seqzoo.v1.Annotation`` gRPC service: genome regions in, track values out (its client is
``serving.client.AnnotationClient``, used by ``seqzoo annotate --server``).

The server holds the genome (``seqzoo serve --genome``, ``serving/reference.py``). Annotate
scores each region on its strand with ``serving/annotate.py``'s ``region_scores`` (the rule and
the shared pass of ``seqzoo annotate --local``), one chunk at a time in the model's attribution
lane, which yields to interactive scoring, and streams each chunk's values as soon as it is done
(flow control keeps at most a few chunks ahead of a slow reader). A deadline or a cancelled
call stops it between chunks.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import grpc
import numpy as np
from seqzoo.serving.annotate import STRANDS, Region, check_model, class_columns, region_scores
from seqzoo.serving.reference import server_genome
from seqzoo.v1 import annotation_pb2 as apb
from seqzoo.v1 import annotation_pb2_grpc as apb_grpc
from seqzoo.zoo.errors import InputError, SeqzooError

log = logging.getLogger(__name__)

SERVICE = apb.DESCRIPTOR.services_by_name["Annotation"].full_name
MAX_REGIONS = 100_000  # per request


def register(server: grpc.aio.Server, store) -> list[str]:
    """Server hook: add the Annotation servicer; returns its service name (for reflection)."""
    apb_grpc.add_AnnotationServicer_to_server(AnnotationServicer(store, server_genome()), server)
    return [SERVICE]


class AnnotationServicer(apb_grpc.AnnotationServicer):
    """seqzoo.v1.Annotation over a ModelStore and the server's genome (None: every call refused)."""

    def __init__(self, store, genome=None):
        self.store, self.genome = store, genome

    def _genome(self):
        if self.genome is None:
            raise InputError("this server was started without --genome: it has no genome to annotate")
        return self.genome

    async def Contigs(self, request, context):
        from seqzoo.serving.status import abort

        try:
            genome = self._genome()
        except SeqzooError as exc:
            await abort(context, exc)
            return
        return apb.ContigsResponse(names=list(genome.lengths), lengths=list(genome.lengths.values()),
                                   genome=Path(genome.path).name)

    def _plan(self, request, engine) -> tuple[list[Region], list[str], list[int]]:
        """The request's regions (checked against the genome), strands and class columns."""
        genome = self._genome()
        check_model(engine.alphabet, engine.length, engine.identity.ref, engine.task)
        if request.stride < 1:
            raise InputError(f"field 'stride' must be at least 1, got {request.stride}")
        if not request.regions:
            raise InputError("the request has no regions")
        if len(request.regions) > MAX_REGIONS:
            raise InputError(f"the request has {len(request.regions)} regions; the limit is {MAX_REGIONS}")
        _, columns = class_columns(list(request.classes), engine.card, engine.identity.ref, "field 'classes'")
        regions, strands = [], []
        for i, r in enumerate(request.regions):
            size = genome.lengths.get(r.contig)
            if size is None:
                raise InputError(f"region {i}: contig {r.contig!r} is not in the server's genome "
                                 f"({genome.names.hint()})")
            if not 0 <= r.start < r.end <= size:
                raise InputError(f"region {i}: {r.contig}:{r.start}-{r.end} is not a non-empty interval "
                                 f"inside the contig (0..{size})")
            if r.strand not in STRANDS or r.strand == "both":
                raise InputError(f"region {i}: field 'strand' {r.strand!r} is not '+' or '-'")
            regions.append(Region(r.contig, int(r.start), int(r.end)))
            strands.append(r.strand)
        return regions, strands, columns

    async def Annotate(self, request, context):
        from seqzoo.serving.status import abort, status_of

        try:
            served = self.store.get(request.model)
            engine = served.engine
            regions, strands, columns = self._plan(request, engine)
        except Exception as exc:  # noqa: BLE001
            await abort(context, exc)
            return
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        classes = [engine.classes[c] for c in columns]
        rna = "U" in engine.alphabet.letters
        shared = engine.has_track and request.stride < engine.length
        for index, (region, strand) in enumerate(zip(regions, strands)):
            chunks = region_scores(engine, self.genome, region, int(request.stride), strand, rna)
            while True:
                try:  # one chunk read, encoded and scored in the lane, off the event loop
                    positions, values = await served.lane.submit(
                        "annotate", lambda i, j, chunks=chunks: _next_chunk(chunks, columns), 1, 1, deadline)
                except Exception as exc:
                    if status_of(exc) == grpc.StatusCode.INTERNAL:
                        log.error("Annotate on %s failed: %r", request.model, exc, exc_info=exc)
                    await abort(context, exc)
                    return
                if not len(positions):
                    break
                yield apb.AnnotateResponse(region=index, contig=region.chrom, strand=strand, start=int(positions[0]),
                                           stride=int(request.stride), count=len(positions),
                                           values=values.astype("<f4").tobytes(), classes=classes,
                                           model=engine.identity.ref, shared_pass=shared)


def _next_chunk(chunks, columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The next chunk of a region: (positions [k], the asked classes' values [k, K]); k = 0 when
    the region is done."""
    try:
        positions, probs = next(chunks)
    except StopIteration:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(columns)), dtype=np.float32)
    return positions, probs[:, columns]
