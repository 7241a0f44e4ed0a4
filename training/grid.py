"""Grid search (pysster's): every combination of the listed hyperparameter values is trained.

A grid comes from the command line (``kernel_num=30,60 kernel_len=8,12``) or a YAML/JSON file
mapping names to lists. Models are ranked by validation AUROC (or AP), the ranking is written as
a TSV table, and the caller keeps the best model as the run.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from seqzoo.training.models import hyperparameters
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import write_text
from seqzoo.zoo.io.yaml_text import load_yaml


def load_mapping(path: str | Path) -> dict:
    """A YAML or JSON file holding one mapping (a config or a grid); errors name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or 'not UTF-8 text'})") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:200]})") from None
    else:
        data = load_yaml(text, path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of name: value, got {type(data).__name__}")
    return data


def parse_grid(items: Sequence[str]) -> dict[str, list]:
    """``["kernel_num=30,60", "head=flatten,global"]`` or ``["grid.yaml"]`` -> {name: [values]}.

    Values are checked (and converted) through ``models.hyperparameters``.
    """
    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            for name, values in load_mapping(item).items():
                grid[name.replace("-", "_")] = values if isinstance(values, list) else [values]
            continue
        name, _, values = item.partition("=")
        if not values:
            raise InputError(f"--grid {item!r}: no values after '='")
        grid[name.strip().replace("-", "_")] = [v.strip() for v in values.split(",") if v.strip()]
    for name, values in grid.items():
        grid[name] = [hyperparameters({name: v})[name] for v in values]
    if not grid:
        raise InputError("--grid is empty: give name=v1,v2 pairs or a YAML file")
    return grid


def combinations(base: dict, grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values on top of ``base`` hyperparameters."""
    names = list(grid)
    return [{**base, **dict(zip(names, values))} for values in itertools.product(*(grid[n] for n in names))]


def rank(results: list[dict], key: str) -> list[dict]:
    """Sort results (dicts with ``val`` metrics headline under ``key``) best first; NaN last."""
    return sorted(results, key=lambda r: -r[key] if not math.isnan(r[key]) else math.inf)


def write_table(path: str | Path, ranked: list[dict], names: list[str], key: str) -> None:
    """grid.tsv: rank, the grid's parameters, validation AUROC and AP, best epoch, seconds."""
    path = Path(path)
    lines = ["\t".join(["rank", *names, "val_auroc", "val_ap", "best_epoch", "seconds"])]
    for i, r in enumerate(ranked, start=1):
        lines.append("\t".join([str(i), *(str(r["params"][n]) for n in names), f"{r['val_auroc']:.4f}",
                                f"{r['val_ap']:.4f}", str(r["best_epoch"]), f"{r['seconds']:.1f}"]))
    write_text(path, "\n".join(lines) + "\n")


def search(base: dict, grid: dict[str, list], train_one: Callable[[dict], dict], key: str = "val_auroc"
           ) -> tuple[list[dict], dict]:
    """Train every combination with ``train_one(params) -> {"val_auroc", "val_ap", ...}``.

    Returns
    -------
    (ranked, best)
        All results best first (each with ``params``), and the best one.
    """
    results = []
    for params in combinations(base, grid):
        result = train_one(params)
        results.append({**result, "params": params})
    ranked = rank(results, key)
    return ranked, ranked[0]
