"""How close a model runs to the machine: the engine's rate against the device's matrix-multiply rate.

Shared by serve_bench.py and gpu_bench.py; it needs numpy, onnx and ONNX Runtime only (so the GPU
check measures the engine on a machine that has nothing else yet).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def rate(function, n: int, seconds: float) -> float:
    """Items per second of ``function()`` handling ``n`` items, after one warm call, over at
    least ``seconds`` (and at least one timed call)."""
    function()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done == 0:
        function()
        done += n
    return done / (time.perf_counter() - start)


def in_process(engine, codes: np.ndarray, seconds: float) -> float:
    """Sequences per second of the engine's forward pass on ``codes``."""
    return rate(lambda: engine.predict(codes), codes.shape[0], seconds)



def flops_per_sequence(model_path: Path, length: int) -> float:
    """Multiply-adds x 2 of one sequence through the forward graph's Conv, MatMul and Gemm nodes."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(model_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value, dims[1].dim_value = 1, length
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input)}
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    flops = 0.0
    for node in model.graph.node:
        if node.op_type == "Conv":
            weight, out = shapes[node.input[1]], shapes[node.output[0]]
            flops += 2 * float(np.prod(out)) * float(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            flops += 2 * float(np.prod(out)) * (a[-1] if not (node.op_type == "Gemm" and any(
                at.name == "transA" and at.i for at in node.attribute)) else a[-2])
    return flops


def matmul_flops_per_second(provider: str, size: int = 4096, seconds: float = 3.0) -> float:
    """float32 FLOP/s of a large matrix product on ``provider`` (ONNX Runtime, same as the engine)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    session = ort.InferenceSession(model.SerializeToString(), providers=[provider])
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    session.run(None, {"a": a, "b": a})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 2:
        session.run(None, {"a": a, "b": a})
        n += 1
    return n * 2 * size**3 / (time.perf_counter() - t0)


def compute_ceiling(mv, engine, seconds: float) -> dict:
    """In-engine throughput at batch 4,096 against the machine's matmul rate for this model's FLOPs."""
    per_seq = flops_per_sequence(Path(mv.path) / "model.onnx", engine.length)
    peak = matmul_flops_per_second(engine.provider, seconds=seconds)
    codes = np.random.default_rng(1).integers(0, 4, size=(4096, engine.length), dtype=np.uint8)
    rate = in_process(engine, codes, seconds)
    return {"flops_per_sequence": per_seq, "matmul_gflops": peak / 1e9, "batch4096_seq_s": rate,
            "limit_seq_s": peak / per_seq, "ratio": rate * per_seq / peak}
