"""The Dask cluster: connecting, submitting tasks with a bounded window, and what a task reports of
its worker (``serving.ops.executors.Dask`` runs the operations' tasks here; never PyTorch).

GPU workers: start them with ``--resources GPU=1`` and pass ``--dask-resources GPU=1 --device
cuda``: the resources go with each ``client.submit`` call, which Dask honours;
``dask.annotate(resources=...)`` around graph construction is silently dropped by graph
optimisation, so it is not used.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from seqzoo.zoo.errors import InputError, UnavailableError


# ---------------------------------------------------------------------------- the cluster
def parse_resources(text: str | None) -> dict[str, float]:
    """``"GPU=1,MEM=4e9"`` -> ``{"GPU": 1.0, "MEM": 4e9}`` (an empty text -> ``{}``)."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"--dask-resources: {item!r} is not NAME=NUMBER (e.g. GPU=1)")
    return out


def connect(spec: str, worker_resources: dict[str, float] | None = None, memory_limit: str | None = "auto"):
    """A Dask client for ``spec``: ``local`` / ``local:N`` (a LocalCluster of N single-threaded
    worker processes on loopback; N defaults to the core count) or a scheduler address.

    Parameters
    ----------
    spec : str
        ``local``, ``local:N``, or ``tcp://host:8786`` (any address ``distributed.Client`` takes).
    worker_resources : dict, optional
        Resources each local worker advertises (so a local run can honour ``--dask-resources``).
    memory_limit : str, optional
        Memory limit per local worker (Dask's default ``auto`` splits the machine's memory).

    Returns
    -------
    (distributed.Client, distributed.LocalCluster or None)
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UnavailableError("--dask needs Dask: pip install 'dask[distributed]'") from None
    # the scheduler of a local cluster runs in this process: keep its INFO chatter out of the CLI's log
    logging.getLogger("distributed").setLevel(logging.WARNING)
    match = re.fullmatch(r"local(?::(\d+))?", spec.strip())
    if match:
        n = int(match.group(1) or os.cpu_count() or 1)
        if n < 1:
            raise InputError(f"--dask {spec}: a local cluster needs at least 1 worker")
        # the scheduler's HTTP server always starts (8787 when no address is given): any free port
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", memory_limit=memory_limit,
                               resources=worker_resources or None)
        return Client(cluster), cluster
    try:
        return Client(spec, timeout=30), None
    except (OSError, TimeoutError) as exc:
        raise UnavailableError(f"--dask {spec}: cannot reach the Dask scheduler ({exc})") from None


def run_tasks(client, function: Callable, items: Iterable, window: int,
              resources: dict[str, float] | None = None) -> Iterator:
    """Submit ``function(item, index)`` for every item, at most ``window`` in flight; yield the
    results in submission order.

    Items are drawn from ``items`` lazily, so a streamed input never sits in memory whole.
    ``resources`` (e.g. ``{"GPU": 1}``) go with each submit: only workers that advertise them run
    the tasks. A task's exception is raised here, in the client.
    """
    pending: deque = deque()
    token = uuid.uuid4().hex[:8]
    name = getattr(function, "__name__", type(function).__name__)
    iterator = iter(enumerate(items))
    try:
        while True:
            while len(pending) < window:
                try:
                    index, item = next(iterator)
                except StopIteration:
                    break
                pending.append(client.submit(function, item, index, resources=resources or None, pure=False,
                                             key=f"seqzoo-{name}-{token}-{index}"))
            if not pending:
                return
            future = pending.popleft()
            yield future.result()
            future.release()
    finally:
        for future in pending:
            future.cancel()


# ---------------------------------------------------------------------------- a task's costs
def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident memory of a process, MiB: VmHWM of its address space.

    Not ``getrusage``'s ``ru_maxrss``: that survives fork + exec, so a worker started by a large
    parent would report the parent's size.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


def worker_name() -> str:
    """The Dask worker's address, or ``pid N`` outside one (Dask is not imported for this: a worker
    process has it loaded already, and importing it costs a local run 0.3 s)."""
    if "distributed" in sys.modules:
        try:
            return sys.modules["distributed"].get_worker().address
        except ValueError:  # not inside a worker's task
            pass
    return f"pid {os.getpid()}"

