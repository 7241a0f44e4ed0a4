"""The Open Inference Protocol (``inference.GRPCInferenceService``) beside seqzoo.v1, on the same port.

Pipelines that run Triton, KServe or MLServer, and every OIP client (``tritonclient``), call
seqzoo's models through it. It shares everything with ``seqzoo.v1.SeqZoo``: the model store,
the per-model batcher (OIP and seqzoo.v1 requests merge into the same batches), the decoding
pool, auth and drain (the server's interceptors), deadlines and metrics.

The mapping:

- model name = zoo name; model version = zoo version ("" = the newest served); the request
  parameter ``digest`` (``sha256:...``) pins the exact version, as ``name@sha256:...`` does;
- input ``codes``: UINT8 ``[N, L]`` in the card's code space (raw_input_contents or typed
  ``uint_contents``); or input ``sequences``: BYTES ``[N]`` (raw, each element length-prefixed,
  or ``bytes_contents``), encoded by the server with the card's alphabet (request parameter
  ``convert_tu`` reads T as U for RNA models); a multimodal model takes one more input per track,
  named as the track (the card's ``input.tracks``), beside ``sequences``: BYTES ``[N]`` of letters,
  or for a numeric track FP32 ``[N, T]`` (NaN: no data);
- output ``probs``: FP32 ``[N, C]``, raw when the request sent raw inputs, typed otherwise.

Errors carry the statuses the protocol names: NOT_FOUND for an unknown model or version,
INVALID_ARGUMENT naming the input for a datatype, shape or content the model does not take.
"""

from __future__ import annotations

import struct

import numpy as np
from seqzoo.v1 import oip_pb2 as opb
from seqzoo.v1 import oip_pb2_grpc as opb_grpc
from seqzoo.zoo.errors import InputError, quote
from seqzoo.zoo.numeric import NAME as NUMERIC

from seqzoo import __version__

SERVICE = opb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
PLATFORM = "onnxruntime_onnx"
INPUTS = {"codes": "UINT8", "sequences": "BYTES"}
OUTPUT = "probs"


def parameter(parameters, name: str, kind: str):
    """Request parameter ``name`` when present (None otherwise); InputError when it is not of ``kind``
    (``string_param``, ``bool_param``, ...): a digest sent as a number must not fall back to the newest."""
    if name not in parameters:
        return None
    given = parameters[name]
    if given.WhichOneof("parameter_choice") != kind:
        raise InputError(f"parameter {name!r} must be a {kind.removesuffix('_param')}, got "
                         f"{given.WhichOneof('parameter_choice') or 'nothing'}")
    return getattr(given, kind)


def model_ref(name: str, version: str, parameters) -> str:
    """The zoo ref of an OIP (model name, version, request parameters)."""
    if not name:
        raise InputError("field 'model_name' is empty")
    if "@" in name or ":" in name or len(name) > 64:
        raise InputError(f"model name {quote(name)}: give the zoo name; the version goes in 'model_version' and a "
                         "digest in the request parameter 'digest'")
    digest = parameter(parameters, "digest", "string_param") or ""
    if digest:
        if version:
            raise InputError("give either 'model_version' or the parameter 'digest', not both")
        return f"{name}@{digest}"
    if version and not (version.isascii() and version.isdigit() and len(version) <= 9):
        raise InputError(f"model version {quote(version)} is not a zoo version number")
    return f"{name}:{int(version)}" if version else name


def _unpack_bytes(raw: bytes, name: str) -> list[bytes]:
    """The elements of a raw BYTES tensor: each a 4-byte little-endian length, then its bytes."""
    items, at = [], 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise InputError(f"input {name!r}: raw BYTES contents end inside an element's length prefix")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise InputError(f"input {name!r}: a raw BYTES element runs past the end of the contents")
        items.append(raw[at:at + size])
        at += size
    return items


def _strings(request, index: int, raw: bool, max_sequences: int) -> list[str]:
    """The ASCII strings of BYTES input ``index`` (shape [N])."""
    tensor = request.inputs[index]
    shape = list(tensor.shape)
    if len(shape) != 1 or shape[0] < 1:
        raise InputError(f"input {tensor.name!r} must have shape [N] with N >= 1, got {shape}")
    items = _unpack_bytes(request.raw_input_contents[index], tensor.name) if raw \
        else list(tensor.contents.bytes_contents)
    if len(items) != shape[0]:
        raise InputError(f"input {tensor.name!r} holds {len(items)} elements, the shape {shape} says {shape[0]}")
    if shape[0] > max_sequences:
        raise InputError(f"input {tensor.name!r} has {shape[0]} sequences; the limit is {max_sequences}")
    try:
        return [item.decode("ascii") for item in items]
    except UnicodeDecodeError:
        raise InputError(f"input {tensor.name!r}: an element is not ASCII text") from None


def _numbers(request, index: int, raw: bool, n: int) -> list[np.ndarray]:
    """The rows of FP32 input ``index`` (a numeric track, shape [N, T]) for ``n`` sequences."""
    tensor = request.inputs[index]
    shape = list(tensor.shape)
    if len(shape) != 2 or shape[0] != n or shape[1] < 1:
        raise InputError(f"input {tensor.name!r} must have shape [{n}, T] (one row per sequence), got {shape}")
    if raw and len(request.raw_input_contents[index]) % 4:
        raise InputError(f"input {tensor.name!r}: raw FP32 contents of {len(request.raw_input_contents[index])} "
                         "bytes are not a whole number of 4-byte values")
    values = np.frombuffer(request.raw_input_contents[index], dtype="<f4") if raw \
        else np.asarray(tensor.contents.fp32_contents, dtype=np.float32)
    if np.isinf(values).any():
        raise InputError(f"input {tensor.name!r}: a value is infinite (NaN, or null over HTTP, means no data)")
    if values.size != n * shape[1]:
        raise InputError(f"input {tensor.name!r} holds {values.size} values, the shape {shape} needs {n * shape[1]}")
    return list(values.astype(np.float64).reshape(n, shape[1]))


def track_types(engine) -> dict[str, str]:
    """The OIP datatype of each track input of a model: FP32 for a numeric track, BYTES for letters."""
    return {t.name: "FP32" if t.source == NUMERIC else "BYTES" for t in engine.alphabet.tracks} if engine.packed \
        else {}


def _codes(request, engine, raw: bool, max_sequences: int) -> np.ndarray:
    """The packed codes of a request's one input ``codes`` (UINT8 [N, L])."""
    tensor = request.inputs[0]
    shape = list(tensor.shape)
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(f"input 'codes' must have shape [N, L] with N, L >= 1, got {shape}")
    n, length = shape
    if engine.code_length is not None and length != engine.code_length:
        raise InputError(f"input 'codes' has length {length}; model {engine.identity.ref} takes {engine.code_length}")
    if raw:
        data = request.raw_input_contents[0]
        if len(data) != n * length:
            raise InputError(f"input 'codes': raw contents hold {len(data)} bytes, the shape {shape} needs "
                             f"{n * length}")
        codes = np.frombuffer(data, dtype=np.uint8)
    else:
        values = tensor.contents.uint_contents
        if len(values) != n * length:
            raise InputError(f"input 'codes': uint_contents hold {len(values)} values, the shape {shape} "
                             f"needs {n * length}")
        codes = np.asarray(values, dtype=np.int64)
        if codes.size and (codes.max() > 255 or codes.min() < 0):
            raise InputError("input 'codes': a UINT8 value is outside 0..255")
        codes = codes.astype(np.uint8)
    if n > max_sequences:
        raise InputError(f"input 'codes' has {n} sequences; the limit is {max_sequences}")
    return engine.check_codes(codes.reshape(n, length))


def decode_inputs(request, engine, max_sequences: int) -> tuple[np.ndarray, bool]:
    """(codes [N, L], whether the request sent raw contents) of a ModelInferRequest: one input
    ``codes``, or ``sequences`` with one BYTES input per track of a multimodal model."""
    names = [t.name for t in request.inputs]
    types = track_types(engine)
    allowed = {**INPUTS, **types}
    for tensor in request.inputs:
        if tensor.name not in allowed:
            raise InputError(f"input {tensor.name!r} is not one of the model's inputs ({', '.join(allowed)})")
        if tensor.datatype != allowed[tensor.name]:
            raise InputError(f"input {tensor.name!r} is {allowed[tensor.name]}, not {tensor.datatype or 'untyped'}")
    if not names or len(set(names)) != len(names) or ("codes" in names and len(names) > 1) or \
            ("codes" not in names and "sequences" not in names):
        tracks = ", ".join(f"'{t}' ({kind} [N{', T' if kind == 'FP32' else ''}])" for t, kind in types.items())
        raise InputError(f"the request has {len(names)} inputs {names}; give 'codes' (UINT8 [N, L]) alone, or 'sequences' "
                         f"(BYTES [N]){' with its tracks ' + tracks if tracks else ''}")
    raw = bool(request.raw_input_contents)
    if raw and len(request.raw_input_contents) != len(names):
        raise InputError(f"{len(request.raw_input_contents)} raw_input_contents for {len(names)} inputs")
    typed = [t.name for t in request.inputs if t.HasField("contents") and t.contents.ByteSize()]
    if raw and typed:
        raise InputError(f"input {typed[0]!r} has typed contents and the request has raw_input_contents: send one "
                         "form")
    for out in request.outputs:
        if out.name != OUTPUT:
            raise InputError(f"output {out.name!r} is not one of the model's outputs ({OUTPUT})")
    if names == ["codes"]:
        return _codes(request, engine, raw, max_sequences), raw
    sequences = _strings(request, names.index("sequences"), raw, max_sequences)
    given = {name: _numbers(request, i, raw, len(sequences)) if types[name] == "FP32"
             else _strings(request, i, raw, max_sequences) for i, name in enumerate(names) if name != "sequences"}
    convert_tu = bool(parameter(request.parameters, "convert_tu", "bool_param"))
    try:
        return engine.encode(sequences, None, convert_tu, given or None), raw
    except InputError as exc:
        raise (exc if exc.field else exc.at(field="sequences")) from None


class OipServicer(opb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` over the same store and plumbing as seqzoo.v1's servicer.

    The protocol's verbs (``ready``, ``metadata``, ``infer``) raise seqzoo errors; the gRPC
    methods answer them with gRPC statuses, the HTTP endpoints (serving/server/oip_http.py) with HTTP
    ones, so both transports give the same answers.

    Parameters
    ----------
    calls : Calls
        The server's request context (serving.server.calls): store, limits, metrics, decoding pool.
    """

    def __init__(self, calls):
        self.calls = calls
        self.store = calls.store

    # -- the verbs ---------------------------------------------------------------------------
    def served(self, name: str, version: str, parameters=None):
        return self.store.get(model_ref(name, version, parameters if parameters is not None else {}))

    def metadata(self, name: str, version: str) -> opb.ModelMetadataResponse:
        engine = self.served(name, version).engine
        versions = sorted({s.engine.identity.version for s in self.store.list()
                           if s.engine.identity.name == engine.identity.name})
        tensor = opb.ModelMetadataResponse.TensorMetadata
        length = engine.code_length or -1
        types = track_types(engine)
        return opb.ModelMetadataResponse(
            name=engine.identity.name, versions=[str(v) for v in versions], platform=PLATFORM,
            inputs=[tensor(name="codes", datatype="UINT8", shape=[-1, length]),
                    tensor(name="sequences", datatype="BYTES", shape=[-1]),
                    *(tensor(name=t.name, datatype=types[t.name], shape=[-1, t.length] if types[t.name] == "FP32"
                             else [-1]) for t in (engine.alphabet.tracks if types else ()))],
            outputs=[tensor(name=OUTPUT, datatype="FP32", shape=[-1, len(engine.classes)])])

    async def infer(self, request, deadline: float | None, method: str = "ModelInfer") -> opb.ModelInferResponse:
        """Score a ModelInferRequest through the model's batcher; the answer in the request's
        form (raw contents for raw inputs, typed otherwise). Counted as ``method``."""
        calls = self.calls
        served = self.served(request.model_name, request.model_version, request.parameters)
        max_sequences = calls.settings.max_sequences
        items = sum(len(t.contents.bytes_contents) + len(t.contents.uint_contents) + len(t.contents.fp32_contents)
                    for t in request.inputs)
        folds = served.engine.structure_form is not None  # ViennaRNA on sequences: ~35 ms each, off the loop
        if not folds and calls.inline(items, sum(len(r) for r in request.raw_input_contents)):
            codes, raw = decode_inputs(request, served.engine, max_sequences)
        else:
            codes, raw = await calls.on_pool(decode_inputs, request, served.engine, max_sequences)
        probs = await served.batcher.submit(codes, deadline)
        ident = served.engine.identity
        calls.answered(ident, method, probs.shape[0])
        output = opb.ModelInferResponse.InferOutputTensor(name=OUTPUT, datatype="FP32", shape=probs.shape)
        answer = opb.ModelInferResponse(model_name=ident.name, model_version=str(ident.version), id=request.id,
                                        outputs=[output])
        answer.parameters["digest"].string_param = ident.digest
        probs = np.ascontiguousarray(probs, dtype="<f4")
        if raw:
            answer.raw_output_contents.append(probs.tobytes())
        else:
            answer.outputs[0].contents.fp32_contents.extend(probs.ravel().tolist())
        return answer

    # -- gRPC --------------------------------------------------------------------------------
    async def ServerLive(self, request, context):
        return opb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return opb.ServerReadyResponse(ready=bool(self.store.list()))

    async def ModelReady(self, request, context):
        try:
            self.served(request.name, request.version)
        except Exception as exc:  # noqa: BLE001
            await self.calls.fail(context, "ModelReady", request.name, exc)
            return
        return opb.ModelReadyResponse(ready=True)

    async def ServerMetadata(self, request, context):
        return server_metadata()

    async def ModelMetadata(self, request, context):
        try:
            return self.metadata(request.name, request.version)
        except Exception as exc:  # noqa: BLE001
            await self.calls.fail(context, "ModelMetadata", request.name, exc)

    async def ModelInfer(self, request, context):
        try:
            return await self.infer(request, self.calls.deadline(context))
        except Exception as exc:  # noqa: BLE001
            await self.calls.fail(context, "ModelInfer", request.model_name, exc)


def server_metadata() -> opb.ServerMetadataResponse:
    return opb.ServerMetadataResponse(name="seqzoo", version=__version__, extensions=[])
