"""Property-based abuse of a live server: random requests, garbage bytes on the wire, clients that
vanish mid-stream. Every answer is a clean status, and the server still answers health after."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqzoo.serving.client import SeqZooClient
from seqzoo.v1 import seqzoo_pb2 as pb
from test_engine import make_version_dir
from test_server import ServerThread

CLEAN = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
         grpc.StatusCode.RESOURCE_EXHAUSTED}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    make_version_dir(root, "toy", 1, seed=0)
    s = ServerThread(root, max_sequences=500, max_message_bytes=1 << 16)
    yield s
    s.drain()


@pytest.fixture(scope="module")
def client(server):
    with SeqZooClient(server.target, timeout=10) as c:
        yield c


models = st.sampled_from(["toy", "toy:1", "toy:latest", "toy:2", "nosuch", "", "toy@sha256:00", "::", "T O Y"])
sequences = st.lists(st.text(alphabet=st.sampled_from(list("ACGUTNacgux-é\x00 ")), max_size=20), max_size=8)
requests = st.builds(pb.ScoreRequest, model=models, codes=st.binary(max_size=300),
                     length=st.integers(-5, 40), sequences=sequences,
                     structures=st.lists(st.text(max_size=12), max_size=3), convert_tu=st.booleans(),
                     id=st.integers(0, 2**64 - 1))


def _code(call) -> grpc.StatusCode:
    try:
        call()
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        return exc.code()


@FUZZ
@given(request=requests)
def test_random_score_requests_get_clean_answers(client, request):
    assert _code(lambda: client.stub.Score(request, timeout=10)) in CLEAN
    assert client.health() == "SERVING"


@FUZZ
@given(request=requests, method=st.integers(0, 5), steps=st.integers(-3, 2000), target=st.text(max_size=10),
       half=st.booleans())
def test_random_attribute_requests_get_clean_answers(client, request, method, steps, target, half):
    attr = pb.AttributeRequest(model=request.model, codes=request.codes[:120], length=request.length,
                               sequences=request.sequences, method=method, steps=steps, target=target,
                               float16=half)
    assert _code(lambda: client.stub.Attribute(attr, timeout=20)) in CLEAN
    assert client.health() == "SERVING"


@FUZZ
@given(payload=st.binary(max_size=2000), method=st.sampled_from(["Score", "Attribute", "GetModel", "ListModels"]))
def test_garbage_bytes_on_the_wire_never_take_the_server_down(client, server, payload, method):
    raw = client.channel.unary_unary(f"/seqzoo.v1.SeqZoo/{method}")  # no serializer: bytes as they are
    code = _code(lambda: raw(payload, timeout=10))
    assert code != grpc.StatusCode.UNAVAILABLE
    assert client.health() == "SERVING"


@FUZZ
@given(batch=st.lists(requests, max_size=6))
def test_random_streams_answer_every_message(client, batch):
    answers = list(client.stub.ScoreStream(iter(batch), timeout=20))
    assert len(answers) == len(batch)
    assert [a.id for a in answers] == [r.id for r in batch]
    for a in answers:
        assert a.error_code in {c.value[0] for c in CLEAN}
    assert client.health() == "SERVING"


def test_clients_that_vanish_mid_stream_leave_others_answered(server, client):
    codes = np.random.default_rng(0).integers(0, 4, size=(1, 12), dtype=np.uint8)
    expected = client.score("toy", codes=codes)

    def endless():
        i = 0
        while True:
            yield client.request("toy", codes=codes, id=i)
            i += 1

    for _ in range(5):
        channel = grpc.insecure_channel(server.target)
        stream = channel.stream_stream("/seqzoo.v1.SeqZoo/ScoreStream",
                                       request_serializer=pb.ScoreRequest.SerializeToString,
                                       response_deserializer=pb.ScoreResponse.FromString)(endless())
        for k, _ in enumerate(stream):
            if k == 20:
                break
        stream.cancel()
        channel.close()  # the client is gone mid-stream
        np.testing.assert_allclose(client.score("toy", codes=codes), expected, atol=1e-7)
    assert client.health() == "SERVING"
