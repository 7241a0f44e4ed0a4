"""Opening one of a version's ONNX graphs with ONNX Runtime on the CPU, for checks that run
without PyTorch (``zoo verify``, the expect entries, a card read from a graph's metadata).

A graph that does not load (truncated, not ONNX, an unknown operator) is an IntegrityError
naming the file, never ONNX Runtime's traceback.
"""

from __future__ import annotations

import os

from seqzoo.zoo.errors import IntegrityError
from seqzoo.zoo.external_data import check_external_data

# the graphs every classifier version has, and the one exported only for architectures that support it
GRAPHS = ("model.onnx", "grad.onnx", "ig.onnx")
TRACK = "track.onnx"
LOGPROBS = "logprobs.onnx"  # a language model's per-base log-probabilities (it has no gradient graphs)


def card_graphs(card: dict) -> list[str]:
    """The graph files a version's card lists (model.onnx first)."""
    listed = list((card.get("graphs") or {}).keys())
    return ["model.onnx", *sorted(g for g in listed if g != "model.onnx")]


def cpu_session(path: str | os.PathLike, optimize: bool = True):
    """An onnxruntime.InferenceSession of ``path`` on one CPU thread (``optimize=False``: no graph
    optimisation, for reading metadata only)."""
    import onnxruntime as ort

    check_external_data(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own pybind classes
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IntegrityError(f"{path}: ONNX Runtime cannot load this graph ({first})") from None


def track_probs(session, onehot, window: int):
    """Probabilities [W, C] of every stride-1 window of one stretch of one-hot sequence float32
    [S, A] (W = S - window + 1) through a version's ``track.onnx``, which scores segments of a
    fixed number of windows: the stretch is cut into overlapping segments (zero-padded at the end)
    and scored in one batch; the padding's windows are dropped."""
    import numpy as np

    per_segment = session.get_inputs()[0].shape[1] - window + 1
    length, a = onehot.shape
    windows = length - window + 1
    count = -(-windows // per_segment)
    padded = np.zeros((count * per_segment + window - 1, a), dtype=np.float32)
    padded[:length] = onehot
    segments = np.lib.stride_tricks.sliding_window_view(padded, (per_segment + window - 1, a))[::per_segment, 0]
    probs = session.run(["probs"], {"segment": np.ascontiguousarray(segments)})[0]
    return probs.reshape(count * per_segment, -1)[:windows]
