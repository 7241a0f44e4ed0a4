"""The gRPC server (``seqzoo serve``): its services on grpc.aio, with health, reflection, auth, TLS
and drain. The services: seqzoo.v1 SeqZoo (``seqzoo_service``), Variants and Annotation (hooks),
the Open Inference Protocol over gRPC (``oip_grpc``) and HTTP (``oip_http``).

The event loop only parses, validates and answers; forward passes run on each model version's
batcher thread (ONNX Runtime releases the GIL) and attribution on its lane, so thousands of
small requests from many clients and streams share a few large batches. Errors a user can fix
become status codes with the same words (InputError -> INVALID_ARGUMENT naming the sequence
index, NotFoundError -> NOT_FOUND, QueueFullError -> RESOURCE_EXHAUSTED, ...); anything else is
logged and answered INTERNAL, and never takes the server down.

Health (grpc.health.v1) has one entry per served ref (``pum2``, ``pum2:3``) and ``""`` for the
server; it stays open without a token so load balancers can probe it (``public_health``; with it
off, health needs the token too). SIGTERM starts a drain (``Admission``): health turns NOT_SERVING,
new RPCs are answered UNAVAILABLE (clients retry them: scoring is idempotent), in-flight ones
finish within the grace period, and only then does the server stop.

Every servicer gets the one request context, ``serving.server.calls.Calls`` (deadline, error statuses,
metrics, decoding pool, drain). Extra services (``Variants``, ``Annotation``) plug in through
``SERVICE_HOOKS``: each hook is called as ``hook(server, calls)`` with the grpc.aio server,
registers its servicer, and returns the full names of the services it added (for reflection).
Adding a service is one line in that list, or ``build_server(..., hooks=[...])``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from seqzoo.serving.server.admission import PENDING_LIMITS, Admission, TokenAuth
from seqzoo.serving.server.annotation_service import register as register_annotation
from seqzoo.serving.server.calls import Calls
from seqzoo.serving.server.memory import MemoryKeeper
from seqzoo.serving.server.oip_grpc import SERVICE as OIP_SERVICE
from seqzoo.serving.server.oip_grpc import OipServicer
from seqzoo.serving.server.seqzoo_service import SERVICE, SeqZooServicer
from seqzoo.serving.server.store import ModelStore, Served
from seqzoo.serving.server.telemetry import Metrics
from seqzoo.serving.server.variants_service import register as register_variants
from seqzoo.v1 import oip_pb2_grpc as opb_grpc
from seqzoo.v1 import seqzoo_pb2_grpc as pb_grpc
from seqzoo.zoo.errors import (
    InputError,
    UnavailableError,
)

log = logging.getLogger(__name__)

# Extra services: hook(server, calls) -> [service full names]. One line per service.
SERVICE_HOOKS: list[Callable[[grpc.aio.Server, Calls], list[str]]] = [register_variants, register_annotation]



@dataclass
class ServerSettings:
    """Network-side settings of ``seqzoo serve``.

    Attributes
    ----------
    address : str
        ``host:port`` to listen on (port 0 picks a free port; see ``SeqZooServer.port``).
    max_message_bytes : int
        Largest request or response message.
    max_sequences : int
        Most sequences in one request (more is INVALID_ARGUMENT).
    stream_window : int
        Messages of one stream in flight at once (back-pressure for fast writers).
    tls_cert, tls_key : Path, optional
        PEM files; both or neither.
    token : str, optional
        Bearer token every RPC but health must carry (``authorization: Bearer <token>``).
    grace_seconds : float
        How long in-flight RPCs may take to finish on drain.
    public_health : bool
        Health answers without the token (load balancers and orchestrators probe it); False
        (``--private-health``) puts health behind the token too, so that nobody without it
        learns which models and versions are served.
    http_port : int, optional
        Also serve the Open Inference Protocol's HTTP/REST endpoints on this port of the same
        host (serving/server/oip_http.py; 0 picks a free port, see ``SeqZooServer.http_port``).
    """

    address: str = "127.0.0.1:50051"
    max_message_bytes: int = 64 * 2**20
    max_sequences: int = 65536
    stream_window: int = 256
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token: str | None = None
    grace_seconds: float = 30.0
    public_health: bool = True
    extra_options: list = field(default_factory=list)
    http_port: int | None = None


class SeqZooServer:
    """A running server: ``await start()``, ``await wait()``, ``await drain()``.

    Parameters
    ----------
    store : ModelStore
        Not yet started; ``start`` loads and warms its models before anything reports SERVING.
    settings : ServerSettings
    metrics : Metrics, optional
    hooks : list of callables, optional
        Extra services: ``hook(server, calls) -> [service names]`` (default: SERVICE_HOOKS).
    poll_seconds : float, optional
        Poll the zoo for new versions this often.
    """

    def __init__(self, store: ModelStore, settings: ServerSettings | None = None, metrics: Metrics | None = None,
                 hooks: list | None = None, poll_seconds: float | None = None):
        self.store = store
        self.settings = settings or ServerSettings()
        self.metrics = metrics or Metrics()
        self.hooks = list(SERVICE_HOOKS if hooks is None else hooks)
        self.poll_seconds = poll_seconds
        self.health = health.aio.HealthServicer()
        self.port: int | None = None
        self.server: grpc.aio.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.admission: Admission | None = None
        self.decoder: ThreadPoolExecutor | None = None
        self.memory = MemoryKeeper(lambda: (self.admission.admitted, self.admission.in_flight) if self.admission
                                   else (0, 0))
        self._keeper: asyncio.Task | None = None
        self._draining = False
        self.http = None  # the OIP HTTP endpoints (settings.http_port)
        self.http_port: int | None = None

    def _options(self) -> list:
        size = int(self.settings.max_message_bytes)
        return [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size),
                ("grpc.max_concurrent_streams", 1024), *PENDING_LIMITS, *self.settings.extra_options]

    def _on_change(self, served: Served, serving: bool) -> None:
        """Called by the store (any thread) when a version starts or stops serving."""
        if self.loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._set_health(serving), self.loop)

    async def _set_health(self, _serving: bool) -> None:
        if self._draining:
            return
        status = health_pb2.HealthCheckResponse
        refs: dict[str, bool] = {}
        for served in self.store.list():
            ident = served.engine.identity
            refs[ident.name] = refs[f"{ident.name}:latest"] = refs[ident.ref] = True
        for ref in list(self._health_refs):
            if ref not in refs:
                await self.health.set(ref, status.SERVICE_UNKNOWN)
        for ref in refs:
            await self.health.set(ref, status.SERVING)
        self._health_refs = set(refs)
        await self.health.set("", status.SERVING if refs else status.NOT_SERVING)
        await self.health.set(SERVICE, status.SERVING if refs else status.NOT_SERVING)

    async def start(self) -> int:
        """Load models (warm), bind, start serving; returns the bound port."""
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._health_refs: set[str] = set()
        self.store.on_change = self._on_change
        self.store.observer = self.metrics.observer
        # loading and warm-up are CPU work: keep the loop free while they run
        await self.loop.run_in_executor(None, self.store.start, self.poll_seconds)
        self.admission = Admission()
        interceptors = [self.admission]
        if self.settings.token:
            interceptors.append(TokenAuth(self.settings.token, self.settings.public_health))
        self.server = grpc.aio.server(options=self._options(), interceptors=interceptors,
                                      maximum_concurrent_rpcs=None)
        self.decoder = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="seqzoo-decode")
        calls = Calls(self.store, self.settings, self.metrics, self.decoder, self.admission)
        pb_grpc.add_SeqZooServicer_to_server(SeqZooServicer(calls), self.server)
        oip = OipServicer(calls)
        opb_grpc.add_GRPCInferenceServiceServicer_to_server(oip, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [SERVICE, OIP_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME]
        for hook in self.hooks:
            names.extend(hook(self.server, calls) or [])
        reflection.enable_server_reflection(names, self.server)
        if bool(self.settings.tls_cert) != bool(self.settings.tls_key):
            raise InputError("give both --tls-cert and --tls-key, or neither")
        if self.settings.tls_cert:
            key, cert = Path(self.settings.tls_key).read_bytes(), Path(self.settings.tls_cert).read_bytes()
            creds = grpc.ssl_server_credentials([(key, cert)])
            self.port = self.server.add_secure_port(self.settings.address, creds)
        else:
            self.port = self.server.add_insecure_port(self.settings.address)
        if not self.port:
            raise UnavailableError(f"cannot listen on {self.settings.address}")
        await self.server.start()
        if self.settings.http_port is not None:
            from seqzoo.serving.server.oip_http import OipHttp  # aiohttp: only with --http-port

            self.http = OipHttp(oip, calls)
            self.http_port = await self.http.start(self.settings)
        self._keeper = asyncio.create_task(self.memory.run(), name="seqzoo-memory")
        await self._set_health(True)  # every loaded model is warm: SERVING
        log.info("listening on port %d (%s)", self.port, "TLS" if self.settings.tls_cert else "plaintext",
                 extra={"port": self.port, "models": [s.ref for s in self.store.list()]})
        return self.port

    async def drain(self, grace: float | None = None) -> None:
        """Answer new RPCs UNAVAILABLE, let admitted ones finish (up to ``grace`` s), stop, unload models.

        Clients retry UNAVAILABLE (serving/client.py), so a restart loses nothing: what arrives
        during the drain is refused before it runs, and what was admitted is answered.
        """
        if self._draining:
            return
        self._draining = True
        grace = self.settings.grace_seconds if grace is None else grace
        log.info("draining: refusing new requests, finishing in-flight ones",
                 extra={"in_flight": self.admission.in_flight if self.admission else 0})
        await self.health.enter_graceful_shutdown()
        if self.admission is not None:
            self.admission.draining = True
            if not await self.admission.wait_idle(grace):
                log.warning("drain: %d calls still running after %g s are cancelled", self.admission.in_flight,
                            grace, extra={"in_flight": self.admission.in_flight})
        if self.server is not None:
            # only refusals can be running now; give them a moment to be answered
            await self.server.stop(min(1.0, grace))
        if self.http is not None:
            await self.http.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.store.close)
        if self._keeper is not None:
            self._keeper.cancel()
        if self.decoder is not None:
            self.decoder.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()
        log.info("stopped")

    async def wait(self) -> None:
        """Return when a drain has finished (models unloaded)."""
        await self._stopped.wait()

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT start a graceful drain."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.drain()))


async def serve(store: ModelStore, settings: ServerSettings, metrics_port: int | None = None,
                poll_seconds: float | None = None, ready: Callable[[int], None] | None = None) -> None:
    """Run a server until SIGTERM/SIGINT (then drain)."""
    metrics = Metrics()
    if metrics_port:
        metrics.serve(metrics_port, addr=settings.address.rpartition(":")[0].strip("[]") or "0.0.0.0",
                      token=settings.token)
    server = SeqZooServer(store, settings, metrics, poll_seconds=poll_seconds)
    port = await server.start()
    server.handle_signals()
    if ready is not None:
        ready(port)
    await server.wait()
