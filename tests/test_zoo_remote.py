"""Remote registries on loopback: a static http server over a zoo folder, moto's S3 server, file://."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import StaticServer
from seqzoo.zoo.errors import ConflictError, InputError, IntegrityError, NotFoundError, UnavailableError
from seqzoo.zoo.index import list_remote, write_index
from seqzoo.zoo.manifest import MANIFEST
from seqzoo.zoo.registry import open_zoo
from seqzoo.zoo.remote import CLAIM, pull, push

from seqzoo.cli import main

BUCKET = "seqzoo-registry"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


# -- servers --------------------------------------------------------------------------------------
@pytest.fixture
def served(zoo_copy):
    """(zoo folder with index.json, its http URL); the folder may be changed by the test."""
    write_index(str(zoo_copy))
    server = StaticServer(zoo_copy)
    yield zoo_copy, server.url
    server.stop()


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(S3_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import s3fs

    s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True).mkdir(BUCKET)
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _s3(endpoint):
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, use_listings_cache=False)


def _variant(published_model, tmp_path, name="pum2", description="a different run", extra: bytes | None = None):
    """A local zoo whose ``name:1`` is a different artifact than the published one."""
    from seqzoo.training.publish import stamp_graphs

    staging = tmp_path / f"staging-{name}-{abs(hash(description))}"
    shutil.copytree(published_model.path, staging, ignore=shutil.ignore_patterns(MANIFEST))
    card = json.loads((staging / "card.json").read_text())
    (staging / "card.json").write_text(json.dumps({**card, "description": description}))
    if extra is not None:
        (staging / "extra.bin").write_bytes(extra)
    zoo = open_zoo(tmp_path / f"zoo-{name}-{abs(hash(description))}")
    zoo.publish(staging, name, stamp=stamp_graphs)
    return zoo


def _no_leftovers(zoo, name="pum2"):
    folder = zoo.root / name
    return zoo.versions(name) == [] and (not folder.exists() or not any(folder.iterdir()))


# -- http -----------------------------------------------------------------------------------------
def test_http_list_pull_verify(served, published_model, empty_zoo, capsys):
    _folder, url = served
    rows = list_remote(url)
    assert [(r["name"], r["version"], r["digest"]) for r in rows] == [("pum2", 1, published_model.digest)]
    mv = pull("pum2", url, empty_zoo)
    assert (mv.name, mv.version, mv.digest) == ("pum2", 1, published_model.digest)
    assert empty_zoo.verify("pum2:1").digest == published_model.digest
    assert sorted(p.name for p in mv.path.rglob("*")) == sorted(p.name for p in published_model.path.rglob("*"))
    assert pull(f"pum2@{published_model.digest}", url, empty_zoo).path == mv.path  # already cached: kept
    assert main(["zoo", "list", "--registry", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["digest"] == published_model.digest
    assert main(["zoo", "verify", "pum2:1", "--zoo", str(empty_zoo.root)]) == 0


def test_http_pull_through_the_cli(served, published_model, tmp_path, capsys):
    _folder, url = served
    local = tmp_path / "cache"
    assert main(["zoo", "pull", "pum2:1", "--registry", url, "--zoo", str(local), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["digest"] == published_model.digest and Path(out["path"]) == local / "pum2" / "1"


def test_http_wrong_digest_and_unknown_version(served, empty_zoo):
    _folder, url = served
    with pytest.raises(NotFoundError, match="no version with this digest"):
        pull("pum2@sha256:" + "0" * 64, url, empty_zoo)
    with pytest.raises(NotFoundError, match=r"pum2: version 4 not in the registry .* \(versions 1\)"):
        pull("pum2:4", url, empty_zoo)
    with pytest.raises(NotFoundError, match="ghost: no such model in the registry"):
        pull("ghost", url, empty_zoo)
    assert _no_leftovers(empty_zoo)


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[:50] + bytes([b[50] ^ 0xFF]) + b[51:], r"pum2/1/model.onnx: sha256 .* does not match"),
    (lambda b: b[: len(b) // 2], r"pum2/1/model.onnx: truncated: \d+ bytes, the manifest says \d+"),
    (lambda b: b + b"tail", r"pum2/1/model.onnx: longer than recorded"),
])
def test_http_tampered_or_truncated_file_is_refused_and_nothing_stays(served, empty_zoo, damage, words):
    folder, url = served
    model = folder / "pum2" / "1" / "model.onnx"
    model.write_bytes(damage(model.read_bytes()))
    with pytest.raises(IntegrityError, match=words):
        pull("pum2", url, empty_zoo)
    assert _no_leftovers(empty_zoo)


def test_http_changed_manifest_is_caught_by_the_index(served, empty_zoo):
    folder, url = served
    manifest = folder / "pum2" / "1" / MANIFEST
    manifest.write_text(manifest.read_text().replace('"manifest_version": 1', '"manifest_version": 1 '))
    with pytest.raises(IntegrityError, match=r"MANIFEST.json: digest .* index \(the manifest was changed\)"):
        pull("pum2", url, empty_zoo)
    assert _no_leftovers(empty_zoo)


def test_http_is_read_only_and_needs_an_index(served, published_model):
    folder, url = served
    with pytest.raises(InputError, match="read-only"):
        push("pum2", url, open_zoo(published_model.zoo_root))
    (folder / "index.json").unlink()
    with pytest.raises(NotFoundError, match="seqzoo zoo index"):
        list_remote(url)


def test_unreachable_and_silent_registries_fail_in_bounded_time(empty_zoo):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(UnavailableError, match=f"127.0.0.1:{port}"):
        pull("pum2", f"http://127.0.0.1:{port}", empty_zoo, timeout=2)
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(UnavailableError, match="did not answer within 1 s"):
            pull("pum2", url, empty_zoo, timeout=1)
        assert time.monotonic() - start < 30  # bounded (the limit is 1 s; CPU here is shared)
    assert main(["zoo", "list", "--registry", f"http://127.0.0.1:{port}", "--timeout", "1"]) == 2


# -- s3 -------------------------------------------------------------------------------------------
def test_s3_push_list_pull_index(s3_endpoint, published_model, empty_zoo, capsys):
    registry = f"s3://{BUCKET}/main"
    local = open_zoo(published_model.zoo_root)
    result = push("pum2", registry, local, s3_endpoint=s3_endpoint)
    assert result["status"] == "pushed" and result["digest"] == published_model.digest
    fs = _s3(s3_endpoint)
    keys = sorted(Path(k).name for k in fs.find(f"{BUCKET}/main/pum2/1"))
    assert MANIFEST in keys and CLAIM not in keys and "model.onnx" in keys
    assert push("pum2:1", registry, local, s3_endpoint=s3_endpoint)["status"] == "present"
    assert [(r["name"], r["version"]) for r in list_remote(registry, s3_endpoint=s3_endpoint)] == [("pum2", 1)]
    mv = pull(f"pum2@{published_model.digest}", registry, empty_zoo, s3_endpoint=s3_endpoint)
    assert empty_zoo.verify("pum2:1").digest == mv.digest == published_model.digest
    assert main(["zoo", "index", "--registry", registry, "--s3-endpoint", s3_endpoint, "--json"]) == 0
    index = json.loads(fs.cat_file(f"{BUCKET}/main/index.json"))
    assert index["models"]["pum2"]["versions"]["1"]["digest"] == published_model.digest
    assert json.loads(capsys.readouterr().out) == index


def test_s3_endpoint_from_the_environment(s3_endpoint, published_model, empty_zoo, monkeypatch, capsys):
    monkeypatch.setenv("SEQZOO_S3_ENDPOINT", s3_endpoint)
    registry = f"s3://{BUCKET}/env"
    assert main(["zoo", "push", "pum2", "--registry", registry, "--zoo", str(published_model.zoo_root)]) == 0
    assert capsys.readouterr().out.startswith("pushed pum2:1")
    assert main(["zoo", "pull", "pum2", "--registry", registry, "--zoo", str(empty_zoo.root)]) == 0
    assert empty_zoo.verify("pum2").digest == published_model.digest


def test_s3_push_of_another_artifact_under_a_taken_version_conflicts(s3_endpoint, published_model, tmp_path):
    registry = f"s3://{BUCKET}/conflict"
    push("pum2", registry, open_zoo(published_model.zoo_root), s3_endpoint=s3_endpoint)
    other = _variant(published_model, tmp_path)
    with pytest.raises(ConflictError, match="pum2:1 already exists in the registry .* never changes"):
        push("pum2", registry, other, s3_endpoint=s3_endpoint)
    assert list_remote(registry, s3_endpoint=s3_endpoint)[0]["digest"] == published_model.digest


def test_s3_tampered_object_is_refused(s3_endpoint, published_model, empty_zoo):
    registry = f"s3://{BUCKET}/tamper"
    push("pum2", registry, open_zoo(published_model.zoo_root), s3_endpoint=s3_endpoint)
    fs = _s3(s3_endpoint)
    key = f"{BUCKET}/tamper/pum2/1/ig.onnx"
    data = fs.cat_file(key)
    fs.pipe_file(key, data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(IntegrityError, match="pum2/1/ig.onnx: sha256"):
        pull("pum2", registry, empty_zoo, s3_endpoint=s3_endpoint)
    assert _no_leftovers(empty_zoo)


def _push_cmd(zoo_root, registry, endpoint):
    return [sys.executable, "-m", "seqzoo", "zoo", "push", "pum2:1", "--registry", registry, "--zoo", str(zoo_root),
            "--s3-endpoint", endpoint, "--json"]


def test_s3_concurrent_pushes_one_wins(s3_endpoint, published_model, tmp_path):
    registry = f"s3://{BUCKET}/race"
    zoos = [_variant(published_model, tmp_path, description=f"racer {i}") for i in range(2)]
    env = {**os.environ, **S3_ENV}
    procs = [subprocess.Popen(_push_cmd(z.root, registry, s3_endpoint), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for z in zoos]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    winner = next(json.loads(out) for code, out, _ in results if code == 0)
    loser_err = next(err for code, _, err in results if code == 2)
    assert "pum2:1" in loser_err and ("holds the registry" in loser_err or "already exists" in loser_err)
    rows = list_remote(registry, s3_endpoint=s3_endpoint)
    assert [(r["version"], r["digest"]) for r in rows] == [(1, winner["digest"])]
    assert pull("pum2", registry, open_zoo(tmp_path / "check"), s3_endpoint=s3_endpoint).digest == winner["digest"]


def test_s3_interrupted_push_leaves_no_version(s3_endpoint, published_model, tmp_path):
    """Kill a pushing process half-way: the registry shows no new version; pushing again completes it."""
    registry = f"s3://{BUCKET}/killed"
    big = _variant(published_model, tmp_path, description="big", extra=os.urandom(48 << 20))
    fs = _s3(s3_endpoint)
    proc = subprocess.Popen(_push_cmd(big.root, registry, s3_endpoint), env={**os.environ, **S3_ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    claim = f"{BUCKET}/killed/pum2/1/{CLAIM}"
    deadline = time.monotonic() + 60
    while not fs.exists(claim) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    assert not fs.exists(f"{BUCKET}/killed/pum2/1/{MANIFEST}")
    assert list_remote(registry, s3_endpoint=s3_endpoint) == []
    with pytest.raises(NotFoundError):
        pull("pum2", registry, open_zoo(tmp_path / "nothing"), s3_endpoint=s3_endpoint)
    # the same artifact may resume its claim; a different one is refused while the claim is fresh
    with pytest.raises(ConflictError, match="another push of a different artifact"):
        push("pum2", registry, open_zoo(published_model.zoo_root), s3_endpoint=s3_endpoint)
    assert push("pum2", registry, big, s3_endpoint=s3_endpoint)["status"] == "pushed"
    assert list_remote(registry, s3_endpoint=s3_endpoint)[0]["digest"] == big.resolve("pum2").digest


def test_s3_unreachable_endpoint(empty_zoo, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(UnavailableError, match=f"s3://{BUCKET}/x"):
        pull("pum2", f"s3://{BUCKET}/x", empty_zoo, timeout=1, s3_endpoint=f"http://127.0.0.1:{port}")


# -- file:// --------------------------------------------------------------------------------------
def test_file_registry_push_pull_and_conflict(published_model, tmp_path, empty_zoo):
    registry = f"file://{tmp_path / 'shared'}"
    local = open_zoo(published_model.zoo_root)
    assert push("pum2", registry, local)["status"] == "pushed"
    assert push("pum2", registry, local)["status"] == "present"
    assert pull("pum2:1", registry, empty_zoo).digest == published_model.digest
    with pytest.raises(ConflictError, match="already exists in the registry"):
        push("pum2", registry, _variant(published_model, tmp_path))
    assert open_zoo(tmp_path / "shared").verify("pum2:1").digest == published_model.digest
    # a version pushed under a traversal-free name only: refs are validated before any path is built
    with pytest.raises(InputError):
        pull("../shared:1", registry, empty_zoo)
