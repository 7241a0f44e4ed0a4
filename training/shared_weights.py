"""One weights file for all of a version's graphs (ONNX external data).

model.onnx, grad.onnx, ig.onnx and track.onnx each carry the network's parameters, so a version
stored them three or four times over. ``share_weights`` moves every initializer of at least
``MIN_BYTES`` into ``weights.bin`` once per distinct content (sha256) and points each graph's
tensors at it (ONNX external data: location, offset, length), which ONNX Runtime reads relative to
the graph's own folder. The graphs keep their names, inputs, outputs and metadata; the MANIFEST
covers ``weights.bin`` like any file, so a pulled version is verified byte for byte as before.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from seqzoo.zoo.io.atomic import atomic_path, write_bytes

WEIGHTS = "weights.bin"
MIN_BYTES = 1024  # smaller tensors (shapes, scalars) stay inside their graph
ALIGN = 64
TYPED_FIELDS = ("raw_data", "float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")


def share_weights(folder: str | os.PathLike) -> dict:
    """Rewrite every ``*.onnx`` of ``folder`` to read its large initializers from one
    ``weights.bin`` (rebuilt from scratch: safe to call again); returns byte counts
    ``{"tensors", "inline_bytes", "stored_bytes"}``."""
    import onnx
    from onnx import numpy_helper

    folder = Path(folder)
    blob, where, seen_bytes, tensors = bytearray(), {}, 0, 0
    protos = {}
    for path in sorted(folder.glob("*.onnx")):
        proto = onnx.load(str(path))  # external data (an earlier call's) is read back inline
        for tensor in proto.graph.initializer:
            data = tensor.raw_data if tensor.HasField("raw_data") else numpy_helper.to_array(tensor).tobytes()
            if len(data) < MIN_BYTES:
                continue
            key = hashlib.sha256(data).digest()
            if key not in where:
                blob.extend(b"\0" * (-len(blob) % ALIGN))
                where[key] = len(blob)
                blob.extend(data)
            for name in TYPED_FIELDS:
                tensor.ClearField(name)
            tensor.data_location = onnx.TensorProto.EXTERNAL
            del tensor.external_data[:]
            for k, v in (("location", WEIGHTS), ("offset", str(where[key])), ("length", str(len(data)))):
                entry = tensor.external_data.add()
                entry.key, entry.value = k, v
            seen_bytes += len(data)
            tensors += 1
        protos[path] = proto
    write_bytes(folder / WEIGHTS, bytes(blob))
    for path, proto in protos.items():
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(proto.SerializeToString())
    return {"tensors": tensors, "inline_bytes": seen_bytes, "stored_bytes": len(blob)}
