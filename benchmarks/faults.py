"""Faults: what a hostile client and a careless operator do to a seqzoo server, counted.

    .venv/bin/python benchmarks/faults.py [--zoo .bench/zoo] [--label head]
        [--server-python .bench/base-2e450f4-venv/bin/python --server-cwd .bench/base-2e450f4 --label base]

Every scenario runs against ``seqzoo serve`` in a child process on the ``pum2`` model of
``--zoo`` (trained there by serve_bench.ensure_model when missing), driven by seqzoo's own
client (``SeqZooClient``: retries UNAVAILABLE and CANCELLED, waits for a restarting server).
Each row counts the requests sent, answered (every answer checked against the local engine),
cleanly failed (a status the caller can act on: INVALID_ARGUMENT, NOT_FOUND, CANCELLED,
DEADLINE_EXCEEDED), lost (UNAVAILABLE, INTERNAL, UNKNOWN or no answer) and wrong.

- restart: 20,000 one-sequence Score calls from 16 clients; the server gets SIGTERM (it drains)
  and a new one starts on the same port, once or three times mid-run;
- killed clients: 4 client processes streaming without end are SIGKILLed while 16 clients
  send 10,000 calls;
- abandoned streams: 100 streams cancelled with a full window and 100 past their deadline; the
  server's log is searched for "Task was destroyed" and "never retrieved";
- malformed: 2,000 random byte strings on every method and 20,000 Score calls for models that
  do not exist; /metrics size before and after;
- oversize: 40 requests of 58 MB (300,000 sequences, over the limit): the server's resident
  memory before, at its peak and idle 5 s after;
- large: 16 concurrent requests of 65,536 sequences (strings): answered, and the slowest health
  answer meanwhile.

``--server-python`` runs the server from another checkout's interpreter (an earlier commit's
venv, for a before/after table); ``--label`` names the column. Writes BENCHMARKS.md's "faults"
section (both labels, when both were run: results are kept in .bench/faults-<label>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from seqzoo.serving.client import SeqZooClient, ServerError, channel_options
from seqzoo.serving.engine import Engine
from seqzoo.v1 import seqzoo_pb2 as pb
from seqzoo.v1 import seqzoo_pb2_grpc as pb_grpc
from seqzoo.zoo.errors import InputError, NotFoundError, SeqzooError
from seqzoo.zoo.registry import open_zoo
from serve_bench import ensure_model, free_port

REPO = Path(__file__).resolve().parent.parent
CLEAN = {"INVALID_ARGUMENT", "NOT_FOUND", "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}
METHODS = ["/seqzoo.v1.SeqZoo/Score", "/seqzoo.v1.SeqZoo/Attribute", "/seqzoo.v1.SeqZoo/GetModel",
           "/seqzoo.v1.Variants/ScoreVariants", "/grpc.health.v1.Health/Check"]


class Server:
    """``seqzoo serve`` in a child process (``python`` and ``cwd`` may be another checkout's)."""

    def __init__(self, python: str, cwd: Path, zoo: Path, log: Path, extra: tuple = ()):
        self.python, self.cwd, self.log = python, cwd, log
        port, metrics = free_port(), free_port()
        self.cmd = [python, "-m", "seqzoo", "serve", "--zoo", str(zoo.resolve()), "--port", str(port),
                    "--host", "127.0.0.1", "--models", "pum2", "--poll-seconds", "0", "--grace-seconds", "20",
                    "--metrics-port", str(metrics), *extra]
        self.target, self.metrics_url = f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics}/metrics"
        self._start()

    def _start(self) -> None:
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=out, cwd=self.cwd)
        with SeqZooClient(self.target) as client:
            client.wait_serving("pum2", timeout=180, alive=lambda: self.proc.poll() is None)

    def status(self, key: str) -> float:
        """A /proc/PID/status memory figure (VmRSS, VmHWM) in MiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024

    def restart(self) -> int:
        """SIGTERM (a drain), wait for the exit, start again on the same port; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(120)
        self._start()
        return code

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)


def row(scenario: str, sent: int, answered: int, clean: int, lost: int, wrong: int, **extra) -> dict:
    return {"scenario": scenario, "sent": sent, "answered": answered, "cleanly_failed": clean, "lost": lost,
            "wrong": wrong, **extra}


def one_sequence_load(target: str, sequences: list[str], expected: np.ndarray, total: int, clients: int,
                      at: list[int] | None = None, on_progress=None) -> dict:
    """``total`` one-sequence Score calls from ``clients`` threads; ``on_progress`` is called (once
    each) when the answered count passes each number of ``at``."""
    answered, wrong, clean, lost = [0], [0], [0], []
    lock = threading.Lock()
    marks = list(at or [])

    def client(k: int) -> None:
        with SeqZooClient(target, timeout=120) as c:
            for i in range(k, total, clients):
                s = i % len(sequences)
                try:
                    probs = c.score("pum2", sequences=[sequences[s]])
                except (InputError, NotFoundError):
                    with lock:
                        clean[0] += 1
                    continue
                except SeqzooError as exc:
                    with lock:
                        lost.append(str(exc))
                    continue
                with lock:
                    answered[0] += 1
                    wrong[0] += not np.allclose(probs[0], expected[s], atol=1e-5)
                    due = marks and answered[0] >= marks[0]
                    if due:
                        marks.pop(0)
                if due and on_progress is not None:
                    on_progress()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"answered": answered[0], "wrong": wrong[0], "clean": clean[0], "lost": len(lost),
            "first_lost": lost[:3]}


def scenario_restart(server: Server, sequences, expected, restarts: int) -> dict:
    total = 20_000
    at = [total * (k + 1) // (restarts + 1) for k in range(restarts)]
    codes = []
    start = time.perf_counter()
    r = one_sequence_load(server.target, sequences, expected, total, 16, at,
                          on_progress=lambda: codes.append(server.restart()))
    return row(f"restart under load ({restarts} SIGTERM + restart{'s' if restarts > 1 else ''}, 16 clients)",
               total, r["answered"], r["clean"], r["lost"], r["wrong"], drain_exit_codes=codes,
               seconds=round(time.perf_counter() - start, 1), first_lost=r["first_lost"])


GENERIC_RETRY = json.dumps({"methodConfig": [{"name": [{"service": "seqzoo.v1.SeqZoo"}], "retryPolicy": {
    "maxAttempts": 5, "initialBackoff": "0.1s", "maxBackoff": "1s", "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"]}}]})


def scenario_generic_restart(server: Server, sequences, expected) -> dict:
    """20,000 calls from 16 plain grpcio clients (gRPC's standard retry of UNAVAILABLE only, and
    wait_for_ready), one SIGTERM + restart: a call is lost only when the server cuts it."""
    total, clients = 20_000, 16
    answered, wrong, lost = [0], [0], []
    lock = threading.Lock()
    restarted = threading.Event()
    codes_seen: dict[str, int] = {}

    def client(k: int) -> None:
        options = [("grpc.enable_retries", 1), ("grpc.service_config", GENERIC_RETRY)]
        with grpc.insecure_channel(server.target, options=options) as channel:
            stub = pb_grpc.SeqZooStub(channel)
            for i in range(k, total, clients):
                s = i % len(sequences)
                try:
                    answer = stub.Score(pb.ScoreRequest(model="pum2", sequences=[sequences[s]]), timeout=120,
                                        wait_for_ready=True)
                except grpc.RpcError as exc:
                    with lock:  # every request here is valid: any failure is a lost call
                        codes_seen[exc.code().name] = codes_seen.get(exc.code().name, 0) + 1
                        lost.append(i)
                    continue
                probs = np.frombuffer(answer.probs, dtype=np.float32)
                with lock:
                    answered[0] += 1
                    wrong[0] += not np.allclose(probs, expected[s], atol=1e-5)
                    due = answered[0] == total // 3
                if due:
                    restarted.set()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    restarted.wait(300)
    code = server.restart()
    for t in threads:
        t.join()
    return row("restart under load, plain grpcio clients (retry UNAVAILABLE only, wait_for_ready)", total,
               answered[0], 0, len(lost), wrong[0], drain_exit_codes=[code], lost_codes=codes_seen)


STREAMER = """
import sys, grpc
from seqzoo.v1 import seqzoo_pb2 as pb, seqzoo_pb2_grpc as pb_grpc
stub = pb_grpc.SeqZooStub(grpc.insecure_channel(sys.argv[1]))
def endless():
    while True:
        yield pb.ScoreRequest(model="pum2", sequences=["ACGU" * 50])
for i, _ in enumerate(stub.ScoreStream(endless())):
    if i == 20:
        print("streaming", flush=True)
"""


def scenario_killed_clients(server: Server, sequences, expected) -> dict:
    victims = [subprocess.Popen([sys.executable, "-c", STREAMER, server.target], stdout=subprocess.PIPE, text=True)
               for _ in range(4)]
    for v in victims:
        v.stdout.readline()

    def kill_all():
        for v in victims:
            v.kill()

    r = one_sequence_load(server.target, sequences, expected, 10_000, 16, [1_000], on_progress=kill_all)
    for v in victims:
        v.wait()
    return row("4 streaming clients SIGKILLed mid-stream (16 other clients)", 10_000, r["answered"], r["clean"],
               r["lost"], r["wrong"])


def scenario_abandoned_streams(server: Server) -> dict:
    codes = np.random.default_rng(0).integers(0, 4, (2048, 200), dtype=np.uint8)
    clean = lost = 0
    log_before = server.log.read_text().count("\n")
    with SeqZooClient(server.target) as client:
        for k in range(200):
            requests = (client.request("pum2", codes=codes, id=i) for i in range(30))
            try:
                if k % 2:
                    list(client.stub.ScoreStream(requests, timeout=0.2))
                    lost += 1  # finished before the deadline: not what this scenario tests
                    continue
                call = client.stub.ScoreStream(requests, timeout=60)
                next(call)
                call.cancel()
                clean += 1
            except grpc.RpcError as exc:
                if exc.code().name in CLEAN:
                    clean += 1
                else:
                    lost += 1
        time.sleep(2)
        client.score("pum2", sequences=["ACGU" * 50])
    lines = server.log.read_text().splitlines()[log_before:]
    problems = sum("Task was destroyed" in line or "never retrieved" in line for line in lines)
    return row("abandoned streams (100 cancelled with a full window, 100 past a 0.2 s deadline)", 200, 0, clean,
               lost, 0, log_problems=problems)


def scenario_malformed(server: Server) -> dict:
    rng = np.random.default_rng(3)
    clean = lost = 0
    size_before = len(urllib.request.urlopen(server.metrics_url, timeout=10).read())
    with grpc.insecure_channel(server.target, options=channel_options()) as channel:
        for k in range(2_000):
            method = channel.unary_unary(METHODS[k % len(METHODS)])
            try:
                method(rng.bytes(int(rng.integers(1, 400))), timeout=10)
                clean += 1  # some random bytes are a valid (empty-ish) message; answered cleanly
            except grpc.RpcError as exc:
                clean += exc.code().name in CLEAN
                lost += exc.code().name not in CLEAN
    junk = 20_000
    with SeqZooClient(server.target) as client:
        def one(i):
            try:
                client.score(f"m{i}", sequences=["ACGU" * 50])
            except NotFoundError:
                return True
            except SeqzooError:
                return False
            return False

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(junk)))
    size_after = len(urllib.request.urlopen(server.metrics_url, timeout=10).read())
    return row("malformed: 2,000 random byte strings on 5 methods + 20,000 unknown model refs", 2_000 + junk, 0,
               clean + sum(results), lost + junk - sum(results), 0,
               metrics_kib=[round(size_before / 1024, 1), round(size_after / 1024, 1)])


def scenario_oversize(server: Server) -> dict:
    request = pb.ScoreRequest(model="pum2", sequences=["ACGU" * 50] * 300_000)
    baseline = server.status("VmRSS")
    clean = lost = 0
    with grpc.insecure_channel(server.target, options=channel_options(128 * 2**20)) as channel:
        stub = pb_grpc.SeqZooStub(channel)
        for _ in range(40):
            try:
                stub.Score(request, timeout=120)
                lost += 1
            except grpc.RpcError as exc:
                clean += exc.code() == grpc.StatusCode.INVALID_ARGUMENT
                lost += exc.code() != grpc.StatusCode.INVALID_ARGUMENT
    time.sleep(5)
    return row(f"oversize: 40 requests of {request.ByteSize() / 1e6:.0f} MB (300,000 sequences)", 40, 0, clean,
               lost, 0, rss_mib={"before": round(baseline), "peak": round(server.status("VmHWM")),
                                 "idle_5s_after": round(server.status("VmRSS"))})


def scenario_large(server: Server, engine: Engine) -> dict:
    rng = np.random.default_rng(5)
    sequences = ["".join(rng.choice(list("ACGU"), 200)) for _ in range(512)] * 128  # 65,536
    expected = engine.predict(engine.encode(sequences[:512], convert_tu=True))
    health: list[float] = []
    answered = wrong = lost = 0
    with SeqZooClient(server.target, timeout=300) as client:
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(client.score, "pum2", sequences) for _ in range(16)]
            while not all(f.done() for f in futures):
                t = time.perf_counter()
                client.health()
                health.append(time.perf_counter() - t)
                time.sleep(0.02)
        clean = 0
        for f in futures:
            try:
                probs = f.result()
            except ServerError as exc:  # RESOURCE_EXHAUSTED: the queue holds 65,536 sequences; retry later
                clean += exc.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                lost += exc.code != grpc.StatusCode.RESOURCE_EXHAUSTED
                continue
            except SeqzooError:
                lost += 1
                continue
            answered += 1
            wrong += not np.allclose(probs[:512], expected, atol=1e-5)
    time.sleep(5)
    return row("large: 16 concurrent requests of 65,536 sequences (strings)", 16, answered, clean, lost, wrong,
               health_max_ms=round(max(health) * 1000, 1) if health else None,
               rss_mib={"peak": round(server.status("VmHWM")), "idle_5s_after": round(server.status("VmRSS"))})


# -- issue 26: bursts, restarts with tritonclient, big bodies, alias bombs, annotation amplification --
OLD_POLICY = {"methodConfig": [{"name": [{"service": "seqzoo.v1.SeqZoo"}, {"service": "seqzoo.v1.Variants"}],
                                "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.2s", "maxBackoff": "2s",
                                                "backoffMultiplier": 2,
                                                "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"]}}]}
LOAD_CLIENT = REPO / "tests" / "tools" / "oip_load_client.py"


def scenario_burst(server: Server, codes: np.ndarray, expected: np.ndarray) -> dict:
    """2,000 one-sequence ModelInfer calls at once over 4 connections (grpc.aio, no retries)."""
    import asyncio
    from collections import Counter

    from seqzoo.v1 import oip_pb2 as opb
    from seqzoo.v1 import oip_pb2_grpc as opb_grpc

    calls = 2000

    async def burst():
        channels = [grpc.aio.insecure_channel(server.target, options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(4)]
        statuses, wrong = Counter(), [0]

        async def one(i: int):
            row_ = i % len(codes)
            tensor = opb.ModelInferRequest.InferInputTensor(name="codes", datatype="UINT8", shape=[1, codes.shape[1]])
            try:
                answer = await opb_grpc.GRPCInferenceServiceStub(channels[i % 4]).ModelInfer(opb.ModelInferRequest(
                    model_name="pum2", inputs=[tensor], raw_input_contents=[codes[row_].tobytes()]), timeout=120)
                probs = np.frombuffer(answer.raw_output_contents[0], dtype="<f4")
                wrong[0] += not np.allclose(probs, expected[row_], atol=1e-5)
                statuses["OK"] += 1
            except grpc.aio.AioRpcError as exc:
                statuses[exc.code().name] += 1

        await asyncio.gather(*(one(i) for i in range(calls)))
        for channel in channels:
            await channel.close()
        return statuses, wrong[0]

    statuses, wrong = asyncio.run(burst())
    lost = {k: v for k, v in statuses.items() if k != "OK"}
    return row("burst: 2,000 concurrent one-sequence ModelInfer calls over 4 connections", calls, statuses["OK"], 0,
               sum(lost.values()), wrong, lost_codes=lost or {"none": 0})


def scenario_tritonclient_restart(server: Server, codes: np.ndarray, expected: np.ndarray, label: str) -> dict:
    """tests/tools/oip_load_client.py: 20,000 tritonclient calls from 16 threads, one SIGTERM + restart;
    the service config is deploy/'s (head) or the retry policy deploy/README.md gave before (base)."""
    work = Path(server.log).parent
    np.save(work / "codes.npy", codes)
    np.save(work / "expected.npy", expected)
    config = REPO / "deploy" / "grpc-service-config.json"
    if label == "base" or not config.is_file():
        config = work / "old-policy.json"
        config.write_text(json.dumps(OLD_POLICY))
    out = work / "tritonclient.json"
    client = subprocess.Popen([sys.executable, str(LOAD_CLIENT), server.target, "pum2", str(work / "codes.npy"),
                               str(work / "expected.npy"), "20000", "16", str(out), str(config)],
                              stdout=subprocess.PIPE, text=True)
    for line in client.stdout:
        if line.startswith("progress") and int(line.split()[1]) >= 6000:
            break
    code = server.restart()
    client.stdout.read()
    client.wait(900)
    got = json.loads(out.read_text())
    return row("restart under load, tritonclient (16 threads) with the published service config", 20000,
               got["answered"], 0, got["lost_count"], got["wrong"], drain_exit_codes=[code],
               config=os.path.relpath(config, REPO) if config.is_relative_to(REPO) else "deploy/README.md's old policy")


def scenario_big_body(server: Server) -> dict:
    """A 250 MB POST to /v2/models/pum2/infer while HTTP health is asked every 10 ms."""
    import http.client
    import socket

    port = server.http_port
    head, tail, size = b'{"inputs": [{"name": "sequences", "datatype": "BYTES", "shape": [1], "data": ["', b'"]}]}', \
        250 * 2**20
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((f"POST /v2/models/pum2/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n").encode() + head)
    answer, worst = [], []

    def sender():
        try:
            for _ in range(size // 2**20):
                sock.sendall(b"A" * 2**20)
            sock.sendall(tail)
        except OSError:
            pass
        sock.settimeout(120)
        try:
            answer.append(sock.recv(200))
        except OSError as exc:
            answer.append(str(exc).encode())

    thread = threading.Thread(target=sender)
    thread.start()
    while thread.is_alive():
        start = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/v2/health/live")
        connection.getresponse().read()
        connection.close()
        worst.append(time.perf_counter() - start)
        time.sleep(0.01)
    sock.close()
    status = answer[0].split(b"\r\n", 1)[0].decode(errors="replace") if answer else "no answer"
    clean = int(any(code in status for code in (" 400 ", " 413 ")))
    return row("big body: one 250 MB OIP HTTP POST, health asked every 10 ms", 1, 0, clean, 1 - clean, 0,
               answer_status=status, health_max_ms=round(1000 * max(worst), 1), seconds=round(sum(worst), 1))


BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)] + [
    "name: bomb", "description: *i"]) + "\n"  # 9^9 x's where a string belongs: its error message expands it


def scenario_alias_bomb(server: Server) -> dict:
    """`seqzoo zoo build` of a catalogue whose one recipe is a 499-byte YAML alias bomb (60 s limit)."""
    work = Path(server.log).parent / "bomb"
    (work / "catalogue").mkdir(parents=True, exist_ok=True)
    (work / "catalogue" / "bomb.yaml").write_text(BOMB)
    start = time.perf_counter()
    with open(work / "stderr", "w+b") as err:  # a file, not a pipe: the expanded message may be gigabytes
        try:
            code = subprocess.run([server.python, "-m", "seqzoo", "zoo", "build", str(work / "catalogue"), "--zoo",
                                   str(work / "zoo")], stdout=subprocess.DEVNULL, stderr=err, timeout=60,
                                  cwd=server.cwd, check=False).returncode
            err.seek(max(0, err.seek(0, 2) - 300))
            outcome = f"exit {code}: {err.read().decode(errors='replace').strip().splitlines()[-1][-90:]}"
            clean = int(code == 2)
        except subprocess.TimeoutExpired:
            outcome, clean = f"still running after 60 s (killed; {err.seek(0, 2) / 2**20:.0f} MiB of message)", 0
    return row(f"alias bomb: a {len(BOMB)}-byte recipe to zoo build", 1, 0, clean, 1 - clean, 0,
               outcome=outcome, seconds=round(time.perf_counter() - start, 1))


def scenario_amplification(server: Server) -> dict:
    """500 one-base regions in one Annotation request (seqzoo annotate --server's client)."""
    from seqzoo.serving.annotate import Region
    from seqzoo.serving.client import AnnotationClient

    regions = 500
    pieces = [(Region("chr1", 1000 + 13 * i, 1001 + 13 * i), "+") for i in range(regions)]
    start = time.perf_counter()
    with SeqZooClient(server.target, timeout=1800) as client:
        answered = sum(len(p) for _, _, p, _, _ in AnnotationClient(client).annotate("pum2", pieces, 1, ["bound"]))
    seconds = time.perf_counter() - start
    return row("annotation amplification: 500 one-base regions in one Annotate request", regions, answered, 0,
               regions - answered, 0, ms_per_region=round(1000 * seconds / regions, 2), seconds=round(seconds, 1))


def run(args) -> list[dict]:
    zoo = Path(args.zoo)
    ensure_model(zoo)
    mv = open_zoo(zoo).resolve("pum2")
    engine = Engine.load(mv, device="cpu")
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGU"), engine.length)) for _ in range(500)]
    expected = engine.predict(engine.encode(sequences, convert_tu=True))
    log = zoo.parent / f"faults-{args.label}.log"
    log.write_text("")
    rows = []

    def fresh(*extra) -> Server:
        return Server(os.path.abspath(args.server_python), Path(args.server_cwd).resolve(), zoo, log, extra)

    codes = engine.encode(sequences, convert_tu=True)
    genome = zoo.parent / "genome.fa"
    if not genome.exists():
        genome.write_text(">chr1\n" + "".join(np.random.default_rng(1).choice(list("ACGT"), 20_000)) + "\n")
    http_port = free_port()

    for name, body in (("restart", lambda s: scenario_restart(s, sequences, expected, 1)),
                       ("restarts", lambda s: scenario_restart(s, sequences, expected, 3)),
                       ("generic", lambda s: scenario_generic_restart(s, sequences, expected)),
                       ("killed", lambda s: scenario_killed_clients(s, sequences, expected)),
                       ("abandoned", scenario_abandoned_streams),
                       ("malformed", scenario_malformed),
                       ("oversize", scenario_oversize),
                       ("large", lambda s: scenario_large(s, engine)),
                       ("burst", lambda s: scenario_burst(s, codes, expected)),
                       ("tritonclient", lambda s: scenario_tritonclient_restart(s, codes, expected, args.label)),
                       ("bigbody", scenario_big_body),
                       ("bomb", scenario_alias_bomb),
                       ("amplification", scenario_amplification)):
        if args.only and name not in args.only:
            continue
        extra = {"bigbody": ("--http-port", str(http_port)), "amplification": ("--genome", str(genome))}.get(name, ())
        server = fresh(*extra)  # each scenario on a fresh server: memory figures are its own
        server.http_port = http_port
        try:
            rows.append(body(server))
        finally:
            server.stop()
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


NOTES = {"rss_mib": "memory MiB", "health_max_ms": "slowest health answer ms", "metrics_kib": "/metrics KiB before, after",
         "log_problems": "log lines 'Task was destroyed' / 'never retrieved'", "lost_codes": "lost as",
         "drain_exit_codes": "drain exit codes", "seconds": "s", "config": "service config",
         "answer_status": "answer", "outcome": "outcome", "ms_per_region": "ms per region"}


def _note(r: dict) -> str:
    parts = []
    for key, name in NOTES.items():
        if key in r:
            value = r[key]
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            parts.append(f"{name}: {value}")
    return "; ".join(parts)


def table(results: dict[str, list[dict]]) -> str:
    """One row per scenario and server, in the order of the last run's scenarios."""
    lines = ["| scenario | server | sent | answered | cleanly failed | lost | wrong | notes |",
             "|---|---|---|---|---|---|---|---|"]
    labels = list(results)
    for scenario in [r["scenario"] for r in results[labels[-1]]]:
        for label in labels:
            r = next((r for r in results[label] if r["scenario"] == scenario), None)
            if r is not None:
                lines.append(f"| {scenario} | {label} | {r['sent']:,} | {r['answered']:,} | {r['cleanly_failed']:,} | "
                             f"{r['lost']:,} | {r['wrong']:,} | {_note(r)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--server-python", default=sys.executable, help="interpreter that runs `seqzoo serve`")
    parser.add_argument("--server-cwd", default=str(REPO), help="folder the server runs in (that checkout's root)")
    parser.add_argument("--label", default="head", help="column name of this run")
    parser.add_argument("--only", nargs="*", help="scenarios to run (restart restarts generic killed abandoned "
                                                  "malformed oversize large burst tritonclient bigbody bomb "
                                                  "amplification)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from the stored results")
    args = parser.parse_args()
    if not args.report_only:
        load_before = os.getloadavg()[0]
        rows = run(args)
        saved = Path(args.zoo).parent / f"faults-{args.label}.json"
        if args.only and saved.exists():  # refresh those scenarios, keep the others
            fresh = {r["scenario"].split(":")[0] for r in rows}
            rows = [r for r in json.loads(saved.read_text())["rows"] if r["scenario"].split(":")[0] not in fresh] + rows
        saved.write_text(json.dumps({"rows": rows, "load": [load_before, os.getloadavg()[0]],
                                     "server_python": args.server_python, "server_cwd": args.server_cwd}))
    stored = {path.stem.removeprefix("faults-"): json.loads(path.read_text())
              for path in sorted(Path(args.zoo).parent.glob("faults-*.json"), key=lambda p: p.stem != "faults-base")}
    results = {label: v["rows"] for label, v in stored.items()}
    servers = "; ".join(f"`{label}` run by `{os.path.relpath(v['server_python'], REPO)}` (1-minute load average "
                        f"{v['load'][0]:.1f} before, {v['load'][1]:.1f} after)" for label, v in stored.items())
    body = f"""Each scenario runs against a fresh `seqzoo serve` (a child process on the `pum2` model of `.bench/zoo`,
L = 200, ONNX Runtime CPU, `--grace-seconds 20`), driven from the same 2 cores by seqzoo's own client
(`SeqZooClient`) unless the scenario says otherwise. "Cleanly failed" is a status the caller can act on
(INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, CANCELLED or DEADLINE_EXCEEDED of its own
cancellation); "lost" is a valid call that got UNAVAILABLE, CANCELLED, INTERNAL or UNKNOWN after the
client's retries; every answer is compared with the local engine ("wrong": off by more than 1e-5).
Servers: {servers}. `base` is commit bc5a951, before issue 26; both columns use this
checkout's client, which retries UNAVAILABLE and CANCELLED and waits for a restarting server, so
the restart rows differ only where the server does. The plain-grpcio row shows what a generic client
(gRPC's usual retry of UNAVAILABLE only) sees: gRPC core cancels calls it has accepted but not yet
handed to the application when a server stops ([grpc/grpc#41785](https://github.com/grpc/grpc/issues/41785)),
with the drain or without it; scoring is idempotent, so clients should retry CANCELLED too.
Issue 26's rows: the burst is 2,000 ModelInfer calls at once from a grpc.aio client with no retries; the
tritonclient restart runs tests/tools/oip_load_client.py (its own process) with deploy/grpc-service-config.json
(head) or the retry policy deploy/README.md published before it (base: seqzoo.v1 only, 0.2-2 s backoff); the
big body is sent over HTTP while health is asked every 10 ms; the alias bomb is a recipe of `zoo build`; the
amplification row is seqzoo's Annotation client on one request of one-base regions.

{table(results)}
"""
    here = os.path.relpath(sys.executable, REPO)
    commands = [f"{here} benchmarks/faults.py --label {label}" + (
        "" if os.path.abspath(v["server_python"]) == os.path.abspath(sys.executable) else
        f" --server-python {os.path.relpath(v['server_python'], REPO)} "
        f"--server-cwd {os.path.relpath(v.get('server_cwd', REPO / '.bench'), REPO)}")
        for label, v in stored.items()]
    record("faults", "Faults: restarts, killed clients, abandoned streams, malformed and oversize requests, bursts, "
                     "big bodies, alias bombs, annotation amplification (issues 12, 26)",
           "; ".join(commands), body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
