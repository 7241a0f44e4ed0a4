"""Where an operation computes: in this process (``Local``), on a seqzoo server (``Server``) or
on a Dask cluster (``Dask``).

An executor holds one model version and runs *tasks* over items in input order:
``executor.map(task, items)`` yields ``task(context, item)`` for each item. A task is a small
picklable object (its settings) with ``__call__(context, item)``; its :class:`Context` gives it
the scorer of the executor's model and the files it opens once per process (genome, gene
annotation, track sources). So a driver is written once and runs anywhere:

- ``Local``: the tasks run one after another in this process, with an engine loaded once.
- ``Server``: as Local, but the scorer is the server's model (``RemoteScorer``). A task with an
  ``on_server(executor, items)`` method is run whole by the server instead (annotation: the
  server holds the genome, only coordinates and values travel).
- ``Dask``: the task runs on the workers, each with its own engine and files, loaded once per
  worker process (``worker_context``); results come back in submission order.

Every executor has ``scorer`` (the model's facts: ref, digest, card, classes, length, alphabet,
columns, identity, provider), ``where`` (``local``, ``server`` or ``dask``) and ``close()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

_OPENED: dict = {}  # per process: (kind, key) -> a genome, a gene annotation, track sources, an engine
_OPENING = threading.Lock()


def opened(kind: str, key: tuple, make: Callable):
    """The object ``make()`` built once in this process for ``(kind, key)`` (tasks share it)."""
    with _OPENING:
        if (kind, key) not in _OPENED:
            _OPENED[kind, key] = make()
        return _OPENED[kind, key]


class Context:
    """What a task gets: ``scorer`` (the executor's model) and the files it opens once per process."""

    def __init__(self, scorer):
        self.scorer = scorer

    @staticmethod
    def genome(path: str, contig_map: str | None = None, cache: str | None = None):
        from seqzoo.zoo.io.genome import Genome

        return opened("genome", (str(path), contig_map, cache),
                      lambda: Genome(path, contig_map=contig_map, cache=cache))

    @staticmethod
    def genes(path: str, genome):
        """``--strand auto``'s gene annotation, its contig names resolved against ``genome``."""
        from seqzoo.zoo.io.genes import GeneStrands

        return opened("genes", (str(path), str(genome.path)), lambda: GeneStrands(path, genome))

    @staticmethod
    def sources(specs: tuple[str, ...]) -> dict:
        """A multimodal model's track sources at genome coordinates (``NAME=BED|BW``)."""
        from seqzoo.serving.track_sources import open_sources

        return opened("sources", tuple(specs), lambda: open_sources(list(specs))) if specs else {}

    def record_tracks(self, specs: tuple[str, ...]) -> dict:
        """Readers of a multimodal model's ``NAME=FILE`` tracks for FASTA records."""
        from seqzoo.serving.track_sources import record_tracks

        alphabet = self.scorer.alphabet
        return opened("record-tracks", (tuple(specs), self.scorer.digest),
                      lambda: record_tracks(list(specs), alphabet)) if specs else {}


def task_costs(started: float, cpu: float) -> dict:
    """A task's wall and CPU seconds, where it ran and its process's peak memory (for the summary)."""
    from seqzoo.serving.dask.cluster import peak_rss_mib, worker_name

    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
            "worker": worker_name(), "peak_rss_mib": peak_rss_mib()}


def summarise(results: Iterable[dict], started: float) -> dict:
    """``rows``, ``parts``, ``seconds`` and per worker its parts, task and CPU seconds and peak memory."""
    workers: dict[str, dict] = {}
    rows = parts = 0
    for r in results:
        rows += r["rows"]
        parts += 1
        w = workers.setdefault(r["worker"], {"peak_rss_mib": 0.0, "parts": 0, "task_seconds": 0.0, "cpu_seconds": 0.0})
        w["peak_rss_mib"] = round(max(w["peak_rss_mib"], r["peak_rss_mib"]), 1)
        w["parts"] += 1
        w["task_seconds"] = round(w["task_seconds"] + r["seconds"], 3)
        w["cpu_seconds"] = round(w["cpu_seconds"] + r.get("cpu_seconds", 0.0), 3)
    return {"rows": rows, "parts": parts, "seconds": time.monotonic() - started, "workers": dict(sorted(workers.items()))}


def one_by_one(task, context: Context, items: Iterable) -> Iterator:
    """``task(context, item)`` for each item, in order, on the calling thread.

    Not two at a time on threads: on 2 cores, overlapping one task's Python work with another's
    ONNX Runtime pass (or a server's answer) made variants 5-20 % slower, not faster (the passes
    and the GIL fought over the cores; BENCHMARKS.md "modes-regression")."""
    for item in items:
        yield task(context, item)


class Local:
    """In this process: an ONNX Runtime engine over a zoo version (or a given ``LocalScorer``)."""

    where = "local"

    def __init__(self, model=None, *, zoo: str | None = None, device: str = "auto", threads: int | None = None,
                 scorer=None):
        from seqzoo.serving.scorers import LocalScorer

        if scorer is None:
            from seqzoo.zoo.registry import ModelVersion, open_zoo

            version = model if isinstance(model, ModelVersion) else open_zoo(zoo).resolve(model)
            scorer = LocalScorer.load(version, device, threads)
        self.scorer = scorer
        self.context = Context(scorer)

    def map(self, task, items: Iterable) -> Iterator:
        return one_by_one(task, self.context, items)

    def close(self) -> None:
        self.scorer.close()


class Server:
    """A seqzoo server's version of ``model``, pinned to the ``name:version`` it resolves now."""

    where = "server"

    def __init__(self, model: str, target: str, *, token: str | None = None, tls_ca: str | None = None,
                 window: int = 8, timeout: float = 3600.0, call_timeout: float = 600.0):
        from seqzoo.serving.client import SeqZooClient
        from seqzoo.serving.scorers import RemoteScorer

        self.client = SeqZooClient(target, token=token, tls_ca=tls_ca, timeout=call_timeout)
        self.timeout = timeout
        try:
            self.scorer = RemoteScorer(self.client, model, window=window, timeout=timeout)
        except BaseException:
            self.client.close()
            raise
        self.context = Context(self.scorer)

    def map(self, task, items: Iterable) -> Iterator:
        on_server = getattr(task, "on_server", None)
        if on_server is not None:
            return on_server(self, items)
        return one_by_one(task, self.context, items)

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class _OnWorker:
    """A task as Dask runs it: ``task(worker_context(model, device), item)``."""

    task: object
    model: object  # a verified zoo ModelVersion (picklable)
    device: str

    def __call__(self, item, index: int):
        return self.task(worker_context(self.model, self.device), item)


def worker_context(model, device: str = "cpu") -> Context:
    """This process's context for a zoo version: its engine loaded once (one ONNX Runtime thread:
    a Dask worker is one thread of one process)."""
    from seqzoo.serving.engine import Engine
    from seqzoo.serving.scorers import LocalScorer

    return opened("context", (str(model.path), model.digest, device),
                  lambda: Context(LocalScorer(Engine.load(model, device=device, threads=1))))


class Dask:
    """A Dask cluster: ``client`` (a ``distributed.Client``), the zoo version every file of which
    is verified once here before any worker loads it, tasks at most ``window`` in flight (default
    two per worker thread, plus two) with ``resources`` (e.g. ``{"GPU": 1}``) each. ``close()``
    closes the client when ``own`` (a command opened it) and ``cluster`` (a local cluster it started)."""

    where = "dask"

    def __init__(self, model, client, *, zoo: str | None = None, device: str = "cpu", window: int | None = None,
                 resources: dict | None = None, own: bool = False, cluster=None):
        from seqzoo.serving.engine import Engine
        from seqzoo.serving.scorers import LocalScorer
        from seqzoo.zoo.registry import ModelVersion, open_zoo, verify_version

        self.version = verify_version(model) if isinstance(model, ModelVersion) else open_zoo(zoo).verify(model)
        self.client, self.own, self.cluster = client, own, cluster
        self.device = "cpu" if device == "auto" else device
        self.window, self.resources = window, resources
        # the model's facts for the driver (classes, alphabet, card): a CPU session never run here
        self.scorer = LocalScorer(Engine.load(self.version, device="cpu", threads=1, warmup=False))
        self.scorer.provider = f"Dask {getattr(client, 'scheduler_info', dict)().get('address', '')}".strip()

    def map(self, task, items: Iterable) -> Iterator:
        from seqzoo.serving.dask.cluster import run_tasks

        window = self.window or 2 * (sum(self.client.nthreads().values()) or 1) + 2
        return run_tasks(self.client, _OnWorker(task, self.version, self.device), items, window, self.resources)

    def close(self) -> None:
        if self.own:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
