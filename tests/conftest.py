"""Shared fixtures: a small real PUM2 model, trained and published into a temporary zoo.

``published_model`` (session scope) trains a small SequenceCNN on 600 PUM2 training sequences
(300 per class) for a few epochs with one torch thread, writes a training run directory and
publishes it with ``publish_run`` into a temporary zoo. It is a ModelVersion (name, version,
digest, path, card) with ``zoo_root`` and ``run_dir`` added. Treat that zoo as read-only; a test
that changes a zoo takes ``zoo_copy`` (a private copy) or ``empty_zoo``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from seqzoo.zoo.registry import ModelVersion

REPO = Path(__file__).resolve().parent.parent
RBP = REPO / "datasets" / "rbp"
PUM2_TRAIN_PER_CLASS = 300
PUM2_TEST_PER_CLASS = 100
SMALL_PARAMS = {"conv_num": 2, "kernel_num": 16, "kernel_len": 8, "neuron_num": 32, "epochs": 4, "patience": 2,
                "batch_size": 64, "learning_rate": 2e-3}


@pytest.fixture(scope="session", autouse=True)
def _default_zoo_outside_the_repo(tmp_path_factory):
    """Point $SEQZOO_ZOO at a temporary folder, so a test that omits --zoo never writes ./zoo (the source)."""
    saved = os.environ.get("SEQZOO_ZOO")
    os.environ["SEQZOO_ZOO"] = str(tmp_path_factory.mktemp("default-zoo"))
    yield
    if saved is None:
        os.environ.pop("SEQZOO_ZOO", None)
    else:
        os.environ["SEQZOO_ZOO"] = saved


@dataclass(frozen=True)
class PublishedModel(ModelVersion):
    """A published ModelVersion plus the zoo it lives in and the run it came from."""

    zoo_root: Path | None = None
    run_dir: Path | None = None


def read_fasta_gz(path: Path, limit: int) -> list[str]:
    """The first ``limit`` sequences of a gzipped FASTA file (multi-line records joined)."""
    sequences, current = [], []
    with gzip.open(path, "rt") as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                if current:
                    sequences.append("".join(current))
                    if len(sequences) == limit:
                        return sequences
                current = []
            elif line:
                current.append(line)
    if current and len(sequences) < limit:
        sequences.append("".join(current))
    return sequences


def load_pum2_subset() -> dict:
    """PUM2 sequences: ``{"train": (sequences, labels [N, 2]), "test": (...), "classes": [...]}``.

    300 + 300 training and 100 + 100 test sequences (the first of each file), 200 nt, RNA;
    labels are one-hot float32 with columns (negative, positive).
    """
    out = {"classes": ["negative", "positive"]}
    for split, n in (("train", PUM2_TRAIN_PER_CLASS), ("test", PUM2_TEST_PER_CLASS)):
        neg = read_fasta_gz(RBP / f"pum2.{split}.negative.fasta.gz", n)
        pos = read_fasta_gz(RBP / f"pum2.{split}.positive.fasta.gz", n)
        labels = np.zeros((len(neg) + len(pos), 2), dtype=np.float32)
        labels[: len(neg), 0] = 1.0
        labels[len(neg):, 1] = 1.0
        out[split] = (neg + pos, labels)
    return out


@pytest.fixture(scope="session")
def pum2_subset() -> dict:
    """``load_pum2_subset()``, read once per session."""
    return load_pum2_subset()


def write_pum2_run(run_dir: Path, pum2: dict, params: dict | None = None, seed: int = 0) -> Path:
    """Train a small SequenceCNN on ``pum2_subset`` and write a run directory as ``seqzoo train`` does.

    Writes weights.pt, config.json, card.json (training facts and test metrics) and data.npz
    (the encoded test split with the model's scores).
    """
    import torch
    from seqzoo.training.metrics import compute_metrics
    from seqzoo.training.models import build_model
    from seqzoo.training.train import fit, predict, seed_everything
    from seqzoo.zoo.alphabets import get_alphabet

    torch.set_num_threads(1)
    run_dir.mkdir(parents=True, exist_ok=True)
    alphabet = get_alphabet("rna")
    train_seqs, train_labels = pum2["train"]
    test_seqs, test_labels = pum2["test"]
    codes, test_codes = alphabet.encode(train_seqs), alphabet.encode(test_seqs)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(codes), dtype=bool)
    val[rng.choice(len(codes), size=len(codes) // 10, replace=False)] = True
    params = {**SMALL_PARAMS, **(params or {})}
    seed_everything(seed)
    length = codes.shape[1]
    model = build_model(params, alphabet.size, 2, length, "binary")
    result = fit(model, codes[~val], train_labels[~val], codes[val], train_labels[val], alphabet.table,
                 pum2["classes"], seed=seed, device="cpu", quiet=True)
    scores = predict(result.model, test_codes, alphabet.table)
    torch.save(result.model.state_dict(), run_dir / "weights.pt")
    config = {"model": result.model.params, "alphabet": alphabet.to_dict(), "length": length, "task": "binary",
              "classes": pum2["classes"], "structure": None}
    (run_dir / "config.json").write_text(json.dumps(config, indent=1))
    metrics = compute_metrics(test_labels, scores, pum2["classes"], "binary")
    card = {"description": "PUM2 CLIP-seq binding sites vs other RBPs (test fixture: 600 training sequences)",
            "training": {"files": [{"path": f"datasets/rbp/pum2.train.{c}.fasta.gz", "class": c,
                                    "records": PUM2_TRAIN_PER_CLASS} for c in pum2["classes"]],
                         "counts": {"train": {c: int(n) for c, n in zip(pum2["classes"], train_labels.sum(0))}},
                         "seed": seed, "seconds": result.seconds},
            "hyperparameters": result.model.params, "metrics": {"test": _jsonable(metrics)}}
    (run_dir / "card.json").write_text(json.dumps(card, indent=1))
    np.savez(run_dir / "data.npz", codes=test_codes, labels=test_labels, scores=scores.astype(np.float32))
    return run_dir


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@pytest.fixture(scope="session")
def published_model(tmp_path_factory, pum2_subset) -> PublishedModel:
    """A small PUM2 model, trained on real data and published as ``pum2:1`` in a temporary zoo (read-only)."""
    from seqzoo.training.publish import publish_run
    from seqzoo.zoo.registry import open_zoo

    base = tmp_path_factory.mktemp("published")
    run_dir = write_pum2_run(base / "run", pum2_subset)
    zoo = open_zoo(base / "zoo")
    mv = publish_run(run_dir, zoo, "pum2")
    return PublishedModel(mv.name, mv.version, mv.digest, mv.path, mv.card, zoo_root=zoo.root, run_dir=run_dir)


@pytest.fixture(scope="session")
def zoo_root(published_model) -> Path:
    """The root of the zoo holding ``published_model`` (read-only: copy it to change it)."""
    return published_model.zoo_root


@pytest.fixture
def zoo_copy(published_model, tmp_path) -> Path:
    """A private copy of the published zoo that a test may change."""
    target = tmp_path / "zoo"
    shutil.copytree(published_model.zoo_root, target, ignore=shutil.ignore_patterns(".staging-*"))
    return target


@pytest.fixture
def empty_zoo(tmp_path):
    """A fresh, empty LocalZoo in a temporary folder."""
    from seqzoo.zoo.registry import open_zoo

    return open_zoo(tmp_path / "empty-zoo")


class StaticServer:
    """``python -m http.server`` on 127.0.0.1 over a folder (a real process, a real socket)."""

    def __init__(self, folder: Path):
        self.proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                                      "--directory", str(folder)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        self.url = f"http://127.0.0.1:{int(line.split(' port ')[1].split()[0])}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def assert_training_refused(data: Path, flags: list[str], tmp_path: Path, capsys, message: str) -> None:
    """``seqzoo train`` of DATA/neg.fa (unbound) against DATA/pos.fa (bound) with ``flags`` is
    refused: exit 2, one line on stderr holding ``message``, and neither the run folder nor the
    zoo entry is written."""
    from seqzoo.cli import main

    argv = ["train", "--name", "bad", "--class", f"unbound={data / 'neg.fa'}", "--class", f"bound={data / 'pos.fa'}",
            "--out", str(tmp_path / "run"), "--zoo", str(tmp_path / "zoo"), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "zoo" / "bad").exists()


def assert_scored_as(want: np.ndarray, fasta: Path, model: str, track: str, targets: list[list[str]],
                     tmp_path: Path) -> None:
    """``seqzoo score --model MODEL FASTA --track TRACK`` through each target (``["--server", addr]``,
    ``["--local", "--zoo", folder]``) writes ``want``: every row's scores, to 1e-5."""
    from seqzoo.cli import main

    for where in targets:
        out = tmp_path / f"{where[0][2:]}.tsv"
        assert main(["score", *where, "--model", model, str(fasta), "-o", str(out), "--track", track,
                     "--no-progress"]) == 0
        rows = [line.split("\t") for line in out.read_text().splitlines()[2:]]
        np.testing.assert_allclose(np.asarray([r[1:] for r in rows], dtype=float), want, atol=1e-5)
