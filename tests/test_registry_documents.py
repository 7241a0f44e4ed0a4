"""Issue 26, finding 6: every document read from a registry (index.json, MANIFEST.json, card.json,
deprecations.json) is size-capped, depth-capped and schema-checked before use, everywhere it is
read. 100,000 nested brackets gave a RecursionError traceback in `zoo pull/list/show/search/index`
and killed `seqzoo serve --registry` at start-up; cards with wrong field types crashed `zoo index`
and `zoo list`. Real folder and http registries, the real CLI in its own process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from seqzoo.zoo.index import write_index
from seqzoo.zoo.manifest import manifest_bytes, write_manifest
from seqzoo.zoo.schemas import MAX_DEPTH, parse_document
from test_zoo_remote import StaticServer

NESTED = b"[" * 100_000 + b"]" * 100_000


def seqzoo(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "seqzoo", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def assert_one_line(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_parse_document_caps_size_depth_and_checks_the_schema():
    from seqzoo.zoo.errors import IntegrityError

    with pytest.raises(IntegrityError, match=f"x: the card is nested deeper than {MAX_DEPTH} levels"):
        parse_document(NESTED, None, "x", "card")
    deep = ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()  # below the parser's recursion limit
    with pytest.raises(IntegrityError, match="nested deeper"):
        parse_document(deep, None, "x")
    with pytest.raises(IntegrityError, match="is over 16 MiB"):
        parse_document(b" " * (16 * 2**20 + 1), None, "x")
    with pytest.raises(IntegrityError, match=r"x: invalid deprecations\.json: pum2\.1: 'date' is a required"):
        parse_document(b'{"pum2": {"1": {"reason": "r"}}}', "deprecations", "x", "deprecations.json")
    assert parse_document(b'{"a": [1, {"b": 2}]}', None, "x") == {"a": [1, {"b": 2}]}


@pytest.fixture
def registry(published_model, tmp_path):
    root = tmp_path / "registry"
    shutil.copytree(published_model.zoo_root, root, ignore=shutil.ignore_patterns(".staging-*"))
    write_index(str(root))
    return root


@pytest.mark.parametrize("document", ["index.json", "MANIFEST.json", "card.json", "deprecations.json"])
def test_nested_documents_are_one_line_errors_everywhere(registry, tmp_path, document):
    version = registry / "pum2" / "1"
    if document == "card.json":
        (version / "card.json").write_bytes(NESTED)
        write_manifest(version)  # the manifest matches the crafted card: only the card itself is wrong
    elif document == "MANIFEST.json":
        (version / "MANIFEST.json").write_bytes(NESTED)
    else:
        (registry / document).write_bytes(NESTED)
    server = StaticServer(registry)
    try:
        for url in (str(registry), server.url):
            if document == "index.json" and url == str(registry):
                continue  # a folder registry's index is built live from its versions
            if document == "deprecations.json" and url == server.url:
                continue  # an http registry reads only index.json
            zoo = tmp_path / "zoo"
            # over http the index's digests are checked first: a changed version is refused by them
            words = "registry's index" if url == server.url and document != "index.json" else "nested deeper"
            shows = [["show", "pum2:1"]] if document != "deprecations.json" else []  # show reads no deprecations
            for args in (["pull", "pum2:1"], *shows):
                assert_one_line(seqzoo("zoo", *args, "--registry", url, "--zoo", str(zoo)), words)
                assert not (zoo / "pum2" / "1").exists()
            for args in (["list"], ["search", "pum2"]):  # listings read the index (http) or every version
                result = seqzoo("zoo", *args, "--registry", url, "--zoo", str(zoo))
                if words == "nested deeper":
                    assert_one_line(result, words)
                assert not (zoo / "pum2" / "1").exists()
            if url == str(registry) and document != "index.json":
                assert_one_line(seqzoo("zoo", "index", "--registry", url), "nested deeper")
            if document == "deprecations.json":
                continue  # serve pulls by ref and reads no deprecations
            serve = seqzoo("serve", "--registry", url, "--models", "pum2:1", "--zoo", str(zoo), "--host",
                           "127.0.0.1", "--port", "0", "--device", "cpu", "--poll-seconds", "0", timeout=120)
            assert serve.returncode != 0 and "Traceback" not in serve.stderr, serve.stderr
            assert words in serve.stderr
    finally:
        server.stop()


@pytest.mark.parametrize("field, value", [("description", {"a": 1}), ("classes", [1, 2]),
                                          ("motifs", [{"q_value": "0.01"}])])
def test_cards_with_wrong_types_are_refused_by_index_and_list(registry, tmp_path, field, value):
    version = registry / "pum2" / "1"
    card = json.loads((version / "card.json").read_text())
    card[field] = value
    (version / "card.json").write_text(json.dumps(card))
    write_manifest(version)
    assert_one_line(seqzoo("zoo", "index", "--registry", str(registry)), "pum2/1/card.json", "invalid")
    assert_one_line(seqzoo("zoo", "list", "--registry", str(registry)), "pum2/1/card.json", "invalid")
    local = tmp_path / "local"
    shutil.copytree(registry, local)
    result = seqzoo("zoo", "show", "pum2:1", "--zoo", str(local))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "not JSON" not in result.stderr
    assert "invalid" in result.stderr


def test_the_shipped_documents_pass(registry):
    index = json.loads((registry / "index.json").read_text())
    assert parse_document(manifest_bytes(index), "index", "index.json") == index
