"""The registry's index: metadata entries, index.html, search, deprecation marks, and reading a
remote registry's cards (a real http.server on loopback)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, StaticServer
from seqzoo.zoo.index import write_index
from seqzoo.zoo.manifest import sha256_file

from seqzoo.cli import main


@pytest.fixture
def indexed(zoo_copy):
    write_index(str(zoo_copy), url="https://example.org/registry")
    return zoo_copy


def test_index_entries_and_the_page(indexed, published_model):
    index = json.loads((indexed / "index.json").read_text())
    entry = index["models"]["pum2"]["versions"]["1"]
    assert entry["digest"] == published_model.digest and entry["description"] == published_model.card["description"]
    assert entry["license"] is None and 0.5 < entry["metrics"]["auroc"] <= 1
    assert [m["consensus"] for m in entry["motifs"]] == [m["consensus"] for m in published_model.card["motifs"][:3]]
    page = (indexed / "index.html").read_text()
    assert f"seqzoo zoo pull pum2@{published_model.digest} --registry https://example.org/registry" in page
    assert "data:image/png;base64," in page and "not stated" in page and "http://" not in page.split("<body>")[1]
    write_index(str(indexed))  # the served address is kept from the last index
    assert json.loads((indexed / "index.json").read_text())["url"] == "https://example.org/registry"


def test_search_finds_names_classes_and_motif_matches(indexed, published_model, capsys):
    root = str(indexed)
    assert main(["zoo", "search", "PUM2", "--zoo", root, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["name"] == "pum2" and "name" in row["matched"]
    match = next(m["match"]["name"] for m in published_model.card["motifs"] if m.get("match"))
    assert main(["zoo", "search", match.lower(), "--zoo", root, "--json"]) == 0
    assert "matches" in json.loads(capsys.readouterr().out)[0]["matched"]
    assert main(["zoo", "search", "pum2", "zebrafish", "--zoo", root]) == 0
    assert "no model matches" in capsys.readouterr().out


def test_deprecation_marks_the_index_and_leaves_the_version(indexed, published_model, capsys):
    root = str(indexed)
    before = {p.name: sha256_file(p) for p in (indexed / "pum2" / "1").iterdir() if p.is_file()}
    assert main(["zoo", "deprecate", "pum2:1", "--reason", "superseded by pum2:2", "--zoo", root]) == 0
    assert "deprecated pum2:1" in capsys.readouterr().out
    assert {p.name: sha256_file(p) for p in (indexed / "pum2" / "1").iterdir() if p.is_file()} == before
    assert main(["zoo", "list", "--zoo", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["deprecated"]["reason"] == "superseded by pum2:2"
    assert json.loads((indexed / "index.json").read_text())["models"]["pum2"]["versions"]["1"]["deprecated"]
    assert "superseded by pum2:2" in (indexed / "index.html").read_text()
    assert main(["zoo", "verify", f"pum2@{published_model.digest}", "--zoo", root]) == 0
    assert main(["zoo", "deprecate", "pum2:1", "--reason", " ", "--zoo", root]) == 2
    assert "--reason must say why" in capsys.readouterr().err


def test_remote_list_show_search_and_pull_of_a_deprecated_version(indexed, published_model, empty_zoo, capsys,
                                                                  monkeypatch):
    main(["zoo", "deprecate", "pum2:1", "--reason", "retrained", "--zoo", str(indexed)])
    capsys.readouterr()
    server = StaticServer(indexed)
    try:
        url = server.url
        assert main(["zoo", "list", "--registry", url]) == 0
        assert "retrained" in capsys.readouterr().out
        assert main(["zoo", "show", "pum2", "--registry", url]) == 0
        text = capsys.readouterr().out
        assert text.startswith(f"pum2:1   {published_model.digest}") and "licence not stated" in text
        monkeypatch.delenv("SEQZOO_ZOO")
        monkeypatch.chdir(REPO)  # ./zoo is the source package: a registry's listing never opens a local zoo
        assert main(["zoo", "search", "pum2", "--registry", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)[0]["digest"] == published_model.digest
        monkeypatch.undo()
        assert main(["zoo", "pull", f"pum2@{published_model.digest}", "--registry", url, "--zoo",
                     str(empty_zoo.root)]) == 0
        assert "pum2:1 is deprecated: retrained" in capsys.readouterr().err
        (indexed / "pum2" / "1" / "card.json").write_text("{}")
        assert main(["zoo", "show", "pum2", "--registry", url]) != 0
        assert "card.json: does not match the version's manifest" in capsys.readouterr().err
    finally:
        server.stop()
