"""Issue 26, finding 1: a version's graphs read their weights only from the version's own listed
files. A crafted version whose external-data location is absolute, climbs with ``..``, names a
file of another version or reaches a linked weights file is refused at pull, verify and load,
before ONNX Runtime sees the graph - checked with a FIFO that would block whatever opened it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from seqzoo.zoo.errors import IntegrityError
from seqzoo.zoo.external_data import check_external_data, external_locations
from seqzoo.zoo.manifest import MANIFEST, build_manifest, manifest_bytes, write_manifest

onnx = pytest.importorskip("onnx")


def relocate(graph: Path, location: str) -> int:
    """Point every external tensor of ``graph`` at ``location``; returns how many were changed."""
    model = onnx.load(str(graph), load_external_data=False)
    changed = 0
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
                changed += 1
    graph.write_bytes(model.SerializeToString())
    return changed


@pytest.fixture
def trap(tmp_path):
    """A FIFO outside every zoo: opening it for reading would block (nobody ever writes)."""
    path = tmp_path / "secret" / "secret.bin"
    path.parent.mkdir()
    os.mkfifo(path)
    return path


def run_seqzoo(*args: str) -> subprocess.CompletedProcess:
    """The CLI as its own process, so a blocking open shows as a timeout instead of hanging pytest."""
    return subprocess.run([sys.executable, "-m", "seqzoo", *args], capture_output=True, text=True, timeout=120, check=False)


def test_the_published_graphs_read_only_weights_bin(published_model):
    for name in ("model.onnx", "grad.onnx", "ig.onnx"):
        path = published_model.path / name
        assert external_locations(path.read_bytes()) == ["weights.bin"]
        assert check_external_data(path, {"weights.bin", "card.json"}) == ["weights.bin"]


def test_locations_are_found_in_constants_and_subgraphs():
    from onnx import TensorProto, helper

    def external(name: str, location: str):
        tensor = helper.make_tensor(name, TensorProto.FLOAT, [1], [0.0])
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", location
        return tensor

    const = helper.make_node("Constant", [], ["c"], value=external("c", "../const.bin"))
    body = helper.make_graph([helper.make_node("Constant", [], ["y"], value=external("y", "/abs/body.bin"))],
                             "body", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    branch = helper.make_node("If", ["cond"], ["z"], then_branch=body, else_branch=body)
    graph = helper.make_graph([const, branch], "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])],
                              initializer=[external("w", "weights.bin")])
    found = external_locations(helper.make_model(graph).SerializeToString())
    assert sorted(found) == ["../const.bin", "/abs/body.bin", "weights.bin"]


@pytest.mark.parametrize("attack", ["absolute", "dotdot", "other-version", "unlisted", "linked"])
def test_a_crafted_version_is_refused_at_pull_verify_and_load(zoo_copy, tmp_path, trap, attack):
    version = zoo_copy / "pum2" / "1"
    other = zoo_copy / "pum2" / "2"
    other.mkdir()
    (other / "weights.bin").write_bytes((version / "weights.bin").read_bytes())
    location = {"absolute": str(trap), "dotdot": os.path.relpath(trap, version), "other-version": "../2/weights.bin",
                "unlisted": "stolen.bin", "linked": "weights.bin"}[attack]
    assert relocate(version / "model.onnx", location) > 0
    if attack == "linked":  # weights.bin itself a link to the trap, listed with its true digest
        manifest = build_manifest(version)
        (version / "weights.bin").unlink()
        (version / "weights.bin").symlink_to(trap)
        (version / MANIFEST).write_bytes(manifest_bytes(manifest))
    else:
        write_manifest(version)  # every listed file matches: only the location is wrong

    verify = run_seqzoo("zoo", "verify", "pum2:1", "--zoo", str(zoo_copy))
    assert verify.returncode == 2, verify.stderr
    assert "Traceback" not in verify.stderr and len(verify.stderr.strip().splitlines()) == 1
    assert ("external data" in verify.stderr or "symbolic link" in verify.stderr), verify.stderr

    target = tmp_path / "pulled"
    pulled = run_seqzoo("zoo", "pull", "pum2:1", "--registry", str(zoo_copy), "--zoo", str(target))
    assert pulled.returncode == 2, pulled.stderr
    assert not (target / "pum2" / "1").exists()

    loaded = subprocess.run([sys.executable, "-c", (
        "import sys\n"
        "from seqzoo.serving.engine import Engine\n"
        "from seqzoo.zoo.errors import SeqzooError\n"
        "try:\n"
        f"    Engine.load({str(version)!r}, device='cpu')\n"
        "except SeqzooError as exc:\n"
        "    print(exc); sys.exit(2)\n")], capture_output=True, text=True, timeout=120, check=False)
    assert loaded.returncode == 2, loaded.stdout + loaded.stderr
    if attack != "linked":
        assert "external data" in loaded.stdout


def test_the_check_names_the_graph_and_never_opens_the_target(tmp_path, trap, published_model):
    folder = tmp_path / "v"
    folder.mkdir()
    for name in ("model.onnx", "weights.bin"):
        (folder / name).write_bytes((published_model.path / name).read_bytes())
    relocate(folder / "model.onnx", "secret.bin")
    os.symlink(trap, folder / "secret.bin")
    with pytest.raises(IntegrityError, match=r"model.onnx: external data 'secret.bin' is not a regular file"):
        check_external_data(folder / "model.onnx")  # returns at once: a FIFO opened here would block
    with pytest.raises(IntegrityError, match="is not a file of this version's MANIFEST.json"):
        check_external_data(folder / "model.onnx", {"weights.bin"})
    relocate(folder / "model.onnx", "*/_ORT_MEM_ADDR_/*")
    with pytest.raises(IntegrityError, match="is not a file name beside the graph"):
        check_external_data(folder / "model.onnx")
    (folder / "model.onnx").write_bytes(b"\x0a\xff\xff\xff")
    with pytest.raises(IntegrityError, match="not an ONNX graph"):
        check_external_data(folder / "model.onnx")


def test_the_onnxruntime_floor_refuses_escaping_locations_too():
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    floor = next(d for d in project["project"]["dependencies"] if d.startswith("onnxruntime"))
    low = tuple(int(p) for p in floor.split(">=")[1].split(",")[0].split("#")[0].strip().split("."))
    assert low >= (1, 24)  # onnxruntime PR 26776 (ValidateExternalDataPath), released in 1.24
    assert json.dumps(project["project"]["optional-dependencies"]["gpu"]).count(">=1.24") == 1
