"""The gRPC server end to end over loopback: scoring, streams, attribution, errors, health, auth,
hot-loading, drain. ``ServerThread`` runs a real server in a background event loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from seqzoo.serving.client import SeqZooClient, ServerError
from seqzoo.serving.engine import Engine
from seqzoo.serving.ism import ism
from seqzoo.serving.server.app import SeqZooServer, ServerSettings
from seqzoo.serving.server.batcher import BatcherSettings
from seqzoo.serving.server.store import ModelStore, StoreSettings
from seqzoo.serving.server.telemetry import Metrics
from seqzoo.v1 import seqzoo_pb2 as pb
from seqzoo.zoo.errors import InputError, NotFoundError, UnavailableError
from test_engine import make_version_dir, reference_grad, reference_probs, weights


class ServerThread:
    """A real server on a free loopback port, in its own thread and event loop."""

    def __init__(self, zoo: Path, models=None, token=None, poll_seconds=None, batcher=None, registry=None,
                 **settings):
        self.store = ModelStore(zoo, models=models, registry=registry, settings=StoreSettings(
            device="cpu", threads=1, batcher=batcher or BatcherSettings(max_batch=256, max_delay=0.002)))
        self.metrics = Metrics()
        self.server = SeqZooServer(self.store, ServerSettings(address="127.0.0.1:0", token=token, grace_seconds=5,
                                                              **settings),
                                   self.metrics, poll_seconds=poll_seconds)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("server did not start")
        if self.error:
            raise self.error
        self.target = f"127.0.0.1:{self.server.port}"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except Exception as exc:  # noqa: BLE001
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_until_complete(self.server.wait())

    def drain(self, grace=5.0):
        asyncio.run_coroutine_threadsafe(self.server.drain(grace), self.loop).result(30)
        self.thread.join(10)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    make_version_dir(root, "toy", 1, seed=0)
    make_version_dir(root, "three", 1, length=10, alphabet="dna", classes=("a", "b", "c"), seed=7)
    return root


@pytest.fixture(scope="module")
def server(zoo):
    s = ServerThread(zoo)
    yield s
    s.drain()


@pytest.fixture(scope="module")
def client(server):
    with SeqZooClient(server.target, timeout=20) as c:
        yield c


def test_list_and_get_model_report_card_provider_and_digest(client, zoo):
    models = {m["ref"]: m for m in client.list_models()}
    assert set(models) == {"toy:1", "three:1"}
    info = client.get_model("toy")
    assert info["provider"] == "CPUExecutionProvider" and info["digest"].startswith("sha256:")
    assert info["card"]["classes"] == ["negative", "positive"] and info["length"] == 12
    assert info["card"] == json.loads((zoo / "toy" / "1" / "card.json").read_text())
    assert client.get_model("toy:1")["digest"] == client.get_model(f"toy@{info['digest']}")["digest"]


def test_score_codes_and_strings_match_the_engine(client, zoo):
    path = zoo / "toy" / "1"
    w, b = weights(path)
    engine = Engine.load(path, device="cpu", threads=1)
    codes = np.random.default_rng(1).integers(0, 5, size=(300, 12), dtype=np.uint8)
    probs = client.score("toy", codes=codes)
    np.testing.assert_allclose(probs, reference_probs(engine.alphabet.one_hot(codes), w, b), atol=1e-6)
    strings = engine.alphabet.decode(codes[:3])
    np.testing.assert_allclose(client.score("toy:latest", sequences=strings), probs[:3], atol=1e-6)
    dna = [s.replace("U", "T") for s in strings]
    np.testing.assert_allclose(client.score("toy", sequences=dna, convert_tu=True), probs[:3], atol=1e-6)
    assert client.score("three", codes=codes[:4, :10]).shape == (4, 3)


def test_concurrent_clients_are_batched_and_get_their_own_rows(server, client):
    codes = np.random.default_rng(2).integers(0, 4, size=(64, 12), dtype=np.uint8)
    expected = client.score("toy", codes=codes)
    results = {}

    def one(i):
        results[i] = client.score("toy", codes=codes[i:i + 1])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = np.concatenate([results[i] for i in range(64)])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    text = server.metrics.registry.get_sample_value("seqzoo_batch_size_count", {"model": "toy", "version": "1"})
    assert text is not None and text >= 1


def test_bad_input_names_the_sequence_index(client):
    with pytest.raises(NotFoundError, match="'nosuch' is not served"):
        client.score("nosuch", sequences=["ACGU" * 3])
    with pytest.raises(InputError, match="sequence 1: character 'X' at position 2"):
        client.score("toy", sequences=["ACGU" * 3, "AXGU" * 3])
    with pytest.raises(InputError, match="sequence 0 is 5 long but model toy:1 takes 12"):
        client.score("toy", sequences=["ACGUA"])
    with pytest.raises(InputError, match="empty"):
        client.score("toy", sequences=[])
    bad = np.zeros((3, 12), np.uint8)
    bad[2, 5] = 200
    with pytest.raises(InputError, match="sequence 2: code 200 at position 6"):
        client.score("toy", codes=bad)
    with pytest.raises(InputError, match="13 bytes, not a multiple of length 12"):
        client._call(client.stub.Score, pb.ScoreRequest(model="toy", codes=b"\x00" * 13, length=12), None)
    with pytest.raises(NotFoundError, match="version 9 is not served"):
        client.score("toy:9", sequences=["ACGU" * 3])
    with pytest.raises(InputError):
        client.score("BAD REF!", sequences=["ACGU" * 3])


def test_too_many_sequences_and_too_large_messages_are_refused(zoo):
    s = ServerThread(zoo, models=["toy"], max_sequences=100, max_message_bytes=4096)
    try:
        with SeqZooClient(s.target, timeout=10) as c:
            with pytest.raises(InputError, match="101 sequences; the limit is 100"):
                c.score("toy", codes=np.zeros((101, 12), np.uint8))
            with pytest.raises(ServerError, match="RESOURCE_EXHAUSTED"):
                c.score("toy", codes=np.zeros((400, 12), np.uint8))  # 4,800 bytes > 4,096
            with pytest.raises(InputError, match="over the 0.00391 MiB message limit: send fewer"):
                c.attribute("toy", codes=np.zeros((90, 12), np.uint8), method="saliency")  # 17 KB of maps
            assert c.health() == "SERVING"
    finally:
        s.drain()


def test_stream_answers_in_order_and_survives_a_bad_message(client):
    codes = np.random.default_rng(3).integers(0, 4, size=(50, 12), dtype=np.uint8)
    expected = client.score("toy", codes=codes)
    requests = [client.request("toy", codes=codes[i:i + 1], id=i) for i in range(50)]
    requests.insert(10, pb.ScoreRequest(model="toy", sequences=["ACGUX"], id=999))
    got, errors = [], []
    stream = client.stub.ScoreStream(iter(requests), timeout=20)
    for response in stream:
        if response.error_code:
            errors.append((response.id, response.error_code, response.error_message))
        else:
            got.append((response.id, np.frombuffer(response.probs, np.float32)))
    assert [i for i, _ in got] == list(range(50))
    np.testing.assert_allclose(np.stack([p for _, p in got]), expected, atol=1e-6)
    assert errors == [(999, grpc.StatusCode.INVALID_ARGUMENT.value[0],
                       "sequence 0 is 5 long but model toy:1 takes 12")]
    ids = [i for i, _ in client.score_stream(client.request("toy", codes=codes[i:i + 5], id=i)
                                             for i in range(0, 50, 5))]
    assert ids == list(range(0, 50, 5))


@pytest.mark.parametrize("method", ["ig", "saliency", "ism"])
def test_attribution_methods_match_numpy(client, zoo, method):
    path = zoo / "toy" / "1"
    w, b = weights(path)
    engine = Engine.load(path, device="cpu", threads=1)
    codes = np.random.default_rng(4).integers(0, 4, size=(5, 12), dtype=np.uint8)
    onehot = engine.alphabet.one_hot(codes)
    attributions, probs = client.attribute("toy", codes=codes, method=method, target="positive", steps=16)
    assert attributions.shape == (5, 12, 4) and attributions.dtype == np.float32
    np.testing.assert_allclose(probs, reference_probs(onehot, w, b), atol=1e-6)
    sel = engine.selector(5, "positive")
    if method == "saliency":
        np.testing.assert_allclose(attributions, reference_grad(onehot, sel, w, b), atol=1e-6)
    elif method == "ig":
        np.testing.assert_allclose(attributions, engine.integrated_gradients(onehot, sel, 16), atol=1e-6)
    else:
        np.testing.assert_allclose(attributions, ism(engine, codes, sel), atol=1e-6)
    half, _ = client.attribute("toy", codes=codes, method=method, steps=16, float16=True)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), attributions, atol=2e-3)
    with pytest.raises(InputError, match="target class 'nope'"):
        client.attribute("toy", codes=codes, method=method, target="nope")


def test_health_per_model_and_overall(client):
    assert client.health() == "SERVING"
    assert client.health("toy") == "SERVING" and client.health("toy:1") == "SERVING"
    assert client.health("three:latest") == "SERVING"
    assert client.health("nosuch") == "SERVICE_UNKNOWN"


def test_token_auth_keeps_health_open(zoo, tmp_path):
    s = ServerThread(zoo, models=["toy"], token="s3cret")
    try:
        with SeqZooClient(s.target, timeout=10) as anonymous:
            assert anonymous.health() == "SERVING"
            with pytest.raises(ServerError, match="UNAUTHENTICATED"):
                anonymous.score("toy", sequences=["ACGU" * 3])
            with pytest.raises(ServerError, match="UNAUTHENTICATED"):
                list(anonymous.score_stream([anonymous.request("toy", sequences=["ACGU" * 3])]))
        with SeqZooClient(s.target, token="wrong", timeout=10) as wrong, \
                pytest.raises(ServerError, match="UNAUTHENTICATED"):
            wrong.list_models()
        with SeqZooClient(s.target, token="s3cret", timeout=10) as good:
            assert good.score("toy", sequences=["ACGU" * 3]).shape == (1, 2)
    finally:
        s.drain()


def test_new_version_is_hot_loaded_and_a_broken_one_keeps_the_old(tmp_path):
    root = tmp_path / "zoo"
    make_version_dir(root, "toy", 1, seed=0)
    s = ServerThread(root, poll_seconds=0.2)
    try:
        with SeqZooClient(s.target, timeout=10) as c:
            assert c.get_model("toy")["version"] == 1
            broken = make_version_dir(root, "toy", 2, seed=1)
            (broken / "model.onnx").write_bytes(b"not onnx")  # the manifest no longer matches
            time.sleep(1.0)
            assert c.get_model("toy")["version"] == 1 and c.score("toy", sequences=["ACGU" * 3]).shape == (1, 2)
            good = make_version_dir(tmp_path / "staging", "toy", 3, seed=2)
            shutil.copytree(good, root / "toy" / "3")
            for _ in range(50):
                if c.get_model("toy")["version"] == 3:
                    break
                time.sleep(0.1)
            assert c.get_model("toy")["version"] == 3 and c.health("toy:3") == "SERVING"
            w, b = weights(good)
            codes = np.zeros((1, 12), np.uint8)
            np.testing.assert_allclose(c.score("toy", codes=codes),
                                       reference_probs(np.eye(4, dtype=np.float32)[codes], w, b), atol=1e-6)
            assert c.get_model("toy:1")["version"] == 1  # the previous version still answers pinned refs
    finally:
        s.drain()


def test_drain_finishes_in_flight_requests_then_refuses(zoo):
    gate = threading.Event()
    s = ServerThread(zoo, models=["toy"])
    served = s.store.get("toy")
    real = served.engine.predict

    def slow_predict(codes, batch=4096):
        gate.wait(5)
        return real(codes, batch)

    served.engine.predict = slow_predict
    results = []
    with SeqZooClient(s.target, timeout=20) as c:
        t = threading.Thread(target=lambda: results.append(c.score("toy", codes=np.zeros((2, 12), np.uint8))))
        t.start()
        time.sleep(0.3)
        drainer = threading.Thread(target=s.drain, kwargs={"grace": 10})
        drainer.start()
        time.sleep(0.3)
        gate.set()
        t.join(10)
        drainer.join(20)
        assert len(results) == 1 and results[0].shape == (2, 2)  # the in-flight request was answered
        with pytest.raises(UnavailableError):  # refused: the server is gone
            c.score("toy", codes=np.zeros((2, 12), np.uint8), timeout=2)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_prometheus_metrics_count_requests_sequences_and_batches(server, client):
    import urllib.request

    client.score("toy", codes=np.zeros((7, 12), np.uint8))
    port = free_port()
    http = server.metrics.serve(port, addr="127.0.0.1")
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        http.shutdown()
        http.server_close()
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values['seqzoo_requests_total{code="OK",method="Score",model="toy",version="1"}'] >= 1
    assert values['seqzoo_sequences_total{method="Score",model="toy",version="1"}'] >= 7
    assert values['seqzoo_batch_size_count{model="toy",version="1"}'] >= 1
    assert any(k.startswith("seqzoo_model_info{") and 'provider="CPUExecutionProvider"' in k for k in values)


def test_tls_with_a_self_signed_certificate(zoo, tmp_path):
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    s = ServerThread(zoo, models=["toy"], tls_cert=cert, tls_key=key, token="t")
    try:
        with SeqZooClient(s.target, tls_ca=cert, token="t", timeout=10) as c:
            assert c.score("toy", sequences=["ACGU" * 3]).shape == (1, 2)
        with SeqZooClient(s.target, timeout=3) as plain, pytest.raises(UnavailableError):
            plain.score("toy", sequences=["ACGU" * 3])  # plaintext to a TLS port fails cleanly
    finally:
        s.drain()


def test_models_are_pulled_from_a_registry_and_verified(published_model, tmp_path):
    registry = f"file://{published_model.zoo_root}"
    local = tmp_path / "local"
    s = ServerThread(local, models=[published_model.name], registry=registry)
    try:
        with SeqZooClient(s.target, timeout=10) as c:
            info = c.get_model(published_model.name)
            assert info["digest"] == published_model.digest and info["length"] == 200
            pulled = local / published_model.name / str(published_model.version)
            assert (pulled / "MANIFEST.json").is_file()  # pulled into the local zoo, verified
            expect = published_model.card["expect"]
            probs = c.score(published_model.name, sequences=[e["sequence"] for e in expect], convert_tu=True)
            np.testing.assert_allclose(probs, [e["probs"] for e in expect], atol=1e-4)
    finally:
        s.drain()
    with pytest.raises(NotFoundError, match="no model could be loaded"):
        ServerThread(tmp_path / "empty", models=["nosuch"], registry=registry)


def test_seqzoo_serve_process_logs_json_serves_and_drains_on_sigterm(zoo, tmp_path):
    import json as _json
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    token = tmp_path / "token"
    token.write_text("abc\n")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "seqzoo", "serve", "--zoo", str(zoo), "--port", str(port),
                                 "--host", "127.0.0.1", "--models", "toy", "--device", "cpu", "--threads", "1",
                                 "--token-file", str(token), "--poll-seconds", "0"], stdout=out, stderr=out,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        with SeqZooClient(f"127.0.0.1:{port}", token="abc", timeout=10) as c:
            c.wait_serving("toy", timeout=30, alive=lambda: proc.poll() is None, poll=0.1)
            assert c.score("toy", sequences=["ACGU" * 3]).shape == (1, 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    records = [_json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert any(m.startswith("serving toy:1") for m in messages)
    assert any(m.startswith("draining") for m in messages) and messages[-1] == "stopped"
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)


def test_wait_serving_gives_up_in_time_and_when_the_server_is_gone():
    with SeqZooClient(f"127.0.0.1:{free_port()}", timeout=2) as c:  # nothing listens there
        with pytest.raises(UnavailableError, match="not SERVING after 0.5 s"):
            c.wait_serving(timeout=0.5, poll=0.1)
        with pytest.raises(UnavailableError, match="stopped before"):
            c.wait_serving(timeout=30, alive=lambda: False)


def test_wait_serving_returns_once_serving(client):
    assert 0 <= client.wait_serving("toy", timeout=5) < 5
