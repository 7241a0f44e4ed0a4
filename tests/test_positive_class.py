"""Issue 26, finding 9: the default class is the positive one, never "the last". pysster's sets
list ``bound`` before ``unbound``, so a default of the last class reported P(not bound). The card
states the positive class; every default (engine, attribute, variants, Annotation, the server's
Attribute) uses it, and a model without one asks for a class in one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from seqzoo.serving.annotate import class_columns
from seqzoo.serving.engine import Engine
from seqzoo.zoo.card import default_class, positive_class
from seqzoo.zoo.errors import InputError
from test_score_cli import write_fasta
from test_server import ServerThread

from seqzoo.cli import main


def card(classes, task="binary", test=None, **extra):
    counts = {"test": dict(zip(classes, test))} if test else {}
    return {"task": task, "classes": classes, "training": {"counts": counts}, **extra}


@pytest.mark.parametrize("doc, want", [
    (card(["bound", "unbound"], test=[500, 500]), "bound"),  # pysster's order: the last class is the negative
    (card(["unbound", "bound"], test=[500, 500]), "bound"),
    (card(["site", "background"]), "site"),
    (card(["unbound", "bound"], test=[4000, 1000]), "bound"),  # iONMF's 1:4 sets
    (card(["a", "b"], test=[4000, 1000]), "b"),  # the rarer class of an imbalanced set
    (card(["a", "b"], test=[500, 500]), None),  # ambiguous: nothing is assumed
    (card(["background", "unbound"]), None),
    (card(["x", "y", "z"], task="multiclass"), None),
    (card(["log_likelihood", "perplexity"], task="language_model"), "log_likelihood"),
    (card(["bound", "unbound"], positive_class="unbound"), "unbound"),  # stated wins
    (card(["bound", "unbound"], positive_class=None), None),  # stated: none
])
def test_the_positive_class_is_stated_or_inferred_only_where_unambiguous(doc, want):
    assert positive_class(doc) == want


def test_a_model_without_one_asks_for_a_class():
    assert default_class(card(["only"], task="multilabel"), "m:1", "--target") == "only"
    with pytest.raises(InputError, match=r"m:1 has no positive class in its card; name the class with --class \(x, y, z\)"):
        default_class(card(["x", "y", "z"], task="multiclass"), "m:1", "--class")


@pytest.fixture(scope="module")
def bound_first(tmp_path_factory, published_model):
    """The fixture's run published with pysster's class order, bound first (column 0)."""
    from seqzoo.training.publish import publish_run
    from seqzoo.zoo.registry import open_zoo

    base = tmp_path_factory.mktemp("bound-first")
    run = base / "run"
    shutil.copytree(published_model.run_dir, run)
    for name in ("config.json", "card.json"):
        text = (run / name).read_text().replace('"negative"', '"bound"').replace('"positive"', '"unbound"')
        (run / name).write_text(text)
    zoo = open_zoo(base / "zoo")
    mv = publish_run(run, zoo, "pysster", report=False)
    return mv, zoo.root


def test_every_default_is_the_positive_class(bound_first, tmp_path):
    mv, root = bound_first
    assert mv.card["classes"] == ["bound", "unbound"] and mv.card["positive_class"] == "bound"
    engine = Engine.load(mv, device="cpu")
    assert engine.target_class(None) == "bound" and engine.selector(3)[:, 0].tolist() == [1, 1, 1]
    assert class_columns([], mv.card, mv.ref, "--class") == (["bound"], [0])

    rng = np.random.default_rng(3)
    sequences = ["".join(rng.choice(list("ACGU"), 200)) for _ in range(4)]
    fasta, out = tmp_path / "in.fa", tmp_path / "ig.npz"
    write_fasta(fasta, [(f"s{i}", s) for i, s in enumerate(sequences)], width=60)
    assert main(["attribute", "--model", "pysster", "--zoo", str(root), str(fasta), "-o", str(out), "--local",
                 "--steps", "8", "--no-progress"]) == 0
    got = np.load(out)
    assert json.loads(str(got["meta"]))["target"] == "bound"
    want = engine.integrated_gradients(engine.alphabet.one_hot(engine.encode(sequences)), engine.selector(4, "bound"),
                                       8)
    np.testing.assert_allclose(got["contributions"].transpose(0, 2, 1), want, atol=1e-5)

    from seqzoo.serving.client import SeqZooClient

    server = ServerThread(root)
    try:
        with SeqZooClient(server.target, timeout=30) as client:
            attributions, _ = client.attribute("pysster", sequences, method="saliency")
            np.testing.assert_allclose(attributions, engine.gradient(engine.alphabet.one_hot(engine.encode(sequences)),
                                                                     engine.selector(4, "bound"))[1], atol=1e-6)
    finally:
        server.drain()


def test_no_positive_class_is_a_one_line_error(bound_first, tmp_path, capsys):
    mv, root = bound_first
    zoo = tmp_path / "zoo"
    shutil.copytree(root, zoo)
    version = zoo / "pysster" / str(mv.version)
    doc = json.loads((version / "card.json").read_text())
    doc["positive_class"] = None  # stated: none (as for a balanced set of two named classes)
    (version / "card.json").write_text(json.dumps(doc))
    from seqzoo.zoo.manifest import write_manifest

    write_manifest(version)
    fasta = tmp_path / "in.fa"
    write_fasta(fasta, [("s0", "ACGU" * 50)], width=60)
    assert main(["attribute", "--model", "pysster", "--zoo", str(zoo), str(fasta), "-o", str(tmp_path / "x.npz"),
                 "--local", "--steps", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "has no positive class in its card; name the class with --target (bound, unbound)" in err
    assert not (tmp_path / "x.npz").exists()
