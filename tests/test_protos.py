"""The committed gRPC stubs are exactly what grpcio-tools makes from the .proto files (but for the
version stamps of the grpcio-tools and protoc that made them: a patch release of either must not
turn a fresh machine's test run red)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROTOS = REPO / "protos"
V1 = PROTOS / "seqzoo" / "v1"


# the lines that record which grpcio-tools / protoc generated a stub, not what the stub does
STAMPS = re.compile(r"^(GRPC_GENERATED_VERSION = .*|# Protobuf Python Version: .*)$", re.MULTILINE)
RUNTIME_CHECK = re.compile(r"_runtime_version\.ValidateProtobufRuntimeVersion\([^)]*\)")


def unstamped(text: str) -> str:
    return RUNTIME_CHECK.sub("(runtime check)", STAMPS.sub("(stamp)", text))


def test_the_stamps_are_the_only_lines_ignored():
    committed = (V1 / "seqzoo_pb2_grpc.py").read_text()
    assert "GRPC_GENERATED_VERSION = " in committed
    assert unstamped(committed) != committed
    changed = committed.replace("def add_SeqZooServicer_to_server", "def add_SeqZooServicer_to_server2")
    assert unstamped(changed) != unstamped(committed)


def test_regenerating_the_stubs_changes_nothing(tmp_path):
    protoc = pytest.importorskip("grpc_tools.protoc")
    src = tmp_path / "protos"
    shutil.copytree(PROTOS, src, ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__"))
    protos = sorted(str(p.relative_to(src)) for p in (src / "seqzoo" / "v1").glob("*.proto"))
    assert "seqzoo/v1/seqzoo.proto" in protos
    # the same command as `make protos`, run from inside the copy
    import os

    here = os.getcwd()
    os.chdir(src)
    try:
        rc = protoc.main(["grpc_tools.protoc", "-I", ".", "--python_out=.", "--pyi_out=.", "--grpc_python_out=.",
                          *protos])
    finally:
        os.chdir(here)
    assert rc == 0
    generated = sorted(p.name for p in (src / "seqzoo" / "v1").iterdir() if p.suffix in (".py", ".pyi"))
    assert "seqzoo_pb2.py" in generated and "seqzoo_pb2_grpc.py" in generated
    for name in generated:
        committed = V1 / name
        assert committed.is_file(), f"{name} is generated but not committed (run `make protos`)"
        assert unstamped(committed.read_text()) == unstamped((src / "seqzoo" / "v1" / name).read_text()), \
            f"{name} differs from a fresh `make protos`"


def test_the_service_has_the_contracted_methods():
    from seqzoo.v1 import seqzoo_pb2

    service = seqzoo_pb2.DESCRIPTOR.services_by_name["SeqZoo"]
    assert service.full_name == "seqzoo.v1.SeqZoo"
    methods = {m.name: (m.client_streaming, m.server_streaming) for m in service.methods}
    assert methods == {"ListModels": (False, False), "GetModel": (False, False), "Score": (False, False),
                       "ScoreStream": (True, True), "Attribute": (False, False)}
    request = seqzoo_pb2.ScoreRequest.DESCRIPTOR.fields_by_name
    assert request["codes"].type == request["codes"].TYPE_BYTES
