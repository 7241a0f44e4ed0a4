"""The seqzoo.v1.SeqZoo service: ListModels, GetModel, Score, ScoreStream and Attribute.

Requests are decoded on the event loop when small and on the decoding pool when large
(``Calls.inline``), scored by the model version's batcher and explained on its attribution lane;
errors are answered with their gRPC status through the request context (``serving.server.calls``).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
from seqzoo.serving.ig_rule import IG_STEPS, ig_rows
from seqzoo.serving.ism import ism
from seqzoo.serving.scoring import request_tracks
from seqzoo.serving.server.batcher import let_go
from seqzoo.serving.server.calls import Calls
from seqzoo.serving.server.store import Served
from seqzoo.v1 import seqzoo_pb2 as pb
from seqzoo.v1 import seqzoo_pb2_grpc as pb_grpc
from seqzoo.zoo.errors import InputError, place_json

SERVICE = pb.DESCRIPTOR.services_by_name["SeqZoo"].full_name
# an IG chunk of the attribution lane holds at most this many float32s (~4 MiB): the longest a
# waiting scoring batch can be held up by one chunk stays a few milliseconds
LANE_IG_VALUES = 2**20


def _decode_request(served: Served, request, max_sequences: int) -> np.ndarray:
    """Codes [N, L] from a ScoreRequest or AttributeRequest (packed codes or strings)."""
    engine = served.engine
    if request.codes:
        if request.sequences or request.tracks:
            raise InputError("give either codes or sequences (with tracks), not both")
        length = request.length or engine.code_length or 0
        if length <= 0:
            raise InputError("field 'length' must be set with packed codes for a model of dynamic length")
        if len(request.codes) % length:
            raise InputError(f"field 'codes' holds {len(request.codes)} bytes, not a multiple of length {length}")
        n = len(request.codes) // length
        if n > max_sequences:
            raise InputError(f"the request has {n} sequences; the limit is {max_sequences}")
        return engine.check_codes(np.frombuffer(request.codes, dtype=np.uint8).reshape(n, length))
    if len(request.sequences) > max_sequences:
        raise InputError(f"the request has {len(request.sequences)} sequences; the limit is {max_sequences}")
    if not request.sequences:
        raise InputError("the batch is empty: give codes or sequences")
    return engine.encode(list(request.sequences), list(request.structures) or None, request.convert_tu,
                         request_tracks(request.tracks, len(request.sequences)))


class SeqZooServicer(pb_grpc.SeqZooServicer):
    """seqzoo.v1.SeqZoo over the server's :class:`~seqzoo.serving.server.calls.Calls`."""

    def __init__(self, calls: Calls):
        self.calls = calls
        self.store, self.settings, self.metrics = calls.store, calls.settings, calls.metrics

    # -- helpers ---------------------------------------------------------------------------
    def _inline(self, served: Served, request) -> bool:
        if served.engine.structure_form and request.sequences and not request.structures:
            return False  # folding takes ~35 ms a sequence
        return self.calls.inline(len(request.sequences), len(request.codes))

    async def _codes(self, served: Served, request) -> np.ndarray:
        """Codes [N, L] of a request: small ones decoded here, large ones on the decoding pool
        (``decoder``: a few threads, so the loop keeps answering health and small calls, and
        at most that many large requests are decoded at once)."""
        if self._inline(served, request):
            return _decode_request(served, request, self.settings.max_sequences)
        return await self._decode_on_pool(served, request)

    def _decode_on_pool(self, served: Served, request) -> asyncio.Future:
        return self.calls.on_pool(_decode_request, served, request, self.settings.max_sequences)

    def _info(self, served: Served) -> pb.ModelInfo:
        e, info = served.engine, served.info
        if "card_json" not in info:
            info["card_json"] = json.dumps(e.card, sort_keys=True)
        return pb.ModelInfo(name=e.identity.name, version=e.identity.version, digest=e.identity.digest,
                            card_json=info["card_json"], provider=e.provider, length=e.length or 0,
                            length_dynamic=e.length is None, classes=e.classes, alphabet_letters=e.columns,
                            structure=bool(e.structure_form), ref=e.identity.ref, tracks=e.track_names)

    # -- RPCs ------------------------------------------------------------------------------
    async def ListModels(self, request, context):
        return pb.ListModelsResponse(models=[self._info(s) for s in self.store.list()])

    async def GetModel(self, request, context):
        try:
            return self._info(self.store.get(request.model))
        except Exception as exc:  # noqa: BLE001
            await self.calls.fail(context, "GetModel", request.model, exc)

    async def Score(self, request, context):
        try:
            served = self.store.get(request.model)
            codes = await self._codes(served, request)
            probs = await served.batcher.submit(codes, self.calls.deadline(context))
        except Exception as exc:  # noqa: BLE001
            await self.calls.fail(context, "Score", request.model, exc)
            return
        ident = served.engine.identity
        self.calls.answered(ident, "Score", probs.shape[0])
        return pb.ScoreResponse(probs=probs.tobytes(), shape=probs.shape, classes=served.engine.classes,
                                model=ident.ref, id=request.id)

    async def ScoreStream(self, request_iterator, context):
        """Each message is scored as it arrives (merged into batches with everyone else's);
        answers come back in order; a bad message gets an error answer and the stream goes on."""
        window: asyncio.Queue = asyncio.Queue(maxsize=self.settings.stream_window)
        deadline = self.calls.deadline(context)

        async def read():
            async for request in request_iterator:
                try:
                    served = self.store.get(request.model)
                    if self._inline(served, request):  # the common case, without a coroutine per message
                        codes = _decode_request(served, request, self.settings.max_sequences)
                    else:
                        codes = await self._decode_on_pool(served, request)
                    item = (request, served, served.batcher.submit(codes, deadline))
                except Exception as exc:  # noqa: BLE001
                    item = (request, None, exc)
                await window.put(item)

        async def read_then_end():
            # the end marker is put after a normal end or a broken request stream, never after
            # a cancellation: a cancelled reader must not wait for room in a full window
            try:
                await read()
            except asyncio.CancelledError:
                raise
            except BaseException:
                await window.put(None)
                raise
            await window.put(None)

        reader = asyncio.create_task(read_then_end(), name="seqzoo-stream-reader")
        pending = None
        try:
            while True:
                item = await window.get()
                if item is None:
                    break
                request, served, pending = item
                try:
                    if served is None:
                        raise pending
                    probs = await pending
                except Exception as exc:  # noqa: BLE001
                    code = self.calls.failed("ScoreStream", request.model, exc)
                    yield pb.ScoreResponse(id=request.id, error_code=code.value[0], error_message=str(exc),
                                           error_place=place_json(exc))
                    continue
                ident = served.engine.identity
                self.calls.answered(ident, "ScoreStream", probs.shape[0])
                yield pb.ScoreResponse(probs=probs.tobytes(), shape=probs.shape, classes=served.engine.classes,
                                       model=ident.ref, id=request.id)
            await reader  # surfaces a broken request stream
        finally:
            # the stream ended (answered, cancelled or past its deadline): stop reading and let go
            # of every batch still waiting in the window
            reader.cancel()
            left = [pending] if isinstance(pending, asyncio.Future) else []
            while not window.empty():
                item = window.get_nowait()
                if item is not None and isinstance(item[2], asyncio.Future):
                    left.append(item[2])
            let_go(left)

    async def Attribute(self, request, context):
        try:
            served = self.store.get(request.model)
            codes = await self._codes(served, request)
            engine, n = served.engine, codes.shape[0]
            target = engine.target_class(request.target)  # the card's positive class when none is named
            selector = engine.selector(n, target)
            deadline = self.calls.deadline(context)
            length, a = codes.shape[1], engine.alphabet.size
            answer_bytes = n * length * a * (2 if request.float16 else 4)
            if answer_bytes > self.settings.max_message_bytes - 2**16:
                raise InputError(f"the attribution maps of {n} sequences would be {answer_bytes / 2**20:.3g} MiB, over "
                                 f"the {self.settings.max_message_bytes / 2**20:.3g} MiB message limit: send fewer "
                                 f"sequences per request (or ask for float16)")
            if request.method in (pb.INTEGRATED_GRADIENTS, pb.HYPOTHETICAL):
                steps = request.steps or IG_STEPS
                if not 1 <= steps <= 1000:
                    raise InputError(f"field 'steps' must be 1..1000, got {steps}")
                onehot = engine.alphabet.one_hot(codes)
                chunk = ig_rows(steps, length, a, LANE_IG_VALUES)
                explain = engine.hypothetical if request.method == pb.HYPOTHETICAL else engine.integrated_gradients
                job = served.lane.submit("ig", lambda i, j: explain(onehot[i:j], selector[i:j], steps), n, chunk,
                                         deadline)
            elif request.method == pb.SALIENCY:
                onehot = engine.alphabet.one_hot(codes)
                job = served.lane.submit("saliency", lambda i, j: engine.gradient(onehot[i:j], selector[i:j])[1],
                                         n, 256, deadline)
            elif request.method == pb.ISM:
                job = served.lane.submit("ism", lambda i, j: ism(engine, codes[i:j], selector[i:j]), n, 1, deadline)
            else:
                raise InputError(f"field 'method' {request.method} is not IG, SALIENCY, ISM or HYPOTHETICAL")
            probs_future = served.batcher.submit(codes, deadline)
            try:
                attributions, probs = await asyncio.gather(job, probs_future)
            finally:
                let_go([job, probs_future])
        except Exception as exc:  # noqa: BLE001
            await self.calls.fail(context, "Attribute", request.model, exc)
            return
        dtype = np.float16 if request.float16 else np.float32
        ident = engine.identity
        self.calls.answered(ident, "Attribute", n)
        return pb.AttributeResponse(attributions=attributions.astype(dtype).tobytes(), shape=attributions.shape,
                                    dtype=np.dtype(dtype).name, probs=probs.tobytes(), probs_shape=probs.shape,
                                    target=target, model=ident.ref, columns=list(engine.columns)
                                    if len(engine.columns) == a else [engine.columns[2 * k:2 * k + 2]
                                                                      for k in range(a)])
