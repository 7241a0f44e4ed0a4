"""Integrated gradients: accuracy per gradient pass of the integration rules, and speed.

    .venv/bin/python benchmarks/ig_bench.py [--zoo .bench/zoo] [--windows 1000] [--reference-steps 1000]

On the ``pum2`` model of ``--zoo`` (trained there by serve_bench.ensure_model when missing) and
``--windows`` PUM2 test windows (half positive, half negative; never seen in training):

- the reference: integrated gradients with ``--reference-steps`` midpoint steps;
- for the midpoint rule and Gauss-Legendre at several numbers of gradient passes S: the
  completeness error |sum(attributions) - (f(x) - f(baseline))| (mean and max over windows, f the
  positive class's probability) and the distance to the reference maps (max abs difference, and
  the L2 norm of the difference relative to the reference's), so the default rule and S are
  chosen by measurement;
- windows/s of the engine's IG with the default rule and S, with 16 passes, and captum's
  IntegratedGradients (the same rule and S, one internal batch) on the same PyTorch model, in
  the same run.

Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from seqzoo.serving.engine import Engine
from seqzoo.serving.ig_rule import IG_RULE, IG_STEPS
from seqzoo.zoo.io.fasta import read_fasta
from seqzoo.zoo.registry import open_zoo
from serve_bench import ensure_model

REPO = Path(__file__).resolve().parent.parent
RBP = REPO / "datasets" / "rbp"
CAPTUM_METHODS = {"midpoint": "riemann_middle", "gauss-legendre": "gausslegendre"}
RULES = [("midpoint", s) for s in (8, 16, 32, 50)] + [("gauss-legendre", s) for s in (4, 8, 12, 16, 24, 32)]


def windows(engine: Engine, n: int) -> np.ndarray:
    half = n // 2
    sequences = [r.sequence for r in read_fasta(RBP / "pum2.test.positive.fasta.gz")][:half]
    sequences += [r.sequence for r in read_fasta(RBP / "pum2.test.negative.fasta.gz")][:n - half]
    return engine.alphabet.one_hot(engine.encode(sequences, convert_tu=True))


def accuracy(engine: Engine, onehot: np.ndarray, reference_steps: int) -> tuple[list[dict], float]:
    selector = engine.selector(onehot.shape[0])
    probs = engine.gradient(onehot, selector)[0][:, -1]
    base = engine.gradient(np.zeros_like(onehot), selector)[0][:, -1]
    delta = probs - base
    t = time.perf_counter()
    reference = engine.integrated_gradients(onehot, selector, reference_steps, rule="midpoint")
    reference_seconds = time.perf_counter() - t
    ref_norm = np.linalg.norm(reference.reshape(len(reference), -1), axis=1)
    rows = []
    for rule, steps in RULES:
        ig = engine.integrated_gradients(onehot, selector, steps, rule=rule)
        completeness = np.abs(ig.sum(axis=(1, 2)) - delta)
        diff = (ig - reference).reshape(len(ig), -1)
        rows.append({"rule": rule, "passes": steps, "completeness_mean": float(completeness.mean()),
                     "completeness_max": float(completeness.max()), "max_abs_vs_reference": float(np.abs(diff).max()),
                     "rel_l2_vs_reference": float(np.median(np.linalg.norm(diff, axis=1) / np.maximum(ref_norm, 1e-12)))})
        print(rows[-1], file=sys.stderr, flush=True)
    reference_completeness = np.abs(reference.sum(axis=(1, 2)) - delta)
    rows.append({"rule": "midpoint (reference)", "passes": reference_steps,
                 "completeness_mean": float(reference_completeness.mean()),
                 "completeness_max": float(reference_completeness.max()), "max_abs_vs_reference": 0.0,
                 "rel_l2_vs_reference": 0.0})
    return rows, reference_seconds


def rate(function, n: int, seconds: float = 6.0) -> float:
    function()  # warm
    done, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        function()
        done += n
    return done / (time.perf_counter() - t)


def speed(engine: Engine, mv, onehot: np.ndarray) -> dict:
    batch = onehot[:128]
    selector = engine.selector(len(batch))
    out = {"engine_default": rate(lambda: engine.integrated_gradients(batch, selector), len(batch)),
           "engine_16_passes": rate(lambda: engine.integrated_gradients(batch, selector, 16), len(batch))}
    try:
        import torch
        from captum.attr import IntegratedGradients
    except ImportError:
        return out
    from seqzoo.training.models import load_run

    model, _config = load_run(mv.path.parent.parent.parent / "run-pum2")  # the run ensure_model published
    activation = torch.softmax if getattr(model, "output_activation", "softmax") == "softmax" else None
    torch.set_num_threads(engine.threads or os.cpu_count())
    inputs = torch.from_numpy(batch)

    def forward(x):
        logits = model(x)
        return torch.softmax(logits, dim=-1) if activation is not None else torch.sigmoid(logits)

    explainer = IntegratedGradients(forward)
    target = len(engine.classes) - 1

    method = CAPTUM_METHODS[IG_RULE]

    def captum_ig():
        return explainer.attribute(inputs, baselines=inputs * 0, target=target, n_steps=IG_STEPS,
                                   method=method, internal_batch_size=len(batch) * IG_STEPS)

    theirs = captum_ig().detach().numpy()
    out["captum_max_abs_difference"] = float(np.abs(theirs - engine.integrated_gradients(batch, selector)).max())
    out["captum_gausslegendre"] = rate(captum_ig, len(batch))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--reference-steps", type=int, default=1000)
    args = parser.parse_args()
    zoo = Path(args.zoo)
    ensure_model(zoo)
    mv = open_zoo(zoo).resolve("pum2")
    engine = Engine.load(mv, device="cpu")
    onehot = windows(engine, args.windows)
    load = [os.getloadavg()[0]]
    rows, reference_seconds = accuracy(engine, onehot, args.reference_steps)
    speeds = speed(engine, mv, onehot)
    load.append(os.getloadavg()[0])
    table = [("| rule | gradient passes | completeness error, mean | max | max abs vs reference | "
              "median relative L2 vs reference |"), "|---|---|---|---|---|---|"]
    for r in rows:
        mark = " (default)" if r["rule"] == IG_RULE and r["passes"] == IG_STEPS else ""
        table.append(f"| {r['rule']}{mark} | {r['passes']} | {r['completeness_mean']:.2e} | {r['completeness_max']:.2e} | "
                     f"{r['max_abs_vs_reference']:.2e} | {r['rel_l2_vs_reference']:.2e} |")
    lines = [f"- engine, default ({IG_RULE}, {IG_STEPS} passes): {speeds['engine_default']:,.0f} windows/s",
             (f"- engine, 16 passes (either rule; a pass costs the same): {speeds['engine_16_passes']:,.0f} windows/s "
              f"({speeds['engine_16_passes'] / speeds['engine_default']:.2f}x the default)")]
    if "captum_gausslegendre" in speeds:
        lines.append(f"- captum IntegratedGradients, {CAPTUM_METHODS[IG_RULE]}, {IG_STEPS} steps, same model in PyTorch: "
                     f"{speeds['captum_gausslegendre']:,.0f} windows/s (engine / captum = "
                     f"{speeds['engine_default'] / speeds['captum_gausslegendre']:.2f}x; the two maps differ by at most "
                     f"{speeds['captum_max_abs_difference']:.1e})")
    body = f"""The `pum2` model of `.bench/zoo` ({engine.length} nt, ONNX Runtime CPU, {engine.threads or os.cpu_count()} threads)
on {args.windows} PUM2 test windows (half bound, half unbound; not used in training); baseline all-zero,
target the positive class's probability. The reference is {args.reference_steps} midpoint steps
({reference_seconds:.0f} s). Completeness error = |sum of the map - (f(x) - f(baseline))|.
1-minute load average {load[0]:.1f} before, {load[1]:.1f} after.

{chr(10).join(table)}

Speed (128 windows per call, the same run):

{chr(10).join(lines)}
"""
    record("ig", "Integrated gradients: integration rules and speed (issue 13)",
           f".venv/bin/python benchmarks/ig_bench.py --windows {args.windows} --reference-steps {args.reference_steps}",
           body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
