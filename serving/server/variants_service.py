"""The ``seqzoo.v1.Variants`` gRPC service (server side; its client is ``serving.client.VariantsClient``).

ScoreVariants takes either the ref/alt windows a client built, or, when the server was started
with ``--genome``, the variants' coordinates (the server builds windows with
``serving/windows.py``, the same rule as ``seqzoo variants --local``). Either way the windows
are encoded and sent through the model's scoring batcher (the one ``SeqZoo.Score`` uses, so
variant traffic and plain scoring share batches), and the scores come from
``serving/effects.py``: one formula set for local, client and server.

The service is added to the server by ``register`` (listed in ``server.SERVICE_HOOKS``); the
genome is the server's (``serving/server/reference.py``, ``seqzoo serve --genome FASTA``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import numpy as np
from seqzoo.serving.effects import (
    check_rc_rule,
    check_scores,
    encode_pairs,
    parse_scores,
    scores_from_probs,
)
from seqzoo.serving.scoring import request_tracks
from seqzoo.serving.server.reference import server_genome
from seqzoo.serving.windows import STRANDS, build_windows
from seqzoo.v1 import variants_pb2 as vpb
from seqzoo.v1 import variants_pb2_grpc as vpb_grpc
from seqzoo.zoo.alphabets import is_rna
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.genome import Genome

SERVICE = vpb.DESCRIPTOR.services_by_name["Variants"].full_name
MAX_VARIANTS = 32768  # per request (each is 2 or 4 windows)

def register(server: grpc.aio.Server, calls) -> list[str]:
    """Server hook: add the Variants servicer; returns its service name (for reflection)."""
    vpb_grpc.add_VariantsServicer_to_server(VariantsServicer(calls, server_genome()), server)
    return [SERVICE]


@dataclass
class _Coordinates:
    chrom: str
    pos: int
    id: str | None
    ref: str
    alts: list[str] = field(default_factory=list)


def _rc_rule(text: str) -> str | None:
    return None if text in ("", "none") else text


def _tracks(request, n: int) -> dict[str, list[str]] | None:
    """A windows request's tracks (name -> one string per window pair), checked against its size."""
    if request.tracks and request.variants:
        raise InputError("tracks go with windows; for coordinates the server has no track source")
    tracks = request_tracks(request.tracks, n)
    for name, values in tracks.items():
        if len(values) != n:
            raise InputError(f"track {name!r} has {len(values)} values for {n} window pairs")
    return tracks or None


class VariantsServicer(vpb_grpc.VariantsServicer):
    """seqzoo.v1.Variants over the server's request context (serving.server.calls) and an optional genome."""

    def __init__(self, calls, genome: Genome | None = None):
        self.calls, self.store = calls, calls.store
        self.genome = genome

    def _windows(self, engine, request) -> tuple[list[str], list[str], list]:
        """(ref windows, alt windows, results) from either form of request."""
        if request.variants and (request.ref_windows or request.alt_windows):
            raise InputError("give either windows or variants (coordinates), not both")
        rc_rule = _rc_rule(request.rc_average)
        if not request.variants:
            ref, alt = list(request.ref_windows), list(request.alt_windows)
            if len(ref) != len(alt):
                raise InputError(f"{len(ref)} ref windows but {len(alt)} alt windows")
            if not ref:
                raise InputError("the request is empty: give windows or variants")
            if len(ref) > MAX_VARIANTS:
                raise InputError(f"the request has {len(ref)} window pairs; the limit is {MAX_VARIANTS}")
            check_rc_rule(engine.alphabet, rc_rule, "+")
            return ref, alt, []
        if self.genome is None:
            raise InputError("this server was started without --genome: send ref/alt windows, not coordinates")
        if engine.length is None:
            raise InputError(f"model {engine.identity.ref} takes any length: send windows, not coordinates")
        if len(request.variants) > MAX_VARIANTS:
            raise InputError(f"the request has {len(request.variants)} variants; the limit is {MAX_VARIANTS}")
        strand = request.strand or "+"
        if strand not in STRANDS:
            raise InputError(f"field 'strand' {strand!r} is not one of {', '.join(STRANDS)}")
        check_rc_rule(engine.alphabet, rc_rule, strand)
        records = []
        for i, v in enumerate(request.variants):
            if v.pos < 1 or not v.chrom or not v.ref:
                raise InputError(f"variant {i}: chrom, pos (1-based) and ref are required")
            records.append(_Coordinates(v.chrom, int(v.pos), v.id or None, v.ref, [v.alt] if v.alt else []))
        rows = build_windows(records, self.genome, engine.length, strand, is_rna(engine.alphabet),
                             request.max_n_fraction or 0.5)
        ref, alt, results = [], [], []
        for row in rows:
            scored = row.skip is None
            results.append(vpb.VariantResult(
                variant=row.record, key=row.key, strand=row.strand,
                ref_match=-1 if row.ref_match is None else int(row.ref_match), skip=row.skip or "",
                row=len(ref) if scored else -1, ref_span=row.ref_span, alt_span=row.alt_span))
            if scored:
                ref.append(row.ref_window)
                alt.append(row.alt_window)
        return ref, alt, results

    async def ScoreVariants(self, request, context):
        calls = self.calls
        try:
            served = self.store.get(request.model)
            engine = served.engine
            names = parse_scores(list(request.scores) or None)
            check_scores(names, engine.card, engine.identity.ref)
            rc_rule = _rc_rule(request.rc_average)
            if request.variants or engine.structure_form:  # genome reads / folding: off the event loop
                ref, alt, results = await calls.on_pool(self._windows, engine, request)
            else:
                ref, alt, results = self._windows(engine, request)
            n = len(ref)
            tracks = _tracks(request, n)
            scores = np.zeros((len(names), 0, len(engine.classes)), dtype=np.float32)
            if n:
                if engine.structure_form:  # folding: off the event loop
                    codes = await calls.on_pool(encode_pairs, engine, ref, alt, rc_rule, tracks)
                else:
                    codes = encode_pairs(engine, ref, alt, rc_rule, tracks)
                probs = await served.batcher.submit(codes, calls.deadline(context))
                by_name = scores_from_probs(probs, n, names, rc_rule)
                scores = np.stack([by_name[name] for name in names])
        except Exception as exc:  # noqa: BLE001
            await calls.fail(context, "ScoreVariants", request.model, exc)
            return
        calls.answered(engine.identity, "ScoreVariants", n)
        return vpb.ScoreVariantsResponse(model=engine.identity.ref, classes=engine.classes, score_names=names,
                                         scores=scores.astype("<f4").tobytes(), shape=scores.shape,
                                         rc_average=rc_rule or "none", results=results)
