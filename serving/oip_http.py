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

Errors are ``{"error": "..."}`` with 400 (bad input), 401 (token), 404 (unknown model or
version), 429 (queue full), 503 (draining or unloading) or 504 (deadline). The bearer token and
the drain apply as on gRPC: health is public unless ``--private-health``; a draining server answers
503 and lets admitted requests finish. ``timeout`` (request parameter, seconds) is the deadline.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

import grpc
import numpy as np
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from seqzoo.serving.oip_service import server_metadata
from seqzoo.serving.status import status_of
from seqzoo.v1 import oip_pb2 as opb
from seqzoo.zoo.errors import InputError, UnavailableError

log = logging.getLogger(__name__)

# the HTTP status of each gRPC status the server answers with (serving/status.py: one error table)
HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404,
               grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
               grpc.StatusCode.UNAVAILABLE: 503}
MAX_BODY = 256 * 2**20


def _status(exc: BaseException) -> int:
    return HTTP_STATUS.get(status_of(exc), 500)


def _parameter(value) -> opb.InferParameter:
    if isinstance(value, bool):
        return opb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return opb.InferParameter(int64_param=value)
    if isinstance(value, float):
        return opb.InferParameter(double_param=value)
    if isinstance(value, str):
        return opb.InferParameter(string_param=value)
    raise InputError(f"parameter value {value!r} is not a bool, number or string")


def infer_request(body: dict, name: str, version: str) -> opb.ModelInferRequest:
    """The ModelInferRequest (typed contents) of an OIP JSON inference request."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InputError("the request body must be a JSON object with a list 'inputs'")
    request = opb.ModelInferRequest(model_name=name, model_version=version, id=str(body.get("id", "")))
    for key, value in (body.get("parameters") or {}).items():
        request.parameters[key].CopyFrom(_parameter(value))
    for i, tensor in enumerate(body["inputs"]):
        if not isinstance(tensor, dict) or "data" not in tensor:
            raise InputError(f"input {i}: a tensor needs name, datatype, shape and data")
        entry = request.inputs.add(name=str(tensor.get("name", "")), datatype=str(tensor.get("datatype", "")),
                                   shape=[int(d) for d in tensor.get("shape", [])])
        data = np.asarray(tensor["data"], dtype=object).ravel().tolist()
        if entry.datatype == "BYTES":
            if not all(isinstance(d, str) for d in data):
                raise InputError(f"input {entry.name!r}: BYTES data must be strings")
            entry.contents.bytes_contents.extend(d.encode() for d in data)
        elif entry.datatype == "FP32":  # a numeric track; null reads as NaN (no data)
            if not all(d is None or (isinstance(d, (int, float)) and not isinstance(d, bool)) for d in data):
                raise InputError(f"input {entry.name!r}: FP32 data must be numbers (null for no data)")
            entry.contents.fp32_contents.extend(float("nan") if d is None else float(d) for d in data)
        else:
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in data):
                raise InputError(f"input {entry.name!r}: {entry.datatype or 'its'} data must be integers")
            if any(d < 0 or d > 2**32 - 1 for d in data):
                raise InputError(f"input {entry.name!r}: a value is outside 0..4294967295")
            entry.contents.uint_contents.extend(data)
    for output in body.get("outputs") or []:
        request.outputs.add(name=str(output.get("name", "")) if isinstance(output, dict) else "")
    return request


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
    admission : Admission
    token : str, optional
    public_health : bool
    """

    def __init__(self, oip, admission, token: str | None = None, public_health: bool = True):
        self.oip, self.admission = oip, admission
        self._expected = f"Bearer {token}".encode() if token else None
        self.public_health = public_health
        self.runner: web.AppRunner | None = None
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._gate])
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
        health = request.path.startswith("/v2/health/")
        if self._expected is not None and not (health and self.public_health):
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, self._expected):
                return _error(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')")
        if health:
            return await handler(request)
        try:
            self.admission.enter()
        except UnavailableError as exc:
            return _error(503, str(exc))
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            status = _status(exc)
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
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
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
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"the request body is not JSON ({exc})") from None
        message = infer_request(body, request.match_info["name"], request.match_info.get("version", ""))
        deadline = None
        if "timeout" in message.parameters:
            given = message.parameters["timeout"]
            deadline = time.monotonic() + (given.double_param or given.int64_param)
        return web.json_response(infer_answer(await self.oip.infer(message, deadline)))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
