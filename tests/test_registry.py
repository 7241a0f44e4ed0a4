"""Refs, the local zoo, manifests and the `seqzoo zoo` command on a local zoo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from seqzoo.zoo.errors import ConflictError, InputError, IntegrityError, NotFoundError
from seqzoo.zoo.manifest import MANIFEST, sha256_bytes, sha256_file, verify_folder
from seqzoo.zoo.refs import Ref, parse_ref, validate_name
from seqzoo.zoo.registry import LocalZoo, open_zoo

from seqzoo.cli import main

DIGEST = "sha256:" + "ab" * 32


# -- refs and names -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, ref", [
    ("pum2", Ref("pum2")),
    ("pum2:latest", Ref("pum2")),
    ("pum2:3", Ref("pum2", version=3)),
    ("foxo1-sim.v2_b:12", Ref("foxo1-sim.v2_b", version=12)),
    (f"pum2@{DIGEST}", Ref("pum2", digest=DIGEST)),
])
def test_parse_ref(text, ref):
    assert parse_ref(text) == ref
    assert parse_ref(str(ref)) == ref


@pytest.mark.parametrize("bad, words", [
    ("", "empty"),
    ("..", "contains '..'"),
    ("a..b", "contains '..'"),
    ("../etc", "contains '..'"),
    ("a/b", "character '/' at position 2"),
    ("a\\b", "character '\\\\\\\\' at position 2"),
    ("/abs", "character '/' at position 1"),
    ("PUM2", "character 'P' at position 1"),
    ("pum 2", "character ' ' at position 4"),
    ("a\x00b", "character '\\\\x00'"),
    (".hidden", "must start with a letter or digit"),
    ("-x", "must start with a letter or digit"),
    ("x" * 65, "at most 64 characters"),
])
def test_bad_names_are_refused(bad, words):
    with pytest.raises(InputError, match=words):
        validate_name(bad)


@pytest.mark.parametrize("bad, words", [
    ("pum2:0", "not a positive integer"), ("pum2:01", "not a positive integer"), ("pum2:-1", "not a positive"),
    ("pum2:v1", "not a positive integer"), ("pum2@sha256:abc", "not of the form sha256"),
    ("pum2@md5:" + "a" * 32, "not of the form"), ("../x:1", "contains '..'"), ("a/b@" + DIGEST, "'/'"),
])
def test_bad_refs_are_refused(bad, words):
    with pytest.raises(InputError, match=words):
        parse_ref(bad)


# -- resolving ------------------------------------------------------------------------------------
def test_resolve_every_ref_form(published_model):
    zoo = open_zoo(published_model.zoo_root)
    for ref in ("pum2", "pum2:latest", "pum2:1", f"pum2@{published_model.digest}"):
        mv = zoo.resolve(ref)
        assert (mv.name, mv.version, mv.digest, mv.path) == ("pum2", 1, published_model.digest, published_model.path)
    assert published_model.digest == sha256_bytes((published_model.path / MANIFEST).read_bytes())
    assert [m.ref for m in zoo.list()] == ["pum2:1"]


@pytest.mark.parametrize("ref, words", [
    ("nosuch", r"nosuch: no such model in the zoo .* \(models here: pum2\)"),
    ("pum2:7", r"pum2: version 7 not found in the zoo .* \(pum2 has versions 1\)"),
    (f"pum2@{DIGEST}", f"pum2: digest {DIGEST} not found"),
])
def test_unknown_refs_say_what_exists(published_model, ref, words):
    with pytest.raises(NotFoundError, match=words):
        open_zoo(published_model.zoo_root).resolve(ref)


def test_default_root_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQZOO_ZOO", str(tmp_path / "z"))
    assert open_zoo().root == tmp_path / "z"
    monkeypatch.delenv("SEQZOO_ZOO")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert open_zoo().root == tmp_path / "data" / "seqzoo" / "zoo"  # never ./zoo, wherever the command runs


def test_a_python_package_folder_is_never_taken_for_a_zoo(monkeypatch, tmp_path):
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "__init__.py").write_text("")
    monkeypatch.delenv("SEQZOO_ZOO", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # like running seqzoo in the root of a seqzoo checkout
    assert open_zoo().root == tmp_path / "data" / "seqzoo" / "zoo"  # the default is not the source folder
    with pytest.raises(InputError, match="Python package folder"):
        open_zoo("zoo")  # named explicitly: still refused


# -- publishing -----------------------------------------------------------------------------------
def _staging(published_model, tmp_path, description="another run") -> Path:
    """A staging folder made from the published version (a different card: a different artifact)."""
    staging = tmp_path / f"staging-{abs(hash(description))}"
    shutil.copytree(published_model.path, staging, ignore=shutil.ignore_patterns(MANIFEST))
    card = json.loads((staging / "card.json").read_text())
    card["description"] = description
    (staging / "card.json").write_text(json.dumps(card))
    return staging


def test_publish_counts_up_and_stamps_the_card(zoo_copy, published_model, tmp_path):
    from seqzoo.training.publish import stamp_graphs
    from seqzoo.zoo.card import onnx_card

    zoo = open_zoo(zoo_copy)
    mv = zoo.publish(_staging(published_model, tmp_path), "pum2", stamp=stamp_graphs)
    assert (mv.version, mv.path) == (2, zoo_copy / "pum2" / "2")
    assert mv.card["version"] == 2 and json.loads((mv.path / "card.json").read_text())["version"] == 2
    assert onnx_card(mv.path / "model.onnx") == mv.card
    assert verify_folder(mv.path) == mv.digest != published_model.digest
    assert zoo.resolve("pum2").version == 2 and zoo.resolve("pum2:1").digest == published_model.digest
    assert [p.name for p in (zoo_copy / "pum2").iterdir() if p.name.startswith(".")] == []  # staging removed


def test_publish_retries_when_the_number_is_taken(zoo_copy, published_model, tmp_path, monkeypatch):
    """Another publisher renames its version 2 in between: this one lands on 3, nothing is overwritten."""
    zoo = open_zoo(zoo_copy)
    staging = _staging(published_model, tmp_path)
    rival = zoo_copy / "pum2" / "2"
    original_rename = LocalZoo._rename

    def racing_rename(src, target):
        if target == rival and not rival.exists():
            shutil.copytree(published_model.path, rival)  # the rival wins the race for number 2
        return original_rename(src, target)

    monkeypatch.setattr(LocalZoo, "_rename", staticmethod(racing_rename))
    mv = zoo.publish(staging, "pum2")
    assert mv.version == 3 and mv.card["version"] == 3
    assert verify_folder(rival) == published_model.digest  # the rival's version is intact
    assert zoo.versions("pum2") == [1, 2, 3]


def test_concurrent_publishes_both_succeed_with_different_versions(zoo_copy, published_model, tmp_path):
    staging = [_staging(published_model, tmp_path, f"run {i}") for i in range(3)]
    code = ("import sys; from seqzoo.zoo.registry import open_zoo; "
            "print(open_zoo(sys.argv[1]).publish(sys.argv[2], 'pum2').version)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(zoo_copy), str(s)], stdout=subprocess.PIPE, text=True)
             for s in staging]
    versions = sorted(int(p.communicate(timeout=60)[0]) for p in procs)
    assert versions == [2, 3, 4]
    zoo = open_zoo(zoo_copy)
    descriptions = {zoo.get("pum2", v).card["description"] for v in versions}
    assert descriptions == {"run 0", "run 1", "run 2"}
    for v in [1] + versions:
        zoo.verify(f"pum2:{v}")


def test_a_published_version_never_changes(zoo_copy, published_model, tmp_path):
    zoo = open_zoo(zoo_copy)
    folder = zoo.staging_folder("pum2")
    shutil.copytree(published_model.path, folder, dirs_exist_ok=True)
    (folder / "extra.txt").write_text("changed")
    with pytest.raises(ConflictError, match="pum2:1 is already in the zoo .* a published version never changes"):
        zoo.add_version(folder, "pum2", 1, DIGEST)
    assert zoo.verify("pum2:1").digest == published_model.digest
    assert not folder.exists()


def test_publish_refuses_bad_names_before_writing(empty_zoo, published_model, tmp_path):
    for bad in ("../escape", "a/b", "..", "/tmp/x"):
        with pytest.raises(InputError):
            empty_zoo.publish(published_model.path, bad)
    assert not empty_zoo.root.exists() or list(empty_zoo.root.iterdir()) == []
    assert not (tmp_path / "escape").exists()


# -- verification ---------------------------------------------------------------------------------
def test_tampered_truncated_and_extra_files_are_named(zoo_copy):
    zoo = open_zoo(zoo_copy)
    path = zoo_copy / "pum2" / "1"
    model = path / "model.onnx"
    data = model.read_bytes()
    model.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(IntegrityError, match=r"model.onnx: sha256 .* does not match the manifest"):
        zoo.verify("pum2:1")
    model.write_bytes(data[:-10])
    with pytest.raises(IntegrityError, match=r"model.onnx: truncated: \d+ bytes, the manifest says \d+"):
        zoo.verify("pum2:1")
    model.write_bytes(data)
    assert zoo.verify("pum2:1").version == 1
    (path / "stowaway.bin").write_bytes(b"x")
    with pytest.raises(IntegrityError, match="stowaway.bin: present but not listed"):
        zoo.verify("pum2:1")
    (path / "stowaway.bin").unlink()
    (path / "grad.onnx").unlink()
    with pytest.raises(IntegrityError, match="grad.onnx: listed in MANIFEST.json but missing"):
        zoo.verify("pum2:1")


def test_manifest_lists_sizes_and_digests(published_model):
    manifest = json.loads((published_model.path / MANIFEST).read_text())
    files = manifest["files"]
    assert {"model.onnx", "grad.onnx", "ig.onnx", "card.json"} <= set(files)
    for rel, entry in files.items():
        path = published_model.path / rel
        assert entry == {"sha256": sha256_file(path), "size": path.stat().st_size}


def test_clean_staging_removes_only_old_leftovers(zoo_copy):
    zoo = open_zoo(zoo_copy)
    old, new = zoo.staging_folder("pum2"), zoo.staging_folder("pum2")
    os.utime(old, (0, 0))
    assert zoo.clean_staging() == [old]
    assert new.exists() and zoo.versions("pum2") == [1]


# -- the command ----------------------------------------------------------------------------------
def test_cli_list_show_verify(published_model, capsys):
    root = str(published_model.zoo_root)
    assert main(["zoo", "list", "--zoo", root]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "VERSION", "DIGEST", "CREATED", "TASK", "CLASSES", "AUROC", "DEPRECATED"]
    assert out[1].split()[:2] == ["pum2", "1"] and out[1].split()[2] == published_model.digest[:19]
    assert main(["zoo", "list", "--zoo", root, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["version"], r["digest"]) for r in rows] == [("pum2", 1, published_model.digest)]
    assert main(["zoo", "show", "pum2", "--zoo", root]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"pum2:1   {published_model.digest}") and "rna ACGU, length 200 (fixed)" in text
    assert main(["zoo", "show", "pum2:1", "--zoo", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["card"] == published_model.card
    assert main(["zoo", "verify", f"pum2@{published_model.digest}", "--zoo", root, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["expect_entries"] == 4 and report["expect_max_error"] <= 1e-4


def test_cli_errors_are_one_line_with_exit_2(zoo_copy, capsys):
    assert main(["zoo", "show", "pum2:9", "--zoo", str(zoo_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pum2: version 9 not found" in err
    (zoo_copy / "pum2" / "1" / "ig.onnx").write_bytes(b"not a graph")
    assert main(["zoo", "verify", "pum2", "--zoo", str(zoo_copy)]) == 2
    assert "ig.onnx: truncated" in capsys.readouterr().err
    assert main(["zoo", "show", "../../etc/passwd", "--zoo", str(zoo_copy)]) == 2
    assert "contains '..'" in capsys.readouterr().err


def test_cli_export_refuses_bad_names_and_missing_runs(published_model, tmp_path, capsys):
    zoo = tmp_path / "z"
    assert main(["zoo", "export", str(published_model.run_dir), "--name", "../x", "--zoo", str(zoo)]) == 2
    assert "contains '..'" in capsys.readouterr().err
    assert main(["zoo", "export", str(tmp_path / "nope"), "--name", "x", "--zoo", str(zoo)]) == 2
    assert "not a training run (no config.json)" in capsys.readouterr().err
    assert not zoo.exists() or open_zoo(zoo).names() == []
