"""The GPU check: every CUDA path of the engine, the server and training, measured in one run.

    .venv/bin/python benchmarks/gpu_bench.py [--zoo .bench/zoo] [--device cuda] [--seconds 3]
    .venv/bin/python benchmarks/gpu_bench.py --dry-run --zoo ZOO --out gpu.md      # CPU, small, not BENCHMARKS.md

Run through ``benchmarks/gpu.sh``, which first makes the machine ready (ONNX Runtime's CUDA
provider from carried wheels, the project installed). On the newest ``pum2`` of ``--zoo``:

1. ONNX Runtime's available providers, and the one the engine chose;
2. forward throughput at batch 1 to 4,096 (the GPU path pads to warmed-up buckets, with IO
   binding), integrated gradients (50 midpoint steps) and in-silico mutagenesis;
3. in-engine throughput at batch 4,096 as a share of the device's float32 matrix-multiply rate
   measured in the same run (serve_bench.compute_ceiling: the model's FLOPs per window);
4. ``seqzoo serve --device`` on loopback: bulk (1,024 per request) and single-sequence requests,
   against the engine in this process;
5. ``seqzoo train`` on PUM2 on the device (mixed precision on CUDA): seconds per epoch and the
   test AUROC.

``--dry-run`` runs every step on the CPU with small sizes and writes ``--out`` instead of
BENCHMARKS.md, so the script is exercised by the test suite while no GPU is lent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ceiling import compute_ceiling, in_process, rate
from record import record

PY = sys.executable
REPO = Path(__file__).resolve().parent.parent
RBP = REPO / "datasets" / "rbp"


def forward(engine, batches: list[int], seconds: float) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for batch in batches:
        codes = rng.integers(0, 4, (batch, engine.length)).astype(np.uint8)
        out[batch] = in_process(engine, codes, seconds)
    return out


def serving(zoo: Path, device: str, engine, seconds: float) -> dict:
    try:  # the server needs grpc & co.: on a bare GPU machine they come as carried wheels
        from serve_bench import ServerProcess, free_port, unary
    except ImportError as exc:
        return {"error": f"not run: {exc} (carry the project's wheels in .gpu-wheels/)"}
    codes = np.random.default_rng(2).integers(0, 4, (4096, engine.length)).astype(np.uint8)
    server = ServerProcess(zoo, free_port(), ["--device", device])
    target = f"127.0.0.1:{server.port}"
    try:
        bulk = asyncio.run(unary(target, codes, 1024, 4, seconds))
        single = asyncio.run(unary(target, codes, 1, 256, seconds))
    finally:
        server.stop()
    local = in_process(engine, codes[:1024], seconds)
    return {"bulk": bulk["seq_s"], "single": single["seq_s"], "in_process": local,
            "errors": bulk["errors"] + single["errors"]}


def training(device: str, epochs: int, work: Path) -> dict:
    start = time.perf_counter()
    result = subprocess.run([PY, "-m", "seqzoo", "train", "--name", "gpu-pum2", "--alphabet", "rna",
                             "--class", f"negative={RBP / 'pum2.train.negative.fasta.gz'}",
                             "--class", f"positive={RBP / 'pum2.train.positive.fasta.gz'}",
                             "--test-class", f"negative={RBP / 'pum2.test.negative.fasta.gz'}",
                             "--test-class", f"positive={RBP / 'pum2.test.positive.fasta.gz'}",
                             "--device", device, "--epochs", str(epochs), "--out", str(work / "train"), "--force",
                             "--no-publish", "--quiet", "--json"], capture_output=True, text=True, cwd=REPO,
                            check=False)
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    card = json.loads((work / "train" / "card.json").read_text())
    return {"seconds": time.perf_counter() - start, "train_seconds": card["training"]["train_seconds"],
            "epochs": card["training"]["epochs"], "device": card["training"]["device"],
            "auroc": summary["metrics"]["test"]["auroc"]["positive"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--dry-run", action="store_true", help="CPU, small sizes, write --out (not BENCHMARKS.md)")
    parser.add_argument("--out", help="with --dry-run: where the report goes")
    args = parser.parse_args()
    import onnxruntime as ort
    from seqzoo.serving.engine import Engine
    from seqzoo.serving.ig_rule import IG_STEPS
    from seqzoo.serving.ism import ism as mutagenesis
    from seqzoo.zoo.registry import open_zoo

    if args.dry_run:
        if not args.out:
            parser.error("--dry-run needs --out")
        args.device, args.seconds, args.epochs = "cpu", min(args.seconds, 0.3), 1
    providers = ort.get_available_providers()
    print(f"ONNX Runtime {ort.__version__} providers: {', '.join(providers)}", flush=True)
    if args.device == "cuda" and "CUDAExecutionProvider" not in providers:
        print("error: no CUDAExecutionProvider: carry onnxruntime-gpu wheels in .gpu-wheels/ (see gpu.sh)",
              file=sys.stderr)
        return 1
    zoo = Path(args.zoo).resolve()
    mv = open_zoo(zoo).resolve("pum2")
    load = [os.getloadavg()[0]]
    engine = Engine.load(mv, device=args.device)
    print(f"engine: {mv.ref} on {engine.provider}", flush=True)
    batches = [1, 32, 256] if args.dry_run else [1, 8, 32, 128, 512, 1024, 4096]
    rates = forward(engine, batches, args.seconds)
    n_ig = 8 if args.dry_run else 256
    onehot = engine.alphabet.one_hot(np.random.default_rng(3).integers(0, 4, (n_ig, engine.length)).astype(np.uint8))
    selector = engine.selector(n_ig)
    ig = rate(lambda: engine.integrated_gradients(onehot, selector), n_ig, args.seconds)
    n_ism = 2 if args.dry_run else 16
    codes = np.random.default_rng(4).integers(0, 4, (n_ism, engine.length)).astype(np.uint8)
    ism = rate(lambda: mutagenesis(engine, codes, engine.selector(n_ism)), n_ism, args.seconds)
    ceiling = compute_ceiling(mv, engine, args.seconds)
    served = serving(zoo, args.device, engine, args.seconds)
    work = zoo.parent / "gpu-check"
    work.mkdir(exist_ok=True)
    trained = training(args.device, args.epochs, work)
    load.append(os.getloadavg()[0])
    rows = "\n".join(f"| {b:,} | {r:,.0f} |" for b, r in rates.items())
    train_line = (f"{trained['epochs']} epochs in {trained['train_seconds']:.1f} s "
                  f"({trained['train_seconds'] / max(trained['epochs'], 1):.2f} s/epoch) on {trained['device']}"
                  f"{' with mixed precision' if trained['device'].startswith('cuda') else ''}; test AUROC "
                  f"{trained['auroc']:.3f}" if "error" not in trained else f"failed: {trained['error']}")
    serve_line = (f"bulk {served['bulk']:,.0f} sequences/s ({served['bulk'] / served['in_process']:.2f}x the engine in "
                  f"this process at batch 1,024), single-sequence requests {served['single']:,.0f} sequences/s; "
                  f"{served['errors']} errors" if "error" not in served else served["error"])
    body = f"""ONNX Runtime {ort.__version__}, providers {', '.join(providers)}; the engine ran `{mv.ref}` (L = {engine.length})
on **{engine.provider}**. {'DRY RUN on the CPU with small sizes (the test suite keeps the script working).' if args.dry_run else ''}
1-minute load average {load[0]:.1f} before, {load[1]:.1f} after.

Forward throughput in the engine (sequences/s):

| batch | sequences/s |
|---|---|
{rows}

- Integrated gradients ({IG_STEPS} midpoint steps, {n_ig} sequences per call): {ig:,.1f} sequences/s.
- In-silico mutagenesis ({n_ism} sequences per call): {ism:,.1f} sequences/s.
- Batch 4,096: {ceiling['batch4096_seq_s']:,.0f} sequences/s = {ceiling['ratio']:.1%} of the device's float32
  matrix-multiply rate ({ceiling['matmul_gflops']:,.0f} GFLOP/s measured now; {ceiling['flops_per_sequence'] / 1e6:.1f} MFLOP per
  window).
- `seqzoo serve --device {args.device}`: {serve_line}.
- `seqzoo train` PUM2 on `{args.device}`: {train_line}.
"""
    if args.dry_run:
        Path(args.out).write_text(body)
    else:
        record("gpu", "GPU check: engine, server and training on CUDA (issue 16)", "benchmarks/gpu.sh", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
