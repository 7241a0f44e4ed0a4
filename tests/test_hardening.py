"""Issue 12's findings, each on real files, real zoos, real servers and real signals: refs and
folders take ASCII digits only; serve verifies a version as fully as `zoo verify`; a version holds
nothing but the regular files its manifest lists; crafted indexes and manifests are refused by
their schemas; SIGTERM leaves no partial output; metrics and (private) health stay behind the
token; a drain answers admitted calls and refuses new ones; memory comes back after oversize
requests; abandoned streams leave no task or future behind; `score --server` rides out a
restart. The load test is tests/test_restart_load.py; the fuzzing, tests/test_*_fuzz.py."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from seqzoo.serving.server.store import ModelStore
from seqzoo.zoo.errors import InputError, IntegrityError, NotFoundError
from seqzoo.zoo.manifest import verify_folder, write_manifest
from seqzoo.zoo.refs import parse_ref
from seqzoo.zoo.registry import open_zoo
from seqzoo.zoo.remote import pull
from test_zoo_remote import StaticServer

from seqzoo.cli import main


@pytest.mark.parametrize("ref", ["pum2:²", "pum2:١", "pum2:１", "pum2:01", "pum2:1.0"])
def test_versions_take_ascii_digits_only(ref):
    with pytest.raises(InputError, match="is not a positive integer"):
        parse_ref(ref)


def test_a_unicode_digit_folder_is_not_a_version(zoo_copy, capsys):
    for odd in ("²", "١"):
        shutil.copytree(zoo_copy / "pum2" / "1", zoo_copy / "pum2" / odd)
    zoo = open_zoo(zoo_copy)
    assert zoo.versions("pum2") == [1]
    assert main(["zoo", "list", "--zoo", str(zoo_copy), "--json"]) == 0
    assert [row["version"] for row in json.loads(capsys.readouterr().out)] == [1]
    assert main(["zoo", "verify", "pum2", "--zoo", str(zoo_copy)]) == 0
    assert main(["score", "--local", "--zoo", str(zoo_copy), "--model", "pum2:²", "x.fa", "-o", "x.tsv"]) == 2
    assert "is not a positive integer" in capsys.readouterr().err


def test_serve_refuses_a_version_whose_card_contradicts_its_folder(zoo_copy):
    shutil.copytree(zoo_copy / "pum2" / "1", zoo_copy / "pum2" / "2")  # a copy of pum2:1 as pum2:2
    with pytest.raises(IntegrityError, match="card says pum2:1 but the version is pum2:2"):
        open_zoo(zoo_copy).verify("pum2:2")
    store = ModelStore(zoo_copy, models=["pum2:2"])
    with pytest.raises(NotFoundError, match="no model could be loaded"):
        store.start(poll_seconds=None)
    store.close()
    store = ModelStore(zoo_copy, models=["pum2:1"])  # the true version still serves
    try:
        store.start(poll_seconds=None)
        assert store.get("pum2").ref == "pum2:1"
    finally:
        store.close()


@pytest.mark.parametrize("plant, words", [
    ("folder-link", "the version folder is a symbolic link"),
    ("file-link", "symbolic link inside a version"),
    ("etc-link", "symbolic link inside a version"),
    ("empty-folder", "a folder not in MANIFEST.json"),
    ("fifo", "not a regular file"),
])
def test_a_version_holds_only_its_listed_regular_files(zoo_copy, tmp_path, plant, words):
    version = zoo_copy / "pum2" / "1"
    if plant == "folder-link":
        real = tmp_path / "elsewhere"
        shutil.move(str(version), real)
        version.symlink_to(real, target_is_directory=True)
    elif plant == "file-link":  # model.onnx replaced by a link to an outside copy (same bytes)
        outside = tmp_path / "model.onnx"
        shutil.copy(version / "model.onnx", outside)
        (version / "model.onnx").unlink()
        (version / "model.onnx").symlink_to(outside)
    elif plant == "etc-link":
        (version / "etc").symlink_to("/etc", target_is_directory=True)
    elif plant == "empty-folder":
        (version / "unlisted").mkdir()
    else:
        os.mkfifo(version / "pipe")
    with pytest.raises(IntegrityError, match=words):
        verify_folder(version)
    with pytest.raises(IntegrityError, match=words):
        open_zoo(zoo_copy).verify("pum2:1")
    assert main(["zoo", "verify", "pum2:1", "--zoo", str(zoo_copy)]) != 0


def test_a_rewritten_manifest_still_lists_only_regular_files(zoo_copy):
    version = zoo_copy / "pum2" / "1"
    (version / "extra").mkdir()
    (version / "extra" / "note.txt").write_text("listed")
    write_manifest(version)  # a folder that holds a listed file is fine
    verify_folder(version)


ZERO = "sha256:" + "0" * 64


@pytest.mark.parametrize("index", [
    {"versions": {"../1": {"digest": ZERO}}}, {"versions": [1, 2]}, {"versions": {"1": "not-an-entry"}},
    {"versions": {"²": {"digest": ZERO}}}, {"versions": {"1": {"digest": "md5:00"}}}, {"versions": {"1": {}}},
    {"versions": {"01": {"digest": ZERO}}},  # the pum2 entry's versions crafted ...
    [], {"index_version": 1}, {"index_version": 2, "models": {}},  # ... or the whole index
    {"index_version": 1, "models": {"../x": {"versions": {}}}}, {"index_version": 1, "models": {"pum2": []}}])
def test_a_crafted_index_is_refused_cleanly(zoo_copy, empty_zoo, index):
    from seqzoo.zoo.index import write_index

    if isinstance(index, dict) and "versions" in index:
        write_index(str(zoo_copy))
        index = {**json.loads((zoo_copy / "index.json").read_text()), "models": {"pum2": index}}
    (zoo_copy / "index.json").write_text(json.dumps(index))
    server = StaticServer(zoo_copy)
    try:
        with pytest.raises(IntegrityError, match=r"index.json: invalid registry index: "):
            pull("pum2", server.url, empty_zoo)
    finally:
        server.stop()
    assert not any(empty_zoo.root.iterdir()) if empty_zoo.root.exists() else True


@pytest.mark.parametrize("files", [
    {"card.json": None, "card.json/x": None},  # one path both a file and a folder
    {"../outside": None}, {"/etc/passwd": None}, {"a//b": None}, {"a\\b": None}, {"./card.json": None},
    {"MANIFEST.json": None}, {"card.json": {"sha256": "sha256:0", "size": 1}}, {"card.json": {"size": -1}},
    {"card.json": {"sha256": "sha256:" + "0" * 64, "size": 1, "mode": "0777"}}])
def test_a_crafted_manifest_is_refused_before_use(zoo_copy, empty_zoo, files):
    version = zoo_copy / "pum2" / "1"
    good = json.loads((version / "MANIFEST.json").read_text())["files"]["card.json"]
    manifest = {"manifest_version": 1, "files": {rel: good if entry is None else entry for rel, entry in files.items()}}
    (version / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=r"MANIFEST.json"):
        verify_folder(version)
    with pytest.raises(IntegrityError, match=r"MANIFEST.json"):
        pull("pum2", str(zoo_copy), empty_zoo)
    assert not (empty_zoo.root / "pum2" / "1").exists()
    assert main(["zoo", "verify", "pum2:1", "--zoo", str(zoo_copy)]) == 2


def test_verify_names_a_graph_that_does_not_load(zoo_copy, capsys):
    version = zoo_copy / "pum2" / "1"
    for data, words in ((b"not an onnx graph", "model.onnx: not an ONNX graph"),
                        (b"\x08\x01", "model.onnx: ONNX Runtime cannot load this graph")):  # protobuf, not a model
        (version / "model.onnx").write_bytes(data)
        write_manifest(version)  # the files match their (regenerated) manifest; the graph is still broken
        assert main(["zoo", "verify", "pum2:1", "--zoo", str(zoo_copy)]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err


def test_score_sigterm_leaves_no_partial_output(published_model, tmp_path):
    """SIGTERM mid-run: the command unwinds (exit 143) and removes its temporary output."""
    import signal
    import subprocess
    import sys
    import time

    fifo = tmp_path / "in.fa"
    os.mkfifo(fifo)
    out = tmp_path / "out.tsv"
    proc = subprocess.Popen([sys.executable, "-m", "seqzoo", "score", "--local", "--zoo",
                             str(published_model.zoo_root), "--model", "pum2", str(fifo), "-o", str(out),
                             "--batch", "4", "--no-progress"], stderr=subprocess.PIPE, text=True)
    with open(fifo, "w") as pipe:
        pipe.write(">a\n" + "ACGU" * 50 + "\n")
        pipe.flush()
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".out.tsv*")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the model is loaded and the output opened: the run is under way
        assert list(tmp_path.glob(".out.tsv*")), "the temporary output never appeared"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa"]


def test_an_output_that_is_a_folder_is_refused_before_scoring(published_model, tmp_path, capsys):
    from conftest import RBP

    (tmp_path / "out.tsv").mkdir()
    code = main(["score", "--local", "--zoo", str(published_model.zoo_root), "--model", "pum2",
                 str(RBP / "pum2.test.positive.fasta.gz"), "-o", str(tmp_path / "out.tsv"), "--no-progress"])
    assert code == 2 and "out.tsv: is a folder; name an output file" in capsys.readouterr().err


def _listening_address(port: int) -> str:
    """The local IPv4 address a TCP socket listens on for ``port``, read from /proc/net/tcp."""
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                return ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return ""


def test_metrics_bind_the_server_host_and_labels_only_known_models(published_model):
    import urllib.request

    from seqzoo.serving.client import SeqZooClient
    from test_one_core import ServerProcess
    from test_server import free_port

    metrics_port = free_port()
    server = ServerProcess(published_model.zoo_root, "pum2", extra=["--metrics-port", str(metrics_port)])
    try:
        assert _listening_address(metrics_port) == "127.0.0.1"  # the server's --host, not 0.0.0.0
        with SeqZooClient(server.target) as client:
            for i in range(200):
                with pytest.raises(NotFoundError):
                    client.score(f"m{i}", sequences=["ACGU" * 50])
            client.score("pum2", sequences=["ACGU" * 50])
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    finally:
        server.stop()
    assert 'model="m17"' not in text and 'model="m0"' not in text
    assert 'seqzoo_requests_total{code="NOT_FOUND",method="Score",model="unknown",version="-"} 200.0' in text
    assert 'code="OK",method="Score",model="pum2"' in text


def test_variant_window_errors_name_the_window_sent(published_model):
    from seqzoo.serving.client import SeqZooClient, VariantsClient
    from seqzoo.serving.effects import score_windows
    from seqzoo.serving.engine import Engine
    from test_server import ServerThread

    ref = ["ACGU" * 50, "ACGU" * 50]
    alt = ["ACGU" * 50, "ACGX" + "ACGU" * 49]
    engine = Engine.load(published_model, device="cpu")
    with pytest.raises(InputError, match=r"^alt window 1: character 'X' at position 4"):
        score_windows(engine, ref, alt, ["diff"])
    server = ServerThread(published_model.zoo_root)
    try:
        with SeqZooClient(server.target) as client:
            with pytest.raises(InputError, match=r"^alt window 1: character 'X' at position 4") as caught:
                VariantsClient(client).call(VariantsClient(client).request("pum2", ref, alt, ["diff"], None))
            assert caught.value.index == 1 and caught.value.noun == "alt window"
    finally:
        server.drain()


def test_a_drain_finishes_admitted_calls_and_refuses_new_ones(published_model):
    import signal
    import time

    import grpc
    import numpy as np
    from seqzoo.serving.client import SeqZooClient
    from seqzoo.serving.engine import Engine
    from seqzoo.v1 import seqzoo_pb2 as pb
    from seqzoo.v1 import seqzoo_pb2_grpc as pb_grpc
    from test_one_core import ServerProcess

    sequences = ["ACGU" * 50, "UUGUAUAUAG" * 20] * 64
    server = ServerProcess(published_model.zoo_root, "pum2", extra=["--grace-seconds", "60"])
    try:
        with SeqZooClient(server.target) as client:
            long_call = client.stub.Attribute.future(
                pb.AttributeRequest(model="pum2", sequences=sequences, method=pb.INTEGRATED_GRADIENTS, steps=1000,
                                    convert_tu=True), timeout=120)
            time.sleep(1.0)  # admitted and running
            assert not long_call.done()
            server.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while client.health() != "NOT_SERVING":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            # a channel without retries, to see the refusal itself
            with grpc.insecure_channel(server.target) as raw, pytest.raises(grpc.RpcError) as refused:
                pb_grpc.SeqZooStub(raw).Score(pb.ScoreRequest(model="pum2", sequences=["ACGU" * 50]), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "draining" in refused.value.details()
            assert not long_call.done()  # still running while the server refuses new calls
            answer = long_call.result()
        assert server.proc.wait(60) == 0
    finally:
        server.stop()
    engine = Engine.load(published_model, device="cpu")
    onehot = engine.alphabet.one_hot(engine.encode(sequences[:2], convert_tu=True))
    expected = engine.integrated_gradients(onehot, engine.selector(2, None), 1000)
    got = np.frombuffer(answer.attributions, dtype=np.float32).reshape(tuple(answer.shape))
    np.testing.assert_allclose(got[:2], expected, atol=1e-5)


def test_metrics_and_private_health_stay_behind_the_token(published_model, tmp_path):
    import urllib.error
    import urllib.request

    from seqzoo.serving.client import SeqZooClient, ServerError
    from seqzoo.serving.healthcheck import main as healthcheck
    from test_one_core import ServerProcess
    from test_server import free_port

    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    server = ServerProcess(published_model.zoo_root, "pum2", extra=["--metrics-port", str(metrics_port),
                                                                   "--token-file", str(token), "--private-health"],
                           token="s3cret-token")
    try:
        for header in (None, "Bearer wrong", "Bearer s3cret-token-and-more"):
            request = urllib.request.Request(url, headers={"Authorization": header} if header else {})
            with pytest.raises(urllib.error.HTTPError) as denied:
                urllib.request.urlopen(request, timeout=5)
            assert denied.value.code == 401
        text = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer s3cret-token"}),
                                      timeout=5).read().decode()
        assert "seqzoo_model_info" in text
        with SeqZooClient(server.target) as anonymous, pytest.raises(ServerError, match="UNAUTHENTICATED"):
            anonymous.health("pum2")
        with SeqZooClient(server.target, token="s3cret-token") as client:
            assert client.health("pum2") == "SERVING"
        address = ["--address", server.target]
        assert healthcheck(address) == 2
        assert healthcheck([*address, "--token-file", str(token)]) == 0
    finally:
        server.stop()
    server = ServerProcess(published_model.zoo_root, "pum2", extra=["--token-file", str(token)])
    try:  # the default: health is public (probes need no token), everything else is not
        with SeqZooClient(server.target) as anonymous:
            assert anonymous.health("pum2") == "SERVING"
            with pytest.raises(ServerError, match="UNAUTHENTICATED"):
                anonymous.score("pum2", sequences=["ACGU" * 50])
    finally:
        server.stop()


def _resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_memory_is_given_back_after_oversize_requests(published_model):
    import time

    import grpc
    from seqzoo.serving.client import channel_options
    from seqzoo.v1 import seqzoo_pb2 as pb
    from seqzoo.v1 import seqzoo_pb2_grpc as pb_grpc
    from test_one_core import ServerProcess

    server = ServerProcess(published_model.zoo_root, "pum2")
    try:
        time.sleep(1.5)
        baseline = _resident_mib(server.proc.pid)
        oversize = pb.ScoreRequest(model="pum2", sequences=["ACGU" * 50] * 300_000)  # 58 MB, over 65,536 sequences
        with grpc.insecure_channel(server.target, options=channel_options(128 * 2**20)) as channel:
            stub = pb_grpc.SeqZooStub(channel)
            for _ in range(10):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.Score(oversize, timeout=60)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "the request has 300000 sequences; the limit is 65536" in refused.value.details()
        deadline, idle = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            idle = _resident_mib(server.proc.pid)
            if idle < baseline + 128:
                break
            time.sleep(0.5)
        assert idle < baseline + 128, f"idle at {idle:.0f} MiB after oversize requests, {baseline:.0f} MiB before"
    finally:
        server.stop()


def test_a_cancelled_or_expired_stream_leaves_nothing_behind(published_model):
    import asyncio
    import gc
    import time

    import grpc
    import numpy as np
    from seqzoo.serving.client import SeqZooClient
    from seqzoo.serving.server.batcher import BatcherSettings
    from test_server import ServerThread

    server = ServerThread(published_model.zoo_root, stream_window=2,
                          batcher=BatcherSettings(max_batch=64, max_delay=0.002))
    problems: list[str] = []
    server.loop.call_soon_threadsafe(server.loop.set_exception_handler,
                                     lambda loop, context: problems.append(context["message"]))

    def on_loop(function):
        async def run():
            return function()
        return asyncio.run_coroutine_threadsafe(run(), server.loop).result(30)

    def readers() -> int:
        return on_loop(lambda: sum(t.get_name() == "seqzoo-stream-reader" and not t.done()
                                   for t in asyncio.all_tasks()))

    codes = np.random.default_rng(0).integers(0, 4, (2048, 200), dtype=np.uint8)
    try:
        with SeqZooClient(server.target) as client:
            requests = (client.request("pum2", codes=codes, id=i) for i in range(40))
            call = client.stub.ScoreStream(requests, timeout=60)
            next(call)  # the window is full behind this answer
            call.cancel()
            requests = (client.request("pum2", codes=codes, id=i) for i in range(40))
            with pytest.raises(grpc.RpcError) as expired:
                list(client.stub.ScoreStream(requests, timeout=0.5))
            assert expired.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        deadline = time.monotonic() + 10
        while readers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert readers() == 0, "a stream's reader outlived its stream"
        time.sleep(1.0)  # the batcher answers (or drops) what was queued
        on_loop(gc.collect)
        assert not problems, problems
    finally:
        server.drain()


def test_score_server_rides_out_a_restart_mid_stream(published_model, tmp_path):
    """The server is restarted (SIGTERM: drain, cut the open stream after its grace; a new process
    on the same port) while `seqzoo score --server` streams a file: the run reopens its stream,
    sends the unanswered batches again and writes every row, the same as --local."""
    import signal
    import threading
    import time

    from conftest import RBP, read_fasta_gz
    from test_one_core import ServerProcess

    sequences = read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 60)
    records = [f">r{i}\n{s}\n" for i, s in enumerate(sequences)]
    fifo, out, local = tmp_path / "input.fa", tmp_path / "out.tsv", tmp_path / "local.tsv"
    (tmp_path / "all.fa").write_text("".join(records))
    assert main(["score", "--local", "--zoo", str(published_model.zoo_root), "--model", "pum2",
                 str(tmp_path / "all.fa"), "-o", str(local), "--no-progress"]) == 0
    os.mkfifo(fifo)
    extra = ("--grace-seconds", "0.5")
    server = ServerProcess(published_model.zoo_root, "pum2", extra=extra)
    result: dict = {}

    def score():
        result["code"] = main(["score", "--server", server.target, "--model", "pum2", str(fifo), "-o", str(out),
                               "--batch", "4", "--window", "2", "--no-progress"])

    runner = threading.Thread(target=score)
    runner.start()
    try:
        with open(fifo, "w") as pipe:
            pipe.writelines(records[:30])
            pipe.flush()
            time.sleep(1.5)  # answered; the stream stays open, waiting for more input
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(30) == 0  # the drain cut the stream after 0.5 s and stopped
            server = ServerProcess(published_model.zoo_root, "pum2", extra=extra, port=server.port)
            pipe.writelines(records[30:])
        runner.join(120)
    finally:
        server.stop()
    assert not runner.is_alive() and result["code"] == 0
    assert out.read_text().splitlines()[1:] == local.read_text().splitlines()[1:]
