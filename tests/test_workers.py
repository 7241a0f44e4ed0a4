"""``seqzoo serve --workers N``: real server processes sharing one port under a supervisor that
restarts a dead worker, merges their metrics, drains them on SIGTERM and fails fast at start-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from seqzoo.serving.client import SeqZooClient
from test_engine import make_version_dir
from test_server import free_port


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    make_version_dir(root, "toy", 1, seed=0)
    return root


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen):
    """Poll ``predicate()`` until it returns something truthy (fails on timeout or a dead process)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        assert proc.poll() is None, f"the supervisor exited ({proc.returncode}) while waiting for {what}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def worker_pids(log: Path) -> dict[int, int]:
    """worker index -> pid of its latest start, from the supervisor's JSON log."""
    pids = {}
    for r in records(log):
        if r["message"].startswith("worker ") and " started (pid " in r["message"]:
            pids[r["worker"]] = r["pid"]
    return pids


def requests_ok(metrics_port: int) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("seqzoo_requests_total{") and 'code="OK"' in line and 'method="Score"' in line)


def score_fresh(port: int, codes: np.ndarray) -> np.ndarray:
    """Score on a new connection (the kernel picks a live worker for it)."""
    with SeqZooClient(f"127.0.0.1:{port}", timeout=10) as c:
        return c.score("toy", codes=codes)


def test_workers_share_the_port_restart_merge_metrics_and_drain(zoo, tmp_path):
    port, metrics_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "seqzoo", "serve", "--zoo", str(zoo), "--port", str(port),
                                 "--host", "127.0.0.1", "--models", "toy", "--device", "cpu", "--workers", "2",
                                 "--metrics-port", str(metrics_port), "--poll-seconds", "0", "--grace-seconds", "5"],
                                stdout=out, stderr=out)
    try:
        wait_for(lambda: any(r["message"].startswith("ready on port") for r in records(log)), 60, "2 workers", proc)
        first = worker_pids(log)
        assert sorted(first) == [0, 1] and len(set(first.values())) == 2
        codes = np.random.default_rng(0).integers(0, 4, size=(5, 12), dtype=np.uint8)
        expected = score_fresh(port, codes)
        scored = 1
        # kill each worker in turn: its replacement starts, and meanwhile the other one answers
        for index in (0, 1):
            os.kill(first[index], signal.SIGKILL)
            for _ in range(3):
                np.testing.assert_allclose(score_fresh(port, codes), expected, atol=1e-6)
                scored += 1
            wait_for(lambda i=index: worker_pids(log).get(i) != first[i], 30, f"worker {index} restarted", proc)
            wait_for(lambda i=index: sum(r["message"] == f"worker {i} ready (pid {worker_pids(log)[i]})"
                                         for r in records(log)), 60, f"worker {index}'s replacement ready", proc)
        assert all(r.get("worker") in (0, 1) for r in records(log) if r["message"].startswith("serving toy:1"))
        # the supervisor's /metrics merges every worker's counters, the dead ones' included
        wait_for(lambda: requests_ok(metrics_port) == scored, 10, f"{scored} requests in /metrics", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    messages = [r["message"] for r in records(log)]
    assert sum("restarting it" in m for m in messages) == 2
    assert messages[-1] == "stopped" and sum(m.startswith("draining") for m in messages) == 2
    for pid in worker_pids(log).values():  # every worker is gone
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_workers_fail_fast_when_a_model_cannot_load(zoo, tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "seqzoo", "serve", "--zoo", str(zoo), "--port", str(free_port()),
                             "--host", "127.0.0.1", "--models", "nosuch", "--workers", "2", "--poll-seconds", "0"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "nosuch" in result.stderr and "failed to start" in result.stderr
    assert time.monotonic() - started < 60


def test_workers_option_is_checked(zoo):
    result = subprocess.run([sys.executable, "-m", "seqzoo", "serve", "--zoo", str(zoo), "--workers", "0"],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--workers must be at least 1, got 0" in result.stderr
