"""Benchmark ``seqzoo variants`` on the S. aureus genome: the real VCF and 1,000,000 synthetic SNVs.

    .venv/bin/python benchmarks/variants_bench.py [--zoo .bench/zoo] [--n 1000000] [--ig-subset 200] [--quick]

Uses the newest ``pum2`` in ``--zoo`` (trained there by serve_bench's ``ensure_model`` when
missing: a real PUM2 CNN, L = 200). Every measurement runs the real command,
``python -m seqzoo variants ...``, as a subprocess, and reads its wall time and peak resident
memory (VmHWM from a wrapper that runs the CLI in-process). Measures:

- the 109-variant VCF of datasets/genome end to end (--local, annotated VCF): scored / skipped;
- synthetic VCFs of 100,000 and N (default 1,000,000) SNVs, uniform over the genome, REF from
  the genome, ALT a random other base: variants/s for diff scores --local and through a
  ``seqzoo serve`` subprocess (--server), and peak memory of each run (flat = streaming);
- integrated gradients (50 steps) for both alleles on a subset, --local, variants/s, and the
  extrapolation to N (stated as such).

Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from serve_bench import ServerProcess, ensure_model, free_port

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
FASTA = REPO / "datasets" / "genome" / "NCTC8325.fasta.gz"
REAL_VCF = REPO / "datasets" / "genome" / "variant.vcf.gz"
# Runs the CLI in-process and reports its own peak RSS (VmHWM) as the last stderr line.
WRAPPER = ("import sys, json, time; from seqzoo.cli import main; t = time.monotonic(); rc = main(sys.argv[1:]); "
           "hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')); "
           "import resource; u = resource.getrusage(resource.RUSAGE_SELF); "
           "print('BENCH ' + json.dumps({'rc': rc, 'seconds': time.monotonic() - t, 'peak_mib': hwm / 1024, "
           "'cpu_seconds': u.ru_utime + u.ru_stime}), file=sys.stderr)")


def synthetic_vcf(path: Path, n: int, seed: int = 0) -> Path:
    """n SNVs, sorted, uniform over the genome; REF from the genome, ALT another base."""
    if path.exists():
        return path
    with gzip.open(FASTA, "rt") as f:
        genome = np.frombuffer("".join(line.strip() for line in f if not line.startswith(">")).encode(), "S1")
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(len(genome), size=n, replace=False))
    ref = genome[pos].astype(str)
    shift = rng.integers(1, 4, size=n)
    bases = np.array(list("ACGT"))
    alt = bases[(np.searchsorted(bases, ref) + shift) % 4]
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=1) as f:
        f.write("##fileformat=VCFv4.2\n##contig=<ID=NC_007795,length=2821361>\n"
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for start in range(0, n, 100_000):
            f.write("".join(f"NC_007795\t{p + 1}\t.\t{r}\t{a}\t.\t.\t.\n"
                            for p, r, a in zip(pos[start:start + 100_000], ref[start:start + 100_000],
                                               alt[start:start + 100_000])))
    tmp.replace(path)
    return path


def run_variants(args: list[str], cache: Path) -> dict:
    """Run ``seqzoo variants ARGS`` in a subprocess; returns rc, seconds, peak_mib and the summary line."""
    cmd = [PY, "-c", WRAPPER, "variants", "--genome", str(FASTA), "--genome-cache", str(cache), "--quiet", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    bench = next((json.loads(line[6:]) for line in proc.stderr.splitlines() if line.startswith("BENCH ")), None)
    summary = next((line for line in proc.stderr.splitlines() if line.startswith("seqzoo variants:")), "")
    if proc.returncode != 0 or bench is None or bench["rc"] != 0:
        raise RuntimeError(f"seqzoo variants failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {**bench, "summary": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic SNVs (default 1,000,000)")
    parser.add_argument("--ig-subset", type=int, default=200, help="variants explained with IG (50 steps)")
    parser.add_argument("--quick", action="store_true", help="10,000 SNVs, no BENCHMARKS.md")
    args = parser.parse_args()
    n = 10_000 if args.quick else args.n
    zoo = Path(args.zoo).resolve()
    ensure_model(zoo)
    work = zoo.parent / "variants"
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "genome-cache"
    model = ["--model", "pum2", "--zoo", str(zoo)]
    results: dict = {}

    real = run_variants([*model, "--vcf", str(REAL_VCF), "--local", "-o", str(work / "real.vcf.gz"),
                         "--scores", "diff", "log2fc", "deepsea_effect"], cache)
    results["real"] = real
    print("real VCF:", real, file=sys.stderr)

    sizes = sorted({min(100_000, n), n})
    vcfs = {k: synthetic_vcf(work / f"snv_{k}.vcf.gz", k) for k in sizes}
    for k in sizes:
        r = run_variants([*model, "--vcf", str(vcfs[k]), "--local", "-o", str(work / f"local_{k}.vcf.gz")], cache)
        results[f"local_{k}"] = {**r, "per_second": k / r["seconds"]}
        print(f"local {k}:", results[f"local_{k}"], file=sys.stderr)

    port = free_port()
    server = ServerProcess(zoo, port, [])
    try:
        for k in sizes:
            r = run_variants([*model, "--vcf", str(vcfs[k]), "--server", f"127.0.0.1:{port}",
                              "-o", str(work / f"server_{k}.vcf.gz")], cache)
            results[f"server_{k}"] = {**r, "per_second": k / r["seconds"], "server_peak_mib": server.peak_rss_mib()}
            print(f"server {k}:", results[f"server_{k}"], file=sys.stderr)
    finally:
        server.stop()

    m = min(args.ig_subset, n)
    subset = work / f"snv_first_{m}.vcf.gz"
    with gzip.open(vcfs[sizes[0]], "rt") as src, gzip.open(subset, "wt") as dst:
        kept = 0
        for line in src:
            if not line.startswith("#"):
                if kept == m:
                    break
                kept += 1
            dst.write(line)
    r = run_variants([*model, "--vcf", str(subset), "--local", "-o", str(work / "ig.tsv"), "--attribution", "ig",
                      "--ig-steps", "50", "--attribution-out", str(work / "ig.npz")], cache)
    results["ig"] = {**r, "per_second": m / r["seconds"], "n": m}
    print("ig:", results["ig"], file=sys.stderr)
    (work / "results.json").write_text(json.dumps(results, indent=1))
    if args.quick:
        return 0

    def row(label, key, k):
        r = results[key]
        return (f"| {label} | {k:,} | {r['seconds']:.1f} | {r['per_second']:,.0f} | {r['cpu_seconds']:.1f} | "
                f"{k / r['cpu_seconds']:,.0f} | {r['peak_mib']:.0f} |")

    ig = results["ig"]
    body = f"""
Model: `pum2` from `{zoo.relative_to(REPO) if zoo.is_relative_to(REPO) else zoo}` (PUM2 CNN, L = 200, RNA; windows T -> U),
ONNX Runtime CPU provider with its default threads. Genome: S. aureus NCTC 8325 (2,821,361 bp, plain gzip,
decompressed once into the cache). Each figure is one run of the real command in a fresh process (wall time
includes start-up, model load, the VCF pre-check, window building, scoring and writing the bgzipped annotated
VCF). **The 2 CPU cores were shared with other engineers' work while this ran** (load average about
{os.getloadavg()[0]:.0f} at the end): the wall-clock rates are lower bounds; the CPU seconds the client process itself
used (user + system, ONNX Runtime threads included; the server's are not) are less sensitive to that.

Real VCF (109 variants, `variant.vcf.gz`, contig `NC_007795` resolved to `gi|88193823|ref|NC_007795.1|`):
{real['summary'].removeprefix('seqzoo variants: ')}; wall {real['seconds']:.1f} s, peak {real['peak_mib']:.0f} MiB.

Synthetic SNVs, diff scores for both classes, output `.vcf.gz` (client and server on the same 2 cores):

| run | variants | wall s | variants/s (wall) | CPU s (client process) | variants per client CPU s | peak RSS MiB (client process) |
|---|---|---|---|---|---|---|
""" + "\n".join([row("--local", f"local_{k}", k) for k in sizes] + [row("--server", f"server_{k}", k) for k in sizes]) + f"""

Server process peak RSS after the {sizes[-1]:,}-variant run: {results[f'server_{sizes[-1]}']['server_peak_mib']:.0f} MiB.
Memory is flat: peak RSS at {sizes[0]:,} and {sizes[-1]:,} variants differs by
{results[f'local_{sizes[-1]}']['peak_mib'] - results[f'local_{sizes[0]}']['peak_mib']:+.0f} MiB (--local) and
{results[f'server_{sizes[-1]}']['peak_mib'] - results[f'server_{sizes[0]}']['peak_mib']:+.0f} MiB (--server client): the VCF is streamed in
chunks of 10,000 records.

Integrated gradients, 50 steps, both alleles, class `positive`, --local, `.npz` output: {ig['n']} variants
in {ig['seconds']:.1f} s = {ig['per_second']:.1f} variants/s (including process start and model load).
Extrapolated, not measured: {sizes[-1]:,} variants would take about {sizes[-1] / ig['per_second'] / 3600:.1f} h on
this machine.

No GPU was available to this session, so there are no CUDA-provider figures.
"""
    record("variants", "Variant effects (seqzoo variants)",
           ".venv/bin/python benchmarks/variants_bench.py", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
