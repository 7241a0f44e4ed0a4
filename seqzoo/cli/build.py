"""``seqzoo zoo build CATALOGUE_DIR --zoo DIR [--only NAME ...] [--jobs N] [--threads T] [--work DIR]``:
train, check against their recipes, and publish the catalogue's models the zoo lacks.

An action of ``seqzoo zoo`` that lives in the training wing (it trains with PyTorch), plugged in
by ``seqzoo/cli/__init__.py`` like ``export``. Exits 1 when any recipe failed or fell outside a tolerance.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "train, check and publish the catalogue's models the zoo lacks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("catalogue", metavar="CATALOGUE_DIR", help="folder of recipes (<name>.yaml)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build only these recipes")
    cores = os.cpu_count() or 1
    parser.add_argument("--jobs", type=int, default=max(1, cores // 2),
                        help=f"recipes trained at once (default: half the cores, {max(1, cores // 2)})")
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch threads per recipe (default: cores / jobs)")
    parser.add_argument("--work", metavar="DIR", default=None,
                        help="where the run directories go (default: <zoo>/../.build)")


def run(args, zoo) -> int:
    from seqzoo.cli.zoo import emit, table
    from seqzoo.training.build import build
    from seqzoo.training.catalogue import read_catalogue
    from seqzoo.zoo.errors import InputError

    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise InputError("--jobs and --threads must be at least 1")
    recipes = read_catalogue(args.catalogue, args.only)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    work = Path(args.work) if args.work else zoo.root.resolve().parent / ".build"
    results = build(recipes, zoo, work, args.jobs, threads)
    rows = [{"name": r["name"], "status": r["status"], "version": r.get("version"),
             "metric": "; ".join(f"{c['metric']} {c['value']:.4f} (want {c['expected']} +/- {c['tolerance']})"
                                 for c in r["checks"]) or r.get("error"),
             "seconds": f"{r['seconds']:.0f}"} for r in results]
    emit(args, results, table(rows, ["name", "status", "version", "seconds", "metric"]))
    return 0 if all(r["status"] in ("up to date", "published") for r in results) else 1
