"""``seqzoo zoo build``: train, check and publish the catalogue's models that the zoo lacks.

A recipe is up to date when a version of its name carries the recipe's digest (card
``recipe.digest``): nothing is retrained. Every other recipe runs ``seqzoo train`` (or ``seqzoo
lm``) as its own process into ``WORK/<name>`` with ``--no-publish``, ``jobs`` at a time with
``threads`` PyTorch threads each; its ``--json`` summary is checked against the recipe's expected
metrics, and only a run within every tolerance is published (one publish at a time, in this
process), with the recipe's licence, citation, dataset and class descriptions in its card and
without report.html (``seqzoo report REF`` renders it from the version on demand). A run
that fails or falls outside a tolerance is reported and leaves the zoo as it was. A run directory
is kept with its summary and the recipe's training digest, so a recipe whose descriptions or
expectations changed is checked and published again without retraining.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from seqzoo.training.catalogue import Recipe
from seqzoo.zoo.errors import SeqzooError
from seqzoo.zoo.io.atomic import write_text
from seqzoo.zoo.registry import LocalZoo

BUILD_SUMMARY = "build-summary.json"  # in a run directory: the --json summary and the training digest


def published_digests(zoo: LocalZoo) -> dict[str, tuple[int, str]]:
    """recipe digest -> (version, artifact digest) of every version a recipe built."""
    out = {}
    for mv in zoo.list():
        recipe = mv.card.get("recipe") or {}
        if recipe.get("digest"):
            out[recipe["digest"]] = (mv.version, mv.digest)
    return out


def build(recipes: list[Recipe], zoo: LocalZoo, work: Path, jobs: int = 1, threads: int = 1,
          log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> list[dict]:
    """Build every recipe the zoo lacks; one result per recipe, in the recipes' order.

    Each result: name, status (``up to date``, ``published``, ``outside tolerance``, ``failed``),
    version, digest and publish_seconds where published, checks (metric, value, expected,
    tolerance, ok), seconds (of training, also for a kept run), and error for a failed run.
    """
    done = published_digests(zoo)
    lock = threading.Lock()
    work.mkdir(parents=True, exist_ok=True)

    def one(recipe: Recipe) -> dict:
        digest = recipe.digest
        if digest in done:
            version, artifact = done[digest]
            return {"name": recipe.name, "status": "up to date", "version": version, "digest": artifact,
                    "checks": [], "seconds": 0.0}
        start = time.perf_counter()
        run_dir = work / recipe.name
        summary = _kept_summary(run_dir, recipe.training_digest)
        if summary is None:
            log(f"{recipe.name}: training ({recipe.data['command']})")
            result = subprocess.run([sys.executable, "-m", "seqzoo", *recipe.argv(run_dir, threads)],
                                    capture_output=True, text=True, check=False)
            if result.returncode:
                error = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
                log(f"{recipe.name}: failed after {time.perf_counter() - start:.0f} s: {error}")
                return {"name": recipe.name, "status": "failed", "error": error, "checks": [],
                        "seconds": time.perf_counter() - start}
            summary = json.loads(result.stdout.strip().splitlines()[-1])
            summary["build"] = {"training_digest": recipe.training_digest, "seconds": time.perf_counter() - start,
                                "threads": threads}
            write_text(run_dir / BUILD_SUMMARY, json.dumps(summary, indent=1))
        else:
            log(f"{recipe.name}: reusing the kept run {run_dir} (same options and data)")
        seconds = summary["build"]["seconds"]
        try:
            checks = recipe.check(summary)
            outcome = {"name": recipe.name, "checks": checks, "seconds": seconds}
            if not all(c["ok"] for c in checks):
                bad = next(c for c in checks if not c["ok"])
                log(f"{recipe.name}: {bad['metric']} = {bad['value']:.4f}, expected {bad['expected']} +/- "
                    f"{bad['tolerance']}: not published")
                return {**outcome, "status": "outside tolerance"}
            with lock:
                publishing = time.perf_counter()
                mv = _publish(recipe, run_dir, zoo, digest)
                publish_seconds = time.perf_counter() - publishing
        except SeqzooError as exc:  # one recipe's bad expectation or failed export: the others go on
            log(f"{recipe.name}: failed: {exc}")
            return {"name": recipe.name, "status": "failed", "error": str(exc), "checks": [], "seconds": seconds}
        log(f"{recipe.name}: published {mv.name}:{mv.version} ({mv.digest[:19]}): trained in {seconds:.0f} s, "
            f"published in {publish_seconds:.0f} s")
        return {**outcome, "status": "published", "version": mv.version, "digest": mv.digest,
                "publish_seconds": publish_seconds}

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, recipes))


def _kept_summary(run_dir: Path, training_digest: str) -> dict | None:
    """The summary of a kept run trained from the same options and data, else None."""
    try:
        summary = json.loads((run_dir / BUILD_SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if summary.get("build", {}).get("training_digest") == training_digest else None


def _portable(value, files: list[str]):
    """``value`` (JSON) with every absolute path of a recipe's dataset file written as the recipe
    names it (``datasets/...``), so a card says the same wherever the catalogue was built."""
    if isinstance(value, dict):
        return {k: _portable(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v, files) for v in value]
    if isinstance(value, str):
        return next((f for f in files if value.endswith("/" + f)), value)
    return value


def _publish(recipe: Recipe, run_dir: Path, zoo: LocalZoo, digest: str):
    for name in ("card.json", "config.json"):  # the run's record of its data files
        if (run_dir / name).is_file():
            data = json.loads((run_dir / name).read_text())
            write_text(run_dir / name, json.dumps(_portable(data, recipe.data["dataset"]["files"]), indent=1))
    about, description = recipe.about(digest), recipe.data["description"]
    if recipe.data["command"] == "lm":
        from seqzoo.training.lm_publish import publish_lm

        return publish_lm(run_dir, zoo, recipe.name, description=description, about=about)
    from seqzoo.training.publish import publish_run

    return publish_run(run_dir, zoo, recipe.name, description=description,
                       database=recipe.data["options"].get("motif-database"), about=about, report=False)
