"""The gRPC status of each seqzoo error: one table and one way to answer with it, used by every
servicer (SeqZoo, Variants)."""

from __future__ import annotations

import grpc
from seqzoo.serving.server.batcher import DeadlineExpiredError, QueueFullError
from seqzoo.zoo.errors import (
    PLACE_KEY,
    ConflictError,
    InputError,
    IntegrityError,
    NotFoundError,
    UnavailableError,
    place_json,
)

STATUS = {InputError: grpc.StatusCode.INVALID_ARGUMENT, NotFoundError: grpc.StatusCode.NOT_FOUND,
          QueueFullError: grpc.StatusCode.RESOURCE_EXHAUSTED, DeadlineExpiredError: grpc.StatusCode.DEADLINE_EXCEEDED,
          IntegrityError: grpc.StatusCode.DATA_LOSS, ConflictError: grpc.StatusCode.ALREADY_EXISTS,
          UnavailableError: grpc.StatusCode.UNAVAILABLE}


def status_of(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status code for an exception (INTERNAL for anything not a SeqzooError)."""
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


async def abort(context, exc: BaseException) -> None:
    """End the call with ``exc``'s status: its message, and its place (index, ...) as JSON in the
    trailing metadata ``seqzoo-error-place``; an unexpected exception is INTERNAL, named only."""
    code = status_of(exc)
    if code == grpc.StatusCode.INTERNAL:
        await context.abort(code, f"internal error: {exc!r}")
    place = place_json(exc)
    await context.abort(code, str(exc), trailing_metadata=((PLACE_KEY, place),) if place else ())
