"""Before/after check of the one-driver refactor (issue 27): ``seqzoo score``, ``variants`` and
``annotate`` with ``--local``, ``--server`` and ``--dask local:2``, each command of a base revision
and of this checkout, in interleaved rounds on the same machine, inputs and model.

    .venv/bin/python benchmarks/modes_regression.py --base 75a0e02 [--rounds 3]

Both sides are installed alike: each revision (the base, and this checkout's commit) is a git
worktree under ``.bench/base-<rev>`` with its own venv, a regular (not editable) install
(core_regression.base_checkout), so neither pays for the other's import machinery. Per side, a ``seqzoo serve`` of that side holds the ``.bench/zoo``
pum2 model and the S. aureus genome. Inputs: 60,000 PUM2 test windows (FASTA), 30,000 synthetic
SNVs (variants_bench.synthetic_vcf), a 300 kb region at stride 1 (annotate): runs of a few seconds,
so the start-up both sides pay alike is a small share. Each run is the
side's own CLI in a subprocess, timed inside (``main``'s wall time; interpreter start-up left out).
Each cell's speed is the ratio head / base of its median over rounds; which side goes first
alternates by round, so the machine's load shifts both alike. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from core_regression import base_checkout
from record import record
from serve_bench import ensure_model, free_port
from variants_bench import FASTA, WRAPPER, synthetic_vcf

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".bench" / "modes"
MODES = ("local", "server", "dask")


def inputs(zoo: Path) -> dict:
    """The FASTA of 60,000 windows, the 30,000-SNV VCF and the annotation region."""
    WORK.mkdir(parents=True, exist_ok=True)
    fasta = WORK / "windows-60k.fa"
    if not fasta.exists():
        sequences = []
        for name in ("pum2.test.positive.fasta.gz", "pum2.test.negative.fasta.gz"):
            with gzip.open(REPO / "datasets" / "rbp" / name, "rt") as f:  # records of several lines each
                sequences += ["".join(r.split("\n")[1:]) for r in f.read().split(">")[1:]]
        picked = [sequences[i % len(sequences)] for i in range(60_000)]
        fasta.write_text("".join(f">w{i}\n{s}\n" for i, s in enumerate(picked)))
    bed = WORK / "region.bed"
    bed.write_text("NC_007795\t1000000\t1300000\tr\n")
    return {"fasta": fasta, "vcf": synthetic_vcf(WORK / "snv_30000.vcf.gz", 30_000), "bed": bed, "zoo": zoo}


def command(kind: str, mode: str, port: int, data: dict, out: Path) -> list[str]:
    """The CLI arguments of one cell (outputs every version of the CLI takes in that mode)."""
    where = {"local": ["--local", "--zoo", str(data["zoo"]), "--threads", "2"],
             "server": ["--server", f"127.0.0.1:{port}"],
             "dask": ["--dask", "local:2", "--zoo", str(data["zoo"]), "--dask-memory", "2GiB"]}[mode]
    if kind == "score":
        target = out / ("scores" if mode == "dask" else "scores.parquet")
        return ["score", "--model", "pum2", str(data["fasta"]), "-o", str(target), "--no-progress", *where]
    if kind == "variants":
        return ["variants", "--model", "pum2", "--vcf", str(data["vcf"]), "--genome", str(FASTA), "--genome-cache",
                str(WORK / "cache"), "--quiet", "-o", str(out / "effects.vcf.gz"), *where]
    genome = [] if mode == "server" else ["--genome", str(FASTA)]
    return ["annotate", "--model", "pum2", "--regions", str(data["bed"]), "--no-progress", "-o", str(out / "tracks"),
            *genome, *where]


def run(python: Path, args: list[str], cwd: Path) -> float:
    """Seconds of one CLI run in the side's interpreter (a failure stops the benchmark)."""
    proc = subprocess.run([str(python), "-c", WRAPPER, *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": ""}, cwd=cwd)
    bench = next((json.loads(line[6:]) for line in proc.stderr.splitlines() if line.startswith("BENCH ")), None)
    if proc.returncode != 0 or bench is None or bench["rc"] != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return bench["seconds"]


class Server:
    """One side's ``seqzoo serve`` with the genome, SERVING when the constructor returns."""

    def __init__(self, python: Path, zoo: Path):
        self.port = free_port()
        self.log = open(WORK / f"serve-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([str(python), "-m", "seqzoo", "serve", "--zoo", str(zoo), "--port",
                                      str(self.port), "--host", "127.0.0.1", "--models", "pum2", "--poll-seconds",
                                      "0", "--genome", str(FASTA)],
                                     stdout=self.log, stderr=self.log, cwd=zoo.parent,
                                     env={**os.environ, "PYTHONPATH": "", "SEQZOO_CACHE": str(WORK / "cache")})
        from seqzoo.serving.client import SeqZooClient

        with SeqZooClient(f"127.0.0.1:{self.port}") as client:
            client.wait_serving("pum2", timeout=180, alive=lambda: self.proc.poll() is None)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--base", default="75a0e02", help="the revision before the refactor")
    parser.add_argument("--head", default="HEAD", help="the revision after it (default: this checkout's commit)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-record", action="store_true", help="print only; BENCHMARKS.md untouched")
    args = parser.parse_args()
    zoo = REPO / ".bench" / "zoo"
    ensure_model(zoo)
    data = inputs(zoo)
    head_rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.head], capture_output=True,
                              text=True, check=True).stdout.strip()
    sides = {"base": base_checkout(args.base)[::-1], "head": base_checkout(head_rev)[::-1]}
    servers = {side: Server(python, zoo) for side, (python, _) in sides.items()}
    times: dict[tuple, list[float]] = {}
    load_before = os.getloadavg()
    try:
        for r in range(args.rounds):
            for kind in ("score", "variants", "annotate"):
                for mode in MODES:
                    order = ("base", "head") if r % 2 == 0 else ("head", "base")
                    for side in order:
                        out = WORK / "out" / side
                        shutil.rmtree(out, ignore_errors=True)
                        out.mkdir(parents=True)
                        seconds = run(sides[side][0], command(kind, mode, servers[side].port, data, out), zoo.parent)
                        times.setdefault((kind, mode, side), []).append(seconds)
                        print(f"round {r + 1} {kind:8s} {mode:6s} {side}: {seconds:.2f} s", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    load_after = os.getloadavg()
    rows, ratios = [], {}
    for kind in ("score", "variants", "annotate"):
        for mode in MODES:
            base, head = (float(np.median(times[kind, mode, side])) for side in ("base", "head"))
            ratios[kind, mode] = head / base
            rows.append(f"| {kind} | --{mode} | {base:.2f} | {head:.2f} | {head / base:.3f} |")
    intro = (f"Base {args.base} against {head_rev} (both regular installs), {args.rounds} interleaved rounds, median seconds of each "
             f"command's `main` (pum2 model; 60,000 windows; 30,000 SNVs -> .vcf.gz; 300 kb at stride 1). Load "
             f"average {load_before[0]:.2f} before, {load_after[0]:.2f} after (2 cores; the servers of both sides "
             "idle while the other side runs).")
    worst = max(ratios, key=ratios.get)
    summary = (f"Worst ratio {ratios[worst]:.3f} ({' '.join(worst)}); geometric mean "
               f"{float(np.exp(np.mean(np.log(list(ratios.values()))))):.3f}.")
    body = "\n".join([intro, "", "| operation | mode | base s | head s | head / base |", "|---|---|---|---|---|",
                      *rows, "", summary])
    print(body)
    if not args.no_record:
        record("modes-regression", "score, variants and annotate in every mode, before and after one driver per "
               "operation (issue 27)", f".venv/bin/python benchmarks/modes_regression.py --base {args.base} "
               f"--head {head_rev} --rounds {args.rounds}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
