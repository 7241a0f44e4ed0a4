"""Publish a language-model run (``seqzoo lm``) as a zoo version: graphs, report, card, expect."""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from seqzoo.training.provenance import provenance
from seqzoo.zoo.card import SCHEMA_VERSION, about_section, card_text, input_section, validate_card
from seqzoo.zoo.refs import validate_name
from seqzoo.zoo.registry import LocalZoo, ModelVersion

EXPECT_COUNT = 4
CLASSES = ["log_likelihood", "perplexity"]


def publish_lm(run_dir: str | os.PathLike, zoo: LocalZoo, name: str, description: str | None = None,
               about: dict | None = None) -> ModelVersion:
    """Export, check, describe and publish a language-model run as the next version of ``name``
    (``about``: what the publisher states, as for ``publish_run``)."""
    from seqzoo.training.lm import ALPHABET
    from seqzoo.training.lm_export import export_lm
    from seqzoo.training.lm_report import write_report
    from seqzoo.training.lm_run import load_lm
    from seqzoo.training.publish import stamp_graphs

    name = validate_name(name)
    run_dir = Path(run_dir)
    model, config = load_lm(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    context = int(config["model"]["context"])
    zoo.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=zoo.root) as staging:
        staging = Path(staging)
        graphs, parity = export_lm(model, ALPHABET.table, context, staging)
        kmers = write_report(run_dir, staging / "report.html", name)
        genome = config["genome"]
        card = {
            "schema_version": SCHEMA_VERSION, "name": name, "version": 1,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "description": description or (f"character-level {config['model']['arch'].upper()} language model of "
                                           f"{Path(genome['path']).name} (context {context})"),
            "task": "language_model", "classes": CLASSES,
            "input": input_section(ALPHABET, context, None),
            "output": {"activation": "none", "name": "probs"},
            "language_model": {
                "context": context,
                "scores": "model.onnx: per window, log_likelihood = sum over positions 1..L-1 with a known base of "
                          "ln p(base | bases before it), perplexity = exp(-log_likelihood / those positions); "
                          "logprobs.onnx: ln p(next base) at every position",
                "genome": genome, "held_out": config["split"]},
            "training": {"genome": genome, "split": config["split"], **config["training"],
                         "best_epoch": metrics["best_epoch"], "epochs_run": metrics["epochs_run"],
                         "seconds": metrics["seconds"],
                         "history": json.loads((run_dir / "history.json").read_text())},
            "hyperparameters": {**config["model"], **config["training"]},
            "metrics": {"perplexity": metrics["perplexity"], "positions": metrics["positions"],
                        "kmers": kmers},
            "baseline": {"kind": "markov", **metrics["markov"]},
            "motifs": [], "graphs": graphs, "parity": parity,
            "expect": _expect(run_dir, staging / "model.onnx", context),
            "provenance": provenance(),
            **about_section(about, CLASSES, f"{name} metadata"),
        }
        validate_card(card, str(run_dir))
        (staging / "card.json").write_text(card_text(card))
        return zoo.publish(staging, name, stamp=stamp_graphs)


def _expect(run_dir: Path, model_path: Path, context: int) -> list[dict]:
    """Windows of the first test stretch and the [log-likelihood, perplexity] model.onnx gives them."""
    import onnxruntime as ort
    from seqzoo.training.lm import ALPHABET

    with np.load(run_dir / "surprisal.npz") as data:
        codes = data["codes"]
    starts = np.linspace(0, len(codes) - context, EXPECT_COUNT).astype(int) if len(codes) >= context else []
    windows = np.stack([codes[s:s + context] for s in starts])
    probs = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(None, {"codes": windows})[0]
    return [{"sequence": s, "probs": p.tolist()} for s, p in zip(ALPHABET.decode(windows), probs)]
