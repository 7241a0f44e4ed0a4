"""The Open Inference Protocol over HTTP/REST (``seqzoo serve --http-port``), beside the gRPC port.

The REST form of the same protocol, on aiohttp in the server's own event loop, answered by the
same verbs as the gRPC service (``OipServicer.metadata``, ``infer``), so both transports give the
same numbers and the same errors:

- ``GET /v2/health/live``, ``GET /v2/health/ready`` (200, or 503 when no model is served);
- ``GET /v2`` (server metadata);
- ``GET /v2/models/{name}[/versions/{version}]`` (model metadata), ``.../ready``;
- ``POST /v2/models/{name}[/versions/{version}]/infer`` with JSON tensors:
  ``{"inputs": [{"name": "sequences", "datatype": "BYTES", "shape": [N], "data": ["ACGU...", ...]}]}``
  or ``codes`` (UINT8 ``[N, L]``, data flat or nested row-major), request ``parameters``
  (``digest``, ``convert_tu``); a numeric track is FP32 ``[N, T]`` (null: no data); the answer ``{"model_name", "model_version", "id", "parameters",
  "outputs": [{"name": "probs", "datatype": "FP32", "shape": [N, C], "data": [...]}]}``.

Errors are ``{"error": "..."}`` with 400 (bad input: every field is checked, nothing reaches a
500), 401 (token, with ``WWW-Authenticate``), 404 (unknown model or version), 413 (a body over
``--max-message-mb``, the gRPC message limit), 429 (queue full), 503 (draining or unloading) or 504
(deadline). The bearer token and the drain apply as on gRPC, by the same rule (serving/server/admission.py):
health is public unless ``--private-health``; a draining server answers 503 and lets admitted
requests finish. ``timeout`` (request parameter, seconds, a number) is the deadline. A body is
parsed on the decoding pool, never on the event loop that answers health; a connection idle for
75 s is closed; a client that drops mid-body is an INFO line, not an ERROR traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

import grpc
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from seqzoo.serving.server.admission import bearer_ok, is_health
from seqzoo.serving.server.oip_grpc import parameter, server_metadata
from seqzoo.serving.server.status import status_of
from seqzoo.v1 import oip_pb2 as opb
from seqzoo.zoo.errors import InputError, UnavailableError, quote

log = logging.getLogger(__name__)

# the HTTP status of each gRPC status the server answers with (serving/server/status.py: one error table)
HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404,
               grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
               grpc.StatusCode.UNAVAILABLE: 503}
FP32_MAX = 3.4028234663852886e38
HTTP_INFER = "HTTPModelInfer"  # the metrics' method of an HTTP inference (gRPC's is ModelInfer)
IDLE_SECONDS = 75.0  # an open connection with no request in flight is closed after this long
# a client that goes away mid-request, or sends what is not HTTP: an INFO line, never an ERROR traceback
GONE = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, asyncio.CancelledError)


class _QuietDisconnects(logging.Filter):
    """aiohttp's own log of a peer that dropped or spoke garbage, as one INFO line without traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and (isinstance(error, GONE) or type(error).__module__.startswith("aiohttp")):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = f"HTTP client error: {type(error).__name__}: {str(error)[:200]}", ()
            record.exc_info = record.exc_text = None
        return True


for _name in ("aiohttp.server", "aiohttp.web", "aiohttp.access"):
    logging.getLogger(_name).addFilter(_QuietDisconnects())


def _status(exc: BaseException) -> int:
    return HTTP_STATUS.get(status_of(exc), 500)


INT64 = 2**63
MAX_DIMENSION = 2**31 - 1


def _text(value, what: str) -> str:
    """A JSON string the request gives, as protobuf can hold it (no lone surrogate)."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} is not valid Unicode text (a lone surrogate)") from None
    return value


def _parameter(name: str, value) -> opb.InferParameter:
    if isinstance(value, bool):
        return opb.InferParameter(bool_param=value)
    if isinstance(value, int):
        if not -INT64 <= value < INT64:
            raise InputError(f"parameter {quote(name)}: the integer is outside the 64-bit range")
        return opb.InferParameter(int64_param=value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"parameter {quote(name)} is not a finite number")
        return opb.InferParameter(double_param=value)
    if isinstance(value, str):
        return opb.InferParameter(string_param=_text(value, f"parameter {quote(name)}"))
    raise InputError(f"parameter {quote(name)} must be a bool, number or string, not {type(value).__name__}")


def _shape(tensor: dict, what: str) -> list[int]:
    shape = tensor.get("shape", [])
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise InputError(f"{what}: 'shape' must be a list of integers")
    if any(not 0 <= d <= MAX_DIMENSION for d in shape):
        raise InputError(f"{what}: a dimension of 'shape' is outside 0..{MAX_DIMENSION}")
    return shape


def _flat(data, what: str) -> list:
    """The scalars of a (possibly nested, row-major) JSON data array, depth first, without recursion."""
    if not isinstance(data, list):
        raise InputError(f"{what}: 'data' must be a list")
    out, stack = [], [iter(data)]
    while stack:
        item = next(stack[-1], stack)
        if item is stack:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        elif isinstance(item, dict):
            raise InputError(f"{what}: 'data' holds an object; it is a list of values")
        else:
            out.append(item)
    return out


def infer_request(body, name: str, version: str) -> opb.ModelInferRequest:
    """The ModelInferRequest (typed contents) of an OIP JSON inference request; every field the
    request gives is checked (type, range, text), so bad input is an InputError naming it."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InputError("the request body must be a JSON object with a list 'inputs'")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InputError(f"'parameters' must be an object of name: value, not {type(parameters).__name__}")
    given_id = body.get("id", "")
    request = opb.ModelInferRequest(model_name=_text(name, "the model name"), model_version=_text(version, "version"),
                                    id=_text(given_id if isinstance(given_id, str) else str(given_id), "'id'"))
    for key, value in parameters.items():
        request.parameters[_text(key, "a parameter name")].CopyFrom(_parameter(key, value))
    for i, tensor in enumerate(body["inputs"]):
        if not isinstance(tensor, dict) or "data" not in tensor:
            raise InputError(f"input {i}: a tensor needs name, datatype, shape and data")
        what = f"input {i}"
        entry = request.inputs.add(name=_text(tensor.get("name", ""), f"{what} 'name'"),
                                   datatype=_text(tensor.get("datatype", ""), f"{what} 'datatype'"),
                                   shape=_shape(tensor, what))
        what = f"input {quote(entry.name)}"
        data = _flat(tensor["data"], what)
        if entry.datatype == "BYTES":
            entry.contents.bytes_contents.extend(_text(d, f"{what}: a BYTES element").encode() for d in data)
        elif entry.datatype == "FP32":  # a numeric track; null reads as NaN (no data)
            if not all(d is None or (isinstance(d, (int, float)) and not isinstance(d, bool)) for d in data):
                raise InputError(f"{what}: FP32 data must be numbers (null for no data)")
            values = [float("nan") if d is None else float(d) for d in data]
            if any(not math.isnan(v) and abs(v) > FP32_MAX for v in values):
                raise InputError(f"{what}: a value is outside the FP32 range (null means no data)")
            entry.contents.fp32_contents.extend(values)
        else:
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in data):
                raise InputError(f"{what}: {entry.datatype or 'its'} data must be integers")
            if any(d < 0 or d > 2**32 - 1 for d in data):
                raise InputError(f"{what}: a value is outside 0..4294967295")
            entry.contents.uint_contents.extend(data)
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise InputError("'outputs' must be a list of objects with a 'name'")
    for output in outputs:
        request.outputs.add(name=_text(output.get("name", ""), "an output's 'name'"))
    return request


def _parse(data: bytes, name: str, version: str) -> opb.ModelInferRequest:
    """JSON body -> ModelInferRequest (run on the decoding pool: a 60 MB body must not stall the loop)."""
    try:
        body = json.loads(data)
    except RecursionError:
        raise InputError("the request body nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the request body is not JSON ({str(exc)[:120]})") from None
    return infer_request(body, name, version)


def infer_answer(answer: opb.ModelInferResponse) -> dict:
    out = answer.outputs[0]
    return {"model_name": answer.model_name, "model_version": answer.model_version, "id": answer.id,
            "parameters": {k: v.string_param for k, v in answer.parameters.items()},
            "outputs": [{"name": out.name, "datatype": out.datatype, "shape": list(out.shape),
                         "data": list(out.contents.fp32_contents)}]}


class OipHttp:
    """The REST endpoints over an ``OipServicer``, gated by the server's ``Admission`` (drain)
    and token.

    Parameters
    ----------
    oip : OipServicer
    calls : Calls
        The server's request context (serving.server.calls): drain, bearer token, body limit, metrics.
    """

    def __init__(self, oip, calls):
        self.oip, self.calls, self.admission = oip, calls, calls.admission
        token = calls.settings.token
        self._expected = token.encode() if token else None
        self.public_health = calls.settings.public_health
        self.runner: web.AppRunner | None = None
        app = web.Application(client_max_size=int(calls.settings.max_message_bytes), middlewares=[self._gate])
        for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
            app.router.add_get(prefix, self.model_metadata)
            app.router.add_get(prefix + "/ready", self.model_ready)
            app.router.add_post(prefix + "/infer", self.infer)
        app.router.add_get("/v2/health/live", self.live)
        app.router.add_get("/v2/health/ready", self.ready)
        app.router.add_get("/v2", self.metadata)
        self.app = app

    @web.middleware
    async def _gate(self, request: web.Request, handler):
        health = is_health(request.path)
        if self._expected is not None and not (health and self.public_health) and \
                not bearer_ok(request.headers.get("Authorization", ""), self._expected):
            response = _error(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')")
            response.headers["WWW-Authenticate"] = 'Bearer realm="seqzoo"'
            return response
        if health:
            return await handler(request)
        try:
            self.admission.enter()
        except UnavailableError as exc:
            return _error(503, str(exc))
        try:
            return await handler(request)
        except web.HTTPException as exc:  # aiohttp's own answers (413 body too large, 404, 405): JSON too
            if exc.status < 400:
                raise
            return _error(exc.status, exc.text or exc.reason)
        except GONE as exc:
            log.info("OIP HTTP %s: the client went away (%s)", request.path, type(exc).__name__)
            raise
        except Exception as exc:
            status = _status(exc)
            if request.path.endswith("/infer"):
                self.calls.failed(HTTP_INFER, request.match_info.get("name", ""), exc)
            if status == 500:
                log.error("OIP HTTP %s failed: %r", request.path, exc, exc_info=exc)
                return _error(500, f"internal error: {exc!r}")
            return _error(status, str(exc))
        finally:
            self.admission.leave()

    async def start(self, settings) -> int:
        """Listen on the gRPC address's host, port ``settings.http_port`` (0 = a free port; shared
        with the other ``--workers`` as their gRPC port is); the bound port."""
        host = settings.address.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"
        reuse = ("grpc.so_reuseport", 1) in settings.extra_options
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False, keepalive_timeout=IDLE_SECONDS)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, settings.http_port, reuse_port=reuse or None)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        log.info("Open Inference Protocol HTTP on port %d", port, extra={"http_port": port})
        return port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- endpoints ---------------------------------------------------------------------------
    async def live(self, request):
        return web.json_response({"live": True})

    async def ready(self, request):
        ready = bool(self.oip.store.list()) and not self.admission.draining
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def metadata(self, request):
        return web.json_response(MessageToDict(server_metadata(), preserving_proto_field_name=True))

    async def model_metadata(self, request):
        meta = self.oip.metadata(request.match_info["name"], request.match_info.get("version", ""))
        answer = MessageToDict(meta, preserving_proto_field_name=True)
        for tensor in answer["inputs"] + answer["outputs"]:
            tensor["shape"] = [int(d) for d in tensor["shape"]]
        return web.json_response(answer)

    async def model_ready(self, request):
        name = request.match_info["name"]
        self.oip.served(name, request.match_info.get("version", ""))
        return web.json_response({"name": name, "ready": True})

    async def infer(self, request):
        try:
            data = await request.read()  # streamed in by aiohttp; over the size limit: 413
        except (web.HTTPException, *GONE):
            raise
        except Exception as exc:  # noqa: BLE001 - aiohttp's payload and Content-Encoding errors
            raise InputError(f"the request body cannot be read as sent ({type(exc).__name__}: {str(exc)[:120]}; "
                             "is its Content-Encoding right?)") from None
        message = await self.calls.on_pool(_parse, data, request.match_info["name"],
                                           request.match_info.get("version", ""))
        deadline = None
        if "timeout" in message.parameters:
            kinds = ("double_param", "int64_param")
            kind = message.parameters["timeout"].WhichOneof("parameter_choice")
            seconds = parameter(message.parameters, "timeout", kind if kind in kinds else "double_param")
            if not 0 < seconds <= 86400:
                raise InputError(f"parameter 'timeout' must be seconds in (0, 86400], got {seconds:g}")
            deadline = time.monotonic() + seconds
        return web.json_response(infer_answer(await self.oip.infer(message, deadline, HTTP_INFER)))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
