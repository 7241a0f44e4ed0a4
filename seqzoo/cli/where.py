"""Where a command computes, said once for ``score``, ``variants``, ``annotate`` and ``attribute``:
``--local``, ``--server HOST:PORT`` or ``--dask SCHEDULER`` and their options, turned into an
executor (``serving.ops.executors``)."""

from __future__ import annotations

import argparse

from seqzoo.zoo.errors import InputError


def add_where_arguments(parser: argparse.ArgumentParser, timeout: float = 3600.0) -> None:
    """The where-to-compute group and its options."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="compute in this process (ONNX Runtime)")
    where.add_argument("--server", metavar="HOST:PORT", help="compute on a seqzoo server")
    where.add_argument("--dask", metavar="SCHEDULER",
                       help="compute on a Dask cluster: a scheduler address, or local[:N] for N local worker processes")
    parser.add_argument("--zoo", help="--local/--dask: the zoo folder (default $SEQZOO_ZOO, else the user data folder)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="--local/--dask: device")
    parser.add_argument("--threads", type=int, help="--local: ONNX Runtime threads (default: all cores)")
    parser.add_argument("--token-file", help="--server: file holding the server's bearer token")
    parser.add_argument("--tls-ca", help="--server: PEM certificate to trust (connect with TLS)")
    parser.add_argument("--window", type=int, default=8, help="--server: requests in flight on a scoring stream")
    parser.add_argument("--timeout", type=float, default=timeout, help="--server: deadline of a stream, seconds")
    group = parser.add_argument_group("Dask (--dask)")
    group.add_argument("--dask-resources", metavar="NAME=N[,...]",
                       help="worker resources each task needs, e.g. GPU=1 (workers started with --resources GPU=1)")
    group.add_argument("--dask-window", type=int, help="tasks in flight (default: 2 per worker thread + 2)")
    group.add_argument("--dask-memory", default="auto", help="memory limit per local worker (default auto)")


def executor_of(args):
    """The executor ``args`` ask for, over the model ``args.model``."""
    from seqzoo.serving.ops import executors

    if args.window < 1:
        raise InputError(f"--window must be at least 1, got {args.window}")
    if args.server:
        from seqzoo.serving.client import read_token

        return executors.Server(args.model, args.server, token=read_token(args.token_file), tls_ca=args.tls_ca,
                                window=args.window, timeout=args.timeout)
    if args.dask:
        from seqzoo.serving.dask.cluster import connect, parse_resources

        resources = parse_resources(args.dask_resources)
        client, cluster = connect(args.dask, worker_resources=resources or None, memory_limit=args.dask_memory)
        try:
            return executors.Dask(args.model, client, zoo=args.zoo, device=args.device, window=args.dask_window,
                                  resources=resources, own=True, cluster=cluster)
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
    return executors.Local(args.model, zoo=args.zoo, device=args.device, threads=args.threads)

