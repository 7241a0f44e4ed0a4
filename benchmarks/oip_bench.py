"""Open Inference Protocol throughput against seqzoo.v1 on the same server, in the same run.

    .venv/bin/python benchmarks/oip_bench.py [--zoo .bench/zoo] [--seconds 6] [--rounds 3]

One ``seqzoo serve`` process (the newest ``pum2`` of ``--zoo``) on loopback, driven from this
process with grpc.aio clients of both protocols, alternating so that both see the same machine:

- bulk: 1,024 sequences per request (seqzoo.v1 Score with packed codes; OIP ModelInfer with raw
  UINT8 codes), 4 requests in flight;
- single: 1 sequence per request, 256 in flight.

Each scenario runs ``--rounds`` times per protocol (interleaved); the table gives each protocol's
median sequences/s and OIP / seqzoo.v1. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from seqzoo.zoo.registry import open_zoo
from serve_bench import ServerProcess, ensure_model, free_port, unary

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = {"bulk (1,024 per request, 4 in flight)": (1024, 4), "single (1 per request, 256 in flight)": (1, 256)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    zoo = Path(args.zoo).resolve()
    ensure_model(zoo)
    mv = open_zoo(zoo).resolve("pum2")
    length = mv.card["input"]["length"]
    codes = np.random.default_rng(0).integers(0, 4, (8192, length)).astype(np.uint8)
    load = [os.getloadavg()[0]]
    server = ServerProcess(zoo, free_port(), [])
    target = f"127.0.0.1:{server.port}"
    results = {}
    try:
        for name, (per_request, in_flight) in SCENARIOS.items():
            runs = {"seqzoo": [], "oip": []}
            for _ in range(args.rounds):
                for protocol, done in runs.items():
                    r = asyncio.run(unary(target, codes, per_request, in_flight, args.seconds, protocol=protocol))
                    if r["errors"]:
                        raise RuntimeError(f"{protocol} {name}: {r['errors']} errors")
                    done.append(r)
            results[name] = {p: {"seq_s": statistics.median(r["seq_s"] for r in rs),
                                 "p50_ms": statistics.median(r["p50_ms"] for r in rs)} for p, rs in runs.items()}
            print(name, results[name], file=sys.stderr, flush=True)
    finally:
        server.stop()
    load.append(os.getloadavg()[0])
    rows = [f"| {name} | {r['seqzoo']['seq_s']:,.0f} | {r['oip']['seq_s']:,.0f} | "
            f"{r['oip']['seq_s'] / r['seqzoo']['seq_s']:.2f} | {r['seqzoo']['p50_ms']:.1f} / {r['oip']['p50_ms']:.1f} |"
            for name, r in results.items()]
    body = f"""`pum2:{mv.version}` of `.bench/zoo` (L = {length}) served by one `seqzoo serve` process (CPU, all cores) on
loopback; clients in the benchmark process (grpc.aio), sharing the machine. Each protocol {args.rounds} x
{args.seconds:g} s per scenario, interleaved; medians. OIP sends raw UINT8 codes and gets raw FP32 back.
1-minute load average {load[0]:.1f} before, {load[1]:.1f} after.

| scenario | seqzoo.v1 Score seq/s | OIP ModelInfer seq/s | OIP / seqzoo.v1 | p50 ms (v1 / OIP) |
|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    record("oip", "Open Inference Protocol vs seqzoo.v1 on one server (issue 16)",
           ".venv/bin/python benchmarks/oip_bench.py", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
