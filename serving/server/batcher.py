"""Dynamic batching: many clients' small requests become a few large forward passes.

One ``Batcher`` per model version owns a compute thread. Requests (uint8 codes [n, L]) are
queued from the asyncio event loop; the thread closes a batch when it holds ``max_batch``
sequences or when the oldest request has waited ``max_delay`` seconds, concatenates requests of
the same length (a batch never mixes lengths), runs the engine once (ONNX Runtime releases the
GIL), and hands every request its rows back with one call into the event loop per batch.

Admission control happens at the door: a queue holding ``max_queue`` sequences refuses new
work (QueueFullError -> RESOURCE_EXHAUSTED), and a request whose deadline has passed, or whose
caller went away, is dropped before compute. Attribution (integrated gradients, saliency, ISM)
runs in its own lane (``AttributionLane``), in small chunks that give way to scoring, so bulk
attribution cannot starve scoring.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from seqzoo.zoo.errors import InputError, SeqzooError, UnavailableError

log = logging.getLogger(__name__)


class QueueFullError(SeqzooError):
    """The model's queue is full: the server answers RESOURCE_EXHAUSTED (retry later)."""


class DeadlineExpiredError(SeqzooError):
    """The request's deadline passed while it waited: it was dropped before compute."""


@dataclass
class BatcherSettings:
    """How batches form.

    Attributes
    ----------
    max_batch : int
        Sequences per forward pass at most. A larger single request runs alone, in passes of
        ``max_batch`` rows, so ONNX Runtime's memory arena never grows past one such pass (a
        65,536-sequence request in passes of 4,096 left 750 MiB held after it was answered).
    max_delay : float
        Seconds the oldest queued request may wait for company before its batch closes.
    max_queue : int
        Sequences waiting at most; more are refused with QueueFullError.
    """

    max_batch: int = 1024
    max_delay: float = 0.002
    max_queue: int = 65536

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise InputError(f"max batch must be at least 1, got {self.max_batch}")
        if self.max_delay < 0:
            raise InputError(f"max delay must be >= 0, got {self.max_delay}")
        if self.max_queue < 1:
            raise InputError(f"queue size must be at least 1, got {self.max_queue}")


@dataclass
class _Item:
    codes: np.ndarray
    future: asyncio.Future
    deadline: float | None
    enqueued: float = field(default_factory=time.monotonic)


def _settle(pairs: list) -> None:
    """Runs in the event loop: give each waiting request its result or its error."""
    for future, value in pairs:
        if future.done():  # cancelled: the caller went away
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


class Batcher:
    """Dynamic batcher for one model version's forward graph.

    Parameters
    ----------
    engine : Engine
        Anything with ``predict(codes [N, L] uint8) -> float32 [N, C]``.
    settings : BatcherSettings
    loop : asyncio.AbstractEventLoop, optional
        The loop whose futures ``submit`` returns (default: the running loop at first submit).
    observe : callable, optional
        ``observe(batch_size, queue_seconds: list, compute_seconds)`` after every batch (metrics).
    """

    def __init__(self, engine, settings: BatcherSettings | None = None, loop=None,
                 observe: Callable[[int, list, float], None] | None = None, name: str = "batcher"):
        self.engine = engine
        self.settings = settings or BatcherSettings()
        self.loop = loop
        self.observe = observe
        self._pending: deque[_Item] = deque()
        self._queued = 0  # sequences in _pending
        self._cond = threading.Condition()
        self._computing = False
        self._idle = False  # the thread waits for a first request (needs a notify)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the event-loop side
    def submit(self, codes: np.ndarray, deadline: float | None = None) -> asyncio.Future:
        """Queue codes [n, L] (already validated); returns a future of probs [n, C].

        Parameters
        ----------
        codes : np.ndarray, shape=(n, L), uint8
        deadline : float, optional
            ``time.monotonic()`` after which the request is dropped unscored.

        Raises
        ------
        QueueFullError
            When ``max_queue`` sequences already wait.
        UnavailableError
            When the batcher is shut down (the model is being unloaded or the server drains).
        """
        loop = self.loop or asyncio.get_running_loop()
        self.loop = loop
        future = loop.create_future()
        n = codes.shape[0]
        with self._cond:
            if self._closed:
                raise UnavailableError("the model is being unloaded; retry")
            if self._queued + n > self.settings.max_queue and self._queued > 0:
                raise QueueFullError(f"the queue is full ({self._queued} sequences waiting, limit "
                                     f"{self.settings.max_queue}); retry later")
            self._pending.append(_Item(codes, future, deadline))
            self._queued += n
            # wake the thread only when it sleeps on an empty queue or the batch is now full:
            # a notify per request costs a GIL hand-off per request under load
            if self._idle or self._queued >= self.settings.max_batch:
                self._cond.notify()
        return future

    @property
    def queued(self) -> int:
        """Sequences waiting (not counting the batch being computed)."""
        return self._queued

    @property
    def busy(self) -> bool:
        """True while a batch computes or requests wait."""
        return self._computing or self._queued > 0

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting work, finish what is queued, and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # ------------------------------------------------------------------ the compute thread
    def _take(self) -> list[_Item] | None:
        """Wait for a batch to close; returns its items (None when closed and drained)."""
        s = self.settings
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                self._idle = True
                self._cond.wait()
                self._idle = False
            close_at = self._pending[0].enqueued + s.max_delay
            while self._queued < s.max_batch and not self._closed:
                remaining = close_at - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            first = self._pending.popleft()
            batch, size, length = [first], first.codes.shape[0], first.codes.shape[1]
            if size < s.max_batch:
                kept: deque[_Item] = deque()
                while self._pending and size < s.max_batch:
                    item = self._pending.popleft()
                    n = item.codes.shape[0]
                    if item.codes.shape[1] == length and size + n <= s.max_batch:
                        batch.append(item)
                        size += n
                    else:
                        kept.append(item)
                        if len(kept) > 4096:  # a long run of other lengths: leave them for later
                            break
                kept.extend(self._pending)
                self._pending = kept
            self._queued -= size
            self._computing = True
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._compute(batch)
            except Exception:  # never let the thread die: every waiter gets an answer
                log.exception("batch failed")
            finally:
                with self._cond:
                    self._computing = False

    def _compute(self, batch: list[_Item]) -> None:
        now = time.monotonic()
        live, settled = [], []
        for item in batch:
            if item.future.cancelled():
                continue
            if item.deadline is not None and item.deadline <= now:
                settled.append((item.future, DeadlineExpiredError(
                    f"deadline passed after {now - item.enqueued:.3f} s in the queue; not scored")))
                continue
            live.append(item)
        if live:
            codes = live[0].codes if len(live) == 1 else np.concatenate([i.codes for i in live])
            started = time.monotonic()
            try:
                probs = self.engine.predict(codes, self.settings.max_batch)  # bounded activation memory
            except Exception as exc:  # noqa: BLE001
                settled.extend((i.future, exc if isinstance(exc, SeqzooError) else
                                UnavailableError(f"the model failed on this batch: {exc}")) for i in live)
            else:
                offset = 0
                for item in live:
                    n = item.codes.shape[0]
                    settled.append((item.future, probs[offset:offset + n]))
                    offset += n
            if self.observe is not None:
                try:
                    self.observe(codes.shape[0], [started - i.enqueued for i in live], time.monotonic() - started)
                except Exception:
                    log.exception("metrics hook failed")
        if settled and self.loop is not None:
            try:
                self.loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass


@dataclass
class _Job:
    kind: str
    run: Callable[[int, int], np.ndarray]  # run(start, stop) -> rows of the result
    n: int
    chunk: int
    future: asyncio.Future
    deadline: float | None


class AttributionLane:
    """The bulk lane: attribution jobs run one at a time, chunk by chunk, yielding to scoring.

    Before each chunk the lane waits (at most ``yield_seconds``) while the scoring batcher is
    busy, so a long IG job delays scoring by at most one chunk, and still always progresses.

    Parameters
    ----------
    scoring : Batcher
        The same model's scoring batcher (whose ``busy`` the lane respects).
    max_jobs : int
        Jobs waiting at most (QueueFullError beyond).
    """

    def __init__(self, scoring: Batcher | None = None, max_jobs: int = 64, yield_seconds: float = 0.05,
                 name: str = "attribution"):
        self.scoring = scoring
        self.max_jobs = max_jobs
        self.yield_seconds = yield_seconds
        self.loop = None
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, kind: str, run: Callable[[int, int], np.ndarray], n: int, chunk: int,
               deadline: float | None = None) -> asyncio.Future:
        """Queue a job computing rows 0..n in chunks of ``chunk``; returns a future of all rows."""
        loop = self.loop or asyncio.get_running_loop()
        self.loop = loop
        future = loop.create_future()
        with self._cond:
            if self._closed:
                raise UnavailableError("the model is being unloaded; retry")
            if len(self._jobs) >= self.max_jobs:
                raise QueueFullError(f"the attribution queue is full ({len(self._jobs)} jobs waiting); retry later")
            self._jobs.append(_Job(kind, run, n, max(1, chunk), future, deadline))
            self._cond.notify()
        return future

    def close(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _give_way(self) -> None:
        if self.scoring is None:
            return
        until = time.monotonic() + self.yield_seconds
        while self.scoring.busy and time.monotonic() < until:
            time.sleep(0.001)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            try:
                value = self._do(job)
            except Exception as exc:
                value = exc if isinstance(exc, SeqzooError) else UnavailableError(f"attribution failed: {exc}")
                if not isinstance(exc, SeqzooError):
                    log.exception("attribution job failed")
            if value is not None and self.loop is not None:
                try:
                    self.loop.call_soon_threadsafe(_settle, [(job.future, value)])
                except RuntimeError:
                    pass

    def _do(self, job: _Job):
        parts = []
        for start in range(0, job.n, job.chunk):
            if job.future.cancelled():
                return None
            if job.deadline is not None and time.monotonic() >= job.deadline:
                return DeadlineExpiredError(f"deadline passed after {start} of {job.n} sequences were "
                                            f"attributed; stopped")
            self._give_way()
            parts.append(job.run(start, min(job.n, start + job.chunk)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def let_go(futures) -> None:
    """Cancel the futures still pending and collect the errors of the finished ones, so that a
    call that ended early (cancelled, past its deadline, another part failed) leaves nothing
    behind ("Future exception was never retrieved")."""
    for future in futures:
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()
