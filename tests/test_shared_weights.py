"""One weights.bin per version: every large parameter stored once, transposed copies as Transpose
nodes, and the graphs answer exactly as the inline graphs did."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import onnxruntime as ort
from seqzoo.training.shared_weights import MIN_BYTES, WEIGHTS, share_weights
from seqzoo.zoo.expect import check_expect


def test_published_graphs_share_one_weights_file(published_model, tmp_path):
    folder = tmp_path / "v"
    shutil.copytree(published_model.path, folder)
    for name in ("model.onnx", "grad.onnx", "ig.onnx"):
        proto = onnx.load(str(folder / name), load_external_data=False)
        inline = [t.name for t in proto.graph.initializer
                  if t.data_location != onnx.TensorProto.EXTERNAL and len(t.raw_data) >= MIN_BYTES]
        assert inline == [], (name, inline)
    codes = np.random.default_rng(0).integers(0, 4, (6, published_model.card["input"]["length"])).astype(np.uint8)
    before = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"codes": codes})[0]
    inlined = tmp_path / "inline"
    inlined.mkdir()
    for name in ("model.onnx", "grad.onnx", "ig.onnx", "track.onnx"):
        onnx.save(onnx.load(str(folder / name)), str(inlined / name))  # external data read back inline
    total = sum((inlined / n).stat().st_size for n in ("model.onnx", "grad.onnx", "ig.onnx", "track.onnx"))
    stats = share_weights(inlined)
    assert stats["stored_bytes"] < stats["inline_bytes"] / 2
    grad = onnx.load(str(folder / "grad.onnx"), load_external_data=False)
    assert any(n.op_type == "Transpose" and n.input[0].endswith("::transposed") for n in grad.graph.node)
    assert (inlined / WEIGHTS).stat().st_size + sum(
        (inlined / n).stat().st_size for n in ("model.onnx", "grad.onnx", "ig.onnx", "track.onnx")) < 0.6 * total
    after = ort.InferenceSession(str(inlined / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"codes": codes})[0]
    np.testing.assert_array_equal(before, after)
    shutil.copy(folder / "card.json", inlined / "card.json")
    assert check_expect(inlined, published_model.card) <= 1e-5
