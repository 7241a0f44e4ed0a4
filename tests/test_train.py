"""End to end: ``seqzoo train`` on a subset of the real PUM2 data, and its errors."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from seqzoo.training.models import load_run
from seqzoo.training.train import predict
from seqzoo.zoo.inputs import alphabet_from_dict
from seqzoo.zoo.io.fasta import read_fasta

from seqzoo.cli import main

torch.set_num_threads(1)
RBP = Path(__file__).resolve().parent.parent / "datasets" / "rbp"


def subset(tmp_path, split, label, n, name=None):
    records = read_fasta(RBP / f"pum2.{split}.{label}.fasta.gz")[:n]
    path = tmp_path / (name or f"{split}.{label}.fa.gz")
    path.write_bytes(gzip.compress("".join(f">{r.header}\n{r.sequence}\n" for r in records).encode()))
    return path


@pytest.fixture(scope="module")
def pum2_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pum2")
    files = {(s, c): subset(tmp, s, c, 300 if s == "train" else 200) for s in ("train", "test")
             for c in ("positive", "negative")}
    out = tmp / "run"
    argv = ["train", "--name", "pum2-small", "--alphabet", "rna", "--seed", "0", "--epochs", "12",
            "--patience", "4", "--learning-rate", "0.002", "--batch-size", "32", "--threads", "1", "--quiet",
            "--baseline", "--json", "--no-publish", "--out", str(out)]
    for c, label in (("positive", "pum2"), ("negative", "other")):
        argv += ["--class", f"{label}={files['train', c]}", "--test-class", f"{label}={files['test', c]}"]
    return argv, out, files


def test_end_to_end_pum2_subset(pum2_run, capsys):
    argv, out, _files = pum2_run
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["name"] == "pum2-small" and info["version"] is None and info["path"] == str(out)
    test = info["metrics"]["test"]
    assert test["auroc"]["pum2"] > 0.75, test  # chance is 0.5
    assert 0 <= test["accuracy"] <= 1 and set(test["ap"]) == {"pum2", "other"}
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "config.json", "data.npz", "history.json",
                                                     "history.png", "pr.png", "roc.png", "weights.pt"]
    card = json.loads((out / "card.json").read_text())
    assert card["task"] == "binary" and card["classes"] == ["pum2", "other"]
    assert card["input"]["length"] == 200 and card["input"]["alphabet"]["letters"] == "ACGU"
    assert card["training"]["counts"]["test"] == {"pum2": 200, "other": 200}
    assert card["training"]["counts"]["train"]["pum2"] + card["training"]["counts"]["val"]["pum2"] == 300
    assert card["training"]["files"][0]["records"] == 300 and len(card["training"]["files"][0]["sha256"]) == 64
    assert card["metrics"]["test"]["auroc"]["pum2"] == pytest.approx(test["auroc"]["pum2"], abs=1e-6)
    assert card["baseline"]["test"]["auroc"]["pum2"] > 0.6
    assert card["output"]["activation"] == "softmax" and card["provenance"]["torch"]
    # data.npz holds the test split and the model's scores, which load_run reproduces
    npz = np.load(out / "data.npz")
    assert npz["codes"].shape == (400, 200) and npz["codes"].dtype == np.uint8 and npz["labels"].shape == (400, 2)
    model, config = load_run(out)
    table = alphabet_from_dict(config["alphabet"]).table
    assert np.allclose(predict(model, npz["codes"], table), npz["scores"], atol=1e-5)
    # the run directory exists: a second run refuses to overwrite it
    assert main(argv) == 2


def test_grid_structure_and_table_inputs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEQZOO_CACHE", str(tmp_path / "cache"))
    pos, neg = subset(tmp_path, "train", "positive", 40), subset(tmp_path, "train", "negative", 40)
    out = tmp_path / "grid"
    assert main(["train", "--name", "g", "--class", f"p={pos}", "--class", f"n={neg}", "--structure",
                 "--length", "120", "--epochs", "2", "--kernel-num", "4", "--neuron-num", "8", "--threads", "1",
                 "--grid", "kernel_len=6,8", "head=flatten,global", "--quiet", "--out", str(out),
                 "--test-fraction", "0.25", "--no-publish"]) == 0
    rows = (out / "grid.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["rank", "kernel_len", "head"] and len(rows) == 5
    card = json.loads((out / "card.json").read_text())
    assert card["input"]["structure"]["form"] == "annotated" and card["input"]["structure"]["predictor"] == "ViennaRNA"
    assert card["input"]["alphabet"]["structure"]["letters"] == "FTSHIM" and card["input"]["length"] == 120
    best = rows[1].split("\t")
    assert card["hyperparameters"]["kernel_len"] == int(best[1]) and card["hyperparameters"]["head"] == best[2]
    assert card["training"]["counts"]["test"] == {"p": 10, "n": 10}
    model, _config = load_run(out)
    assert model.first_conv.in_channels == 24
    # a multilabel table
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(60)]
    lines = ["seq\ta\tb"] + [f"{s}\t{i % 2}\t{int(i % 3 == 0)}" for i, s in enumerate(seqs)]
    (tmp_path / "t.tsv").write_text("\n".join(lines) + "\n")
    assert main(["train", "--name", "ml", "--table", str(tmp_path / "t.tsv"), "--sequence-column", "seq",
                 "--label-columns", "a,b", "--epochs", "1", "--quiet", "--json", "--no-publish", "--out", str(tmp_path / "ml")]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(info["metrics"]["test"]["auroc"]) == {"a", "b"}
    assert json.loads((tmp_path / "ml" / "config.json").read_text())["task"] == "multilabel"


@pytest.mark.parametrize("files, extra, message", [
    ({"a.fa": "", "b.fa": ">z\nACGU\n"}, [], "a.fa: file is empty"),
    ({"a.fa": ">x\nACGU\n"}, [], "only one class"),
    ({"a.fa": ">x\nACGU\n>y\nAC?U\n", "b.fa": ">z\nACGU\n"}, [], r"a.fa:4: character '\?' is not in the rna alphabet"),
    ({"a.fa": ">x\nGGGAAACCC\n(((...)))\n", "b.fa": ">z\nACGU\n"}, ["--structure"], "b.fa:1: mixed input"),
    ({"a.fa.gz": b"\x1f\x8b\x08\x00broken", "b.fa": ">z\nACGU\n"}, [], "unreadable gzip"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, files, extra, message):
    paths = []
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths.append(path)
    argv = ["train", "--name", "bad", "--out", str(tmp_path / "run"), "--quiet", "--alphabet", "rna", *extra]
    labels = ["a", "b"] if len(paths) == 2 else ["a", "a"]
    for label, path in zip(labels, paths * (2 if len(paths) == 1 else 1)):
        argv += ["--class", f"{label}={path}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("seqzoo train: error:")
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run.tmp-*"))


def test_table_label_column_missing(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("sequence,label\nACGT,a\nAAAA,b\n")
    assert main(["train", "--name", "t", "--table", str(tmp_path / "t.csv"), "--label-columns", "cls",
                 "--out", str(tmp_path / "run")]) == 2
    assert "column 'cls' is missing" in capsys.readouterr().err


def test_config_file_and_flags_merge(tmp_path, capsys):
    from seqzoo.cli import build_parser
    from seqzoo.cli.train import hyperparameters_from

    (tmp_path / "c.yaml").write_text("kernel-num: 64\nhead: global\nlearning_rate: 0.002\n")
    args = build_parser().parse_args(["train", "--name", "x", "--config", str(tmp_path / "c.yaml"),
                                      "--kernel-num", "12"])
    params = hyperparameters_from(args)
    assert params["kernel_num"] == 12 and params["head"] == "global" and params["learning_rate"] == 0.002
    (tmp_path / "bad.yaml").write_text("kernels: 3\n")
    assert main(["train", "--name", "x", "--config", str(tmp_path / "bad.yaml"), "--class", "a=x.fa",
                 "--out", str(tmp_path / "run")]) == 2
    assert "unknown hyperparameter 'kernels'" in capsys.readouterr().err


def test_ensemble_trains_publishes_and_scores_as_one_model(tmp_path, capsys):
    """--ensemble 2: two networks in one run, one ONNX graph whose scores are the run's test scores."""
    import onnxruntime as ort
    from seqzoo.training.models import Ensemble

    pos, neg = subset(tmp_path, "train", "positive", 60), subset(tmp_path, "train", "negative", 60)
    out, zoo = tmp_path / "run", tmp_path / "zoo"
    assert main(["train", "--name", "ens", "--class", f"p={pos}", "--class", f"n={neg}", "--ensemble", "2",
                 "--epochs", "2", "--kernel-num", "4", "--neuron-num", "8", "--threads", "1", "--quiet", "--json",
                 "--test-fraction", "0.25", "--out", str(out), "--zoo", str(zoo)]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["version"] == 1
    card = json.loads((out / "card.json").read_text())
    assert card["hyperparameters"]["ensemble"] == 2 and len(card["training"]["best_epoch"]) == 2
    assert {h["member"] for h in json.loads((out / "history.json").read_text())} == {1, 2}
    model, _config = load_run(out)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    npz = np.load(out / "data.npz")
    session = ort.InferenceSession(str(zoo / "ens" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    probs = session.run(["probs"], {"codes": npz["codes"]})[0]
    assert np.allclose(probs, npz["scores"], atol=1e-5)
