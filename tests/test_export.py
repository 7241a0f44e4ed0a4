"""ONNX export: the three graphs agree with PyTorch, and a disagreement refuses the publish."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from seqzoo.training.export import (
    FORWARD_TOLERANCE,
    GRADIENT_TOLERANCE,
    IG_TOLERANCE,
    ExportError,
    check_parity,
    embed_card,
    export_graphs,
    make_spec,
    probabilities,
)
from seqzoo.training.models import build_model
from seqzoo.zoo.alphabets import ProductAlphabet, get_alphabet, structure_alphabet

SMALL = {"kernel_num": 6, "kernel_len": 5, "neuron_num": 8, "dropout_input": 0.1}


def _model(task: str, n_classes: int, alphabet_size: int, length: int, head: str, seed: int, ensemble: int = 1):
    torch.manual_seed(seed)
    model = build_model({**SMALL, "head": head, "ensemble": ensemble}, alphabet_size, n_classes, length, task).eval()
    for p in model.parameters():  # scale up so probabilities are not all ~0.5 and gradients are not tiny
        p.data.mul_(3.0)
    return model


CASES = {
    # name: (task, classes, alphabet, length, head[, ensemble members]) -- dynamic- and fixed-length models
    "binary": ("binary", 2, get_alphabet("dna"), 40, "global"),
    "multiclass": ("multiclass", 4, get_alphabet("protein", unknown="uniform"), 30, "flatten"),
    "multilabel": ("multilabel", 3, get_alphabet("rna"), 36, "global"),
    "structure": ("binary", 2, ProductAlphabet(get_alphabet("rna"), structure_alphabet("annotated")), 32, "flatten"),
    "ensemble": ("multilabel", 3, get_alphabet("dna"), 30, "flatten", 3),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request, tmp_path_factory):
    torch.set_num_threads(1)
    task, c, alphabet, length, head, *ensemble = CASES[request.param]
    model = _model(task, c, alphabet.size, length, head, seed=len(request.param), ensemble=(ensemble or [1])[0])
    spec = make_spec(model, alphabet.table, length, c)
    folder = tmp_path_factory.mktemp(request.param)
    graphs = export_graphs(model, spec, folder)
    return request.param, model, spec, alphabet, folder, graphs


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_parity_at_two_batches_and_lengths(exported):
    name, model, spec, _alphabet, folder, graphs = exported
    parity = check_parity(model, spec, folder, seed=1)
    assert parity["forward"] <= FORWARD_TOLERANCE and parity["gradient"] <= GRADIENT_TOLERANCE
    assert parity["ig"] <= IG_TOLERANCE
    lengths = sorted({length for _, length in parity["checked"]})
    assert sorted({n for n, _ in parity["checked"]}) == [1, 5]
    assert lengths == ([spec.length, spec.length + 37] if spec.length_dynamic else [spec.length])
    assert spec.length_dynamic == (CASES[name][4] == "global")
    assert graphs["model.onnx"]["inputs"][0]["shape"] == ["N", "L" if spec.length_dynamic else spec.length]


def test_forward_graph_one_hot_follows_the_alphabet(exported):
    """Codes go in, the graph gathers the alphabet's table rows: unknown codes included."""
    name, model, spec, alphabet, folder, _ = exported
    rng = np.random.default_rng(7)
    codes = rng.integers(0, alphabet.num_codes, size=(3, spec.length)).astype(np.uint8)
    codes[:, :5] = alphabet.num_codes - 1  # unknown base at the start of every sequence
    probs = _session(folder / "model.onnx").run(None, {"codes": codes})[0]
    with torch.no_grad():
        want = probabilities(model, torch.from_numpy(alphabet.one_hot(codes))).numpy()
    np.testing.assert_allclose(probs, want, atol=1e-5)
    assert probs.shape == (3, CASES[name][1])
    if model.output_activation == "softmax":
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_gradient_graph_matches_finite_differences(exported):
    """grad = d sum(selector * probs) / d onehot, checked against a central difference in float64."""
    name, model, spec, alphabet, folder, _ = exported
    rng = np.random.default_rng(3)
    onehot = alphabet.one_hot(rng.integers(0, alphabet.size, size=(2, spec.length)).astype(np.uint8))
    selector = np.zeros((2, CASES[name][1]), dtype=np.float32)
    selector[:, -1] = 1.0
    _, grad = _session(folder / "grad.onnx").run(None, {"onehot": onehot, "selector": selector})
    model64 = model.double()
    try:
        def f(x):
            with torch.no_grad():
                return float((probabilities(model64, torch.from_numpy(x)) * torch.from_numpy(selector).double()).sum())
        x = onehot.astype(np.float64)
        eps = 1e-5
        for (i, j, k) in [(0, 3, 1), (1, spec.length // 2, 0), (1, spec.length - 2, alphabet.size - 1)]:
            up, down = x.copy(), x.copy()
            up[i, j, k] += eps
            down[i, j, k] -= eps
            assert grad[i, j, k] == pytest.approx((f(up) - f(down)) / (2 * eps), abs=1e-5)
    finally:
        model.float()


def test_ig_completeness(exported):
    """IG attributions sum to about f(x) - f(0) (the all-zero baseline) with enough steps."""
    name, model, spec, alphabet, folder, _ = exported
    rng = np.random.default_rng(5)
    onehot = alphabet.one_hot(rng.integers(0, alphabet.size, size=(2, spec.length)).astype(np.uint8))
    selector = np.eye(CASES[name][1], dtype=np.float32)[[0, CASES[name][1] - 1]]
    steps = 256
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    attributions = _session(folder / "ig.onnx").run(None, {"onehot": onehot, "alphas": alphas,
                                                           "selector": selector})[0]
    assert attributions.shape == onehot.shape
    with torch.no_grad():
        fx = (probabilities(model, torch.from_numpy(onehot)).numpy() * selector).sum(axis=1)
        f0 = (probabilities(model, torch.zeros_like(torch.from_numpy(onehot))).numpy() * selector).sum(axis=1)
    np.testing.assert_allclose(attributions.sum(axis=(1, 2)), fx - f0, atol=2e-2)
    assert np.all(attributions[onehot == 0] == 0)


def test_changed_weights_fail_parity_and_refuse(exported):
    """A graph that no longer matches the model raises ExportError naming the failed check."""
    _name, model, spec, _alphabet, folder, _ = exported
    out = (model.members[0] if hasattr(model, "members") else model).out
    shift = torch.linspace(-0.5, 0.5, out.bias.numel())  # a common shift would cancel in a softmax
    with torch.no_grad():
        out.bias.add_(shift)
    try:
        with pytest.raises(ExportError, match=r"forward max error .* refusing to publish"):
            check_parity(model, spec, folder)
    finally:
        with torch.no_grad():
            out.bias.sub_(shift)


def test_embedded_card_is_readable_without_onnx(exported, tmp_path):
    _name, _model, _spec, _alphabet, folder, _ = exported
    embed_card(folder, '{"name": "x", "version": 3}\n')
    for graph in ("model.onnx", "grad.onnx", "ig.onnx"):
        meta = _session(folder / graph).get_modelmeta().custom_metadata_map
        assert meta["seqzoo.card"] == '{"name": "x", "version": 3}\n'


def test_frozen_length_is_caught(tmp_path):
    """nn.MaxPool1d freezes the length under export: the two-length parity check must catch it."""
    torch.set_num_threads(1)

    class Frozen(torch.nn.Module):
        output_activation = "softmax"
        length_dynamic = True

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(4, 4, 3)
            self.pool = torch.nn.MaxPool1d(2)
            self.out = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.out(self.pool(torch.relu(self.conv(x.transpose(1, 2)))).amax(dim=2))

    torch.manual_seed(0)
    model = Frozen().eval()
    alphabet = get_alphabet("dna")
    spec = make_spec(model, alphabet.table, 24, 2)
    assert spec.length_dynamic and spec.min_length == 4
    try:
        export_graphs(model, spec, tmp_path)
    except ExportError:
        return  # refused at export: also a refusal
    with pytest.raises(ExportError):
        check_parity(model, spec, tmp_path)
