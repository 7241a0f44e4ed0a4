"""RNA structure as its own input vs pysster's product alphabet vs sequence only (issue 14).

    .venv/bin/python benchmarks/structure_bench.py [--work .bench/structure] [--sets pum2,qki] [--seeds 1,2,3] [--reuse]

For each of pysster's PUM2 and QKI sets (datasets/rbp: 200 nt, balanced, their own test files)
and each seed, the defaults of ``seqzoo train`` three ways: the sequence only; ``--structure``
(ViennaRNA's annotated structure in the sequence x structure product alphabet, pysster's way);
``--track structure`` (the same structure as a second input with its own convolutions, DeepRiPe's
way). Test AUROC and AP per run, the mean and spread per way, training seconds (folding
included). Every run is its own process; results go to WORK/results.json as they come. Writes
BENCHMARKS.md "structure".
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
RBP = REPO / "datasets" / "rbp"
WAYS = {"sequence": [], "product": ["--structure"], "track": ["--track", "structure"]}


def train(work: Path, dataset: str, way: str, seed: int) -> dict:
    files = [f"--{kind}={label}={RBP / f'{dataset}.{split}.{label}.fasta.gz'}"
             for kind, split in (("class", "train"), ("test-class", "test")) for label in ("negative", "positive")]
    summary, seconds = seqzoo("train", "--name", f"{dataset}-{way}-{seed}", "--alphabet", "rna", *files, *WAYS[way],
                              "--seed", str(seed), "--out", str(work / "runs" / f"{dataset}-{way}-{seed}"),
                              "--no-publish", "--force", "--quiet", "--json", "--threads", "2")
    test = summary["metrics"]["test"]
    return {"auroc": test["auroc"]["positive"], "ap": test["ap"]["positive"], "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work", default=str(REPO / ".bench" / "structure"))
    parser.add_argument("--sets", default="pum2,qki")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if args.reuse and saved.exists() else {}
    load = [os.getloadavg()[0]]
    for dataset in args.sets.split(","):
        for seed in args.seeds.split(","):
            for way in WAYS:
                key = f"{dataset}-{way}-{seed}"
                if key not in results:
                    results[key] = train(work, dataset, way, int(seed))
                    saved.write_text(json.dumps(results, indent=1))
                    print(key, round(results[key]["auroc"], 4), file=sys.stderr, flush=True)
    load.append(os.getloadavg()[0])
    print(body := render(results, args, load))
    record("structure", "RNA structure: its own input vs the product alphabet vs sequence only (issue 14)",
           f".venv/bin/python benchmarks/structure_bench.py --sets {args.sets} --seeds {args.seeds}", body)
    return 0


def render(results: dict, args, load: list[float]) -> str:
    rows = ["| set | input | test AUROC (mean +/- sd over seeds) | AP | seconds per run |", "|---|---|---|---|---|"]
    for dataset in args.sets.split(","):
        for way in WAYS:
            runs = [results[f"{dataset}-{way}-{s}"] for s in args.seeds.split(",")]
            auroc = np.array([r["auroc"] for r in runs])
            rows.append(f"| {dataset} | {way} | {auroc.mean():.4f} +/- {auroc.std():.4f} | "
                        f"{np.mean([r['ap'] for r in runs]):.4f} | {np.mean([r['seconds'] for r in runs]):.0f} |")
    return (f"pysster's sets (200 nt, balanced; their own test files), `seqzoo train` defaults, seeds {args.seeds}; "
            f"`product` = `--structure` (sequence x annotated structure, one input), `track` = `--track structure` "
            f"(the same structure as its own input and branch). Seconds include folding (ViennaRNA). 1-minute load "
            f"average {load[0]:.1f} before, {load[1]:.1f} after.\n\n" + "\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
