"""Which files a graph's tensors read their bytes from (ONNX external data), checked before ONNX
Runtime ever sees the graph.

A version's graphs keep their parameters in ``weights.bin`` (training.shared_weights): each large
initializer names a ``location`` that ONNX Runtime opens relative to the graph's folder. A graph
from a registry seqzoo does not control could name ``../../secret.bin``, an absolute path, ORT's
``*/_ORT_MEM_ADDR_/*`` or a link, and older ONNX Runtime releases open whatever is named. So every
place that opens a graph (pull, verify, the engine, the CPU checks) first reads the graph's
protobuf here - with no ``onnx`` package, which serving does not install - and refuses any
location other than a plain file name of a regular file in the same folder (and, where the
version's MANIFEST is known, one it lists). Nothing named is opened: the check is an ``lstat``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from seqzoo.zoo.errors import IntegrityError, quote

# ONNX's protobuf field numbers (onnx/onnx.proto3) of every message that can hold a TensorProto:
# message kind -> {field number: kind of the embedded message}
_EMBEDS = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node", 11: "attribute"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
}
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
MAX_DEPTH = 64  # graphs nested in If/Loop bodies; deeper is not a model seqzoo exports


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("a truncated or overlong varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _embedded(buf: memoryview, wanted: dict[int, str]):
    """(kind, bytes) of every length-delimited field of one message whose number is in ``wanted``."""
    i, end = 0, len(buf)
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, i = _varint(buf, i)
            if i + length > end:
                raise ValueError("a field runs past the end of its message")
            if number in wanted:
                yield wanted[number], buf[i:i + length]
            i += length
        else:
            raise ValueError(f"wire type {wire} is not protobuf's")
        if i > end:
            raise ValueError("a field runs past the end of its message")


def external_locations(data: bytes) -> list[str]:
    """Every external-data ``location`` named anywhere in a serialized ONNX ModelProto (initializers,
    sparse initializers, Constant and other tensor attributes, If/Loop bodies, functions, training
    graphs), in the order met, repeats removed. ValueError for bytes that are not a protobuf message."""
    found: dict[str, None] = {}
    stack = [("model", memoryview(data), 0)]
    while stack:
        kind, buf, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"graphs nested more than {MAX_DEPTH} deep")
        if kind == "entry":
            fields = dict(_embedded(buf, {_ENTRY_KEY: "key", _ENTRY_VALUE: "value"}))
            if bytes(fields.get("key", b"")) == b"location":
                found[bytes(fields.get("value", b"")).decode("utf-8", "replace")] = None
            continue
        for child, sub in _embedded(buf, _EMBEDS[kind]):
            stack.append((child, sub, depth + 1))
    return list(found)


def check_external_data(path: str | os.PathLike, listed: set[str] | None = None) -> list[str]:
    """Refuse (IntegrityError naming the graph and the location) a graph whose external data is
    anything but a plain file name of a regular file beside it - no folder part, no ``..``, no
    absolute path, no link, FIFO or device - and, when ``listed`` (the version's MANIFEST paths) is
    given, a file it lists. Returns the locations. The named files are never opened."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read the graph ({exc.strerror})") from None
    try:
        locations = external_locations(data)
    except ValueError as exc:
        raise IntegrityError(f"{path}: not an ONNX graph ({exc})") from None
    for location in locations:
        shown = quote(location, 200)
        bad = (not location or location in (".", "..") or "/" in location or "\\" in location
               or "\0" in location or os.path.isabs(location))
        if bad:
            raise IntegrityError(f"{path}: external data location {shown} is not a file name beside the graph "
                                 "(a version reads only its own files)")
        if listed is not None and location not in listed:
            raise IntegrityError(f"{path}: external data location {shown} is not a file of this version's "
                                 "MANIFEST.json")
        try:
            mode = os.lstat(path.parent / location).st_mode
        except OSError:
            raise IntegrityError(f"{path}: external data file {shown} is missing") from None
        if not stat.S_ISREG(mode):
            raise IntegrityError(f"{path}: external data {shown} is not a regular file (a link, FIFO or device)")
    return locations
