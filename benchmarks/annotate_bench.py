"""Genome annotation speed: `seqzoo annotate` (--local, --server, --dask) over the whole S. aureus
genome, against the engine's independent-window rate measured in the same run.

    .venv/bin/python benchmarks/annotate_bench.py [--zoo .bench/zoo] [--genome datasets/genome/NCTC8325.fasta.gz]

Uses the newest ``pum2`` of ``--zoo`` that has ``track.onnx``; when there is none, exports the
run that serve_bench.ensure_model trained (``.bench/run-pum2``) again as a new version, which
adds the track graph. Runs, each as its own ``seqzoo annotate`` process (wall time and peak
memory from the process): stride 1 on the plus strand, stride 1 on both strands, and stride 1
on the plus strand of the first 200 kb with and without the shared pass (the latter on the
newest version without track.onnx); then the whole plus strand through ``--server`` (a
``seqzoo serve --genome`` process on loopback; its own peak memory too) and ``--dask local:2``. The reference is
``Engine.predict`` on 65,536 genome windows in this process (the same threads).
Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from seqzoo.serving.engine import Engine
from seqzoo.zoo.io.genome import Genome
from seqzoo.zoo.registry import open_zoo
from serve_bench import ensure_model

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def track_version(zoo_root: Path):
    """The newest pum2 with track.onnx (exporting the benchmark run again when none has it), and
    the newest without it (for the independent-window run), or None."""
    ensure_model(zoo_root)
    zoo = open_zoo(zoo_root)
    versions = [zoo.get("pum2", v) for v in zoo.versions("pum2")]
    if not any((mv.path / "track.onnx").is_file() for mv in versions):
        subprocess.run([PY, "-m", "seqzoo", "zoo", "export", str(zoo_root.parent / "run-pum2"), "--zoo", str(zoo_root),
                        "--name", "pum2"], check=True)
        versions = [zoo.get("pum2", v) for v in zoo.versions("pum2")]
    with_track = [mv for mv in versions if (mv.path / "track.onnx").is_file()]
    without = [mv for mv in versions if not (mv.path / "track.onnx").is_file()]
    return with_track[-1], (without[-1] if without else None)


# runs one command as its only child and prints that child's peak resident memory (KiB) last
PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)")


def annotate(zoo: Path, mv, genome: str, out: Path, *extra: str, where: tuple = ("--local",)) -> dict:
    """One `seqzoo annotate` process: its JSON summary, wall seconds and peak RSS (MiB; of the
    largest process of its tree, for Dask a worker)."""
    source = ["--zoo", str(zoo), "--genome", genome] if where[0] != "--server" else []
    start = time.perf_counter()
    result = subprocess.run([PY, "-c", PEAK, PY, "-m", "seqzoo", "annotate", "--model", f"pum2:{mv.version}",
                             *source, *where, "-o", str(out), "--no-progress", "--json", *extra],
                            capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {**summary, "wall": wall, "peak_mib": int(result.stderr.strip().splitlines()[-1]) / 1024}


def through_server(zoo: Path, mv, genome: str, out: Path) -> dict:
    """The whole plus strand through a `seqzoo serve --genome` process; adds the server's peak RSS."""
    from seqzoo.serving.client import SeqZooClient
    from serve_bench import free_port

    port = free_port()
    server = subprocess.Popen([PY, "-m", "seqzoo", "serve", "--zoo", str(zoo), "--models", f"pum2:{mv.version}",
                               "--genome", genome, "--host", "127.0.0.1", "--port", str(port), "--poll-seconds", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with SeqZooClient(f"127.0.0.1:{port}") as client:
            client.wait_serving(timeout=120, alive=lambda: server.poll() is None)
        run = annotate(zoo, mv, genome, out, where=("--server", f"127.0.0.1:{port}"))
        status = Path(f"/proc/{server.pid}/status").read_text()
        run["server_peak_mib"] = int(next(line.split()[1] for line in status.splitlines()
                                          if line.startswith("VmHWM"))) / 1024
        return run
    finally:
        server.terminate()
        server.wait(60)


def engine_rate(mv, genome: Genome, seconds: float = 8.0) -> float:
    engine = Engine.load(mv, device="cpu")
    contig = next(iter(genome.lengths))
    codes = engine.alphabet.encode_one(genome.fetch(contig, 0, 65_536 + engine.length), convert_tu=True)
    windows = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(codes, engine.length)[:65_536])
    engine.predict(windows[:4096])
    done, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        engine.predict(windows)
        done += len(windows)
    return done / (time.perf_counter() - t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--genome", default=str(REPO / "datasets" / "genome" / "NCTC8325.fasta.gz"))
    args = parser.parse_args()
    zoo = Path(args.zoo).resolve()
    mv, plain = track_version(zoo)
    genome = Genome(args.genome)
    size = sum(genome.lengths.values())
    work = zoo.parent / "annotate"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir()
    load = [os.getloadavg()[0]]
    reference = engine_rate(mv, genome)
    runs = {"plus": annotate(zoo, mv, args.genome, work / "plus"),
            "both": annotate(zoo, mv, args.genome, work / "both", "--strand", "both")}
    bed = work / "first200kb.bed"
    bed.write_text(f"{next(iter(genome.lengths))}\t0\t200000\n")
    runs["shared-200kb"] = annotate(zoo, mv, args.genome, work / "shared200", "--regions", str(bed))
    if plain is not None:
        runs["independent-200kb"] = annotate(zoo, plain, args.genome, work / "alone200", "--regions", str(bed))
    runs["server"] = through_server(zoo, mv, args.genome, work / "server")
    runs["dask"] = annotate(zoo, mv, args.genome, work / "dask", where=("--dask", "local:2"))
    load.append(os.getloadavg()[0])
    rows = []
    names = {"plus": "whole genome, stride 1, plus strand (shared pass)",
             "both": "whole genome, stride 1, both strands (shared pass)",
             "shared-200kb": "first 200 kb, stride 1, plus strand (shared pass)",
             "independent-200kb": f"first 200 kb, stride 1, plus strand, pum2:{plain.version if plain else '-'} "
                                  "without track.onnx (independent windows)",
             "server": "whole genome, stride 1, plus strand, `--server` (the server holds the genome)",
             "dask": "whole genome, stride 1, plus strand, `--dask local:2` (2 worker processes, 1 thread each)"}
    for key, r in runs.items():
        rate = r["positions"] / r["seconds"]
        peak = f"{r['peak_mib']:.0f}" + (f" (server {r['server_peak_mib']:.0f})" if "server_peak_mib" in r else "")
        rows.append(f"| {names[key]} | {r['positions']:,} | {r['wall']:.1f} | {r['seconds']:.1f} | {rate:,.0f} | "
                    f"{rate / reference:.2f}x | {peak} |")
    body = f"""`pum2:{mv.version}` of `.bench/zoo` (L = 200, ONNX Runtime CPU, all cores) over `datasets/genome/NCTC8325.fasta.gz`
({size:,} bp, {len(genome.lengths)} contig). Reference: the engine's independent-window rate in this process,
`Engine.predict` on 65,536 genome windows: **{reference:,.0f} windows/s**. Each run is its own
`seqzoo annotate` process (bigWig written; wall includes start-up and model load; "scoring" is the annotate loop; peak memory
is the largest process of the run's tree, for Dask a worker, with the server's own in brackets).
1-minute load average {load[0]:.1f} before, {load[1]:.1f} after.

| run | positions | wall s | scoring s | positions/s | / engine windows/s | peak MiB |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    record("annotate", "Genome annotation: seqzoo annotate over S. aureus (issue 13)",
           ".venv/bin/python benchmarks/annotate_bench.py", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
