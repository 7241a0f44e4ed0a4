"""Property-based abuse of a live server: random messages of every request type (SeqZoo, Variants
in both modes, health), garbage bytes on the wire, clients that vanish mid-stream. Every answer is
a clean status (never INTERNAL or UNKNOWN), nothing is logged as an error (no traceback), and the
server still answers health after."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqzoo.serving.client import SeqZooClient
from seqzoo.v1 import seqzoo_pb2 as pb
from seqzoo.v1 import variants_pb2 as vpb
from seqzoo.v1 import variants_pb2_grpc as vpb_grpc
from test_engine import make_version_dir
from test_server import ServerThread

CLEAN = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
         grpc.StatusCode.RESOURCE_EXHAUSTED}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Errors(logging.Handler):
    """Every ERROR record any logger writes while the server runs (an INTERNAL answer is logged
    with its traceback; grpc logs what escapes a handler)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@contextmanager
def watched(start):
    """A server from ``start()`` whose run records every ERROR log record in ``server.errors``."""
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        s = start()
        s.errors = errors
        yield s
        s.drain()
    finally:
        logging.getLogger().removeHandler(errors)


def assert_no_errors(server):
    assert not server.errors.records, [r.getMessage() for r in server.errors.records]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from seqzoo.serving.server import reference

    root = tmp_path_factory.mktemp("zoo")
    make_version_dir(root, "toy", 1, seed=0)
    genome = root.parent / "genome.fa"
    bases = np.random.default_rng(1).choice(list("ACGT"), 300)
    genome.write_text(">chr1\n" + "".join(bases[:200]) + "\n>chr2 short\n" + "".join(bases[200:]) + "NNNN\n")
    reference.set_genome(genome, cache=root.parent / "cache")
    try:
        with watched(lambda: ServerThread(root, max_sequences=500, max_message_bytes=1 << 16)) as s:
            reference._genome = None  # the servicer holds its own reference
            yield s
    finally:
        reference._genome = None


@pytest.fixture(autouse=True)
def _nothing_logged_as_an_error(server):
    yield
    assert_no_errors(server)


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
@given(model=st.one_of(models, st.text(max_size=80)))
def test_random_get_model_requests_get_clean_answers(client, model):
    assert _code(lambda: client.stub.GetModel(pb.GetModelRequest(model=model), timeout=10)) in CLEAN
    assert _code(lambda: client.stub.ListModels(pb.ListModelsRequest(), timeout=10)) == grpc.StatusCode.OK


windows = st.lists(st.text(alphabet=st.sampled_from(list("ACGUTNacgu-x")), min_size=10, max_size=14), max_size=6)
coordinates = st.builds(vpb.VariantCoordinates, chrom=st.sampled_from(["chr1", "chr2", "chrX", "", "1", "chr1 "]),
                        pos=st.integers(-5, 400) | st.integers(-(2**63), 2**63 - 1),
                        id=st.text(max_size=8), ref=st.text(alphabet=st.sampled_from(list("ACGTN-.<>")), max_size=5),
                        alt=st.text(alphabet=st.sampled_from(list("ACGTN-.,*<>")), max_size=5))
score_names = st.lists(st.sampled_from(["diff", "ref", "alt", "abs_diff", "ratio", "log2fc", "logit_diff",
                                        "deepsea_effect", "", "x"]), max_size=4)
variant_requests = st.one_of(
    st.builds(vpb.ScoreVariantsRequest, model=models, ref_windows=windows, alt_windows=windows, scores=score_names,
              rc_average=st.sampled_from(["", "mean", "max", "absmax", "x"])),
    st.builds(vpb.ScoreVariantsRequest, model=models, variants=st.lists(coordinates, max_size=6),
              strand=st.sampled_from(["", "+", "-", "both", "x"]), max_n_fraction=st.floats(allow_nan=True),
              scores=score_names, rc_average=st.sampled_from(["", "mean", "absmax"])))


@FUZZ
@given(request=variant_requests)
def test_random_score_variants_requests_get_clean_answers(client, request):
    stub = vpb_grpc.VariantsStub(client.channel)
    assert _code(lambda: stub.ScoreVariants(request, timeout=20)) in CLEAN
    assert client.health() == "SERVING"


@FUZZ
@given(service=st.one_of(st.sampled_from(["", "toy", "toy:1", "toy:latest", "seqzoo.v1.SeqZoo"]), st.text(max_size=40)))
def test_random_health_requests_get_clean_answers(client, service):
    code = _code(lambda: client.health_stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10))
    assert code in {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}


@FUZZ
@given(payload=st.binary(max_size=2000),
       method=st.sampled_from(["/seqzoo.v1.SeqZoo/Score", "/seqzoo.v1.SeqZoo/Attribute", "/seqzoo.v1.SeqZoo/GetModel",
                               "/seqzoo.v1.SeqZoo/ListModels", "/seqzoo.v1.Variants/ScoreVariants",
                               "/grpc.health.v1.Health/Check"]))
def test_garbage_bytes_on_the_wire_never_take_the_server_down(client, server, payload, method):
    raw = client.channel.unary_unary(method)  # no serializer: bytes as they are
    code = _code(lambda: raw(payload, timeout=10))
    assert code not in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
    assert client.health() == "SERVING"


@FUZZ
@given(payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=4), good_first=st.booleans())
def test_garbage_messages_on_a_stream_get_clean_answers(client, payloads, good_first):
    raw = client.channel.stream_stream("/seqzoo.v1.SeqZoo/ScoreStream")
    first = [pb.ScoreRequest(model="toy", sequences=["ACGU" * 3]).SerializeToString()] if good_first else []
    code = _code(lambda: list(raw(iter(first + payloads), timeout=10)))
    assert code in {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
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
