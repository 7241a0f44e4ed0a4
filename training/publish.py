"""Publish a training run into the zoo: the one orchestrator behind ``seqzoo train`` and ``seqzoo zoo export``.

``publish_run(run_dir, zoo, name)`` goes through fixed steps, each a function below:

1. export: the three ONNX graphs into a staging folder, parity-checked against PyTorch (a failed
   check raises ``ExportError`` and nothing is published);
2. interpretation: the run's interpretation products (motifs, report, plots) join the version;
3. card: the run's card completed with input/output, graphs, parity, ``expect`` (reference
   sequences and the probabilities the artifact must reproduce) and provenance, then validated;
4. publish: ``LocalZoo.publish`` copies the staging folder in, stamps the final name and version
   into card.json and into each ONNX file's metadata, writes MANIFEST.json and renames.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from seqzoo.training.provenance import provenance
from seqzoo.zoo.alphabets import ProductAlphabet
from seqzoo.zoo.card import (
    SCHEMA_VERSION,
    about_section,
    card_text,
    input_section,
    positive_class,
    read_card,
    validate_card,
)
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.inputs import alphabet_from_dict
from seqzoo.zoo.refs import validate_name
from seqzoo.zoo.registry import LocalZoo, ModelVersion

log = logging.getLogger(__name__)

EXPECT_COUNT = 4
# run files that travel with the version (weights.pt, data.npz and config.json stay in the run)
CARRIED_SUFFIXES = (".png", ".svg", ".html", ".meme", ".tsv")


def publish_run(run_dir: str | os.PathLike, zoo: LocalZoo, name: str, description: str | None = None,
                database: str | None = None, about: dict | None = None, report: bool = True) -> ModelVersion:
    """Export, check, describe and publish a training run as the next version of ``name``.

    Parameters
    ----------
    run_dir : path
        A run directory written by ``seqzoo train --out`` (config.json, weights.pt, card.json, data.npz).
    zoo : LocalZoo
    name : str
        The model's name in the zoo (validated before any work).
    description : str, optional
        Overrides the card's description.
    database : str, optional
        The motif database the interpretation matches against (``jaspar2024``, ``attract``, a MEME
        file; default by alphabet: JASPAR for DNA, ATtRACT for RNA). CLIP sites read as DNA
        letters are RNA-binding: give ``attract``.
    about : dict, optional
        What the publisher states about the model (zoo.card.about_section: licence, citation,
        authors, tags, species, assembly, class descriptions, dataset, recipe); unstated fields stay
        empty in the card, never a default.
    report : bool
        Render report.html into the version (``seqzoo report REF`` renders it later otherwise).

    Returns
    -------
    ModelVersion
    """
    import torch
    from seqzoo.training.models import load_run

    name = validate_name(name)
    run_dir = Path(run_dir)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    model, config = load_run(run_dir)
    run_card = read_card(run_dir, validate=False) if (run_dir / "card.json").is_file() else {}
    # the class defaults and the interpretation are about: as stated, else inferred where unambiguous
    positive = (about or {}).get("positive_class") or positive_class(
        {**run_card, "task": config["task"], "classes": list(config["classes"])})
    zoo.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=zoo.root) as staging:
        staging = Path(staging)
        spec, graphs, parity = export_step(model, config, staging)
        interpretation = interpretation_step(run_dir, staging, {**run_card, "name": name}, database, report,
                                             positive)
        card = card_step(run_dir, staging, config, run_card, spec, graphs, parity, interpretation, name,
                         description, about, positive)
        (staging / "card.json").write_text(card_text(card))
        return zoo.publish(staging, name, stamp=stamp_graphs)


def export_spec(model, config: dict):
    """The ExportSpec of a run: alphabet table, length, whether length is dynamic, classes."""
    from seqzoo.training.export import make_spec

    alphabet = alphabet_from_dict(config["alphabet"])
    return make_spec(model, alphabet.table, int(model.length), len(config["classes"]),
                     getattr(alphabet, "baseline", None))


def export_step(model, config: dict, staging: Path) -> tuple:
    """Step 1: write the three graphs and check them against torch; returns (spec, graphs, parity)."""
    from seqzoo.training.export import check_parity, export_graphs

    spec = export_spec(model, config)
    graphs = export_graphs(model, spec, staging)
    parity = check_parity(model, spec, staging)
    return spec, graphs, parity


def interpretation_step(run_dir: Path, staging: Path, run_card: dict, database: str | None = None,
                        report: bool = True, positive: str | None = None) -> dict:
    """Step 2: bring the run's interpretation products into the version.

    Copies plots, motifs.meme and tables the run wrote (see CARRIED_SUFFIXES), interprets the
    model (motifs.meme, interpretation/) and, with ``report``, renders report.html; returns the
    card fields they stand for (``motifs``). Without the report a version is smaller (the shipped
    registry); ``seqzoo report REF`` renders it from interpretation/ on demand.
    """
    for path in sorted(run_dir.iterdir()):
        if path.is_file() and not path.is_symlink() and path.suffix in CARRIED_SUFFIXES:
            shutil.copyfile(path, staging / path.name)
    from seqzoo.training.interpret import interpret_run
    from seqzoo.training.report import write_report

    result = interpret_run(run_dir, staging, database=database, positive=positive)  # motifs.meme + interpretation/ (issue 6)
    if report:
        write_report(staging / "report.html", {**run_card, "motifs": result["motifs"]}, result["summary"], [staging])
    return {"motifs": result["motifs"]}


def card_step(run_dir: Path, staging: Path, config: dict, run_card: dict, spec, graphs: dict, parity: dict,
              interpretation: dict, name: str, description: str | None, about: dict | None = None,
              positive: str | None = None) -> dict:
    """Step 3: the complete card (name and version provisional until the zoo stamps them); ``positive``
    is the positive class publish_run settled (stated, else inferred; None: the card says there is none)."""
    alphabet = alphabet_from_dict(config["alphabet"])
    input_ = input_section(alphabet, config["length"], config.get("structure"), spec.length_dynamic, spec.min_length)
    card = {
        "description": f"{config['task']} classifier of {', '.join(config['classes'])}",
        "training": {},
        "hyperparameters": dict(config.get("model") or {}),
        "metrics": {},
        "baseline": None,
        "motifs": [],
        **run_card,
        **interpretation,
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "task": config["task"],
        "classes": list(config["classes"]),
        "input": input_,
        "output": {"activation": "sigmoid" if config["task"] == "multilabel" else "softmax", "name": "probs"},
        "graphs": graphs,
        "parity": parity,
        "expect": expect_entries(run_dir, staging / "model.onnx", alphabet),
        "provenance": provenance(),
        **about_section(about, list(config["classes"]), f"{name} metadata"),
    }
    if description:
        card["description"] = description
    card["positive_class"] = positive
    return validate_card(card, str(run_dir / "card.json"))


def expect_entries(run_dir: Path, model_path: Path, alphabet, count: int = EXPECT_COUNT) -> list[dict]:
    """Reference inputs (test-split sequences, half from each end of the score range) and the probs
    model.onnx gives them; ``seqzoo zoo verify`` re-runs them."""
    import onnxruntime as ort

    data_path = run_dir / "data.npz"
    if not data_path.is_file():
        raise InputError(f"{run_dir}: no data.npz (the test split), so the card's expect entries cannot be made")
    with np.load(data_path) as data:
        codes = np.asarray(data["codes"], dtype=np.uint8)
        scores = np.asarray(data["scores"]) if "scores" in data else None
    if len(codes) == 0:
        raise InputError(f"{data_path}: the test split is empty")
    order = np.argsort(scores[:, -1], kind="stable") if scores is not None and len(scores) == len(codes) \
        else np.arange(len(codes))
    pick = np.unique(np.concatenate([order[: (count + 1) // 2], order[len(order) - count // 2:]]))[:count]
    chosen = codes[pick]
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    probs = session.run(None, {"codes": chosen})[0]
    if isinstance(alphabet, ProductAlphabet):
        sequences, structures = alphabet.decode(chosen)
        return [{"sequence": s, "structure": t, "probs": p.tolist()} for s, t, p in zip(sequences, structures, probs)]
    if hasattr(alphabet, "tracks"):  # a multimodal model: each entry carries its tracks
        sequences, tracks = alphabet.decode(chosen)
        from seqzoo.zoo.numeric import as_json

        return [{"sequence": s, "tracks": {name: values[i] if isinstance(values[i], str) else as_json(values[i])
                                           for name, values in tracks.items()}, "probs": p.tolist()}
                for i, (s, p) in enumerate(zip(sequences, probs))]
    return [{"sequence": s, "probs": p.tolist()} for s, p in zip(alphabet.decode(chosen), probs)]


def stamp_graphs(folder: Path, card: dict) -> None:
    """The zoo's stamp: the final card into each ONNX file's metadata (card.json is written by the
    zoo), then the graphs' parameters into one shared weights.bin (training/shared_weights.py)."""
    from seqzoo.training.export import embed_card
    from seqzoo.training.shared_weights import share_weights

    embed_card(folder, card_text(card))
    share_weights(folder)
