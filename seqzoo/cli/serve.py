"""``seqzoo serve``: serve zoo models over gRPC.

    seqzoo serve --zoo myzoo --port 50051 [--models pum2,qki:2] [--device auto|cpu|cuda]
                 [--registry URL] [--max-batch 1024] [--max-delay-ms 2] [--queue 65536]
                 [--threads N] [--metrics-port 9100] [--tls-cert C --tls-key K] [--token-file F]
                 [--public-health | --private-health] [--grace-seconds 30]
                 [--poll-seconds 30] [--workers N] [--loop auto|uvloop|asyncio]

Models load and warm up before the server reports SERVING; SIGTERM drains (in-flight requests
finish, new ones are refused). Logs are JSON lines on stderr. With ``--workers N``, N server
processes share the port under a supervisor (see serving/server/workers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
from pathlib import Path

from seqzoo.zoo.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zoo", help="zoo folder (default $SEQZOO_ZOO, else the user data folder); pulled models land here")
    parser.add_argument("--port", type=int, default=50051, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--http-port", type=int, help="also serve the Open Inference Protocol's HTTP/REST endpoints "
                        "(/v2/...) on this port (0: any free port)")
    parser.add_argument("--registry", help="pull models from this registry URL (file://, http(s)://, s3://)")
    parser.add_argument("--models", help="comma-separated refs to serve (name follows its latest version; "
                                         "name:3 is pinned); default: every model in the zoo")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads per model (default: all cores)")
    parser.add_argument("--max-batch", type=int, default=1024, help="sequences per forward pass at most")
    parser.add_argument("--max-delay-ms", type=float, default=2.0,
                        help="how long the oldest request waits for its batch to fill, ms")
    parser.add_argument("--queue", type=int, default=65536,
                        help="sequences waiting per model at most (RESOURCE_EXHAUSTED beyond)")
    parser.add_argument("--keep-versions", type=int, default=2, help="newest versions of each model kept loaded")
    parser.add_argument("--max-message-mb", type=float, default=64.0, help="largest request/response message")
    parser.add_argument("--max-sequences", type=int, default=65536, help="most sequences in one request")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    parser.add_argument("--tls-cert", help="PEM certificate (with --tls-key): serve TLS")
    parser.add_argument("--tls-key", help="PEM private key")
    parser.add_argument("--token-file", help="require 'authorization: Bearer <token>' on every RPC and on "
                                             "/metrics (health too with --private-health)")
    health = parser.add_mutually_exclusive_group()
    health.add_argument("--public-health", dest="public_health", action="store_true", default=True,
                        help="health answers without the token, for load balancers and probes; it tells "
                             "anyone who can connect which models and versions are served (default)")
    health.add_argument("--private-health", dest="public_health", action="store_false",
                        help="health needs the token like every other RPC (probes must send it)")
    parser.add_argument("--poll-seconds", type=float, default=30.0,
                        help="look for new versions this often (0: never)")
    parser.add_argument("--grace-seconds", type=float, default=30.0, help="drain time on SIGTERM")
    parser.add_argument("--max-connection-age", type=float, default=0.0, metavar="SECONDS",
                        help="close client connections (GOAWAY) after this age so round_robin clients "
                             "re-resolve and reach new replicas (0: never)")
    parser.add_argument("--loop", default="auto", choices=("auto", "uvloop", "asyncio"),
                        help="event loop: uvloop when installed (auto), or asyncio's own")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port (SO_REUSEPORT); each holds its own models. "
                             "One process answers ~4,000 one-sequence RPCs/s on 2 cores; clients reach several workers "
                             "through several connections")
    parser.add_argument("--genome", help="reference FASTA: variants by coordinates, annotation tracks by region")
    parser.add_argument("--contig-map", help="with --genome: two-column file, VCF contig name -> FASTA name")
    parser.add_argument("--genome-cache", help="with --genome: folder for its decompressed copy and index ($SEQZOO_CACHE)")


def settings_from(args):
    """(StoreSettings, ServerSettings) from parsed arguments; errors name the option."""
    from seqzoo.serving.client import read_token
    from seqzoo.serving.server.app import ServerSettings
    from seqzoo.serving.server.batcher import BatcherSettings
    from seqzoo.serving.server.store import StoreSettings

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be at least 1, got {args.threads}")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InputError("give both --tls-cert and --tls-key, or neither")
    for option in ("tls_cert", "tls_key", "token_file"):
        value = getattr(args, option)
        if value and not Path(value).is_file():
            raise InputError(f"--{option.replace('_', '-')} {value}: no such file")
    token = read_token(args.token_file)
    batcher = BatcherSettings(max_batch=args.max_batch, max_delay=args.max_delay_ms / 1000.0, max_queue=args.queue)
    store = StoreSettings(device=args.device, threads=args.threads, batcher=batcher, keep=max(1, args.keep_versions))
    server = ServerSettings(address=f"{args.host}:{args.port}", max_message_bytes=int(args.max_message_mb * 2**20),
                            max_sequences=args.max_sequences, tls_cert=args.tls_cert, tls_key=args.tls_key,
                            token=token, grace_seconds=args.grace_seconds, public_health=args.public_health,
                            extra_options=connection_age_options(args.max_connection_age),
                            http_port=args.http_port)
    return store, server


def connection_age_options(seconds: float) -> list:
    """gRPC server options that bound a connection's lifetime (in-flight calls get 30 s to finish)."""
    if seconds < 0:
        raise InputError(f"--max-connection-age must be 0 or more seconds, got {seconds}")
    if seconds == 0:
        return []
    return [("grpc.max_connection_age_ms", int(seconds * 1000)), ("grpc.max_connection_age_grace_ms", 30_000)]


def _json_logging(args, worker: int | None = None) -> None:
    from seqzoo.serving.server.telemetry import json_logging

    json_logging(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO, worker=worker)


def run(args) -> int:
    _json_logging(args)
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1:
        from seqzoo.serving.server.workers import available_cores, run_workers

        _, server_settings = settings_from(args)  # bad options fail here, once, before any worker starts
        # the workers share the cores between their ONNX Runtime pools
        threads = args.threads or max(1, available_cores() // args.workers)

        def serve_on(port: int):
            return functools.partial(serve_here, argparse.Namespace(**{**vars(args), "port": port,
                                                                       "threads": threads}))

        return run_workers(serve_on, args.workers, args.host, args.port, args.metrics_port, server_settings.token)

    def ready(port: int) -> None:
        logging.getLogger("seqzoo.serve").info("ready on port %d", port, extra={"port": port})

    serve_here(args, ready)
    return 0


def serve_here(args, ready, worker: int | None = None) -> None:
    """Run one server in this process until it drains; ``ready(port)`` once it serves.

    As one of ``--workers`` (``worker`` is its index), it logs JSON with its index, binds the shared
    port with SO_REUSEPORT and leaves ``--metrics-port`` to the supervisor.
    """
    from seqzoo.serving.server.app import serve
    from seqzoo.serving.server.store import ModelStore

    if worker is not None:  # a fresh spawned process: its logs carry its index
        _json_logging(args, worker)
    store_settings, server_settings = settings_from(args)
    if worker is not None:
        server_settings.extra_options.append(("grpc.so_reuseport", 1))
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    store = ModelStore(args.zoo, models=models, registry=args.registry, settings=store_settings)
    if args.genome:  # variant windows from coordinates, annotation tracks from regions
        from seqzoo.serving.server.reference import set_genome
        set_genome(args.genome, contig_map=args.contig_map, cache=args.genome_cache)
    run_loop(serve(store, server_settings, metrics_port=None if worker is not None else args.metrics_port,
                   poll_seconds=args.poll_seconds or None, ready=ready), args.loop)


def run_loop(coroutine, loop: str = "auto"):
    """Run ``coroutine`` on uvloop (``auto`` when it is installed, or ``uvloop``) or asyncio's own loop.

    uvloop's event loop is C (libuv): grpc.aio's per-call callbacks cost less on it.
    """
    if loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise InputError("--loop uvloop: uvloop is not installed (pip install uvloop)") from None
        else:
            logging.getLogger("seqzoo.serve").info("event loop: uvloop %s", uvloop.__version__)
            return uvloop.run(coroutine)
    return asyncio.run(coroutine)
