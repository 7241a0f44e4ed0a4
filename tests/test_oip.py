"""The Open Inference Protocol on seqzoo's port: tritonclient (a client seqzoo did not write, in its
own process) against a real server; the wire checked against tritonclient's own descriptors; the
protocol's errors; auth and batching shared with seqzoo.v1."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import grpc
import numpy as np
import pytest
from conftest import REPO
from seqzoo.serving.engine import Engine
from seqzoo.v1 import oip_pb2 as opb
from seqzoo.v1 import oip_pb2_grpc as opb_grpc
from test_server import ServerThread

CLIENT = REPO / "tests" / "tools" / "oip_client.py"


@pytest.fixture(scope="module")
def server(published_model):
    s = ServerThread(published_model.zoo_root)
    yield s
    s.drain()


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(server.target)
    yield opb_grpc.GRPCInferenceServiceStub(channel)
    channel.close()


def test_tritonclient_scores_like_the_engine(published_model, server, tmp_path):
    engine = Engine.load(published_model, device="cpu")
    codes = np.random.default_rng(0).integers(0, 5, (37, engine.length)).astype(np.uint8)  # N included
    np.save(tmp_path / "codes.npy", codes)
    result = subprocess.run([sys.executable, str(CLIENT), server.target, "pum2", str(tmp_path / "codes.npy"),
                             str(tmp_path / "out.json"), "", "ACGUN"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads((tmp_path / "out.json").read_text())
    assert got["live"] and got["ready"] and got["model_ready"]
    assert got["server"]["name"] == "seqzoo"
    meta = got["metadata"]
    assert meta["name"] == "pum2" and meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"][0] == {"name": "codes", "datatype": "UINT8", "shape": ["-1", str(engine.length)]}
    assert meta["outputs"] == [{"name": "probs", "datatype": "FP32", "shape": ["-1", "2"]}]
    want = engine.predict(codes)
    np.testing.assert_allclose(got["codes_probs"], want, atol=1e-6)
    np.testing.assert_allclose(got["sequences_probs"], want, atol=1e-6)
    assert got["answered_by"] == ["pum2", "1"]
    assert got["errors"]["unknown_model"][0] == "StatusCode.NOT_FOUND"
    assert got["errors"]["unknown_version"][0] == "StatusCode.NOT_FOUND"
    assert got["errors"]["metadata_unknown"][0] == "StatusCode.NOT_FOUND"


def request(inputs, raw=None, **fields):
    req = opb.ModelInferRequest(model_name=fields.pop("model", "pum2"), inputs=inputs, **fields)
    if raw is not None:
        req.raw_input_contents.extend(raw)
    return req


def codes_input(shape, datatype="UINT8", name="codes"):
    return opb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)


def test_typed_contents_digest_pinning_and_batching_with_seqzoo_v1(published_model, stub):
    engine = Engine.load(published_model, device="cpu")
    codes = np.random.default_rng(1).integers(0, 4, (3, engine.length)).astype(np.uint8)
    tensor = codes_input([3, engine.length])
    tensor.contents.uint_contents.extend(codes.ravel().tolist())
    req = request([tensor])
    req.parameters["digest"].string_param = published_model.digest
    answer = stub.ModelInfer(req)
    assert answer.parameters["digest"].string_param == published_model.digest
    assert not answer.raw_output_contents and list(answer.outputs[0].shape) == [3, 2]
    np.testing.assert_allclose(np.array(answer.outputs[0].contents.fp32_contents).reshape(3, 2),
                               engine.predict(codes), atol=1e-6)
    # raw BYTES: each element length-prefixed
    letters = ["".join("ACGU"[k] for k in row) for row in codes]
    raw = b"".join(struct.pack("<I", len(s)) + s.encode() for s in letters)
    answer = stub.ModelInfer(request([codes_input([3], "BYTES", "sequences")], [raw]))
    np.testing.assert_allclose(np.frombuffer(answer.raw_output_contents[0], "<f4").reshape(3, 2),
                               engine.predict(codes), atol=1e-6)


@pytest.mark.parametrize(("make", "code", "message"), [
    (lambda L: request([codes_input([2, L])], [b"\0" * (2 * L - 1)]), "INVALID_ARGUMENT",
     "input 'codes': raw contents hold"),
    (lambda L: request([codes_input([2, L], "FP32")], [b"\0" * (8 * L)]), "INVALID_ARGUMENT",
     "input 'codes' is UINT8, not FP32"),
    (lambda L: request([codes_input([2, L], name="x")], [b"\0" * (2 * L)]), "INVALID_ARGUMENT",
     "input 'x' is not one of the model's inputs"),
    (lambda L: request([codes_input([2, L + 1])], [b"\0" * (2 * (L + 1))]), "INVALID_ARGUMENT",
     "input 'codes' has length 201"),
    (lambda L: request([codes_input([1, L])], [bytes([9]) * L]), "INVALID_ARGUMENT", "code 9 at position 1"),
    (lambda L: request([codes_input([1], "BYTES", "sequences")], [struct.pack("<I", L) + b"ACGX" * (L // 4)]),
     "INVALID_ARGUMENT", "character 'X'"),
    (lambda L: request([codes_input([2], "BYTES", "sequences")], [struct.pack("<I", 50) + b"A"]),
     "INVALID_ARGUMENT", "runs past the end"),
    (lambda L: request([codes_input([1, L])], [b"\0" * L], model="nosuch"), "NOT_FOUND", "nosuch"),
    (lambda L: request([codes_input([1, L])], [b"\0" * L], model_version="7"), "NOT_FOUND", ""),
    (lambda L: request([codes_input([1, L])], [b"\0" * L], model_version="x"), "INVALID_ARGUMENT",
     "model version 'x'"),
    (lambda L: request([codes_input([1, L])], [b"\0" * L], model="pum2:1"), "INVALID_ARGUMENT",
     "give the zoo name"),
    (lambda L: request([], []), "INVALID_ARGUMENT", "the request has 0 inputs"),
])
def test_bad_requests_get_the_protocol_status_and_the_server_keeps_serving(published_model, stub, make, code,
                                                                             message):
    length = Engine.load(published_model, device="cpu").length
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(make(length))
    assert caught.value.code().name == code and message in caught.value.details()
    assert stub.ServerLive(opb.ServerLiveRequest()).live
    ok = stub.ModelInfer(request([codes_input([1, length])], [b"\0" * length]))
    assert len(ok.raw_output_contents[0]) == 8


def test_unknown_model_metadata_and_readiness(stub):
    for call, req in ((stub.ModelMetadata, opb.ModelMetadataRequest(name="nosuch")),
                      (stub.ModelReady, opb.ModelReadyRequest(name="nosuch"))):
        with pytest.raises(grpc.RpcError) as caught:
            call(req)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert stub.ModelReady(opb.ModelReadyRequest(name="pum2", version="1")).ready


def test_the_token_guards_oip_too(published_model):
    s = ServerThread(published_model.zoo_root, token="s3cret")
    try:
        with grpc.insecure_channel(s.target) as channel:
            stub = opb_grpc.GRPCInferenceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ServerMetadata(opb.ServerMetadataRequest())
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            meta = stub.ServerMetadata(opb.ServerMetadataRequest(), metadata=[("authorization", "Bearer s3cret")])
            assert meta.name == "seqzoo"
    finally:
        s.drain()


DUMP = """
import json, sys
from google.protobuf.descriptor import FieldDescriptor
def fields(d, prefix=""):
    out = {}
    for f in d.fields:
        out[prefix + d.name + "." + f.name] = [f.number, f.type, f.is_repeated,
                                               f.message_type.name if f.message_type else ""]
    for n in d.nested_types:
        out.update(fields(n, prefix + d.name + "."))
    return out
mod = sys.argv[1]
if mod == "triton":
    from tritonclient.grpc import service_pb2 as m
else:
    from seqzoo.v1 import oip_pb2 as m
names = sys.argv[2].split(",")
out = {}
for name in names:
    out.update(fields(m.DESCRIPTOR.message_types_by_name[name]))
svc = m.DESCRIPTOR.services_by_name["GRPCInferenceService"]
out["service"] = {x.name: [x.input_type.name, x.output_type.name] for x in svc.methods if x.name in sys.argv[3].split(",")}
out["package"] = m.DESCRIPTOR.package
print(json.dumps(out))
"""


def test_the_wire_matches_tritonclients_own_protocol_definition():
    """Every OIP message, field number, type and method of seqzoo's proto equals the one
    tritonclient ships (each read in its own process: the two define the same messages)."""
    messages = ",".join(m for m in opb.DESCRIPTOR.message_types_by_name)
    methods = ",".join(m.name for m in opb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods)
    dumps = []
    for which in ("triton", "seqzoo"):
        result = subprocess.run([sys.executable, "-c", DUMP, which, messages, methods], capture_output=True,
                                text=True, check=True)
        dumps.append(json.loads(result.stdout))
    assert dumps[0] == dumps[1]
    assert dumps[1]["package"] == "inference" and len(dumps[1]["service"]) == 6


PARSE = """
import json, sys
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc
c = text_format.Parse(open(sys.argv[1]).read(), mc.ModelConfig())
print(json.dumps({"name": c.name, "platform": c.platform, "max_batch_size": c.max_batch_size,
                  "versions": list(c.version_policy.specific.versions),
                  "inputs": [[i.name, mc.DataType.Name(i.data_type), list(i.dims)] for i in c.input],
                  "outputs": [[o.name, mc.DataType.Name(o.data_type), list(o.dims), o.label_filename] for o in c.output],
                  "preferred": list(c.dynamic_batching.preferred_batch_size),
                  "delay": c.dynamic_batching.max_queue_delay_microseconds}))
"""


def test_export_triton_writes_a_repository_triton_parses(published_model, tmp_path, capsys):
    """config.pbtxt parsed by Triton's own ModelConfig protobuf (from tritonclient) and checked
    field by field; the graph beside it takes what the config says (ONNX Runtime)."""
    import onnxruntime as ort

    from seqzoo.cli import main

    out = tmp_path / "repo"
    zoo = str(published_model.zoo_root)
    assert main(["zoo", "export-triton", "pum2:1", str(out), "--zoo", zoo, "--max-batch-size", "512",
                 "--preferred-batch-sizes", "64,256"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "pum2", "pum2/1", "pum2/1/card.json", "pum2/1/model.onnx", "pum2/1/weights.bin", "pum2/config.pbtxt",
        "pum2/labels.txt"]
    result = subprocess.run([sys.executable, "-c", PARSE, str(out / "pum2" / "config.pbtxt")], capture_output=True,
                            text=True, check=True)
    config = json.loads(result.stdout)
    length = published_model.card["input"]["length"]
    assert config == {"name": "pum2", "platform": "onnxruntime_onnx", "max_batch_size": 512, "versions": [1],
                      "inputs": [["codes", "TYPE_UINT8", [length]]],
                      "outputs": [["probs", "TYPE_FP32", [2], "labels.txt"]], "preferred": [64, 256], "delay": 2000}
    assert (out / "pum2" / "labels.txt").read_text().split() == published_model.card["classes"]
    session = ort.InferenceSession(str(out / "pum2" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,), (output,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1]) == ("codes", "tensor(uint8)", length)
    assert (output.name, output.type) == ("probs", "tensor(float)")
    capsys.readouterr()
    # the same model again: never written over; bad batch sizes: one line
    assert main(["zoo", "export-triton", "pum2:1", str(out), "--zoo", zoo]) == 2
    assert "already has a model 'pum2'" in capsys.readouterr().err
    assert main(["zoo", "export-triton", "pum2:1", str(tmp_path / "r2"), "--zoo", zoo, "--max-batch-size", "8",
                 "--preferred-batch-sizes", "64"]) == 2
    assert "must lie in 1..max_batch_size (8)" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


def http(port: int, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    """One OIP HTTP call with the standard library (a client seqzoo did not write)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_http_endpoints_answer_like_grpc(published_model):
    engine = Engine.load(published_model, device="cpu")
    codes = np.random.default_rng(5).integers(0, 4, (4, engine.length)).astype(np.uint8)
    want = engine.predict(codes)
    s = ServerThread(published_model.zoo_root, token="t0k", http_port=0)
    port = s.server.http_port
    try:
        assert http(port, "/v2/health/live") == (200, {"live": True})  # health is public
        assert http(port, "/v2/health/ready") == (200, {"ready": True})
        assert http(port, "/v2/models/pum2")[0] == 401
        status, meta = http(port, "/v2/models/pum2/versions/1", token="t0k")
        assert status == 200 and meta["inputs"][0] == {"name": "codes", "datatype": "UINT8",
                                                       "shape": [-1, engine.length]}
        assert http(port, "/v2", token="t0k")[1]["name"] == "seqzoo"
        assert http(port, "/v2/models/pum2/ready", token="t0k") == (200, {"name": "pum2", "ready": True})
        letters = ["".join("ACGU"[k] for k in row) for row in codes]
        status, answer = http(port, "/v2/models/pum2/infer", {"inputs": [
            {"name": "sequences", "datatype": "BYTES", "shape": [4], "data": letters}]}, token="t0k")
        assert status == 200 and answer["outputs"][0]["shape"] == [4, 2]
        np.testing.assert_allclose(np.reshape(answer["outputs"][0]["data"], (4, 2)), want, atol=1e-6)
        status, answer = http(port, "/v2/models/pum2/versions/1/infer", {"id": "r7", "inputs": [
            {"name": "codes", "datatype": "UINT8", "shape": [4, engine.length], "data": codes.tolist()}]}, token="t0k")
        assert status == 200 and answer["id"] == "r7" and answer["model_version"] == "1"
        assert answer["parameters"]["digest"] == published_model.digest
        np.testing.assert_allclose(np.reshape(answer["outputs"][0]["data"], (4, 2)), want, atol=1e-6)
        for path, body, code, message in (
                ("/v2/models/nosuch/infer", {"inputs": []}, 404, "nosuch"),
                ("/v2/models/pum2/versions/9/infer", {"inputs": []}, 404, ""),
                ("/v2/models/pum2/infer", {"inputs": [{"name": "sequences", "datatype": "BYTES", "shape": [1],
                                                       "data": ["ACGX"]}]}, 400, "sequences"),
                ("/v2/models/pum2/infer", {"inputs": [{"name": "codes", "datatype": "UINT8", "shape": [1, 3],
                                                       "data": [1, 2, 3]}]}, 400, "input 'codes' has length 3"),
                ("/v2/models/pum2/infer", {"nothing": 1}, 400, "a list 'inputs'")):
            status, answer = http(port, path, body, token="t0k")
            assert status == code and message in answer["error"], (path, answer)
    finally:
        s.drain()
