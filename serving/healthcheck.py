"""Ask a seqzoo server whether it is SERVING, through the standard grpc.health.v1 service.

This is the container's HEALTHCHECK and any orchestrator's exec probe:
``python -m seqzoo.serving.healthcheck [--address HOST:PORT] [--service NAME]`` exits 0 when the
server answers SERVING, 1 when it answers anything else (NOT_SERVING while it warms up or drains,
SERVICE_UNKNOWN) and 2 when it does not answer within the timeout. It does not score anything and
does not check a model's predictions: readiness of the models is the server's own decision, which
it reports through health only after warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_ADDRESS = f"127.0.0.1:{os.environ.get('SEQZOO_PORT', '8500')}"


def health_status(address: str, service: str = "", timeout: float = 3.0,
                  root_certificates: bytes | None = None, token: str | None = None) -> str:
    """Return the server's health status name for ``service``.

    Parameters
    ----------
    address : str
        ``HOST:PORT`` of the gRPC server.
    service : str
        The health service name to ask about; ``""`` is the whole server.
    timeout : float
        Seconds to wait for the answer (and for the connection).
    root_certificates : bytes or None
        PEM CA bundle for a TLS server; ``None`` connects in plaintext.
    token : str or None
        Bearer token, for a server started with ``--private-health``.

    Returns
    -------
    str
        ``"SERVING"``, ``"NOT_SERVING"``, ``"SERVICE_UNKNOWN"`` or ``"UNKNOWN"``.

    Raises
    ------
    seqzoo.zoo.errors.UnavailableError
        When the server does not answer within ``timeout`` seconds.
    """
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from seqzoo.zoo.errors import UnavailableError

    if root_certificates is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates))
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout,
                               metadata=(("authorization", f"Bearer {token}"),) if token else None)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise UnavailableError(
                f"health check of {address} (service {service!r}) failed: {exc.code().name}: {exc.details()}"
            ) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    finally:
        channel.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqzoo.serving.healthcheck", allow_abbrev=False,
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=DEFAULT_ADDRESS,
                        help="HOST:PORT of the server (default %(default)s; port from $SEQZOO_PORT)")
    parser.add_argument("--service", default="", help="health service name ('' = the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default %(default)s)")
    parser.add_argument("--tls-ca", default=None, help="PEM CA bundle when the server uses TLS")
    parser.add_argument("--token-file", default=None, help="bearer token, when the server runs --private-health")
    args = parser.parse_args(argv)
    from seqzoo.serving.client import read_token
    from seqzoo.zoo.errors import SeqzooError, UnavailableError

    ca = None
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            ca = f.read()
    try:
        status = health_status(args.address, args.service, args.timeout, ca, read_token(args.token_file))
    except UnavailableError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    except SeqzooError as exc:  # an unreadable --token-file
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    print(status)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    raise SystemExit(main())
