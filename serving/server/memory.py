"""Giving memory back: the server's resident size returns near its baseline after large requests.

A 60 MB request is parsed, decoded and dropped, and Python and gRPC free it; but glibc's
allocator keeps freed pages in its arenas, so a server that refused 40 such requests sat idle
at 1.3 GB (``benchmarks/faults.py``). ``MemoryKeeper`` watches the resident size (one read of
``/proc/self/statm``) and, when it has grown well past the baseline, asks glibc to return its
free pages (``malloc_trim``) on a worker thread. Elsewhere (no glibc) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os

log = logging.getLogger(__name__)

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


class MemoryKeeper:
    """Gives the allocator's free pages back when the resident size has grown ``slack`` bytes.

    While calls run, it trims whenever the size grew ``slack`` past its size after the last
    trim (a burst of large requests); once the server is idle, it trims once if the size is
    ``slack`` past the baseline (the size when ``run`` started, models loaded), and not again
    until more calls came (a steady state above the baseline, such as ONNX Runtime's arena
    at the largest batch, is not trimmed every second).

    Parameters
    ----------
    calls : callable
        ``calls() -> (admitted so far, in flight now)``; the server's Admission.
    slack : int
        Growth in bytes that triggers a trim.
    interval : float
        Seconds between two looks at the resident size.
    """

    def __init__(self, calls, slack: int = 64 * 2**20, interval: float = 1.0):
        self.calls, self.slack, self.interval = calls, slack, interval
        self.baseline = self.high = 0
        self.trims = 0
        self._trim = _malloc_trim()
        self._idle_trim_at = -1

    def trim(self) -> int:
        """Collect garbage cycles (a finished call's messages can sit in one), then return free
        allocator pages to the system; the bytes given back."""
        before = resident_bytes()
        gc.collect()
        if self._trim is not None:
            self._trim(0)
            self.trims += 1
        self.high = resident_bytes()
        return max(0, before - self.high)

    def due(self) -> bool:
        """Whether a trim is due now (see the class)."""
        admitted, in_flight = self.calls()
        size = resident_bytes()
        if in_flight:
            return size > self.high + self.slack
        if admitted != self._idle_trim_at and size > self.baseline + self.slack:
            self._idle_trim_at = admitted
            return True
        return False

    async def run(self) -> None:
        """Watch until cancelled (a task of the server)."""
        if self._trim is None:
            return
        loop = asyncio.get_running_loop()
        self.baseline = self.high = resident_bytes()
        while True:
            await asyncio.sleep(self.interval)
            if self.due():
                freed = await loop.run_in_executor(None, self.trim)
                if freed:
                    log.debug("gave %d MiB back to the system", freed >> 20, extra={"freed_bytes": freed})
