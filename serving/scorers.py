"""The scorers behind the one scoring loop: an in-process engine, or a seqzoo server.

Both speak the model's terms (``ref``, ``digest``, ``classes``, ``length``, ``alphabet``,
``columns``, ``card``, ``provider``) and have the same verbs, so the operations' tasks
(``serving.ops``) run on either; an executor (``serving.ops.executors``) holds one: an engine in
this process or on each Dask worker, or a server's model:

- ``predict_batches(batches)``: probabilities of each batch of records, in order
  (``serving.scoring.score_records`` drives it);
- ``score_windows(ref, alt, names, rc_rule, tracks, batch)``: variant-effect scores of window
  pairs (``batch`` pairs per forward pass or request);
- ``attribute(sequences, method, target, steps)``: attribution maps [N, L, A].

A remote scorer pins the exact version the server resolves at the start (``name:version``), so
a newer version hot-loaded mid-run never scores half a file.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable, Iterator

import numpy as np
from seqzoo.serving.scoring import check_lengths, locate, tracks_of
from seqzoo.zoo.alphabets import ProductAlphabet
from seqzoo.zoo.errors import InputError, SeqzooError
from seqzoo.zoo.inputs import alphabet_from_dict
from seqzoo.zoo.registry import ModelVersion

ATTRIBUTION_METHODS = ("ig", "saliency", "ism", "hypothetical")
log = logging.getLogger(__name__)


def _structures(batch: list) -> list[str] | None:
    return None if batch[0].structure is None else [r.structure for r in batch]


class _Identified:
    """The model's name, ref (``name:version``) and digest, read from its ``identity`` (a ModelVersion)."""

    identity: ModelVersion

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def ref(self) -> str:
        return self.identity.ref

    @property
    def digest(self) -> str:
        return self.identity.digest

    def converting(self, convert_tu: bool):
        """This scorer with ``convert_tu`` set, as a copy sharing its engine or connection when the
        setting differs (a scorer is never changed under a call another thread has running)."""
        if convert_tu == self.convert_tu:
            return self
        other = copy.copy(self)
        other.convert_tu = convert_tu
        return other


class LocalScorer(_Identified):
    """Scores from an in-process :class:`~seqzoo.serving.engine.Engine`.

    Parameters
    ----------
    engine : Engine
    convert_tu : bool
        Read T as U for RNA models (U as T for DNA models) when scoring records.
    """

    def __init__(self, engine, convert_tu: bool = False):
        self.engine = engine
        self.convert_tu = convert_tu
        self.identity = engine.identity
        self.card, self.classes, self.length = engine.card, engine.classes, engine.length
        self.alphabet, self.columns, self.provider = engine.alphabet, engine.columns, engine.provider

    @classmethod
    def load(cls, model, device: str = "auto", threads: int | None = None, convert_tu: bool = False) -> LocalScorer:
        """A scorer over ``Engine.load(model, device, threads)`` (a ModelVersion or a version folder)."""
        from seqzoo.serving.engine import Engine  # onnxruntime: not imported by a remote-only client

        return cls(Engine.load(model, device=device, threads=threads), convert_tu)

    def predict_batches(self, batches: Iterable[list]) -> Iterator[np.ndarray]:
        for batch in batches:
            try:
                codes = self.engine.encode([r.sequence for r in batch], _structures(batch), self.convert_tu,
                                           tracks_of(batch))
                yield self.engine.predict(codes)
            except SeqzooError as exc:
                raise locate(exc, batch) from None

    def score_windows(self, ref: list[str], alt: list[str], names: list[str], rc_rule: str | None,
                      tracks: dict[str, list[str]] | None = None, batch: int = 1024) -> dict:
        from seqzoo.serving.effects import score_windows

        return score_windows(self.engine, ref, alt, names, rc_rule, batch, tracks)

    def attribute(self, sequences: list[str], method: str = "ig", target: str | int | None = None,
                  steps: int = 0, convert_tu: bool = True, tracks: dict[str, list[str]] | None = None) -> np.ndarray:
        """Attribution maps float32 [N, L, A] of the ``target`` class (default: the card's positive class)."""
        if method not in ATTRIBUTION_METHODS:
            raise InputError(f"attribution method {method!r} is not one of {', '.join(ATTRIBUTION_METHODS)}")
        codes = self.engine.encode(list(sequences), convert_tu=convert_tu, tracks=tracks)
        selector = self.engine.selector(len(codes), target)
        if method == "ism":
            from seqzoo.serving.ism import ism

            return ism(self.engine, codes, selector)
        onehot = self.engine.alphabet.one_hot(codes)
        if method == "saliency":
            return self.engine.gradient(onehot, selector)[1]
        from seqzoo.serving.ig_rule import IG_STEPS

        explain = self.engine.hypothetical if method == "hypothetical" else self.engine.integrated_gradients
        return explain(onehot, selector, steps or IG_STEPS)

    def close(self) -> None:
        pass


class RemoteScorer(_Identified):
    """Scores through a seqzoo server (``seqzoo.v1``): sequences on one bidirectional stream.

    Plain-alphabet records are encoded here with the card's alphabet (the same ``zoo.alphabets``
    code as the server) and sent as packed codes, at most ``window`` requests in flight;
    structure models get strings (the server folds what comes without a structure).

    Parameters
    ----------
    client : SeqZooClient
    model : str
        The ref to resolve once on the server.
    window : int
        Requests in flight on the stream.
    convert_tu : bool
    timeout : float
        Deadline of a whole stream, seconds.
    """

    def __init__(self, client, model: str, window: int = 8, convert_tu: bool = False, timeout: float = 3600.0):
        if window < 1:
            raise InputError(f"the request window must be at least 1, got {window}")
        self.client, self.window, self.convert_tu, self.timeout = client, window, convert_tu, timeout
        info = client.get_model(model)
        self.identity = ModelVersion(info["name"], int(info["version"]), info["digest"], None, info["card"])
        self.card, self.classes, self.length = info["card"], info["classes"], info["length"]
        self.provider = f"{info['provider']} on {client.target}"
        self.alphabet = alphabet_from_dict(self.card["input"]["alphabet"])
        a, letters = self.alphabet.size, info["alphabet"]
        self.columns = letters if len(letters) == a else "".join(letters[2 * k:2 * k + 2] for k in range(a))

    def _request(self, batch: list, request_id: int):
        check_lengths(batch, self.length, self.ref)
        sequences = [r.sequence for r in batch]
        if isinstance(self.alphabet, ProductAlphabet) or tracks_of(batch):  # the server folds / packs
            return self.client.request(self.ref, sequences=sequences, structures=_structures(batch),
                                       convert_tu=self.convert_tu, id=request_id, tracks=tracks_of(batch))
        try:
            codes = self.alphabet.encode(sequences, convert_tu=self.convert_tu)
        except SeqzooError as exc:
            raise locate(exc, batch) from None
        return self.client.request(self.ref, codes=codes, id=request_id)

    def predict_batches(self, batches: Iterable[list]) -> Iterator[np.ndarray]:
        """Probabilities of each batch, in order, over one stream with ``window`` requests in flight.

        A stream the server ends early (it drains to restart: CANCELLED or UNAVAILABLE) is opened
        again once the server is back (within RECONNECT_SECONDS), at most RECONNECTS times in a
        row without an answer, and the batches it had not answered are sent again first: scoring
        is idempotent, so a restart costs time, not rows; a server gone for good fails the run.
        """
        from seqzoo.serving.client import RECONNECT_SECONDS, RECONNECTS, error_from, status_code, went_away

        source = enumerate(batches)
        lock = threading.Lock()
        unanswered: dict[int, tuple[list, object]] = {}  # request id -> (batch, request), oldest first
        failure: list[BaseException] = []
        reconnects = 0
        while True:
            ended = threading.Event()
            slots = threading.Semaphore(self.window)
            requests = self._requests(source, lock, unanswered, slots, ended, failure)
            try:
                for response in self.client.stream_responses(requests, timeout=self.timeout):
                    slots.release()
                    with lock:
                        batch, _ = unanswered[response.id]
                    if response.error_code:
                        # the server went away for this batch (UNAVAILABLE: its model is unloading) -> it
                        # stays unanswered and the reopened stream sends it again; any other error is the
                        # batch's own and ends the run
                        raise locate(error_from(status_code(response.error_code), response.error_message,
                                                response.error_place), batch)
                    with lock:
                        del unanswered[response.id]
                    reconnects = 0
                    yield np.frombuffer(response.probs, dtype=np.float32).reshape(tuple(response.shape))
                if failure:
                    raise failure[0]
                return
            except SeqzooError as exc:
                if failure:
                    raise failure[0] from None
                if not went_away(exc) or reconnects >= RECONNECTS:
                    raise
                reconnects += 1
                log.warning("%s: the stream was cut (%s); reopening it and sending %d unanswered batches again",
                            self.client.target, exc, len(unanswered))
                self.client.wait_ready(RECONNECT_SECONDS)
            finally:
                ended.set()

    def _requests(self, source, lock, unanswered: dict, slots, ended, failure: list):
        """One stream's requests: first every unanswered batch of an earlier stream, then new ones.

        Runs on gRPC's sending thread; a stream cut while this waits for a slot or reads the input
        leaves what it took in ``unanswered``, for the next stream to send.
        """
        sent: set[int] = set()
        try:
            while True:
                with lock:
                    if ended.is_set():
                        return
                    request_id = next((k for k in unanswered if k not in sent), None)
                    if request_id is None:
                        item = next(source, None)
                        if item is None:
                            return
                        request_id, batch = item
                        unanswered[request_id] = (batch, self._request(batch, request_id))
                    sent.add(request_id)
                    request = unanswered[request_id][1]
                while not slots.acquire(timeout=0.5):
                    if ended.is_set():
                        return
                yield request
        except GeneratorExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - kept for the reader, which raises it once the stream ends
            failure.append(exc)  # (raised here, grpc would log it as a traceback and swallow it)

    def score_windows(self, ref: list[str], alt: list[str], names: list[str], rc_rule: str | None,
                      tracks: dict[str, list[str]] | None = None, batch: int = 1024) -> dict:
        from seqzoo.serving.client import VariantsClient

        return VariantsClient(self.client).score_windows_many(self.ref, ref, alt, names, rc_rule, batch, tracks)

    def attribute(self, sequences: list[str], method: str = "ig", target: str | None = None,
                  steps: int = 0, convert_tu: bool = True, tracks: dict[str, list[str]] | None = None) -> np.ndarray:
        return self.client.attribute(self.ref, sequences=list(sequences), method=method, target=target, steps=steps,
                                     convert_tu=convert_tu, tracks=tracks)[0]

    def close(self) -> None:
        self.client.close()
