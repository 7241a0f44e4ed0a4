"""The gate in front of every RPC of a seqzoo server: gRPC server interceptors.

- ``Admission`` (always installed, first): counts the calls in flight so that a drain can wait
  for them; once draining, answers new calls UNAVAILABLE before they run (clients retry them);
  and answers bytes that are not a valid request message INVALID_ARGUMENT (gRPC alone answers
  UNKNOWN and logs a traceback), on unary calls and on every message of a stream.
- ``TokenAuth`` (with ``--token-file``): the bearer token, compared in constant time; health
  is exempt unless ``--private-health``. One rule for every transport (``is_health``,
  ``bearer_ok``, also used by the OIP HTTP endpoints): health is grpc.health.v1, OIP's
  ServerLive/ServerReady and HTTP's ``/v2/health/*``; the scheme ``Bearer`` is matched in any case
  (RFC 7235), the token exactly.
- ``PENDING_LIMITS``: the server options that keep grpc-core from shedding a burst of calls before
  either interceptor sees them.

Both wrap whatever services are registered (seqzoo.v1, Variants, reflection, hooks), so a new
service is gated without a line of its own.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect

import grpc
from seqzoo.zoo.errors import InputError, UnavailableError

HEALTH_PREFIX = "/grpc.health.v1.Health/"
# what a load balancer probes without credentials (unless --private-health): gRPC methods and HTTP paths
HEALTH = (HEALTH_PREFIX, "/inference.GRPCInferenceService/ServerLive", "/inference.GRPCInferenceService/ServerReady",
          "/v2/health/")


# grpc-core sheds calls that arrived but that the application has not yet asked for: past 1,000 such
# calls it cancels new ones at random (all of them past 3,000), before any handler, log or metric sees
# them. A Python aio server asks for calls one at a time, so a burst (2,000 one-sequence calls over 4
# connections) lost 10% as CANCELLED. These limits sit far above any burst the admission and batcher
# queues take (the batcher answers RESOURCE_EXHAUSTED, a status a client can act on, past --queue).
PENDING_LIMITS = [("grpc.server.max_pending_requests", 16384), ("grpc.server.max_pending_requests_hard_limit", 65536)]


def is_health(method: str) -> bool:
    """Whether a gRPC method or an HTTP path is a health probe (the token rule's one exemption)."""
    return method.startswith(HEALTH)


def bearer_ok(value: str | bytes, expected: bytes) -> bool:
    """Whether an ``authorization`` value is ``Bearer <token>`` for the expected token's bytes; the
    scheme in any case (RFC 7235), the token compared in constant time."""
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    scheme, _, credentials = text.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("latin-1", "replace"),
                                                              expected)


def _refusal(kind: str, code: grpc.StatusCode, message: str):
    """A method handler of the given kind (``unary_unary``, ...) that answers ``code``."""
    async def refuse(request, context):
        await context.abort(code, message)

    async def refuse_stream(request, context):
        await context.abort(code, message)
        yield  # pragma: no cover - makes this an async generator

    behavior = refuse_stream if kind.endswith("_stream") else refuse
    return getattr(grpc, f"{kind}_rpc_method_handler")(behavior)


def _kind(handler) -> str:
    return ("stream" if handler.request_streaming else "unary") + "_" + (
        "stream" if handler.response_streaming else "unary")


class TokenAuth(grpc.aio.ServerInterceptor):
    """Every RPC must carry ``authorization: Bearer <token>``, else UNAUTHENTICATED; health is
    exempt when ``public_health`` (load balancers probe it without credentials)."""

    def __init__(self, token: str, public_health: bool = True):
        self._expected = token.encode()  # compared in constant time (bearer_ok)
        self.public_health = public_health
        message = "missing or wrong bearer token (send metadata 'authorization: Bearer <token>')"
        self._deny = {kind: _refusal(kind, grpc.StatusCode.UNAUTHENTICATED, message)
                      for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")}

    async def intercept_service(self, continuation, handler_call_details):
        if self.public_health and is_health(handler_call_details.method):
            return await continuation(handler_call_details)
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization" and bearer_ok(value, self._expected):
                return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        return None if handler is None else self._deny[_kind(handler)]


class _Undecodable:
    """What bytes that are not a valid request message deserialize to; answered INVALID_ARGUMENT
    (gRPC itself would answer UNKNOWN and log a traceback)."""

    def __init__(self, kind: str, exc: Exception):
        self.message = f"the request is not a valid {kind} message ({exc})"


def _guarded(deserializer):
    if deserializer is None:
        return None
    kind = getattr(getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None), "full_name", "protobuf")

    def deserialize(data):
        try:
            return deserializer(data)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError, or anything a parser raises
            return _Undecodable(kind, exc)

    return deserialize


class UndecodableMessage(InputError):
    """A message of a request stream was not a valid request (the call ends INVALID_ARGUMENT)."""


async def _decodable(messages):
    """A request stream that raises UndecodableMessage at its first undecodable message; the
    Admission wrapper answers it INVALID_ARGUMENT in the call's own task."""
    async for message in messages:
        if isinstance(message, _Undecodable):
            raise UndecodableMessage(message.message)
        yield message


class Admission(grpc.aio.ServerInterceptor):
    """The gate every call passes: it counts the RPCs in flight and, once draining, answers new
    ones UNAVAILABLE; and it answers bytes that are not a valid request INVALID_ARGUMENT.

    Every service (seqzoo.v1, Variants, reflection, hooks) is counted; health is not (it
    reports NOT_SERVING during a drain instead). ``wait_idle`` is how a drain knows that every
    admitted call has finished before the server stops.
    """

    MESSAGE = "the server is draining (shutting down): retry, the call was not run"

    def __init__(self):
        self.draining = False
        self.in_flight = 0
        self.admitted = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def _leave(self, _context=None) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def enter(self) -> None:
        """Count a request that is not a gRPC call (the OIP HTTP endpoints), or refuse it while
        draining (UnavailableError); pair with :meth:`leave`."""
        if self.draining:
            raise UnavailableError(self.MESSAGE)
        self.in_flight += 1
        self.admitted += 1
        self._idle.clear()

    def leave(self) -> None:
        self._leave()

    async def wait_idle(self, timeout: float) -> bool:
        """True when no admitted call is left, False when ``timeout`` seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            return False
        return True

    async def _admit(self, request, context, request_streaming: bool, counted: bool):
        """The request as the behaviour should see it; aborts the call instead when it is undecodable
        or the server drains. An admitted call leaves the count when the RPC ends, however it ends
        (gRPC's done callback)."""
        if request_streaming:
            request = _decodable(request)
        elif isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        if counted:
            if self.draining:
                await context.abort(grpc.StatusCode.UNAVAILABLE, self.MESSAGE)
            self.in_flight += 1
            self.admitted += 1
            self._idle.clear()
            context.add_done_callback(self._leave)
        return request

    def _wrap(self, behavior, request_streaming: bool, response_streaming: bool, counted: bool):
        # an undecodable message of a request stream surfaces as UndecodableMessage in the call's own
        # task: answered INVALID_ARGUMENT there (try costs nothing when nothing is raised)
        if response_streaming and inspect.isasyncgenfunction(behavior):
            async def admitted_stream(request, context):
                request = await self._admit(request, context, request_streaming, counted)
                try:
                    async for answer in behavior(request, context):
                        yield answer
                except UndecodableMessage as exc:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return admitted_stream

        async def admitted(request, context):
            request = await self._admit(request, context, request_streaming, counted)
            try:
                return await behavior(request, context)
            except UndecodableMessage as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return admitted

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        kind = _kind(handler)
        counted = not handler_call_details.method.startswith(HEALTH_PREFIX)
        behavior = self._wrap(getattr(handler, kind), handler.request_streaming, handler.response_streaming, counted)
        return handler._replace(**{kind: behavior, "request_deserializer": _guarded(handler.request_deserializer)})
