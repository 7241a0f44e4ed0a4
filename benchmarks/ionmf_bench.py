"""Single-task models on the iONMF family: each experiment's own training and test files (issue 14).

    .venv/bin/python benchmarks/ionmf_bench.py [--work .bench/ionmf] [--experiments 23_PARCLIP_PUM2,...]
                                               [--configs "defaults;head=global"] [--seed 1] [--reuse]

For each experiment (default: all 26) and each configuration (``defaults``, or ``;``-separated
sets of ``name=value`` hyperparameter flags such as ``head=global,kernel_len=12``), ``seqzoo train
--class bound=<class:1 records> --class unbound=<class:0 records>`` on the experiment's training
file with its test file as the test set (sites vs genomic background, 1:4, 101 nt): test AUROC, AP
and wall seconds (2 threads), beside the iDeep values retrained by Avsec et al. 2018 where the
issue names them (PUM2 0.984, QKI 0.956, IGF2BP123 0.954; goal: reach them within 300 s with the
defaults). Results go to WORK/results.json as they come; BENCHMARKS.md gets "ionmf".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from runs import seqzoo

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "datasets" / "clip-ionmf"
ANCHORS = {"23_PARCLIP_PUM2": 0.984, "24_PARCLIP_QKI": 0.956, "15_PARCLIP_IGF2BP123": 0.954}


def split_file(source: Path, folder: Path) -> dict[str, Path]:
    """The class:1 and class:0 records of an iONMF FASTA as two FASTA files (written once)."""
    out = {"bound": folder / f"{source.name}.bound.fa", "unbound": folder / f"{source.name}.unbound.fa"}
    if not out["bound"].exists():
        from seqzoo.zoo.io.fasta import read_fasta

        records = {"bound": [], "unbound": []}
        for r in read_fasta(source):
            records["bound" if "class:1" in r.header else "unbound"].append(f">{r.header}\n{r.sequence}\n")
        for kind, path in out.items():
            path.write_text("".join(records[kind]))
    return out


def train(work: Path, experiment: str, config: str, seed: int) -> dict:
    train_files = split_file(DATA / f"{experiment}.training.fa.gz", work / "data")
    test_files = split_file(DATA / f"{experiment}.test.fa.gz", work / "data")
    flags = [] if config == "defaults" else [
        arg for pair in config.split(",") for arg in (f"--{pair.split('=')[0].replace('_', '-')}", pair.split("=")[1])]
    summary, seconds = seqzoo("train", "--name", "x", "--class", f"unbound={train_files['unbound']}", "--class",
                              f"bound={train_files['bound']}", "--test-class", f"unbound={test_files['unbound']}",
                              "--test-class", f"bound={test_files['bound']}", *flags, "--seed", str(seed), "--out",
                              str(work / "runs" / f"{experiment}-{config}"), "--no-publish", "--force", "--quiet",
                              "--json", "--threads", "2")
    test = summary["metrics"]["test"]
    return {"auroc": test["auroc"]["bound"], "ap": test["ap"]["bound"], "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work", default=str(REPO / ".bench" / "ionmf"))
    parser.add_argument("--experiments", default=",".join(sorted(
        {p.name.split(".")[0] for p in DATA.glob("*.training.fa.gz")}, key=lambda n: int(n.split("_")[0]))))
    parser.add_argument("--configs", default="defaults")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    (work / "data").mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if args.reuse and saved.exists() else {}
    load = [os.getloadavg()[0]]
    for experiment in args.experiments.split(","):
        for config in args.configs.split(";"):
            key = f"{experiment}|{config}"
            if key not in results:
                results[key] = train(work, experiment, config, args.seed)
                saved.write_text(json.dumps(results, indent=1))
                print(key, round(results[key]["auroc"], 4), round(results[key]["seconds"]), file=sys.stderr, flush=True)
    load.append(os.getloadavg()[0])
    print(body := render(results, args, load))
    record("ionmf", "Single-task models on the iONMF family (issue 14)",
           f".venv/bin/python benchmarks/ionmf_bench.py --experiments {args.experiments} --configs \"{args.configs}\"",
           body)
    return 0


def render(results: dict, args, load: list[float]) -> str:
    configs = args.configs.split(";")
    head = "| experiment | " + " | ".join(f"{c}: AUROC / AP / s" for c in configs) + " | anchor |"
    rows = [head, "|---" * (len(configs) + 2) + "|"]
    for experiment in args.experiments.split(","):
        cells = []
        for config in configs:
            r = results.get(f"{experiment}|{config}")
            cells.append(f"{r['auroc']:.3f} / {r['ap']:.3f} / {r['seconds']:.0f}" if r else "-")
        rows.append(f"| {experiment} | " + " | ".join(cells) + f" | {ANCHORS.get(experiment, '')} |")
    means = []
    for config in configs:
        values = [results[f"{e}|{config}"]["auroc"] for e in args.experiments.split(",") if f"{e}|{config}" in results]
        means.append(f"{config}: {np.mean(values):.3f} over {len(values)}" if values else f"{config}: -")
    return (f"`seqzoo train` on each experiment's own iONMF training file (class:1 sites vs class:0 genomic "
            f"background) with its test file as the test set, seed {args.seed}, 2 threads; the configuration's flags "
            f"on top of the defaults. 1-minute load average {load[0]:.1f} before, {load[1]:.1f} after (seconds are "
            f"wall time and grow with the load).\n\n" + "\n".join(rows) + "\n\nMean test AUROC: " + "; ".join(means) + ".")


if __name__ == "__main__":
    sys.exit(main())
