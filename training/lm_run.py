"""One language-model run (``seqzoo lm``): read the genome, hold out stretches, fit the Markov
baselines and the network, measure perplexity, and write the run directory.

The run directory holds ``config.json`` (architecture, context, alphabet, split), ``weights.pt``,
``history.json``, ``metrics.json`` (perplexities of the model and the best Markov chain) and
``surprisal.npz`` (the test positions' surprisal under both, for the report); ``publish_lm``
(training/lm_publish.py) turns it into a zoo version.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from seqzoo.training.data import sha256_hex
from seqzoo.training.lm import (
    ALPHABET,
    CausalLM,
    both_strands,
    eval_positions,
    fit_lm,
    perplexity,
    split_genome,
)
from seqzoo.training.markov import MAX_ORDER, best_order, surprisal
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.fasta import read_fasta


@dataclass
class LMOptions:
    """The options of ``seqzoo lm`` as plain values."""

    genome: str
    out: str
    holdout_fraction: float = 0.1
    holdout_contigs: list[str] | None = None
    arch: str = "gru"
    layers: int = 2
    hidden: int = 128
    context: int = 100
    epochs: int = 10
    batch: int = 128
    learning_rate: float = 2e-3
    patience: int = 3
    time_limit: float | None = None
    seed: int = 0
    device: str = "auto"
    quiet: bool = False


def read_genome(path: str | os.PathLike, context: int) -> dict[str, np.ndarray]:
    """Contig name -> codes (0..3 = ACGT, 4 = N or another IUPAC letter); errors name the contig."""
    contigs = {}
    for record in read_fasta(path, structures=False):
        if record.name in contigs:
            raise InputError(f"{path}:{record.line}: contig {record.name!r} appears twice")
        try:
            codes = ALPHABET.encode_one(record.sequence)
        except InputError as exc:
            raise InputError(f"{path}: contig {record.name!r}: {exc.reason}") from None
        if not (codes < 4).any():
            raise InputError(f"{path}: contig {record.name!r} holds only N: remove it (nothing to learn from)")
        contigs[record.name] = codes
    total = sum(len(c) for c in contigs.values())
    if total <= context:
        raise InputError(f"{path}: the genome has {total} bases, not more than the context {context}")
    return contigs


def run_lm(options: LMOptions) -> dict:
    """Train and evaluate; write the run directory (atomically: a temporary name, then renamed).

    Returns the run's summary (``metrics.json``): perplexities, the Markov baseline, seconds.
    """
    import torch

    if not 0 < options.holdout_fraction < 1:
        raise InputError(f"--holdout-fraction {options.holdout_fraction} must be between 0 and 1")
    contigs = read_genome(options.genome, options.context)
    split = split_genome(contigs, options.context, options.holdout_fraction, options.holdout_contigs)
    val, test = both_strands(split.val), both_strands(split.test)
    val_at = [eval_positions(s, options.context, MAX_ORDER) for s in val]
    test_at = [eval_positions(s, options.context, MAX_ORDER) for s in test]
    if not sum(len(p) for p in test_at) or not sum(len(p) for p in val_at):
        raise InputError(f"the held-out stretches are too short to score with a context of {options.context}")
    markov, markov_table = best_order(both_strands(split.train), val, val_at, test, test_at)
    torch.manual_seed(options.seed)
    model = CausalLM(options.arch, options.layers, options.hidden, options.context)
    result = fit_lm(model, split, val_at, options.epochs, options.batch, options.learning_rate, options.patience,
                    options.seed, options.device, options.quiet, options.time_limit)
    device = next(model.parameters()).device  # where fit_lm put it (``auto``: CUDA when there is one)
    val_ppl = perplexity(model, val, val_at, device=device)
    test_ppl, per_base = perplexity(model, test, test_at, device=device, per_position=True)
    out = Path(options.out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp / "weights.pt")
    config = {"kind": "language_model", "model": model.config(), "alphabet": ALPHABET.to_dict(),
              "training": {"learning_rate": options.learning_rate, "batch": options.batch, "epochs": options.epochs,
                           "patience": options.patience, "seed": options.seed, "time_limit": options.time_limit},
              "genome": {"path": str(options.genome), "sha256": sha256_hex(options.genome),
                         "contigs": {name: len(codes) for name, codes in contigs.items()}},
              "split": {"holdout_fraction": None if options.holdout_contigs else options.holdout_fraction,
                        "holdout_contigs": options.holdout_contigs, **split.regions,
                        "scored": "both strands; positions from context // 2 on whose base and 10 previous "
                                  "bases are known"}}
    metrics = {"perplexity": {"val": val_ppl, "test": test_ppl}, "markov": markov, "best_epoch": result.best_epoch,
               "epochs_run": len(result.history), "seconds": round(result.seconds, 1),
               "interrupted": result.interrupted,
               "positions": {"val": int(sum(len(p) for p in val_at)), "test": int(sum(len(p) for p in test_at))}}
    (tmp / "config.json").write_text(json.dumps(config, indent=1))
    (tmp / "history.json").write_text(json.dumps(result.history, indent=1))
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
    longest = max(range(len(test)), key=lambda i: len(test[i]))  # the report's example stretch
    np.savez_compressed(tmp / "surprisal.npz", codes=test[longest], positions=test_at[longest],
                        model=per_base[longest],
                        markov=surprisal(markov_table, markov["order"], test[longest], test_at[longest]))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return metrics


def load_lm(run_dir: str | os.PathLike) -> tuple[CausalLM, dict]:
    """The trained model (eval mode) and config.json of a language-model run."""
    import torch

    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except FileNotFoundError:
        raise InputError(f"{run_dir}: not a language-model run (no config.json)") from None
    if config.get("kind") != "language_model":
        raise InputError(f"{run_dir}: not a language-model run")
    m = config["model"]
    model = CausalLM(m["arch"], m["layers"], m["hidden"], m["context"])
    model.load_state_dict(torch.load(run_dir / "weights.pt", map_location="cpu", weights_only=True))
    return model.eval(), config
