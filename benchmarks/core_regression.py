"""Before/after check of a refactor: serve_bench and variants_bench of a base revision and of this
checkout, interleaved in one run on the same machine and the same model.

    .venv/bin/python benchmarks/core_regression.py --base 2e450f4 [--rounds 2]
        [--section core-regression --change "the one-core refactor (issue 11)"]

The base revision is checked out as a git worktree under ``.bench/base-<rev>`` with its own venv
(torch 2.13.0 CPU, then ``.[train,dask,dev]``; made once, reused). Each round runs, for base then head,
``benchmarks/serve_bench.py --quick`` (in-process ORT, bulk / unary / stream scenarios, 10,000-request
load, faults) and ``benchmarks/variants_bench.py --quick`` (the real VCF, 10,000 synthetic SNVs
--local and --server, IG on 200), each checkout running its own scripts and code against the same
``.bench/zoo`` pum2 model. Speeds are compared as ratios head / base of the same scenario (and the
server's bulk rate as a share of the in-process rate measured in the same run), so the machine's
load shifts both sides alike. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record

REPO = Path(__file__).resolve().parent.parent


def base_checkout(rev: str) -> tuple[Path, Path]:
    """(tree, python) of the base revision: a worktree and a venv of its own, made once."""
    tree = REPO / ".bench" / f"base-{rev}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev], check=True)
    venv = REPO / ".bench" / f"base-{rev}-venv"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"{tree}[train,dask,dev]"], check=True)
        (venv / ".installed").touch()
    return tree, python


def run_side(python: Path, tree: Path, zoo: Path) -> dict:
    """One side's serve_bench --quick results (its JSON) and variants_bench --quick results.

    Both run from the zoo's folder: from a checkout's root, ``python -m seqzoo`` would import the
    bare ``seqzoo/`` folder there instead of the side's installed package."""
    env = {**os.environ, "PYTHONPATH": ""}
    serve = subprocess.run([str(python), str(tree / "benchmarks" / "serve_bench.py"), "--quick", "--zoo", str(zoo)],
                           capture_output=True, text=True, check=True, env=env, cwd=zoo.parent)
    text = serve.stdout
    result = {"serve": json.loads(text[text.index("{"):])}
    subprocess.run([str(python), str(tree / "benchmarks" / "variants_bench.py"), "--quick", "--zoo", str(zoo)],
                   capture_output=True, text=True, check=True, env=env, cwd=zoo.parent)
    result["variants"] = json.loads((zoo.parent / "variants" / "results.json").read_text())
    return result


def figures(r: dict) -> dict:
    """The compared numbers of one side's run."""
    s, v = r["serve"], r["variants"]
    return {"in-process ORT, sequences/s": s["in_process_seq_s"],
            "bulk (1,024 per request), sequences/s": s["bulk"]["seq_s"],
            "bulk / in-process, interleaved": s["bulk_interleaved_seq_s"] / s["in_process_interleaved_seq_s"],
            "unary (1 per request), sequences/s": s["unary"]["seq_s"],
            "stream (4 x 256 in flight), sequences/s": s["stream"]["seq_s"],
            "load (10,000 requests, 64 clients), sequences/s": s["load"]["seq_s"],
            "load errors + wrong answers": s["load"]["errors"] + s["load"]["wrong"],
            "server peak RSS, MiB": s["server_peak_rss_mib"],
            "variants --local 10,000 SNVs, variants/s": v["local_10000"]["per_second"],
            "variants --server 10,000 SNVs, variants/s": v["server_10000"]["per_second"],
            "variants --local peak RSS, MiB": v["local_10000"]["peak_mib"],
            "IG 50 steps both alleles, variants/s": v["ig"]["per_second"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--base", required=True, help="the base git revision (before the refactor)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--zoo", default=str(REPO / ".bench" / "zoo"))
    parser.add_argument("--section", default="core-regression", help="the BENCHMARKS.md section to write")
    parser.add_argument("--change", default="the one-core refactor (issue 11)", help="what the base lacks")
    args = parser.parse_args()
    zoo = Path(args.zoo).resolve()
    tree, base_python = base_checkout(args.base)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    runs: dict[str, list[dict]] = {"base": [], "head": []}
    load = [os.getloadavg()[0]]
    for k in range(args.rounds):
        for side, python, where in (("base", base_python, tree), ("head", Path(sys.executable), REPO)):
            runs[side].append(figures(run_side(python, where, zoo)))
            print(f"round {k + 1} {side}:", runs[side][-1], file=sys.stderr)
            load.append(os.getloadavg()[0])
    names = list(runs["base"][0])
    rows = []
    for name in names:
        b = [r[name] for r in runs["base"]]
        h = [r[name] for r in runs["head"]]
        ratio = np.median(h) / np.median(b) if np.median(b) else float("nan")
        fmt = (lambda x: f"{x:.2f}") if "/ in-process" in name else (lambda x: f"{x:,.0f}")
        rows.append(f"| {name} | {' / '.join(fmt(x) for x in b)} | {' / '.join(fmt(x) for x in h)} | {ratio:.2f} |")
    body = f"""
Base `{args.base}` (before {args.change}) against head `{head}` (after), each running its own
`serve_bench.py --quick` and `variants_bench.py --quick` on the same `pum2` model of `.bench/zoo`
(L = 200, ONNX Runtime CPU), {args.rounds} rounds interleaved base, head, base, head, ... Client and server
share the 2 cores; 1-minute load average {', '.join(f'{x:.1f}' for x in load)} (before and after each
run). Figures per round; ratio = median head / median base (1.00 = no change). Both sides run the
same ONNX Runtime for "in-process ORT", so its ratio shows this run's noise; client and server
compete for the 2 cores, so one slow round moves a scenario by 10-20%.

| figure | base (per round) | head (per round) | head / base |
|---|---|---|---|
""" + "\n".join(rows) + "\n"
    command = f".venv/bin/python benchmarks/core_regression.py --base {args.base} --rounds {args.rounds}"
    if args.section != "core-regression":
        command += f" --section {args.section} --change {json.dumps(args.change)}"
    record(args.section, f"Serving and variants before and after {args.change}", command, body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
