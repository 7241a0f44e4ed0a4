"""The dynamic batcher: merging and splitting, admission control, deadlines, the attribution lane."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from seqzoo.serving.engine import Engine
from seqzoo.serving.server.batcher import (
    AttributionLane,
    Batcher,
    BatcherSettings,
    DeadlineExpiredError,
    QueueFullError,
)
from test_engine import make_version_dir


class Recording:
    """Wraps a real engine; records each forward batch's shape; optionally waits on a gate."""

    def __init__(self, engine, gate: threading.Event | None = None):
        self.engine, self.gate, self.shapes = engine, gate, []

    def predict(self, codes, batch=4096):
        if self.gate is not None:
            self.gate.wait(10)
        self.shapes.append(codes.shape)
        if self.engine is None:  # length-agnostic stand-in: row sums as one "probability"
            return codes.sum(axis=1, keepdims=True).astype(np.float32)
        return self.engine.predict(codes, batch)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine.load(make_version_dir(tmp_path_factory.mktemp("zoo")), device="cpu", threads=1)


def test_requests_from_many_callers_are_merged_and_split_back(engine):
    rec = Recording(engine)
    sizes = []
    batcher = Batcher(rec, BatcherSettings(max_batch=64, max_delay=0.02),
                      observe=lambda n, q, c: sizes.append((n, len(q))))
    rng = np.random.default_rng(0)
    requests = [rng.integers(0, 4, size=(int(rng.integers(1, 5)), 12), dtype=np.uint8) for _ in range(60)]

    async def main():
        return await asyncio.gather(*(batcher.submit(r) for r in requests))

    results = asyncio.run(main())
    batcher.close()
    for r, p in zip(requests, results):
        np.testing.assert_allclose(p, engine.predict(r), atol=1e-6)
    total = sum(r.shape[0] for r in requests)
    assert sum(s[0] for s in rec.shapes) == total
    assert len(rec.shapes) < 60 / 4  # merged, not one pass per request
    assert max(s[0] for s in rec.shapes) <= 64
    assert sum(n for n, _ in sizes) == total and sum(k for _, k in sizes) == 60


def test_batches_never_mix_lengths():
    rec = Recording(None)
    batcher = Batcher(rec, BatcherSettings(max_batch=100, max_delay=0.05))
    lengths = [5, 7, 5, 7, 9, 5]

    async def main():
        return await asyncio.gather(*(batcher.submit(np.full((2, n), 1, np.uint8)) for n in lengths))

    results = asyncio.run(main())
    batcher.close()
    assert [float(r[0, 0]) for r in results] == [float(n) for n in lengths]
    assert sorted(s[1] for s in rec.shapes) == [5, 7, 9]
    assert {s[1]: s[0] for s in rec.shapes} == {5: 6, 7: 4, 9: 2}


def test_full_queue_refuses_and_expired_requests_are_not_computed(engine):
    gate = threading.Event()
    rec = Recording(engine, gate)
    batcher = Batcher(rec, BatcherSettings(max_batch=4, max_delay=0.0, max_queue=6))
    codes = np.zeros((2, 12), np.uint8)

    async def main():
        first = batcher.submit(codes)  # taken by the thread, which blocks on the gate
        await asyncio.sleep(0.05)
        waiting = [batcher.submit(codes, deadline=time.monotonic() + 0.01), batcher.submit(codes),
                   batcher.submit(codes)]
        with pytest.raises(QueueFullError, match="queue is full"):
            batcher.submit(codes)
        await asyncio.sleep(0.05)  # the first waiting request's deadline passes in the queue
        gate.set()
        results = await asyncio.gather(first, *waiting, return_exceptions=True)
        return results

    results = asyncio.run(main())
    batcher.close()
    assert isinstance(results[1], DeadlineExpiredError)
    assert all(isinstance(r, np.ndarray) and r.shape == (2, 2) for i, r in enumerate(results) if i != 1)
    assert sum(s[0] for s in rec.shapes) == 2 + 4  # the expired request never reached the engine


def test_attribution_lane_cannot_starve_scoring(engine):
    batcher = Batcher(engine, BatcherSettings(max_batch=8, max_delay=0.0))
    lane = AttributionLane(batcher, yield_seconds=0.05)
    chunks = []

    def slow_chunk(start, stop):
        time.sleep(0.02)
        chunks.append(start)
        return np.full((stop - start, 1), start, np.float32)

    async def main():
        job = lane.submit("ig", slow_chunk, n=40, chunk=1)  # ~0.8 s of bulk work
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await batcher.submit(np.zeros((1, 12), np.uint8))
        scored_after = time.monotonic() - t0
        done_at_scoring = len(chunks)
        result = await job
        return scored_after, done_at_scoring, result

    scored_after, done_at_scoring, result = asyncio.run(main())
    lane.close()
    batcher.close()
    assert scored_after < 0.3 and done_at_scoring < 40  # scoring answered while attribution still ran
    assert result.shape == (40, 1) and result[:, 0].tolist() == list(range(40))


def test_attribution_lane_honours_deadlines_and_reports_errors(engine):
    lane = AttributionLane(None)

    def failing(start, stop):
        raise ValueError("boom")

    async def main():
        expired = lane.submit("ism", lambda a, b: np.zeros((b - a, 1)), n=4, chunk=1,
                              deadline=time.monotonic() - 1)
        broken = lane.submit("ism", failing, n=1, chunk=1)
        return await asyncio.gather(expired, broken, return_exceptions=True)

    expired, broken = asyncio.run(main())
    lane.close()
    assert isinstance(expired, DeadlineExpiredError)
    assert "boom" in str(broken)
