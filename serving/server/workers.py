"""``seqzoo serve --workers N``: N server processes on one port under one supervisor.

One Python process answers a few thousand small RPCs a second: grpc.aio does every call's
bookkeeping on one event loop, so with one sequence per request that loop saturates a core while
ONNX Runtime idles. Each worker here is a whole server (its own models, batchers and event loop)
bound to the same port with SO_REUSEPORT; Linux hands every new connection to one of them, so a
client with several connections (channels) reaches several workers. Batches form per worker.

The supervisor holds no models. It reserves the port, spawns the workers (never forks: gRPC's
threads do not survive a fork), and then:

- a worker that exits before it is ready (bad settings, a model that will not load) stops
  everything: its own error is on stderr and its exit code becomes the supervisor's;
- a worker that dies after it was ready is restarted (the others keep serving meanwhile);
- SIGTERM or SIGINT is passed on to every worker, each drains, and the supervisor exits 0;
- ``--metrics-port`` serves the workers' metrics merged (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import time
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, multiprocess
from seqzoo.serving.server.telemetry import serve_metrics

log = logging.getLogger("seqzoo.serve")

POLL_SECONDS = 0.2


def available_cores() -> int:
    """Cores this process may run on (the container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def reserved_port(host: str, port: int):
    """Bind ``host:port`` with SO_REUSEPORT (port 0: a free one) and hold it; yields the port.

    Holding the bound socket keeps the port ours while workers come and go; it never listens,
    so it never takes a connection.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _worker_main(serve, index: int, events) -> None:
    """A spawned worker: one whole server on the shared port; tells the supervisor when ready."""
    from seqzoo.zoo.errors import SeqzooError

    try:
        serve(ready=lambda port: events.put((index, os.getpid())), worker=index)
    except SeqzooError as exc:
        print(f"seqzoo serve: worker {index}: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


class Supervisor:
    """Start ``workers`` copies of a server and look after them.

    Parameters
    ----------
    serve : callable
        ``serve(ready=callable(port), worker=index)`` runs one whole server in a spawned process
        until it drains (picklable: a module-level function or a ``functools.partial`` of one).
    workers : int
    port : int
        The shared port (already reserved), for the log.
    metrics_port : int, optional
        Where the supervisor serves the workers' merged Prometheus metrics.
    host : str
        The address the metrics bind, the server's own (never wider open than the service).
    token : str, optional
        The server's bearer token: scrapes of the metrics must carry it too.
    """

    def __init__(self, serve, workers: int, port: int, metrics_port: int | None = None, host: str = "0.0.0.0",
                 token: str | None = None):
        self.serve, self.port, self.metrics_port, self.host, self.token = serve, port, metrics_port, host, token
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.events = self.context.Queue()
        self.procs: dict[int, multiprocessing.Process] = {}
        self.ready: set[int] = set()
        self.stopping = False
        self.exit_code = 0

    def _start(self, index: int) -> None:
        proc = self.context.Process(target=_worker_main, args=(self.serve, index, self.events),
                                    name=f"seqzoo-worker-{index}", daemon=False)
        proc.start()
        self.procs[index] = proc
        log.info("worker %d started (pid %d)", index, proc.pid, extra={"worker": index, "pid": proc.pid})

    def _stop_all(self, *_signal) -> None:
        if not self.stopping:
            log.info("stopping: every worker drains")
        self.stopping = True
        for proc in self.procs.values():
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker drains

    def _note_ready(self) -> None:
        while True:
            try:
                index, pid = self.events.get_nowait()
            except queue.Empty:
                return
            if index in self.procs and self.procs[index].pid == pid:
                log.info("worker %d ready (pid %d)", index, pid, extra={"worker": index, "pid": pid})
                was_all = len(self.ready) == self.workers
                self.ready.add(index)
                if not was_all and len(self.ready) == self.workers:
                    log.info("ready on port %d (%d workers)", self.port, self.workers,
                             extra={"port": self.port, "workers": self.workers})

    def _reap(self) -> None:
        for index, proc in list(self.procs.items()):
            if proc.is_alive():
                continue
            proc.join()
            del self.procs[index]
            multiprocess.mark_process_dead(proc.pid)
            if self.stopping:
                continue
            if index not in self.ready:
                log.error("worker %d (pid %d) failed to start (exit code %s); stopping", index, proc.pid,
                          proc.exitcode, extra={"worker": index, "exit_code": proc.exitcode})
                self.exit_code = proc.exitcode or 1
                self._stop_all()
                continue
            log.warning("worker %d (pid %d) exited with code %s; restarting it", index, proc.pid, proc.exitcode,
                        extra={"worker": index, "exit_code": proc.exitcode})
            self.ready.discard(index)
            self._start(index)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (then every worker drains) or a worker fails to start."""
        metrics_dir = tempfile.mkdtemp(prefix="seqzoo-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # the spawned workers inherit it
        try:
            if self.metrics_port:
                registry = CollectorRegistry()
                multiprocess.MultiProcessCollector(registry, path=metrics_dir)
                serve_metrics(registry, self.metrics_port, self.host, self.token)
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._stop_all)
            for index in range(self.workers):
                self._start(index)
            while self.procs:
                self._note_ready()
                self._reap()
                time.sleep(POLL_SECONDS)
        finally:
            self._stop_all()
            for proc in self.procs.values():
                proc.join()
            shutil.rmtree(metrics_dir, ignore_errors=True)
        log.info("stopped")
        return self.exit_code


def run_workers(serve_on, workers: int, host: str, port: int, metrics_port: int | None = None,
                token: str | None = None) -> int:
    """``seqzoo serve --workers N``: reserve the port, then supervise N workers on it.

    ``serve_on(port)`` returns the picklable ``serve`` callable of :class:`Supervisor` for the
    reserved port (``port`` 0 picks a free one).
    """
    with reserved_port(host, port) as bound:
        return Supervisor(serve_on(bound), workers, bound, metrics_port, host, token).run()
