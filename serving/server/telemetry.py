"""What the server tells operators: Prometheus metrics and structured (JSON) logs.

Metrics are labelled by model name and version, so a dashboard can compare the version being
rolled out with the one it replaces. They live in their own registry (tests can start many
servers in one process) and are served on ``--metrics-port`` (``serve_metrics``): bound to the
server's own host, and behind the server's bearer token when it has one.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
TIME_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    """The server's Prometheus metrics (one registry per server).

    requests_total{model, version, method, code}, sequences_total{model, version, method},
    batch_size{model, version}, queue_seconds{model, version}, compute_seconds{model, version},
    queued_sequences{model, version}, model_info{model, version, digest, provider}.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("seqzoo_requests", "RPCs answered", ["model", "version", "method", "code"],
                                registry=r)
        self.sequences = Counter("seqzoo_sequences", "sequences scored or attributed",
                                 ["model", "version", "method"], registry=r)
        self.batch_size = Histogram("seqzoo_batch_size", "sequences per forward pass", ["model", "version"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.queue_seconds = Histogram("seqzoo_queue_seconds", "time a request waited for its batch",
                                       ["model", "version"], buckets=TIME_BUCKETS, registry=r)
        self.compute_seconds = Histogram("seqzoo_compute_seconds", "forward pass time per batch",
                                         ["model", "version"], buckets=TIME_BUCKETS, registry=r)
        # multiprocess_mode: how `serve --workers N` merges the workers' gauges (ignored otherwise)
        self.queued = Gauge("seqzoo_queued_sequences", "sequences waiting", ["model", "version"], registry=r,
                            multiprocess_mode="livesum")
        self._children: dict[tuple, tuple] = {}
        self.info = Gauge("seqzoo_model_info", "a loaded model version (value 1)",
                          ["model", "version", "digest", "provider"], registry=r, multiprocess_mode="livemax")

    def observer(self, model: str, version: int, batcher=None):
        """The batcher's ``observe(batch_size, queue_seconds, compute_seconds)`` hook for one version."""
        labels = (model, str(version))
        batch, queue, compute = (self.batch_size.labels(*labels), self.queue_seconds.labels(*labels),
                                 self.compute_seconds.labels(*labels))
        queued = self.queued.labels(*labels)
        engine = getattr(batcher, "engine", None)
        if engine is not None:
            self.info.labels(model, str(version), engine.identity.digest, engine.provider).set(1)

        def observe(size: int, queue_times: list, compute_time: float) -> None:
            batch.observe(size)
            for t in queue_times:
                queue.observe(t)
            compute.observe(compute_time)
            if batcher is not None:
                queued.set(batcher.queued)

        return observe

    def answered(self, model: str, version: int | str, method: str, code: str, sequences: int = 0) -> None:
        key = (model, version, method, code)
        children = self._children.get(key)
        if children is None:  # label lookups cost microseconds; this runs once per request
            children = (self.requests.labels(model, str(version), method, code),
                        self.sequences.labels(model, str(version), method))
            if len(self._children) < 4096:
                self._children[key] = children
        children[0].inc()
        if sequences:
            children[1].inc(sequences)

    def serve(self, port: int, addr: str, token: str | None = None):
        """Serve these metrics on ``addr:port`` (see ``serve_metrics``)."""
        return serve_metrics(self.registry, port, addr, token)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # scrapes are not log lines
        pass


def serve_metrics(registry, port: int, addr: str, token: str | None = None) -> WSGIServer:
    """Serve ``registry`` in Prometheus' text format on ``addr:port`` from a daemon thread.

    ``addr`` is the gRPC server's own host, so metrics are never wider open than the service.
    With ``token``, a scrape must send ``Authorization: Bearer <token>`` (Prometheus'
    ``authorization: {credentials_file: ...}``), else 401; compared in constant time.
    """
    app = make_wsgi_app(registry)
    if token:
        expected, metrics = f"Bearer {token}".encode(), app

        def app(environ, start_response):
            sent = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
            if not hmac.compare_digest(sent, expected):
                start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
                return [b"missing or wrong bearer token (send 'Authorization: Bearer <token>')\n"]
            return metrics(environ, start_response)

    server = make_server(addr, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="seqzoo-metrics", daemon=True).start()
    return server


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ``fields`` and any ``extra`` fields."""

    def __init__(self, fields: dict | None = None):
        super().__init__()
        self.fields = dict(fields or {})

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) +
               f".{int(record.msecs):03d}Z",
               "level": record.levelname, "logger": record.name, "message": record.getMessage(), **self.fields}
        for key, value in vars(record).items():
            if key not in self._standard and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


def json_logging(level: int = logging.INFO, worker: int | None = None) -> None:
    """Route the root logger to stderr as JSON lines (the server's structured logs).

    ``worker``: the index of a ``serve --workers`` process, added to every line as ``"worker"``.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter({"worker": worker} if worker is not None else None))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
