"""Multitask vs single-task on the pooled sites of the 26 iONMF CLIP experiments (DeepRiPe's comparison).

    .venv/bin/python benchmarks/multitask_bench.py [--work .bench/multitask] [--test-chroms chr1,chr8]
                                                   [--val-chroms chr2] [--singles N] [--reuse]

1. ``seqzoo sites`` pools the class:1 sites of every experiment's training file (bins of 50 nt,
   no background: a task's negatives are the other experiments' sites, as in DeepRiPe).
2. One multitask model: ``seqzoo train --table sites.parquet --label-columns <26 tasks>`` with
   chromosome hold-out (``--test-chroms``, ``--val-chroms``) and the defaults otherwise.
3. Single-task models on the same table and split, one label column each (DeepRiPe's "single
   models"), the tasks with the fewest sites first; ``--singles N`` stops after N of them.

Every run is its own process (wall time and peak memory measured from outside); results go to
``WORK/results.json`` as they come (``--reuse`` continues an interrupted run). Writes its section
of BENCHMARKS.md with per-task test AUROC and AP, the means over the tasks both have, and the
tasks where multitask wins, among all and among the third with the fewest sites.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from record import record

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "datasets" / "clip-ionmf"
PY = sys.executable
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def run(*args: str) -> tuple[dict, float, float]:
    """One seqzoo command with --json: (its summary, wall seconds, peak MiB)."""
    start = time.perf_counter()
    result = subprocess.run([PY, "-c", PEAK, PY, "-m", "seqzoo", *args], capture_output=True, text=True, cwd=REPO,
                            check=False)
    if result.returncode:
        raise RuntimeError(f"seqzoo {' '.join(args[:3])} failed:\n{result.stderr[-3000:]}")
    wall = time.perf_counter() - start
    peak = int(result.stderr.strip().splitlines()[-1]) / 1024
    return json.loads(result.stdout.strip().splitlines()[-1]), wall, peak


def pooled(work: Path) -> tuple[Path, dict]:
    table = work / "sites.parquet"
    if not table.exists():
        tasks = [a for f in sorted(DATA.glob("*.training.fa.gz"))
                 for a in ("--task", f"{f.name.removesuffix('.training.fa.gz')}={f}")]
        subprocess.run([PY, "-m", "seqzoo", "sites", *tasks, "--no-background", "-o", str(table)], check=True,
                       cwd=REPO, capture_output=True)
    from seqzoo.zoo.io.table import read_metadata

    return table, read_metadata(table, "seqzoo_sites")


def train(work: Path, table: Path, name: str, labels: list[str], args) -> dict:
    out, summary = work / "runs" / name, None
    summary, wall, peak = run("train", "--name", name, "--table", str(table), "--label-columns", ",".join(labels),
                              "--test-chroms", args.test_chroms, "--val-chroms", args.val_chroms, "--out", str(out),
                              "--force", "--no-publish", "--quiet", "--json", "--threads", "2",
                              "--seed", str(args.seed))
    test = summary["metrics"]["test"]
    if len(labels) == 1:  # a single 0/1 column: binary classes "0" and "1"
        auroc, ap = {labels[0]: test["auroc"]["1"]}, {labels[0]: test["ap"]["1"]}
    else:
        auroc, ap = test["auroc"], test["ap"]
    card = json.loads((out / "card.json").read_text())
    return {"auroc": auroc, "ap": ap, "wall": wall, "peak_mib": peak,
            "epochs": card["training"].get("best_epoch"), "counts": card["training"]["counts"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work", default=str(REPO / ".bench" / "multitask"))
    parser.add_argument("--test-chroms", default="chr1,chr8")
    parser.add_argument("--val-chroms", default="chr2")
    parser.add_argument("--singles", type=int, default=26, help="single-task models to train (fewest sites first)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="continue from WORK/results.json")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if args.reuse and saved.exists() else {"single": {}}
    load = [os.getloadavg()[0]]
    table, pool = pooled(work)
    sites = {task: info["rows"] for task, info in pool["tasks"].items()}
    tasks = sorted(sites, key=lambda t: (sites[t], t))
    if "multi" not in results:
        results["multi"] = train(work, table, "multitask", list(pool["tasks"]), args)
        saved.write_text(json.dumps(results, indent=1))
    for task in tasks[:args.singles]:
        if task not in results["single"]:
            results["single"][task] = train(work, table, f"single-{task}", [task], args)
            saved.write_text(json.dumps(results, indent=1))
            print(f"{task}: multi {results['multi']['auroc'][task]:.3f} single "
                  f"{results['single'][task]['auroc'][task]:.3f}", file=sys.stderr, flush=True)
    load.append(os.getloadavg()[0])
    print(body := render(results, sites, tasks, pool, args, load))
    record("multitask", "Multitask vs single-task: the 26 iONMF experiments pooled (issue 14)",
           f".venv/bin/python benchmarks/multitask_bench.py --test-chroms {args.test_chroms} "
           f"--val-chroms {args.val_chroms} --singles {args.singles}", body)
    return 0


def render(results: dict, sites: dict, tasks: list[str], pool: dict, args, load: list[float]) -> str:
    multi, single = results["multi"], results["single"]
    plain = results.get("multi_plain")  # a multitask run kept from before models.TASK_DEFAULTS, if any
    both = [t for t in tasks if t in single]
    rows = []
    for t in tasks:
        s = single.get(t)
        m_auc, m_ap = multi["auroc"][t], multi["ap"][t]
        cells = (f"{s['auroc'][t]:.3f} | {s['ap'][t]:.3f} | {s['wall']:.0f}" if s else "- | - | -")
        wins = "multitask" if s and m_auc > s["auroc"][t] else ("single" if s else "")
        before = f" {plain['auroc'][t]:.3f} |" if plain else ""
        rows.append(f"| {t} | {sites[t]:,} | {m_auc:.3f} | {m_ap:.3f} |{before} {cells} | {wins} |")
    third = tasks[:len(tasks) // 3]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else float("nan")

    wins = [t for t in both if multi["auroc"][t] > single[t]["auroc"][t]]
    few = [t for t in third if t in single]
    setup = (f"The class:1 sites of the 26 experiments' training files pooled by `seqzoo sites --no-background` "
             f"(bins of {pool['bin']} nt): {pool['rows']:,} rows, {pool['rows_bound_by_several_tasks']:,} bound by "
             f"several experiments; a task's negatives are the other experiments' sites. Split by chromosome: test "
             f"{args.test_chroms}, validation {args.val_chroms}, train the rest (the same rows for every model). "
             f"Defaults otherwise (seed {args.seed}; the multitask model gets the multilabel defaults of "
             f"`training.models.TASK_DEFAULTS`: 256 dense units, dropout 0.3); each model its own `seqzoo train` "
             f"process on 2 threads. "
             f"1-minute load average {load[0]:.1f} before, {load[1]:.1f} after this run; models kept from an earlier "
             f"run (--reuse) may have trained beside other work, so their seconds are upper bounds.")
    cost = (f"Multitask model: {multi['wall']:.0f} s wall, peak {multi['peak_mib']:.0f} MiB, best epoch "
            f"{multi['epochs']}. Single-task models trained: {len(both)} of {len(tasks)} (fewest sites first); "
            f"{sum(s['wall'] for s in single.values()):.0f} s in all.")
    summary = (f"Over the {len(both)} tasks with both models: mean test AUROC multitask "
               f"{mean([multi['auroc'][t] for t in both]):.3f}, single-task {mean([single[t]['auroc'][t] for t in both]):.3f}; "
               f"mean AP {mean([multi['ap'][t] for t in both]):.3f} vs {mean([single[t]['ap'][t] for t in both]):.3f}. "
               f"Multitask is ahead on {len(wins)} of {len(both)} tasks, and on {sum(1 for t in few if t in wins)} of "
               f"the {len(few)} (of {len(third)}) tasks with the fewest sites that have a single-task model.")
    if plain:
        summary += (f" With the single-task defaults (100 dense units, dropout 0.6) the multitask model's mean over "
                    f"the same tasks was {mean([plain['auroc'][t] for t in both]):.3f}, ahead on "
                    f"{sum(plain['auroc'][t] > single[t]['auroc'][t] for t in both)} of {len(both)}.")
    head = "| task | sites (rows) | multitask AUROC | AP |" + (" multitask, single-task defaults |" if plain else "")
    lines = [setup, "", cost, "", head + " single AUROC | AP | single s | better |",
             "|---|---|---|---|" + ("---|" if plain else "") + "---|---|---|---|", *rows, "", summary]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
