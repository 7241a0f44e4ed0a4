"""The Python client of a seqzoo server: scoring, streaming, attribution, variant effects, model cards, health.

Arrays go over the wire packed (uint8 codes in, float32 probabilities out), so a client that
already has codes pays almost nothing to send 1,024 sequences. Server errors come back as the
seqzoo errors they started as (INVALID_ARGUMENT -> InputError, NOT_FOUND -> NotFoundError, ...),
with the server's message, so callers handle local and remote failures the same way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from seqzoo.v1 import annotation_pb2 as apb
from seqzoo.v1 import annotation_pb2_grpc as apb_grpc
from seqzoo.v1 import seqzoo_pb2 as pb
from seqzoo.v1 import seqzoo_pb2_grpc as pb_grpc
from seqzoo.v1 import variants_pb2 as vpb
from seqzoo.v1 import variants_pb2_grpc as vpb_grpc
from seqzoo.zoo.errors import (
    PLACE_KEY,
    ConflictError,
    InputError,
    IntegrityError,
    NotFoundError,
    SeqzooError,
    UnavailableError,
    from_place,
)

METHODS = {"ig": pb.INTEGRATED_GRADIENTS, "saliency": pb.SALIENCY, "ism": pb.ISM, "hypothetical": pb.HYPOTHETICAL}
ERRORS = {grpc.StatusCode.INVALID_ARGUMENT: InputError, grpc.StatusCode.NOT_FOUND: NotFoundError,
          grpc.StatusCode.DATA_LOSS: IntegrityError, grpc.StatusCode.ALREADY_EXISTS: ConflictError}


class ServerError(SeqzooError):
    """A server answer that is not a user error: RESOURCE_EXHAUSTED, UNAUTHENTICATED, INTERNAL, ...

    Attributes
    ----------
    code : grpc.StatusCode
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message

    def __reduce__(self):
        return type(self), (self.code, self.message)


def error_from(code: grpc.StatusCode, message: str, place: str = "") -> SeqzooError:
    """The seqzoo error for a gRPC status (UnavailableError for UNAVAILABLE and DEADLINE_EXCEEDED).

    ``place`` is the server's JSON of the error's reason and place (``zoo.errors.place_json``):
    the error then carries its index as an attribute, for the caller to name its own record.
    """
    if code in ERRORS:
        return from_place(ERRORS[code], place) if place else ERRORS[code](message)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        error = UnavailableError(f"{code.name}: {message}")
        error.code = code
        return error
    return ServerError(code, message)


log = logging.getLogger(__name__)
# a stream cut by a server's drain is reopened at most this many times in a row, each time once
# the server is back, waiting at most RECONNECT_SECONDS for it
RECONNECTS = 10
RECONNECT_SECONDS = 120.0


def went_away(exc: BaseException) -> bool:
    """Whether a call or stream ended because the server went away (a drain, a restart, a worker
    that died), not for a reason of the request: UNAVAILABLE or CANCELLED, never a deadline."""
    return getattr(exc, "code", None) in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


def rpc_error(exc: grpc.RpcError) -> SeqzooError:
    """The seqzoo error for a failed call, with the place the server sent in its trailing metadata."""
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    place = next((v for k, v in trailing or () if k == PLACE_KEY), "")
    return error_from(exc.code(), exc.details() or "", place)


def status_code(number: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a status number (a stream answer's ``error_code``)."""
    return next((c for c in grpc.StatusCode if c.value[0] == number), grpc.StatusCode.UNKNOWN)


def read_token(path: str | None) -> str | None:
    """The bearer token kept in ``path`` (``--token-file``), or None without a path."""
    if not path:
        return None
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise InputError(f"--token-file {path}: {exc.strerror}") from None
    if not token:
        raise InputError(f"--token-file {path} is empty")
    return token


# Scoring is a pure function, so a call a server refused while draining (UNAVAILABLE), one cut by
# a server's stop (CANCELLED) or one that could not reach a server (a worker of `serve --workers`
# that just died, a server restarting) is retried, with backoff. Once a client has reached its
# server, calls also wait for a lost connection to come back (wait_for_ready, see
# SeqZooClient.call_options), up to their deadline: a restart costs time, not answers.
RETRY_CONFIG = json.dumps({"methodConfig": [{
    "name": [{"service": "seqzoo.v1.SeqZoo"}, {"service": "seqzoo.v1.Variants"}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.2s", "maxBackoff": "2s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"]}}]})


def channel_options(max_message_bytes: int = 64 * 2**20) -> list:
    """Message size limits and the retry policy of every seqzoo client channel."""
    return [("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.enable_retries", 1), ("grpc.service_config", RETRY_CONFIG),
            # reconnect within the retries' window (gRPC's default first reconnect waits 1 s)
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000)]


def track_messages(tracks: dict[str, Sequence] | None) -> list[pb.Track]:
    """A multimodal model's tracks as messages: one string per sequence in ``values``, or (a
    numeric track: one row of numbers per sequence) the rows one after another in ``numbers``."""
    messages = []
    for name, values in (tracks or {}).items():
        values = list(values)
        if not values or isinstance(values[0], str):
            messages.append(pb.Track(name=name, values=values))
            continue
        try:
            rows = [np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
        except (TypeError, ValueError):
            raise InputError(f"track {name!r}: give one string or one row of numbers per sequence") from None
        if len({len(r) for r in rows}) > 1:
            raise InputError(f"track {name!r}: its rows of numbers differ in length")
        messages.append(pb.Track(name=name, numbers=np.concatenate(rows)))
    return messages


def probs_of(response) -> np.ndarray:
    """float32 [N, C] from a ScoreResponse (raises the seqzoo error of a stream error answer)."""
    if response.error_code:
        raise error_from(status_code(response.error_code), response.error_message, response.error_place)
    return np.frombuffer(response.probs, dtype=np.float32).reshape(tuple(response.shape))


class SeqZooClient:
    """A blocking client for ``seqzoo.v1.SeqZoo``.

    Parameters
    ----------
    target : str
        ``host:port``.
    token : str, optional
        Bearer token (the server's ``--token-file``).
    tls_ca : str or Path, optional
        PEM of the CA (or the server's self-signed certificate): connect with TLS.
    timeout : float
        Default deadline of every call, seconds.
    """

    def __init__(self, target: str, token: str | None = None, tls_ca: str | Path | None = None,
                 timeout: float = 60.0, max_message_bytes: int = 64 * 2**20):
        options = channel_options(max_message_bytes)
        if tls_ca is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=Path(tls_ca).read_bytes())
            self.channel = grpc.secure_channel(target, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.target = target
        self.stub = pb_grpc.SeqZooStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        self.reached = False  # set by the first answered call: later calls ride out restarts

    def __enter__(self) -> SeqZooClient:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def call_options(self, timeout: float | None = None) -> dict:
        """Keyword arguments of every call: deadline, token and, once the server has been
        reached, ``wait_for_ready`` (a wrong address fails at once; a restarting server is
        waited for until the deadline)."""
        return {"timeout": timeout or self.timeout, "metadata": self.metadata, "wait_for_ready": self.reached}

    def _call(self, method, request, timeout: float | None):
        try:
            answer = method(request, **self.call_options(timeout))
        except grpc.RpcError as exc:
            raise rpc_error(exc) from None
        self.reached = True
        return answer

    # ------------------------------------------------------------------ models
    def list_models(self) -> list[dict]:
        """Every served version: name, version, digest, provider, classes, ... and the card."""
        return [_info(m) for m in self._call(self.stub.ListModels, pb.ListModelsRequest(), None).models]

    def get_model(self, model: str) -> dict:
        """One version's card and serving details (``card``, ``provider``, ``digest``, ``length``, ...)."""
        return _info(self._call(self.stub.GetModel, pb.GetModelRequest(model=model), None))

    def wait_ready(self, timeout: float) -> None:
        """Wait until the channel is connected again (after a server went away); UnavailableError
        when it is not within ``timeout`` seconds."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise UnavailableError(f"{self.target}: the server went away and was not back within {timeout:g} s") \
                from None

    def health(self, service: str = "", timeout: float = 5.0) -> str:
        """``SERVING``, ``NOT_SERVING`` or ``SERVICE_UNKNOWN`` for a ref ("" = the server)."""
        try:
            answer = self.health_stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout,
                                            metadata=self.metadata)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise rpc_error(exc) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)

    def wait_serving(self, service: str = "", timeout: float = 60.0, alive=None, poll: float = 0.2) -> float:
        """Poll health until ``service`` is SERVING; the seconds it took.

        ``alive`` (optional, no arguments) is asked between polls; when it returns False the
        server is gone and waiting stops. Raises UnavailableError after ``timeout`` seconds.
        """
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if self.health(service, timeout=1.0) == "SERVING":
                    return time.monotonic() - start
            except SeqzooError:  # not listening yet
                pass
            if alive is not None and not alive():
                raise UnavailableError(f"{self.target}: the server stopped before {service or 'it'} was SERVING")
            time.sleep(poll)
        raise UnavailableError(f"{self.target}: {service or 'the server'} not SERVING after {timeout:g} s")

    # ------------------------------------------------------------------ scoring
    @staticmethod
    def request(model: str, sequences: Sequence[str] | None = None, codes: np.ndarray | None = None,
                structures: Sequence[str] | None = None, convert_tu: bool = False, id: int = 0,
                tracks: dict[str, Sequence[str]] | None = None) -> pb.ScoreRequest:
        """A ScoreRequest from strings (with a multimodal model's ``tracks``: name -> N strings) or
        from uint8 codes [N, L] (packed)."""
        if (sequences is None) == (codes is None):
            raise InputError("give either sequences or codes")
        if codes is not None:
            if tracks:
                raise InputError("tracks travel with sequences; packed codes already hold them")
            codes = np.ascontiguousarray(codes, dtype=np.uint8)
            if codes.ndim != 2:
                raise InputError(f"codes must be 2-d [N, L], got shape {codes.shape}")
            return pb.ScoreRequest(model=model, codes=codes.tobytes(), length=codes.shape[1], id=id)
        return pb.ScoreRequest(model=model, sequences=list(sequences), structures=list(structures or []),
                               convert_tu=convert_tu, id=id, tracks=track_messages(tracks))

    def score(self, model: str, sequences: Sequence[str] | None = None, codes: np.ndarray | None = None,
              structures: Sequence[str] | None = None, convert_tu: bool = False,
              timeout: float | None = None, tracks: dict[str, Sequence[str]] | None = None) -> np.ndarray:
        """Class probabilities, float32 [N, C] (columns in the order of the model's classes)."""
        request = self.request(model, sequences, codes, structures, convert_tu, tracks=tracks)
        return probs_of(self._call(self.stub.Score, request, timeout))

    def stream_responses(self, requests: Iterable[pb.ScoreRequest], timeout: float | None = None) -> Iterator:
        """Send requests on one bidirectional stream; yields the ScoreResponses in order (an
        error answer for one message is a response with ``error_code`` set, see ``probs_of``).

        The stream is consumed lazily, so a generator of requests over a huge file keeps
        memory bounded (the server holds at most its stream window of messages).
        """
        # a stream's deadline is the caller's alone (None: none), not the per-call default
        responses = self.stub.ScoreStream(iter(requests), **{**self.call_options(), "timeout": timeout})
        try:
            yield from responses
        except grpc.RpcError as exc:
            raise rpc_error(exc) from None

    def score_stream(self, requests: Iterable[pb.ScoreRequest], timeout: float | None = None) -> Iterator:
        """Like ``stream_responses``; yields (id, probs [n, C]) and raises an error answer."""
        for response in self.stream_responses(requests, timeout):
            yield response.id, probs_of(response)

    def attribute(self, model: str, sequences: Sequence[str] | None = None, codes: np.ndarray | None = None,
                  method: str = "ig", target: str | None = None, steps: int = 0, float16: bool = False,
                  structures: Sequence[str] | None = None, convert_tu: bool = False,
                  timeout: float | None = None, tracks: dict[str, Sequence[str]] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Attribution maps [N, L, A] (float32, or float16 when asked) and probabilities [N, C].

        ``method`` is ``ig`` (integrated gradients), ``saliency``, ``ism`` or ``hypothetical`` (IG's
        path-averaged gradient at every letter); ``target`` is a class name (default: the card's
        positive class; a model without one answers INVALID_ARGUMENT).
        """
        if method not in METHODS:
            raise InputError(f"method {method!r} is not one of {', '.join(METHODS)}")
        base = self.request(model, sequences, codes, structures, convert_tu, tracks=tracks)
        request = pb.AttributeRequest(model=model, codes=base.codes, length=base.length, sequences=base.sequences,
                                      structures=base.structures, convert_tu=convert_tu, method=METHODS[method],
                                      target=target or "", steps=steps, float16=float16, tracks=base.tracks)
        answer = self._call(self.stub.Attribute, request, timeout)
        attributions = np.frombuffer(answer.attributions, dtype=np.dtype(answer.dtype)).reshape(tuple(answer.shape))
        probs = np.frombuffer(answer.probs, dtype=np.float32).reshape(tuple(answer.probs_shape))
        return attributions, probs


def _info(m) -> dict:
    return {"name": m.name, "version": m.version, "ref": m.ref, "digest": m.digest, "provider": m.provider,
            "length": m.length or None, "classes": list(m.classes), "alphabet": m.alphabet_letters,
            "structure": m.structure, "tracks": list(m.tracks), "card": json.loads(m.card_json) if m.card_json else {}}


# ---------------------------------------------------------------------- seqzoo.v1.Variants
def scores_of(response) -> dict[str, np.ndarray]:
    """dict score name -> float32 [N, C] from a ScoreVariantsResponse."""
    array = np.frombuffer(response.scores, dtype="<f4").reshape(tuple(response.shape))
    return {name: array[i] for i, name in enumerate(response.score_names)}


class VariantsClient:
    """Client of ``seqzoo.v1.Variants`` over a :class:`SeqZooClient`'s channel.

    Parameters
    ----------
    client : SeqZooClient
        Its channel, token metadata and timeout are reused.
    in_flight : int
        Requests :meth:`score_windows_many` keeps outstanding (the server batches them together).
    """

    def __init__(self, client, in_flight: int = 8):
        self.client = client
        self.stub = vpb_grpc.VariantsStub(client.channel)
        self.in_flight = max(1, int(in_flight))

    def _error(self, exc: grpc.RpcError):
        return rpc_error(exc)

    def request(self, model: str, ref_windows: list[str], alt_windows: list[str], names: list[str],
                rc_rule: str | None, tracks: dict[str, list[str]] | None = None) -> vpb.ScoreVariantsRequest:
        return vpb.ScoreVariantsRequest(model=model, ref_windows=ref_windows, alt_windows=alt_windows,
                                        scores=names, rc_average=rc_rule or "",
                                        tracks=track_messages(tracks))

    def call(self, request: vpb.ScoreVariantsRequest, timeout: float | None = None):
        """One ScoreVariants call; server errors come back as seqzoo errors."""
        try:
            return self.stub.ScoreVariants(request, **self.client.call_options(timeout))
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def score_coordinates(self, model: str, variants: list[tuple], names: list[str] | None = None,
                          strand: str = "+", rc_rule: str | None = None):
        """Score ``(chrom, pos, id, ref, alt)`` tuples on a server started with ``--genome``.

        Returns
        -------
        (dict of str -> np.ndarray [N, C], list of VariantResult)
        """
        request = vpb.ScoreVariantsRequest(
            model=model, variants=[vpb.VariantCoordinates(chrom=c, pos=p, id=i or "", ref=r, alt=a)
                                   for c, p, i, r, a in variants],
            strand=strand, scores=names or ["diff"], rc_average=rc_rule or "")
        response = self.call(request)
        return scores_of(response), list(response.results)

    def score_windows_many(self, model: str, ref_windows: list[str], alt_windows: list[str], names: list[str],
                           rc_rule: str | None, batch: int = 1024, tracks: dict[str, list[str]] | None = None
                           ) -> dict[str, np.ndarray]:
        """Score N window pairs in requests of ``batch`` pairs, ``in_flight`` at a time, in order.

        Returns
        -------
        dict of str -> np.ndarray, shape=(N, C)
        """
        pending: list[tuple[int, Future]] = []
        parts: list[dict] = []
        starts = list(range(0, len(ref_windows), batch))
        for start in starts:
            part = {k: v[start:start + batch] for k, v in (tracks or {}).items()}
            request = self.request(model, ref_windows[start:start + batch], alt_windows[start:start + batch],
                                   names, rc_rule, part)
            pending.append((start, self.stub.ScoreVariants.future(request, **self.client.call_options())))
            if len(pending) >= self.in_flight:
                parts.append(self._result(pending.pop(0)[1]))
        parts.extend(self._result(f) for _, f in pending)
        if not parts:
            return {}
        return {name: np.concatenate([p[name] for p in parts]) for name in names}

    def _result(self, future) -> dict[str, np.ndarray]:
        try:
            return scores_of(future.result())
        except grpc.RpcError as exc:
            raise self._error(exc) from None


class AnnotationClient:
    """Client of ``seqzoo.v1.Annotation`` over a :class:`SeqZooClient`'s channel: the contigs of
    the server's genome, and track values of its regions.

    Parameters
    ----------
    client : SeqZooClient
        Its channel, token metadata and retry policy are reused.
    """

    def __init__(self, client):
        self.client = client
        self.stub = apb_grpc.AnnotationStub(client.channel)

    def contigs(self) -> tuple[dict[str, int], str]:
        """(contig name -> length in FASTA order, the genome's file name) of the server's genome."""
        answer = self.client._call(self.stub.Contigs, apb.ContigsRequest(), None)
        return dict(zip(answer.names, answer.lengths)), answer.genome

    def annotate(self, model: str, pieces: list[tuple], stride: int, classes: list[str],
                 timeout: float | None = None) -> Iterator[tuple[str, str, np.ndarray, np.ndarray, bool]]:
        """(contig, strand, positions [k], values float32 [k, K], shared_pass) chunk by chunk, in
        order, for ``pieces`` of (Region, strand).

        A stream the server cut (a drain, a restart) is reopened once the server is back, from
        the first position not yet received, at most RECONNECTS times in a row; nothing is lost
        or repeated. The pieces go in requests of at most the server's windows a request
        (annotate.MAX_WINDOWS), one after another.
        """
        from seqzoo.serving.annotate import MAX_REGIONS, MAX_WINDOWS, window_count

        batch, windows = [], 0
        for region, strand in pieces:
            size = window_count(region.start, region.end, stride)
            if batch and (windows + size > MAX_WINDOWS or len(batch) == MAX_REGIONS):
                yield from self._annotate(model, batch, stride, classes, timeout)
                batch, windows = [], 0
            batch.append((region, strand))
            windows += size
        if batch:
            yield from self._annotate(model, batch, stride, classes, timeout)

    def _annotate(self, model: str, pieces: list[tuple], stride: int, classes: list[str], timeout: float | None):
        """One request's stream (annotate's), reopened where a drain or a restart cut it."""
        todo = list(pieces)
        reconnects = 0
        while todo:
            request = apb.AnnotateRequest(model=model, stride=stride, classes=classes, regions=[
                apb.GenomeRegion(contig=r.chrom, start=r.start, end=r.end, strand=strand) for r, strand in todo])
            try:
                for answer in self.stub.Annotate(request, **self.client.call_options(timeout)):
                    region, strand = todo[answer.region]
                    positions = answer.start + answer.stride * np.arange(answer.count, dtype=np.int64)
                    values = np.frombuffer(answer.values, dtype="<f4").reshape(answer.count, len(answer.classes))
                    yield answer.contig, answer.strand, positions, values, answer.shared_pass
                    following = int(positions[-1]) + stride
                    todo[answer.region] = (replace(region, start=following), strand)
                    reconnects = 0
                return
            except grpc.RpcError as exc:
                error = rpc_error(exc)
                if not went_away(error) or reconnects >= RECONNECTS:
                    raise error from None
            reconnects += 1
            todo = [(r, strand) for r, strand in todo if r.start < r.end]
            log.warning("%s: the annotation stream was cut (%s); reopening it for the %d regions not yet done",
                        self.client.target, error, len(todo))
            self.client.wait_ready(RECONNECT_SECONDS)
