"""The gRPC status of each seqzoo error: one table, used by every servicer (SeqZoo, Variants)."""

from __future__ import annotations

import grpc
from seqzoo.serving.batcher import DeadlineExpiredError, QueueFullError
from seqzoo.zoo.errors import ConflictError, InputError, IntegrityError, NotFoundError, UnavailableError

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
