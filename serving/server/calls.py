"""The one way a servicer answers a call: :class:`Calls`, given to every service the server attaches
(seqzoo.v1 SeqZoo, Variants and Annotation; the Open Inference Protocol over gRPC and HTTP).

It holds what every call needs and says each rule once: the store of served models, the
server's settings (limits, bearer token), the deadline of a call, the error-to-status table
(``serving.server.status``: a seqzoo error's gRPC status, logged when INTERNAL), metrics (every service
counts its answered calls and errors under the same names, ``seqzoo_requests{method, code}``), the
decoding pool (large requests are decoded, genomes read and sequences folded there, so the event
loop keeps answering) and admission (the drain). Authentication is the server's interceptor for
every gRPC service and ``admission.bearer_ok`` for HTTP. No servicer reaches into another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import grpc

log = logging.getLogger(__name__)

# requests up to this size are decoded on the event loop; larger ones on the decoding pool
INLINE_SEQUENCES = 256
INLINE_CODE_BYTES = 2**20


@dataclass
class Calls:
    """The request context of every servicer (see the module docstring)."""

    store: object  # ModelStore
    settings: object  # ServerSettings
    metrics: object  # telemetry.Metrics
    decoder: Executor
    admission: object = None  # admission.Admission: the drain (None before the server starts)

    @staticmethod
    def deadline(context) -> float | None:
        """The call's deadline on ``time.monotonic``'s clock (None: none was set)."""
        remaining = context.time_remaining()
        return None if remaining is None else time.monotonic() + remaining

    def answered(self, identity, method: str, sequences: int = 0) -> None:
        """Count an answered call of ``method`` on the model ``identity`` (a ModelVersion)."""
        self.metrics.answered(identity.name, identity.version, method, "OK", sequences)

    def failed(self, method: str, model: str, exc: BaseException) -> grpc.StatusCode:
        """Count (and, when INTERNAL, log) a call that failed; its gRPC status."""
        from seqzoo.serving.server.status import status_of

        code = status_of(exc)
        if code == grpc.StatusCode.INTERNAL:
            log.error("%s on %s failed: %r", method, model, exc, exc_info=exc, extra={"method": method})
        self.metrics.answered(self.store.label(model), "-", method, code.name)
        return code

    async def fail(self, context, method: str, model: str, exc: BaseException) -> None:
        """Answer a gRPC call that failed with its status and the error's words."""
        from seqzoo.serving.server.status import abort

        self.failed(method, model, exc)
        await abort(context, exc)

    @staticmethod
    def inline(items: int, nbytes: int) -> bool:
        """Whether a request of ``items`` strings or values and ``nbytes`` packed bytes is cheap
        enough to decode on the event loop (most are: one to a few hundred sequences, or packed
        codes up to 1 MiB); larger ones go to the decoding pool (``on_pool``)."""
        return items <= INLINE_SEQUENCES and nbytes <= INLINE_CODE_BYTES

    def on_pool(self, function, *args) -> asyncio.Future:
        """``function(*args)`` on the decoding pool (CPU work kept off the event loop)."""
        return asyncio.get_running_loop().run_in_executor(self.decoder, function, *args)
