"""`seqzoo attribute` into TF-MoDISco: speed, and the motifs modisco-lite finds in its output.

    .venv/bin/python benchmarks/attribute_bench.py [--zoo .bench/zoo] [--n 1296]

On the newest ``pum2`` of ``--zoo`` (trained by serve_bench.ensure_model when missing) and the
PUM2 test positives (never seen in training):

1. ``seqzoo attribute --local --modisco`` as its own process: sequences/s, against
   ``Engine.integrated_gradients`` on the same sequences in this process (the same rule and steps);
2. ``modisco motifs`` (modisco-lite's CLI) on the arrays as written, ``-w`` the model's length;
3. each pattern's PWM (columns of the pattern trimmed where its contribution is under 30% of the
   peak) matched to ATtRACT (TOMTOM, seqzoo's motif_match): the best match and its q-value.

Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from seqzoo.serving.engine import Engine
from seqzoo.serving.ig_rule import IG_STEPS
from seqzoo.zoo.io.fasta import read_fasta
from seqzoo.zoo.registry import open_zoo
from serve_bench import ensure_model

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
TRIM = 0.3


def patterns(h5: Path, letters: str) -> list[dict]:
    """modisco-lite's patterns: name, seqlets, consensus and trimmed PWM."""
    import h5py

    found = []
    with h5py.File(h5) as f:
        for group in ("pos_patterns", "neg_patterns"):
            for name in f.get(group, {}):
                pattern = f[group][name]
                pwm = pattern["sequence"][:]
                weight = np.abs(pattern["contrib_scores"][:]).sum(axis=1)
                keep = np.flatnonzero(weight >= TRIM * weight.max())
                pwm = pwm[keep.min():keep.max() + 1]
                consensus = "".join(letters[i] for i in pwm.argmax(axis=1))
                found.append({"name": f"{group.split('_')[0]}/{name}", "seqlets": int(pattern["seqlets"]["n_seqlets"][0]),
                              "consensus": consensus, "pwm": pwm / pwm.sum(axis=1, keepdims=True)})
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--n", type=int, default=1296)
    args = parser.parse_args()
    from seqzoo.training.motif_match import match_motifs

    zoo = Path(args.zoo).resolve()
    ensure_model(zoo)
    mv = open_zoo(zoo).resolve("pum2")
    work = zoo.parent / "attribute"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    records = read_fasta(REPO / "datasets" / "rbp" / "pum2.test.positive.fasta.gz")[:args.n]
    fasta = work / "positives.fa"
    fasta.write_text("".join(f">{r.name}\n{r.sequence}\n" for r in records))
    load = [os.getloadavg()[0]]
    engine = Engine.load(mv, device="cpu")
    onehot = engine.alphabet.one_hot(engine.encode([r.sequence for r in records], convert_tu=True))
    start = time.perf_counter()
    engine.integrated_gradients(onehot, engine.selector(len(onehot)))
    engine_rate = len(onehot) / (time.perf_counter() - start)
    start = time.perf_counter()
    subprocess.run([PY, "-m", "seqzoo", "attribute", "--model", f"pum2:{mv.version}", "--zoo", str(zoo), "--local",
                    str(fasta), "-o", str(work / "ig.npz"), "--modisco", str(work / "modisco"), "--no-progress"],
                   check=True, capture_output=True)
    command_seconds = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([str(Path(PY).parent / "modisco"), "motifs", "-s", str(work / "modisco" / "ohe.npz"), "-a",
                    str(work / "modisco" / "shap.npz"), "-n", "2000", "-w", str(engine.length), "-o",
                    str(work / "modisco.h5")], check=True, capture_output=True)
    modisco_seconds = time.perf_counter() - start
    load.append(os.getloadavg()[0])
    found = patterns(work / "modisco.h5", engine.columns)
    matches = match_motifs([p["pwm"] for p in found], engine.columns, top=1) if found else []
    rows = [f"| {p['name']} | {p['seqlets']} | `{p['consensus']}` | {m[0]['name']} | {m[0]['q_value']:.2g} |"
            for p, m in zip(found, matches)]
    body = f"""`pum2:{mv.version}` of `.bench/zoo` (L = {engine.length}, ONNX Runtime CPU, 2 threads) on the first
{len(records):,} PUM2 test positives (`datasets/rbp`, not used in training). Integrated gradients: all-zero baseline,
{IG_STEPS} midpoint steps. 1-minute load average {load[0]:.1f} before, {load[1]:.1f} after.

- `seqzoo attribute --local --modisco` (its own process, start-up and model load included):
  {command_seconds:.1f} s, {len(records) / command_seconds:.0f} sequences/s; the engine's IG on the same
  sequences in this process: {engine_rate:.0f} sequences/s (the command at
  {len(records) / command_seconds / engine_rate:.2f}x the engine).
- `modisco motifs -n 2000 -w {engine.length}` on the arrays as written: {modisco_seconds:.0f} s,
  {len(found)} patterns. Each pattern's PWM (trimmed where its contribution falls under
  {TRIM:.0%} of its peak) against ATtRACT (TOMTOM):

| pattern | seqlets | consensus | best ATtRACT match | q-value |
|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    record("attribute", "Attribution for TF-MoDISco: seqzoo attribute and modisco-lite (issue 13)",
           ".venv/bin/python benchmarks/attribute_bench.py", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
