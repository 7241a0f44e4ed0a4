"""Property-based crafted registries: random and mutated index.json and MANIFEST.json files, read
through a real http server and a folder registry. Whatever the file says, `pull` either copies a
verified version into the target zoo or raises a seqzoo error (one line, no traceback); and it
writes nothing outside the target zoo."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqzoo.zoo.errors import SeqzooError
from seqzoo.zoo.index import list_remote, write_index
from seqzoo.zoo.manifest import verify_folder
from seqzoo.zoo.registry import open_zoo
from seqzoo.zoo.remote import pull
from test_zoo_remote import StaticServer

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DIGEST = st.sampled_from(["sha256:" + "0" * 64, "sha256:", "md5:1", ""]) | st.text(max_size=70)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
KEYS = st.sampled_from(["1", "2", "01", "0", "../1", "1/..", "²", "١", "-1", "1e3", " 1", "99999999999", ""]) \
    | st.text(max_size=6)
PATHS = st.sampled_from(["card.json", "model.onnx", "card.json/x", "../x", "../../etc/passwd", "/etc/passwd",
                         "a//b", "./card.json", "MANIFEST.json", "a\\b", "sub/../../x", "x\x00y", ""]) \
    | st.text(max_size=12)


def _tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size (folders -1): what a pull may not touch."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = -1 if path.is_dir() else path.lstat().st_size
    return out


@pytest.fixture(scope="module")
def sandbox(published_model, tmp_path_factory):
    """(sandbox folder, registry folder inside it, http server over the registry)."""
    base = tmp_path_factory.mktemp("sandbox")
    registry = base / "registry"
    shutil.copytree(published_model.zoo_root, registry, ignore=shutil.ignore_patterns(".staging-*"))
    write_index(str(registry))
    server = StaticServer(registry)
    yield base, registry, server
    server.stop()


def _pull_into_a_fresh_zoo(base: Path, ref: str, url: str) -> None:
    """Pull ``ref``; a clean error is fine, anything else fails; nothing outside the target changes."""
    before = _tree(base)
    target = Path(tempfile.mkdtemp(dir=base, prefix="target-"))
    try:
        try:
            mv = pull(ref, url, open_zoo(target))
        except SeqzooError as exc:
            assert "\n" not in str(exc) and str(exc)
        else:
            assert mv.path.resolve().is_relative_to(target.resolve())
            verify_folder(mv.path, mv.digest)
        try:
            list_remote(url)
        except SeqzooError:
            pass
    finally:
        shutil.rmtree(target)
    assert _tree(base) == before


@FUZZ
@given(index=JSON)
def test_a_random_index_is_a_clean_error(sandbox, index):
    base, registry, server = sandbox
    saved = (registry / "index.json").read_bytes()
    try:
        (registry / "index.json").write_text(json.dumps(index))
        _pull_into_a_fresh_zoo(base, "pum2", server.url)
    finally:
        (registry / "index.json").write_bytes(saved)


@FUZZ
@given(versions=st.dictionaries(KEYS, st.fixed_dictionaries({"digest": DIGEST}) | JSON, max_size=3),
       name=st.sampled_from(["pum2", "../pum2", "PUM2", "", "p/q"]) | st.text(max_size=6),
       ref=st.sampled_from(["pum2", "pum2:1", "pum2:2", "pum2:latest", "pum2@sha256:" + "0" * 64]))
def test_a_mutated_index_is_a_clean_error_or_a_verified_pull(sandbox, versions, name, ref):
    base, registry, server = sandbox
    saved = (registry / "index.json").read_bytes()
    index = json.loads(saved)
    index["models"][name] = {"versions": versions}
    try:
        (registry / "index.json").write_text(json.dumps(index))
        _pull_into_a_fresh_zoo(base, ref, server.url)
    finally:
        (registry / "index.json").write_bytes(saved)


@FUZZ
@given(files=st.dictionaries(PATHS, st.fixed_dictionaries({"sha256": DIGEST, "size": st.integers(-2, 10**6)}) | JSON,
                             max_size=4),
       keep=st.booleans(), version=JSON | st.sampled_from([1, 2, "1"]))
def test_a_crafted_manifest_is_a_clean_error(sandbox, files, keep, version):
    base, registry, _server = sandbox
    path = registry / "pum2" / "1" / "MANIFEST.json"
    saved = path.read_bytes()
    manifest = json.loads(saved)
    manifest["files"] = {**(manifest["files"] if keep else {}), **files}
    manifest["manifest_version"] = version
    try:
        path.write_text(json.dumps(manifest))
        _pull_into_a_fresh_zoo(base, "pum2:1", str(registry))  # a folder registry: no index
        try:
            verify_folder(path.parent)
        except SeqzooError as exc:
            assert "\n" not in str(exc)
        else:  # it passes only when every listed file is there, unchanged, and nothing else is
            assert set(json.loads(path.read_text())["files"]) == set(json.loads(saved)["files"])
    finally:
        path.write_bytes(saved)
