"""The catalogue built into a registry: every model's test metrics beside the published anchor,
the time to build it on this machine, and the registry's size (issue 17).

    .venv/bin/python benchmarks/catalogue_bench.py [--catalogue catalogue] [--zoo registry]
                                                   [--work .bench/registry-build/work] [--jobs 1] [--threads 2]
                                                   [--only NAME ...]

Runs ``seqzoo zoo build`` (what is built already is skipped; kept runs are not retrained), then
``seqzoo zoo index``, and writes BENCHMARKS.md "catalogue": one row per recipe with the latest
version's test AUROC / AP (a language model: test perplexity beside its Markov baseline), the
anchor where one is published, the training seconds (each kept run's build summary) and the
publishing seconds (kept in WORK/timing.json across runs, so a build finished in several sittings
is counted once), the registry's size and
the build's wall time and load.
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
from seqzoo.zoo.index import headline

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
# published test AUROC of the same data: pysster (its 200-nt sets), iDeep retrained by Avsec et al.
# 2018 (iONMF), the Bayes-optimal classifier of the FOXO1 exercise's design
ANCHORS = {"pum2": "0.945 (pysster)", "pum2-structure": "0.945 (pysster)", "qki": "0.966 (pysster)",
           "qki-structure": "0.966 (pysster)", "ionmf-23-parclip-pum2": "0.984 (iDeep)",
           "ionmf-24-parclip-qki": "0.956 (iDeep)", "ionmf-15-parclip-igf2bp123": "0.954 (iDeep)",
           "foxo1": "0.9975 (Bayes-optimal)"}


def seqzoo(*args: str) -> tuple[str, float]:
    start = time.perf_counter()
    result = subprocess.run([PY, "-m", "seqzoo", *args], capture_output=True, text=True, cwd=REPO, check=False)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"seqzoo {' '.join(args[:2])} failed:\n{result.stderr[-3000:]}")
    return result.stdout, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--catalogue", default="catalogue")
    parser.add_argument("--zoo", default="registry")
    parser.add_argument("--work", default=".bench/registry-build/work")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build only these recipes (the table lists them)")
    parser.add_argument("--url", default="https://raw.githubusercontent.com/seqzoo/seqzoo/main/registry")
    args = parser.parse_args()
    work, zoo = Path(args.work), Path(args.zoo)
    work.mkdir(parents=True, exist_ok=True)
    load = [os.getloadavg()[0]]
    out, wall = seqzoo("zoo", "build", args.catalogue, "--zoo", str(zoo), "--work", str(work), "--jobs",
                       str(args.jobs), "--threads", str(args.threads), "--json", *(["--only", *args.only] if args.only
                                                                                 else []))
    load.append(os.getloadavg()[0])
    results = json.loads(out)
    saved = work / "timing.json"
    timing = json.loads(saved.read_text()) if saved.exists() else {"recipes": {}, "walls": []}
    for r in results:
        if r["status"] == "published":
            timing["recipes"][r["name"]] = {"publish": r.get("publish_seconds")}
    if any(r["status"] != "up to date" for r in results):
        timing["walls"].append({"seconds": wall, "load": load, "statuses": [r["status"] for r in results]})
    saved.write_text(json.dumps(timing, indent=1))
    seqzoo("zoo", "index", "--zoo", str(zoo), "--url", args.url)
    print(body := render(results, zoo, work, timing, args.catalogue))
    record("catalogue", "The catalogue built into the shipped registry (issue 17)",
           f".venv/bin/python benchmarks/catalogue_bench.py --zoo {args.zoo} --jobs {args.jobs} "
           f"--threads {args.threads}", body)
    return 0 if all(r["status"] in ("up to date", "published") for r in results) else 1


def train_seconds(work: Path, name: str) -> float | None:
    """Training seconds of a recipe's kept run (its build summary), wherever the build ran."""
    try:
        return json.loads((work / name / "build-summary.json").read_text())["build"]["seconds"]
    except (OSError, ValueError, KeyError):
        return None


def render(results: list[dict], zoo: Path, work: Path, timing: dict, catalogue: str) -> str:
    from seqzoo.training.catalogue import read_catalogue

    recipes = {r.name: r for r in read_catalogue(REPO / catalogue)}
    rows = ["| model | task | test AUROC | test AP | anchor | train s | publish s | status |", "|---" * 8 + "|"]
    for r in results:
        card = {}
        if r.get("version"):
            card = json.loads((zoo / r["name"] / str(r["version"]) / "card.json").read_text())
        t = timing["recipes"].get(r["name"], {})
        if card.get("task") == "language_model":
            ppl = card["metrics"]["perplexity"]["test"]
            auroc, ap = f"perplexity {ppl:.4f}", "-"
            anchor = f"Markov order {card['baseline']['order']}: {card['baseline']['perplexity']['test']:.4f}"
        else:
            numbers = headline(card)  # the mean over a multitask model's tasks
            aimed = recipes[r["name"]].data["expect"][0]["metric"].split(".")  # metrics.test.auroc.<class>
            if card.get("task") == "binary" and aimed[:3] == ["metrics", "test", "auroc"]:
                numbers = {k: card["metrics"]["test"][k][aimed[3]] for k in ("auroc", "ap")}  # the recipe's class
            many = "mean " if card.get("task") == "multilabel" else ""
            auroc, ap = (f"{many}{numbers[k]:.4f}" if k in numbers else "-" for k in ("auroc", "ap"))
            anchor = ANCHORS.get(r["name"], "")
        publish = f"{t['publish']:.0f}" if t.get("publish") is not None else "-"
        seconds = train_seconds(work, r["name"])
        train = f"{seconds:.0f}" if seconds is not None else "-"
        rows.append(f"| {r['name']} | {card.get('task', '-')} | {auroc} | {ap} | {anchor} | {train} | {publish} | "
                    f"{r['status']} |")
    size = sum(p.stat().st_size for p in zoo.rglob("*") if p.is_file())
    trained = sum(train_seconds(work, r["name"]) or 0 for r in results)
    published = sum(t.get("publish") or 0 for t in timing["recipes"].values())
    walls = "; ".join(f"{w['seconds']:.0f} s (load {w['load'][0]:.1f} -> {w['load'][1]:.1f})" for w in timing["walls"])
    return (f"`seqzoo zoo build` of every recipe in catalogue/ on this machine (training seconds of each recipe's "
            f"kept run, wherever it ran; publishing seconds where this script's build published it), then `seqzoo zoo "
            f"index`. Training {trained:.0f} s and publishing {published:.0f} s summed over the recipes; wall time of "
            f"the build command(s) run by this script: {walls or '-'}. Registry size (every file, index.html "
            f"included): {size / 2**20:.1f} MiB.\n\n" + "\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
