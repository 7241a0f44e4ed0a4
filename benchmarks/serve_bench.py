"""Benchmark the gRPC server against in-process ONNX Runtime on a PUM2 model (L = 200).

    .venv/bin/python benchmarks/serve_bench.py [--zoo .bench/zoo] [--seconds 8] [--quick]

Uses the newest ``pum2`` in ``--zoo``; when there is none, trains one there with
``seqzoo train`` on datasets/rbp/pum2.* (a real model, a few minutes on 2 cores). Starts
``seqzoo serve`` as a subprocess on a free port and drives it from this process with grpc.aio
clients (client and server share the machine). Measures, in one run:

- in-process ORT throughput (the engine's predict on 1,024-sequence batches);
- bulk: 1,024 sequences per request (packed codes), 4 requests in flight;
- unary: 1 sequence per request, 256 in flight;
- stream: 1 sequence per message on bidirectional streams (pipelined);
- p50 / p99 latency of each, and the server's peak resident memory;
- load: 100,000 one-sequence requests from 64 concurrent clients (own channels), zero errors;
- faults: a client process killed mid-stream and the server restarted mid-load, while other
  clients keep going: every request is answered correctly or fails with a clean status.

Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ceiling import compute_ceiling, in_process
from record import record
from seqzoo.serving.dask.cluster import peak_rss_mib
from seqzoo.serving.engine import Engine
from seqzoo.v1 import seqzoo_pb2 as pb
from seqzoo.v1 import seqzoo_pb2_grpc as pb_grpc
from seqzoo.zoo.registry import open_zoo

from seqzoo.cli.serve import run_loop

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
OPTIONS = [("grpc.max_receive_message_length", 64 * 2**20), ("grpc.max_send_message_length", 64 * 2**20)]


# ---------------------------------------------------------------------- setup
def ensure_model(zoo_root: Path) -> None:
    zoo = open_zoo(zoo_root)
    if "pum2" in zoo.names():
        return
    rbp = REPO / "datasets" / "rbp"
    cmd = [PY, "-m", "seqzoo", "train", "--name", "pum2",
           "--class", f"negative={rbp / 'pum2.train.negative.fasta.gz'}",
           "--class", f"positive={rbp / 'pum2.train.positive.fasta.gz'}",
           "--test-class", f"negative={rbp / 'pum2.test.negative.fasta.gz'}",
           "--test-class", f"positive={rbp / 'pum2.test.positive.fasta.gz'}",
           "--epochs", "12", "--patience", "3", "--threads", "1", "--out", str(zoo_root.parent / "run-pum2"),
           "--force", "--quiet"]
    print("training a PUM2 model:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, env={**os.environ, "SEQZOO_ZOO": str(zoo_root)})
    subprocess.run([PY, "-m", "seqzoo", "zoo", "export", str(zoo_root.parent / "run-pum2"), "--zoo", str(zoo_root),
                    "--name", "pum2"], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, zoo: Path, port: int, extra: list[str]):
        self.cmd = [PY, "-m", "seqzoo", "serve", "--zoo", str(zoo), "--port", str(port), "--host", "127.0.0.1",
                    "--models", "pum2", "--poll-seconds", "0", "--grace-seconds", "10", *extra]
        self.port = port
        self.log = open(zoo.parent / "serve.log", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=self.log)
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        from seqzoo.serving.client import SeqZooClient

        with SeqZooClient(f"127.0.0.1:{self.port}") as client:
            client.wait_serving("pum2", timeout=timeout, alive=lambda: self.proc.poll() is None)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.proc.pid)

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(60)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")


# ---------------------------------------------------------------------- scenarios
def score_calls(channel, codes: np.ndarray, per_request: int, protocol: str = "seqzoo") -> tuple:
    """(the unary method, up to 512 ready requests of ``per_request`` packed sequences) of
    seqzoo.v1's Score or the Open Inference Protocol's ModelInfer (raw UINT8 codes)."""
    length = codes.shape[1]
    starts = range(0, codes.shape[0] - per_request + 1, per_request)
    if protocol == "seqzoo":
        return pb_grpc.SeqZooStub(channel).Score, [
            pb.ScoreRequest(model="pum2", codes=codes[i:i + per_request].tobytes(), length=length)
            for i in starts][:512]
    from seqzoo.v1 import oip_pb2 as opb
    from seqzoo.v1 import oip_pb2_grpc as opb_grpc

    tensor = opb.ModelInferRequest.InferInputTensor(name="codes", datatype="UINT8", shape=[per_request, length])
    return opb_grpc.GRPCInferenceServiceStub(channel).ModelInfer, [
        opb.ModelInferRequest(model_name="pum2", inputs=[tensor], raw_input_contents=[codes[i:i + per_request].tobytes()])
        for i in starts][:512]


async def unary(target: str, codes: np.ndarray, per_request: int, in_flight: int, seconds: float,
                channels: int = 1, protocol: str = "seqzoo") -> dict:
    # several channels are several TCP connections only with a local subchannel pool each
    options = [*OPTIONS, ("grpc.use_local_subchannel_pool", 1)] if channels > 1 else OPTIONS
    chans = [grpc.aio.insecure_channel(target, options=options) for _ in range(channels)]
    calls = [score_calls(c, codes, per_request, protocol) for c in chans]
    requests = calls[0][1]
    latencies, errors = [], 0
    stop = time.perf_counter() + seconds

    async def worker(k: int):
        nonlocal errors
        call = calls[k % len(calls)][0]
        i = k
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                await call(requests[i % len(requests)], timeout=30)
                latencies.append(time.perf_counter() - t)
            except grpc.RpcError:
                errors += 1
            i += in_flight
    # warm-up
    await calls[0][0](requests[0], timeout=30)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(in_flight)))
    wall = time.perf_counter() - t0
    for c in chans:
        await c.close()
    return {"seq_s": len(latencies) * per_request / wall, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
            "requests": len(latencies), "errors": errors}


async def stream(target: str, codes: np.ndarray, streams: int, window: int, seconds: float) -> dict:
    channel = grpc.aio.insecure_channel(target, options=OPTIONS)
    stub = pb_grpc.SeqZooStub(channel)
    length = codes.shape[1]
    latencies, count, errors = [], 0, 0
    stop = time.perf_counter() + seconds

    # a ring of ready messages (ids recycle; at most `window` are in flight, fewer than the ring)
    ring = [pb.ScoreRequest(model="pum2", codes=codes[j % codes.shape[0]].tobytes(), length=length, id=j)
            for j in range(4 * window)]

    async def one(k: int):
        nonlocal count, errors
        sent: dict[int, float] = {}
        slots = asyncio.Semaphore(window)

        async def requests():
            i = k * 997
            while time.perf_counter() < stop:
                await slots.acquire()
                request = ring[i % len(ring)]
                sent[request.id] = time.perf_counter()
                yield request
                i += 1

        call = stub.ScoreStream(requests(), timeout=seconds + 60)
        async for response in call:
            latencies.append(time.perf_counter() - sent.pop(response.id))
            if response.error_code:
                errors += 1
            count += 1
            slots.release()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(streams)))
    wall = time.perf_counter() - t0
    await channel.close()
    return {"seq_s": count / wall, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), "requests": count,
            "errors": errors}


async def load(target: str, codes: np.ndarray, expected: np.ndarray, total: int, clients: int,
               tolerate: bool = False) -> dict:
    """``total`` one-sequence requests from ``clients`` clients, each with its own channel.

    With ``tolerate``, clean failures (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED) are counted and
    the client retries on a fresh channel; anything else, or a wrong answer, is an error."""
    counts = {"ok": 0, "clean_failures": 0, "errors": 0, "wrong": 0}
    latencies = []
    length = codes.shape[1]

    async def client(k: int):
        # its own connection (no shared subchannel): 64 clients are 64 TCP connections
        channel = grpc.aio.insecure_channel(target, options=[*OPTIONS, ("grpc.use_local_subchannel_pool", 1)])
        stub = pb_grpc.SeqZooStub(channel)
        mine = total // clients + (k < total % clients)
        for i in range(mine):
            j = (k * 1009 + i) % codes.shape[0]
            t = time.perf_counter()
            try:
                answer = await stub.Score(pb.ScoreRequest(model="pum2", codes=codes[j].tobytes(), length=length),
                                          timeout=30)
                latencies.append(time.perf_counter() - t)
                probs = np.frombuffer(answer.probs, np.float32)
                if np.max(np.abs(probs - expected[j])) > 1e-5:
                    counts["wrong"] += 1
                else:
                    counts["ok"] += 1
            except grpc.RpcError as exc:
                if tolerate and exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                               grpc.StatusCode.CANCELLED):
                    counts["clean_failures"] += 1
                    await asyncio.sleep(0.05)
                else:
                    counts["errors"] += 1
        await channel.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    return {**counts, "seconds": wall, "seq_s": counts["ok"] / wall, "p50_ms": pct(latencies, 50),
            "p99_ms": pct(latencies, 99)}


STREAM_CLIENT = r"""
import sys, grpc, numpy as np
from seqzoo.v1 import seqzoo_pb2 as pb, seqzoo_pb2_grpc as pb_grpc
target, length = sys.argv[1], int(sys.argv[2])
stub = pb_grpc.SeqZooStub(grpc.insecure_channel(target))
def gen():
    i = 0
    while True:
        yield pb.ScoreRequest(model="pum2", codes=bytes(length), length=length, id=i); i += 1
for k, r in enumerate(stub.ScoreStream(gen())):
    if k == 100: print("streaming", flush=True)
"""


async def faults(server: ServerProcess, zoo: Path, codes: np.ndarray, expected: np.ndarray, extra: list[str]) -> dict:
    target = f"127.0.0.1:{server.port}"
    # 1. a client killed mid-stream while 32 other clients run
    victim = subprocess.Popen([PY, "-c", STREAM_CLIENT, target, str(codes.shape[1])], stdout=subprocess.PIPE)  # noqa: ASYNC220
    victim.stdout.readline()

    async def kill_soon():
        await asyncio.sleep(1.0)
        victim.kill()
        victim.wait()

    _, during_kill = await asyncio.gather(kill_soon(), load(target, codes, expected, 8000, 32))
    # 2. the server restarted (SIGTERM drain, new process on the same port) mid-load
    holder = {}

    async def restart_soon():
        await asyncio.sleep(1.0)
        loop = asyncio.get_running_loop()
        holder["rc"] = await loop.run_in_executor(None, server.stop)
        holder["server"] = await loop.run_in_executor(None, lambda: ServerProcess(zoo, server.port, extra))

    _, during_restart = await asyncio.gather(restart_soon(), load(target, codes, expected, 8000, 32, tolerate=True))
    return {"kill": during_kill, "restart": during_restart, "drain_exit_code": holder["rc"],
            "server": holder["server"]}


# ---------------------------------------------------------------------- compute ceiling
# ---------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each throughput scenario")
    parser.add_argument("--load-requests", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="short runs, no BENCHMARKS.md")
    parser.add_argument("--server-args", default="", help="extra seqzoo serve arguments")
    parser.add_argument("--throughput-only", action="store_true", help="skip load and faults (no BENCHMARKS.md)")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    zoo = Path(args.zoo).resolve()
    ensure_model(zoo)
    mv = open_zoo(zoo).resolve("pum2")
    extra = args.server_args.split()
    engine = Engine.load(mv, device="auto")
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(4096, engine.length), dtype=np.uint8)
    expected = engine.predict(codes)
    results: dict = {"model": mv.ref, "provider": engine.provider, "length": engine.length,
                     "load_average_start": os.getloadavg()[0]}
    results["in_process_seq_s"] = in_process(engine, codes[:1024], seconds)
    print("in-process", results["in_process_seq_s"], file=sys.stderr)
    results["ceiling"] = compute_ceiling(mv, engine, seconds)
    print("ceiling", results["ceiling"], file=sys.stderr)
    server = ServerProcess(zoo, free_port(), extra)
    target = f"127.0.0.1:{server.port}"
    try:
        # bulk vs in-process, interleaved (the shared CPU's load drifts): 4 rounds each
        rounds = []
        for _ in range(4):
            local = in_process(engine, codes[:1024], seconds / 4)
            remote = run_loop(unary(target, codes, 1024, 4, seconds / 4))
            rounds.append((local, remote))
        results["bulk_rounds"] = [(round(a), round(b["seq_s"])) for a, b in rounds]
        results["in_process_interleaved_seq_s"] = float(np.mean([a for a, _ in rounds]))
        results["bulk_interleaved_seq_s"] = float(np.mean([b["seq_s"] for _, b in rounds]))
        print("interleaved", results["bulk_rounds"], file=sys.stderr)
        scenarios = {"bulk": lambda: unary(target, codes, 1024, 4, seconds),
                     "unary": lambda: unary(target, codes, 1, 256, seconds, channels=8),
                     "stream": lambda: stream(target, codes, 4, 256, seconds),
                     "stream16": lambda: stream(target, codes, 16, 64, seconds)}
        for name, scenario in scenarios.items():
            cpu0, own0, t0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
            results[name] = run_loop(scenario())
            wall = time.perf_counter() - t0
            # where the cores went: the server's and this client's share of the wall time
            results[name]["server_cpu"] = (server.cpu_seconds() - cpu0) / wall
            results[name]["client_cpu"] = (time.process_time() - own0) / wall
            print(name, results[name], file=sys.stderr)
        if args.throughput_only:
            return 0
        total = 10_000 if args.quick else args.load_requests
        results["load"] = run_loop(load(target, codes, expected, total, 64))
        print("load", results["load"], file=sys.stderr)
        results["server_peak_rss_mib"] = server.peak_rss_mib()
        f = run_loop(faults(server, zoo, codes, expected, extra))
        server = f.pop("server")
        results["faults"] = f
        print("faults", f, file=sys.stderr)
    finally:
        server.stop()
    results["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=1))
    if not args.quick:
        write(results, args)
    return 0


def write(r: dict, args) -> None:
    ratio = r["bulk_interleaved_seq_s"] / r["in_process_interleaved_seq_s"]
    load_, kill, restart = r["load"], r["faults"]["kill"], r["faults"]["restart"]
    c = r["ceiling"]
    body = f"""
Model `{r['model']}` (trained with `seqzoo train` on datasets/rbp/pum2.*, L = {r['length']}), ONNX Runtime
{r['provider']}; server = `seqzoo serve` defaults (max batch 1,024, max delay 2 ms, ORT threads = all cores, one
process, uvloop event loop){(' plus `' + args.server_args + '`') if args.server_args else ''}. Client (grpc.aio on
uvloop, this process) and server share the machine's 2 cores over loopback (1-minute load average
{r['load_average_start']:.1f} at the start, {r['load_average_end']:.1f} at the end, on 2 cores; above 2 means other
work competed). Each throughput scenario ran {args.seconds:g} s; run to run they vary by about 5%.

| scenario | sequences/s | p50 ms | p99 ms | errors | server / client CPU (cores) |
|---|---|---|---|---|---|
| in-process ORT `Engine.predict`, 1,024 per call | {r['in_process_seq_s']:,.0f} | | | | |
| bulk vs in-process, interleaved 4 x {args.seconds / 4:g} s each (mean) | {r['bulk_interleaved_seq_s']:,.0f} vs {r['in_process_interleaved_seq_s']:,.0f}: **{ratio:.0%}** | | | | |
| bulk: 1,024 per request, packed codes, 4 in flight | {r['bulk']['seq_s']:,.0f} | {r['bulk']['p50_ms']:.1f} | {r['bulk']['p99_ms']:.1f} | {r['bulk']['errors']} | {r['bulk']['server_cpu']:.2f} / {r['bulk']['client_cpu']:.2f} |
| unary: 1 per request, 256 in flight (8 connections x 32) | {r['unary']['seq_s']:,.0f} | {r['unary']['p50_ms']:.1f} | {r['unary']['p99_ms']:.1f} | {r['unary']['errors']} | {r['unary']['server_cpu']:.2f} / {r['unary']['client_cpu']:.2f} |
| stream: 1 per message, 4 bidirectional streams x 256 in flight | {r['stream']['seq_s']:,.0f} | {r['stream']['p50_ms']:.1f} | {r['stream']['p99_ms']:.1f} | {r['stream']['errors']} | {r['stream']['server_cpu']:.2f} / {r['stream']['client_cpu']:.2f} |
| stream: 1 per message, 16 bidirectional streams x 64 in flight | {r['stream16']['seq_s']:,.0f} | {r['stream16']['p50_ms']:.1f} | {r['stream16']['p99_ms']:.1f} | {r['stream16']['errors']} | {r['stream16']['server_cpu']:.2f} / {r['stream16']['client_cpu']:.2f} |
| load: {load_['ok'] + load_['errors'] + load_['wrong']:,} requests (1 sequence) from 64 clients | {load_['seq_s']:,.0f} | {load_['p50_ms']:.1f} | {load_['p99_ms']:.1f} | {load_['errors']} errors, {load_['wrong']} wrong answers |

Server peak resident memory (VmHWM) after these: {r['server_peak_rss_mib']:.0f} MiB.

Compute ceiling ({r['provider']}): the model costs {c['flops_per_sequence'] / 1e6:.2f} MFLOP per sequence (Conv +
Gemm, counted from model.onnx); a 4,096 x 4,096 float32 MatMul in ONNX Runtime on the same provider ran at
{c['matmul_gflops']:.1f} GFLOP/s, a limit of {c['limit_seq_s']:,.0f} sequences/s; `Engine.predict` at batch 4,096
reached {c['batch4096_seq_s']:,.0f} sequences/s = {c['ratio']:.0%} of that limit. No GPU was lent to this task,
so there are no CUDA numbers here; on a GPU machine the same command measures the CUDA provider.

Faults (32 clients, 8,000 one-sequence requests each time, every answer checked against in-process ORT):
- a client streaming on its own process killed (SIGKILL) mid-stream: {kill['ok']:,} answered correctly,
  {kill['errors']} errors, {kill['wrong']} wrong.
- the server sent SIGTERM mid-load (drain; exit code {r['faults']['drain_exit_code']}) and a new one started on the
  same port: {restart['ok']:,} answered correctly, {restart['clean_failures']:,} failed cleanly
  (UNAVAILABLE while no server listened; clients retried), {restart['errors']} other errors,
  {restart['wrong']} wrong answers.

Raw results: `{json.dumps({k: v for k, v in r.items() if k != 'faults'})}`
"""
    record("serve", "gRPC serving (issue 4)", "python benchmarks/serve_bench.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
