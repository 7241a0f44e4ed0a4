"""The catalogue: one recipe per pretrained model (``catalogue/<name>.yaml``).

A recipe says which dataset files a model is trained on (all under ``datasets/``, with their
source, licence and citation), what the model is (description, per-class descriptions, species,
assembly, authors, tags, the model's own licence and citation), the ``seqzoo train`` or ``seqzoo
lm`` options that build it (flag names without ``--``; a list repeats the flag; ``true`` is a
bare flag), and the test metrics it must reproduce, each within a tolerance. Paths in the options
are relative to the catalogue's parent folder (the repository root) and must be files the recipe
lists, so the recipe's digest (of its text and of every dataset file) changes when either does:
``seqzoo zoo build`` rebuilds exactly the recipes whose digest no published version carries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.yaml_text import load_yaml
from seqzoo.zoo.schemas import schema_errors

# what the build itself sets, or what comes from the recipe's own fields
RESERVED = {"name", "out", "zoo", "no-publish", "json", "quiet", "force", "threads", "device", "licence", "license",
            "citation", "author", "tag", "species", "assembly", "class-description", "dataset-source",
            "description", "positive-class"}


@dataclass(frozen=True)
class Recipe:
    """One parsed, checked recipe."""

    name: str
    path: Path
    data: dict
    root: Path

    @cached_property
    def file_digests(self) -> dict[str, str]:
        """sha256 of every dataset file the recipe lists."""
        from seqzoo.training.data import sha256_hex

        return {name: sha256_hex(self.root / name) for name in self.data["dataset"]["files"]}

    @property
    def digest(self) -> str:
        """sha256 of the whole recipe and its dataset files: the card's ``recipe.digest``."""
        return _digest({"recipe": self.data, "files": self.file_digests})

    @property
    def training_digest(self) -> str:
        """sha256 of what decides the trained weights (command, options, dataset files): a kept run
        with this digest is reused when only the recipe's descriptions or expectations changed."""
        return _digest({"command": self.data["command"], "options": self.data["options"], "files": self.file_digests})

    def argv(self, out: Path, threads: int) -> list[str]:
        """The ``seqzoo train|lm`` arguments that build it into run directory ``out`` (no publishing)."""
        args = [self.data["command"], "--name", self.name, "--out", str(out), "--no-publish", "--json", "--quiet",
                "--threads", str(threads)]
        if self.data["command"] == "train":
            args.append("--force")
        for flag, value in self.data["options"].items():
            for item in value if isinstance(value, list) else [value]:
                if item is True:
                    args.append(f"--{flag}")
                elif item is not False:
                    args += [f"--{flag}", self._resolved(str(item))]
        return args

    def _resolved(self, value: str) -> str:
        path = dataset_path(value)
        return value if path is None else value.removesuffix(path) + str(self.root / path)

    def about(self, digest: str) -> dict:
        """The card's stated fields (zoo.card.about_section)."""
        d = self.data
        return {"license": d["license"], "citation": d["citation"], "authors": d["authors"], "tags": d["tags"],
                "species": d.get("species"), "assembly": d.get("assembly"),
                "class_descriptions": d.get("classes") or {}, "dataset": dict(d["dataset"]),
                "positive_class": d.get("positive_class"),
                "recipe": {"name": self.name, "digest": digest}}

    def check(self, summary: dict) -> list[dict]:
        """Every expected metric against the run's ``--json`` summary: metric, value, expected,
        tolerance, ok."""
        rows = []
        for want in self.data["expect"]:
            value = summary
            for key in want["metric"].split("."):
                if not isinstance(value, dict) or key not in value:
                    raise InputError(f"{self.path}: expect metric {want['metric']!r} is not in the run's summary "
                                     f"(at {key!r})")
                value = value[key]
            if not isinstance(value, (int, float)):
                raise InputError(f"{self.path}: expect metric {want['metric']!r} is not a number")
            rows.append({"metric": want["metric"], "value": value, "expected": want["value"],
                         "tolerance": want["tolerance"], "ok": abs(value - want["value"]) <= want["tolerance"]})
        return rows


def dataset_path(value: str) -> str | None:
    """The path an option value reads (``PATH`` or ``NAME=PATH``) when it looks like one (it has a
    folder part, starts with ``.``, ``~`` or ``/``, or names an existing file), else None."""
    path = value.rpartition("=")[2]
    if "/" in path or "\\" in path or path.startswith((".", "~")):
        return path
    try:
        return path if path and Path(path).is_file() else None
    except (OSError, ValueError):  # too long or a NUL byte for a file name: not a path
        return None


def _inside(root: Path, name: str) -> bool:
    """Whether recipe path ``name`` is a plain relative path under ``root/datasets`` (no ``..``, no
    link out of it)."""
    parts = name.split("/")
    if parts[0] != "datasets" or any(p in ("", ".", "..") for p in parts) or "\\" in name:
        return False
    base = (root / "datasets").resolve()
    return (root / name).resolve().is_relative_to(base)


@cache
def command_options(command: str) -> frozenset[str]:
    """The full long option names (no ``--``) that ``seqzoo train`` or ``seqzoo lm`` accepts, read from
    the command's own parser (``seqzoo.cli.train`` / ``seqzoo.cli.lm``: a recipe is a command line)."""
    import argparse
    import importlib

    parser = argparse.ArgumentParser(allow_abbrev=False)
    importlib.import_module(f"seqzoo.cli.{command}").add_arguments(parser)
    return frozenset(o[2:] for a in parser._actions for o in a.option_strings if o.startswith("--"))


def _digest(payload: dict) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def read_recipe(path: Path, root: Path) -> Recipe:
    """Parse and check one recipe file (schema, name = file name, options, dataset files).

    Options must be full option names of the command (no abbreviations) that the build does not own,
    and every path a recipe names - dataset files and option values - must be a listed file under
    ``root/datasets``: a recipe never reads or writes anywhere else."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or 'not UTF-8 text'})") from None
    data = load_yaml(text, path)
    errors = schema_errors(data, "recipe")
    if errors:
        raise InputError(f"{path}: not a recipe: {errors[0]}")
    if data["name"] != path.stem:
        raise InputError(f"{path}: name {data['name']!r} differs from the file's name {path.stem!r}")
    if "positive_class" in data and data["positive_class"] not in (data.get("classes") or {}):
        raise InputError(f"{path}: positive_class {str(data['positive_class'])[:60]!r} is not one of the recipe's "
                         "classes")
    known = command_options(data["command"])
    for flag in data["options"]:
        if flag in RESERVED or flag.startswith("-"):
            raise InputError(f"{path}: options.{flag}: set by the build or by the recipe's own fields, not an option")
        if flag not in known:
            raise InputError(f"{path}: options.{flag[:60]}: not an option of seqzoo {data['command']} "
                             "(write the full option name)")
    listed = set(data["dataset"]["files"])
    for name in sorted(listed):
        if not _inside(root, name):
            raise InputError(f"{path}: dataset file {name[:200]} is not a plain path under {root / 'datasets'}")
        if not (root / name).is_file():
            raise InputError(f"{path}: dataset file {name[:200]} does not exist under {root}")
    for flag, value in data["options"].items():
        for item in value if isinstance(value, list) else [value]:
            text = dataset_path(str(item))
            if text is not None and text not in listed:
                raise InputError(f"{path}: options.{flag} reads {text[:200]}, which dataset.files does not list "
                                 "(every file a recipe reads is listed there, under datasets/)")
    return Recipe(data["name"], path, data, root)


def read_catalogue(folder: str | Path, only: list[str] | None = None) -> list[Recipe]:
    """Every recipe of ``folder`` (``*.yaml``, sorted by name), or only the named ones."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such catalogue folder")
    root = folder.resolve().parent
    paths = sorted(folder.glob("*.yaml"))
    if only:
        known = {p.stem: p for p in paths}
        for name in only:
            if name not in known:
                raise InputError(f"--only {name}: no recipe {folder / (name + '.yaml')}")
        paths = [known[name] for name in only]
    if not paths:
        raise InputError(f"{folder}: no recipes (*.yaml)")
    return [read_recipe(p, root) for p in paths]
