"""The ONNX Runtime engine against small hand-built graphs whose answers numpy can compute.

``make_version_dir`` writes a zoo-layout version (model.onnx, grad.onnx, ig.onnx, card.json)
of a softmax-linear model over one-hot input, built with onnx.helper following the graph
contract in docs/interfaces.md. The server and batcher tests reuse it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from seqzoo.serving.engine import Engine
from seqzoo.serving.ig_rule import ig_nodes
from seqzoo.serving.ism import ism as mutagenesis
from seqzoo.zoo.alphabets import ProductAlphabet, get_alphabet, structure_alphabet
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.manifest import write_manifest

OPSET = [helper.make_opsetid("", 18)]


def _linear(seed: int, length: int, a: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.5, size=(length * a, c)).astype(np.float32),
            rng.normal(0, 0.1, size=(c,)).astype(np.float32))


def reference_probs(onehot: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = onehot.reshape(onehot.shape[0], -1) @ w + b
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def reference_grad(onehot: np.ndarray, selector: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = reference_probs(onehot, w, b)
    g = p * (selector - (selector * p).sum(axis=1, keepdims=True))
    return (g @ w.T).reshape(onehot.shape)


def _softmax_grad_nodes(prefix: str, probs: str, selector: str, out: str) -> list:
    """g = p * (sel - sum(sel * p)) over the last axis."""
    return [helper.make_node("Mul", [selector, probs], [prefix + "sp"]),
            helper.make_node("ReduceSum", [prefix + "sp", "axis_last"], [prefix + "s"], keepdims=1),
            helper.make_node("Sub", [selector, prefix + "s"], [prefix + "d"]),
            helper.make_node("Mul", [probs, prefix + "d"], [out])]


def _save(graph, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def make_version_dir(root: Path, name: str = "toy", version: int = 1, length: int = 12, alphabet: str = "rna",
                     classes=("negative", "positive"), seed: int = 0, expect: bool = True,
                     structure: str | None = None) -> Path:
    """Write a zoo-layout version directory; returns its path (root/name/version).

    With ``structure`` ("annotated" or "dot-bracket") the model reads pysster's product alphabet."""
    alpha = get_alphabet(alphabet)
    if structure:
        alpha = ProductAlphabet(alpha, structure_alphabet(structure))
    a, c = alpha.size, len(classes)
    w, b = _linear(seed, length, a, c)
    path = Path(root) / name / str(version)
    path.mkdir(parents=True, exist_ok=True)
    consts = [numpy_helper.from_array(alpha.table, "table"), numpy_helper.from_array(w, "W"),
              numpy_helper.from_array(b, "B"), numpy_helper.from_array(np.ascontiguousarray(w.T), "WT"),
              numpy_helper.from_array(np.array([0, length * a], np.int64), "flat"),
              numpy_helper.from_array(np.array([0, length, a], np.int64), "unflat"),
              numpy_helper.from_array(np.array([-1], np.int64), "axis_last"),
              numpy_helper.from_array(np.array([0], np.int64), "axis0")]
    n, la = "N", length * a
    # model.onnx: codes uint8 [N, L] -> probs [N, C]
    nodes = [helper.make_node("Cast", ["codes"], ["idx"], to=TensorProto.INT64),
             helper.make_node("Gather", ["table", "idx"], ["onehot"], axis=0),
             helper.make_node("Reshape", ["onehot", "flat"], ["x"]),
             helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["z"]),
             helper.make_node("Softmax", ["z"], ["probs"], axis=-1)]
    _save(helper.make_graph(nodes, "forward", [helper.make_tensor_value_info("codes", TensorProto.UINT8, [n, length])],
                            [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [n, c])], consts),
          path / "model.onnx")
    # grad.onnx: onehot [N, L, A], selector [N, C] -> probs, grad
    nodes = [helper.make_node("Reshape", ["onehot", "flat"], ["x"]), helper.make_node("MatMul", ["x", "W"], ["xw"]),
             helper.make_node("Add", ["xw", "B"], ["z"]), helper.make_node("Softmax", ["z"], ["probs"], axis=-1),
             *_softmax_grad_nodes("g_", "probs", "selector", "g"),
             helper.make_node("MatMul", ["g", "WT"], ["gx"]), helper.make_node("Reshape", ["gx", "unflat"], ["grad"])]
    inputs = [helper.make_tensor_value_info("onehot", TensorProto.FLOAT, [n, length, a]),
              helper.make_tensor_value_info("selector", TensorProto.FLOAT, [n, c])]
    _save(helper.make_graph(nodes, "grad", inputs, [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [n, c]),
                                                    helper.make_tensor_value_info("grad", TensorProto.FLOAT,
                                                                                  [n, length, a])], consts),
          path / "grad.onnx")
    # ig.onnx: attributions = x * mean_s grad(alpha_s * x)
    consts_ig = consts + [numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "alpha_shape"),
                          numpy_helper.from_array(np.array([1, -1, la], np.int64), "x_shape")]
    nodes = [helper.make_node("Reshape", ["onehot", "x_shape"], ["x1"]),
             helper.make_node("Reshape", ["alphas", "alpha_shape"], ["al"]),
             helper.make_node("Mul", ["al", "x1"], ["xs"]), helper.make_node("MatMul", ["xs", "W"], ["xw"]),
             helper.make_node("Add", ["xw", "B"], ["z"]), helper.make_node("Softmax", ["z"], ["p"], axis=-1),
             *_softmax_grad_nodes("g_", "p", "selector", "g"),
             helper.make_node("MatMul", ["g", "WT"], ["gx"]),
             helper.make_node("ReduceMean", ["gx", "axis0"], ["gm"], keepdims=0),
             helper.make_node("Reshape", ["gm", "unflat"], ["gm3"]),
             helper.make_node("Mul", ["onehot", "gm3"], ["attributions"])]
    inputs = [helper.make_tensor_value_info("onehot", TensorProto.FLOAT, [n, length, a]),
              helper.make_tensor_value_info("alphas", TensorProto.FLOAT, ["S"]),
              helper.make_tensor_value_info("selector", TensorProto.FLOAT, [n, c])]
    _save(helper.make_graph(nodes, "ig", inputs,
                            [helper.make_tensor_value_info("attributions", TensorProto.FLOAT, [n, length, a])],
                            consts_ig), path / "ig.onnx")
    rng = np.random.default_rng(seed + 1)
    letters = alpha.sequence.letters if structure else alpha.letters
    expect_seqs = ["".join(rng.choice(list(letters), size=length)) for _ in range(2)]
    if structure:
        from seqzoo.zoo.structure import structures as fold

        expect_structs = fold(expect_seqs, form=structure, processes=1)
        probs = reference_probs(alpha.one_hot(alpha.encode(expect_seqs, expect_structs)), w, b)
    else:
        probs = reference_probs(alpha.one_hot(alpha.encode(expect_seqs)), w, b)
    card = {"schema_version": 1, "name": name, "version": version, "task": "binary" if c == 2 else "multiclass",
            "classes": list(classes),
            "input": {"alphabet": alpha.to_dict(), "length": length, "length_dynamic": False,
                      "length_policy": "centre, pad with N or crop", "unknown": "zero",
                      "structure": {"form": structure, "predictor": "ViennaRNA"} if structure else None},
            "output": {"activation": "softmax", "name": "probs"},
            "expect": ([{"sequence": s, "probs": p.tolist()} for s, p in zip(expect_seqs, probs)] if expect else []),
            # the rest of a schema-valid card: serve verifies a version as fully as `zoo verify`
            "created": "2026-01-01T00:00:00+00:00", "training": {}, "hyperparameters": {}, "metrics": {},
            "graphs": {g: {"inputs": [], "outputs": [], "opset": 18} for g in ("model.onnx", "grad.onnx", "ig.onnx")},
            "parity": {"forward": 0.0, "gradient": 0.0, "ig": 0.0},
            "provenance": {"seqzoo": "test", "python": "3"}}
    if structure:
        for entry, struct in zip(card["expect"], expect_structs):
            entry["structure"] = struct
    (path / "card.json").write_text(json.dumps(card))
    np.savez(path / "weights_for_tests.npz", w=w, b=b)
    write_manifest(path)  # complete: the zoo lists it
    return path


def weights(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(Path(path) / "weights_for_tests.npz")
    return data["w"], data["b"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return make_version_dir(tmp_path_factory.mktemp("zoo"))


def test_load_reports_card_terms_and_provider(toy):
    engine = Engine.load(toy, device="cpu", threads=1)
    assert engine.provider == "CPUExecutionProvider"
    assert engine.length == 12 and engine.classes == ["negative", "positive"]
    assert engine.alphabet.letters == "ACGU" and engine.columns == "ACGU"
    assert engine.describe()["provider"] == "CPUExecutionProvider"


def test_predict_matches_numpy_and_batches_are_independent(toy):
    engine = Engine.load(toy, device="cpu", threads=1)
    w, b = weights(toy)
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 5, size=(37, 12), dtype=np.uint8)  # includes the unknown code 4
    probs = engine.predict(codes)
    assert probs.shape == (37, 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, reference_probs(engine.alphabet.one_hot(codes), w, b), atol=1e-6)
    np.testing.assert_allclose(engine.predict(codes[5:6]), probs[5:6], atol=1e-6)


def test_encode_and_errors_name_the_sequence(toy):
    engine = Engine.load(toy, device="cpu", threads=1)
    codes = engine.encode(["ACGUACGUACGU", "acgtacgtacgN"], convert_tu=True)
    assert codes.tolist()[1] == [0, 1, 2, 3] * 2 + [0, 1, 2, 4]
    with pytest.raises(InputError, match="sequence 1: character 'X' at position 3"):
        engine.encode(["ACGUACGUACGU", "ACXUACGUACGU"])
    with pytest.raises(InputError, match="sequence 1 is 3 long but model toy:1 takes 12"):
        engine.encode(["ACGUACGUACGU", "ACG"])
    with pytest.raises(InputError, match="empty"):
        engine.encode([])
    with pytest.raises(InputError, match="sequence 2: code 9 at position 4"):
        bad = np.zeros((3, 12), np.uint8)
        bad[2, 3] = 9
        engine.predict(bad)
    with pytest.raises(InputError, match="12"):
        engine.predict(np.zeros((2, 5), np.uint8))
    with pytest.raises(InputError, match="target class 'bogus'"):
        engine.selector(2, "bogus")


def test_gradient_ig_and_ism_match_numpy(toy):
    engine = Engine.load(toy, device="cpu", threads=1)
    w, b = weights(toy)
    codes = np.random.default_rng(5).integers(0, 4, size=(4, 12), dtype=np.uint8)
    onehot = engine.alphabet.one_hot(codes)
    sel = engine.selector(4, "positive")
    probs, grad = engine.gradient(onehot, sel)
    np.testing.assert_allclose(grad, reference_grad(onehot, sel, w, b), atol=1e-6)
    for rule, steps in (("midpoint", 64), ("gauss-legendre", 16)):
        ig = engine.integrated_gradients(onehot, sel, steps=steps, rule=rule)
        alphas, node_weights = ig_nodes(steps, rule)
        want = onehot * np.sum([wk * reference_grad(a * onehot, sel, w, b)
                                for a, wk in zip(alphas, node_weights)], axis=0)
        np.testing.assert_allclose(ig, want, atol=1e-5)
    # completeness: IG sums to f(x) - f(baseline) (up to the Riemann error)
    base = reference_probs(np.zeros_like(onehot), w, b)[:, 1]
    np.testing.assert_allclose(ig.sum(axis=(1, 2)), probs[:, 1] - base, atol=2e-3)
    ism = mutagenesis(engine, codes, sel)
    assert ism.shape == (4, 12, 4)
    i, j, letter = 2, 7, (int(codes[2, 7]) + 1) % 4
    mutant = codes[2:3].copy()
    mutant[0, j] = letter
    expected = engine.predict(mutant)[0, 1] - engine.predict(codes[2:3])[0, 1]
    assert ism[i, j, letter] == pytest.approx(expected, abs=1e-6)
    assert np.all(ism[np.arange(4)[:, None], np.arange(12)[None], codes] == 0)


def test_card_expectations_are_checked_at_load(tmp_path):
    path = make_version_dir(tmp_path)
    card = json.loads((path / "card.json").read_text())
    card["expect"][0]["probs"] = [0.5, 0.5]
    (path / "card.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="does not reproduce its card's expected predictions"):
        Engine.load(path, device="cpu")


def test_missing_version_and_cuda_request_without_cuda(tmp_path, toy):
    with pytest.raises(NotFoundError):
        Engine.load(tmp_path / "nothing")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        from seqzoo.zoo.errors import UnavailableError

        with pytest.raises(UnavailableError, match="no CUDA provider"):
            Engine.load(toy, device="cuda")
    else:
        assert Engine.load(toy, device="cuda").provider == "CUDAExecutionProvider"


def test_structure_model_folds_when_no_structure_is_given(tmp_path):
    path = make_version_dir(tmp_path, "fold", 1, length=16, structure="annotated")
    engine = Engine.load(path, device="cpu", threads=1)  # its card's expect entries pass
    assert engine.structure_form == "annotated" and engine.alphabet.size == 24
    seqs = ["GGGGAAAACCCCUUUU", "ACGUACGUACGUACGU"]
    from seqzoo.zoo.structure import annotate, structures

    folded = structures(seqs, form="annotated", processes=1)
    codes = engine.encode(seqs)
    assert codes.tolist() == engine.alphabet.encode(seqs, folded).tolist()
    given = ["((((....))))....", "................"]
    assert engine.encode(seqs, given).tolist() == engine.alphabet.encode(seqs, [annotate(g) for g in given]).tolist()
    with pytest.raises(InputError, match="2 sequences but 1 structures"):
        engine.encode(seqs, given[:1])
    # ISM changes the base and keeps each position's structure element
    sel = engine.selector(2)
    ism = mutagenesis(engine, codes, sel)
    m = engine.alphabet.structure.size
    j, base = 3, 1
    mutant = codes[:1].copy()
    mutant[0, j] = base * m + codes[0, j] % m
    want = (engine.predict(mutant) - engine.predict(codes[:1]))[0] @ sel[0]
    assert ism[0, j, base * m + codes[0, j] % m] == pytest.approx(want, abs=1e-6)
    assert np.count_nonzero(ism[0, j]) <= 4  # only the 4 base columns of that structure element


def test_real_pum2_graphs_agree_with_each_other(published_model):
    engine = Engine.load(published_model, device="cpu", threads=1)
    assert engine.identity.ref == f"{published_model.name}:{published_model.version}"
    assert engine.identity.digest == published_model.digest and engine.length == 200
    codes = engine.encode([e["sequence"] for e in published_model.card["expect"][:3]], convert_tu=True)
    onehot, sel = engine.alphabet.one_hot(codes), engine.selector(3)
    probs, _grad = engine.gradient(onehot, sel)
    np.testing.assert_allclose(probs, engine.predict(codes), atol=1e-5)
    # IG completeness: attributions sum to f(x) - f(all-zero baseline)
    ig = engine.integrated_gradients(onehot, sel, steps=100)
    base = engine.gradient(np.zeros_like(onehot), sel)[0]
    np.testing.assert_allclose(ig.sum(axis=(1, 2)), probs[:, -1] - base[:, -1], atol=0.02)
    ism = mutagenesis(engine, codes[:1], sel[:1])
    j = 100
    letter = (int(codes[0, j]) + 2) % 4
    mutant = codes[:1].copy()
    mutant[0, j] = letter
    assert ism[0, j, letter] == pytest.approx(engine.predict(mutant)[0, -1] - probs[0, -1], abs=1e-5)
