"""One weights file for all of a version's graphs (ONNX external data).

model.onnx, grad.onnx, ig.onnx and track.onnx each carry the network's parameters, and the traced
backward graphs carry some of them again transposed, so a version stored them four times or more.
``share_weights`` moves every initializer of at least ``MIN_BYTES`` into ``weights.bin`` once per
distinct content (sha256) and points each graph's tensors at it (ONNX external data: location,
offset, length), which ONNX Runtime reads relative to the graph's own folder. A matrix whose
transpose is stored already becomes a Transpose node of that stored matrix (ONNX Runtime folds it
into a constant when the session starts: no cost per call). The graphs keep their names, inputs,
outputs and metadata; the MANIFEST covers ``weights.bin`` like any file, so a pulled version is
verified byte for byte as before.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from seqzoo.zoo.io.atomic import atomic_path, write_bytes

WEIGHTS = "weights.bin"
MIN_BYTES = 1024  # smaller tensors (shapes, scalars) stay inside their graph
ALIGN = 64
TYPED_FIELDS = ("raw_data", "float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")


def _external(tensor, offset: int, length: int) -> None:
    import onnx

    for name in TYPED_FIELDS:
        tensor.ClearField(name)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    del tensor.external_data[:]
    for k, v in (("location", WEIGHTS), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = k, v


class _Blob:
    """weights.bin being written: each distinct content once, 64-byte aligned."""

    def __init__(self):
        self.data, self.where = bytearray(), {}

    def add(self, data: bytes) -> tuple[int, bool]:
        """(offset, whether it was new) of ``data``."""
        key = hashlib.sha256(data).digest()
        if key in self.where:
            return self.where[key], False
        self.data.extend(b"\0" * (-len(self.data) % ALIGN))
        self.where[key] = len(self.data)
        self.data.extend(data)
        return self.where[key], True

    def find(self, data: bytes) -> int | None:
        return self.where.get(hashlib.sha256(data).digest())


def share_weights(folder: str | os.PathLike) -> dict:
    """Rewrite every ``*.onnx`` of ``folder`` to read its large initializers from one
    ``weights.bin`` (rebuilt from scratch: safe to call again); returns byte counts
    ``{"tensors", "inline_bytes", "stored_bytes", "transposed"}``."""
    import onnx
    from onnx import helper, numpy_helper

    folder = Path(folder)
    blob, seen_bytes, tensors, transposed = _Blob(), 0, 0, 0
    protos = {}
    for path in sorted(folder.glob("*.onnx"), key=lambda p: (p.name != "model.onnx", p.name)):
        proto = onnx.load(str(path))  # external data (an earlier call's) is read back inline
        nodes = []
        for tensor in list(proto.graph.initializer):
            array = numpy_helper.to_array(tensor)
            if array.nbytes < MIN_BYTES:
                continue
            data = array.tobytes()
            seen_bytes += array.nbytes
            tensors += 1
            source = blob.find(np.ascontiguousarray(array.T).tobytes()) if array.ndim == 2 else None
            if source is not None and blob.find(data) is None:  # the transpose of a stored matrix
                stored = onnx.TensorProto(name=f"{tensor.name}::transposed", data_type=tensor.data_type,
                                          dims=array.shape[::-1])
                _external(stored, source, array.nbytes)
                proto.graph.initializer.remove(tensor)
                proto.graph.initializer.append(stored)
                nodes.append(helper.make_node("Transpose", [stored.name], [tensor.name], perm=[1, 0]))
                transposed += 1
                continue
            offset, _ = blob.add(data)
            _external(tensor, offset, len(data))
        for node in reversed(nodes):
            proto.graph.node.insert(0, node)
        protos[path] = proto
    write_bytes(folder / WEIGHTS, bytes(blob.data))
    for path, proto in protos.items():
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(proto.SerializeToString())
    return {"tensors": tensors, "inline_bytes": seen_bytes, "stored_bytes": len(blob.data), "transposed": transposed}
