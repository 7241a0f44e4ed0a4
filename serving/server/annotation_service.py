"""The ``seqzoo.v1.Annotation`` gRPC service: genome regions in, track values out (its client is
``serving.client.AnnotationClient``, used by ``seqzoo annotate --server``).

The server holds the genome (``seqzoo serve --genome``, ``serving/server/reference.py``). Annotate
scores each region on its strand with ``serving/annotate.py``'s ``region_values`` (the rule and
the shared pass of ``seqzoo annotate`` in process; a language model's surprisal), one chunk at a time in the model's attribution
lane, which yields to interactive scoring, and streams each chunk's values as soon as it is done
(flow control keeps at most a few chunks ahead of a slow reader). A deadline or a cancelled
call stops it between chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
from seqzoo.serving.annotate import (
    CHUNK,
    MAX_REGIONS,
    MAX_WINDOWS,
    STRANDS,
    Region,
    check_model,
    class_columns,
    region_values,
    window_count,
)
from seqzoo.serving.server.reference import server_genome
from seqzoo.v1 import annotation_pb2 as apb
from seqzoo.v1 import annotation_pb2_grpc as apb_grpc
from seqzoo.zoo.errors import InputError, SeqzooError

SERVICE = apb.DESCRIPTOR.services_by_name["Annotation"].full_name


def register(server: grpc.aio.Server, calls) -> list[str]:
    """Server hook: add the Annotation servicer; returns its service name (for reflection)."""
    apb_grpc.add_AnnotationServicer_to_server(AnnotationServicer(calls, server_genome()), server)
    return [SERVICE]


class AnnotationServicer(apb_grpc.AnnotationServicer):
    """seqzoo.v1.Annotation over the server's request context (serving.server.calls) and its genome (None:
    every call refused)."""

    def __init__(self, calls, genome=None):
        self.calls, self.store, self.genome = calls, calls.store, genome

    def _genome(self):
        if self.genome is None:
            raise InputError("this server was started without --genome: it has no genome to annotate")
        return self.genome

    async def Contigs(self, request, context):
        try:
            genome = self._genome()
        except SeqzooError as exc:
            await self.calls.fail(context, "Contigs", "", exc)
            return
        return apb.ContigsResponse(names=list(genome.lengths), lengths=list(genome.lengths.values()),
                                   genome=Path(genome.path).name)

    def _plan(self, request, engine) -> tuple[list[Region], list[str], list[str], list[int] | None]:
        """The request's regions (checked against the genome), strands, classes and their columns
        (None: a language model's surprisal)."""
        genome = self._genome()
        check_model(engine.alphabet, engine.length, engine.identity.ref)
        if request.stride < 1:
            raise InputError(f"field 'stride' must be at least 1, got {request.stride}")
        if not request.regions:
            raise InputError("the request has no regions")
        if len(request.regions) > MAX_REGIONS:
            raise InputError(f"the request has {len(request.regions)} regions; the limit is {MAX_REGIONS}")
        classes, columns = class_columns(list(request.classes), engine.card, engine.identity.ref, "field 'classes'")
        windows = sum(window_count(r.start, r.end, request.stride) for r in request.regions)
        if windows > MAX_WINDOWS:
            raise InputError(f"the request asks for {windows:,} windows; the limit is {MAX_WINDOWS:,} a request "
                             "(send the regions in several requests)")
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
        return regions, strands, classes, columns

    async def Annotate(self, request, context):
        calls = self.calls
        try:
            served = self.store.get(request.model)
            engine = served.engine
            regions, strands, classes, columns = self._plan(request, engine)
        except Exception as exc:  # noqa: BLE001
            await calls.fail(context, "Annotate", request.model, exc)
            return
        deadline = calls.deadline(context)
        windows = 0
        stride = int(request.stride)
        scores = _chunks(engine, self.genome, regions, strands, stride, columns)
        while True:
            try:  # a lane job: one chunk of a large region, or a run of small regions together (off the loop)
                answers = await served.lane.submit("annotate", lambda i, j: next(scores, []), 1, 1, deadline)
            except Exception as exc:  # noqa: BLE001
                await calls.fail(context, "Annotate", request.model, exc)
                return
            if not answers:
                calls.answered(engine.identity, "Annotate", windows)
                break
            for index, positions, values, shared in answers:
                windows += len(positions)
                region = regions[index]
                yield apb.AnnotateResponse(region=index, contig=region.chrom, strand=strands[index],
                                           start=int(positions[0]), stride=stride, count=len(positions),
                                           values=values.astype("<f4").tobytes(), classes=classes,
                                           model=engine.identity.ref, shared_pass=shared)


def _chunks(engine, genome, regions: list[Region], strands: list[str], stride: int,
            columns: list[int] | None) -> Iterator[list[tuple]]:
    """Lists of answers (region index, positions [k], the asked classes' values [k, K], shared) for the
    lane to compute one list at a time: each chunk of a large region alone, and consecutive small
    regions together up to a chunk's windows, so 100,000 one-base regions cost 100,000 windows and
    not 100,000 lane turns (BENCHMARKS.md "faults": 16.3 ms a one-base region before, 0.49 ms after)."""
    group, windows = [], 0
    for index, (region, strand) in enumerate(zip(regions, strands)):
        for positions, values, shared in region_values(engine, genome, region, stride, strand, columns):
            group.append((index, positions, values, shared))
            windows += len(positions)
            if windows >= CHUNK:
                yield group
                group, windows = [], 0
    if group:
        yield group
