"""The shipped registry (registry/, built from catalogue/ by ``seqzoo zoo build``), as its users
get it: served by ``python -m http.server`` on loopback, every version pulled and verified (digests
and the cards' expected outputs), three served by ``seqzoo serve --registry``, and one small recipe
rebuilt from scratch to the shipped card's metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, StaticServer
from seqzoo.serving.client import SeqZooClient
from seqzoo.training.build import build
from seqzoo.training.catalogue import read_catalogue
from seqzoo.zoo.expect import check_embedded_cards, check_expect
from seqzoo.zoo.registry import open_zoo
from seqzoo.zoo.remote import pull
from test_server import free_port

REGISTRY = REPO / "registry"
SERVED = ("foxo1", "ionmf-24-parclip-qki", "saureus-lm")
REBUILT = "foxo1"
MAX_BYTES = 80 * 1024 * 1024  # issue 26: room for the five versions that state their positive class


@pytest.fixture(scope="module")
def served():
    server = StaticServer(REGISTRY)
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def index():
    return json.loads((REGISTRY / "index.json").read_text())


def test_the_registry_holds_every_recipe_and_stays_small(index):
    recipes = {r.name: r for r in read_catalogue(REPO / "catalogue")}
    assert set(index["models"]) == set(recipes)
    for name, model in index["models"].items():
        latest = model["versions"][max(model["versions"], key=int)]
        card = json.loads((REGISTRY / name / str(max(map(int, model["versions"]))) / "card.json").read_text())
        assert card["recipe"] == {"name": name, "digest": recipes[name].digest}, f"{name}: rebuild the registry"
        assert latest["license"] and card["citation"] and card["dataset"]["source"]
    size = sum(p.stat().st_size for p in REGISTRY.rglob("*") if p.is_file())
    assert size < MAX_BYTES, f"registry/ is {size / 2**20:.1f} MiB"
    assert (REGISTRY / "index.html").is_file()
    # a classifier's report is rendered from its interpretation/ on demand (seqzoo report REF); a language
    # model keeps its small one (it is drawn from run data the version does not hold)
    stored = {p.parent.parent.name for p in REGISTRY.rglob("report.html")}
    assert stored <= {n for n, m in index["models"].items() if m["versions"]["1"]["task"] == "language_model"}


def test_every_version_pulls_and_verifies_over_http(served, index, tmp_path):
    zoo = open_zoo(tmp_path / "zoo")
    for name, model in index["models"].items():
        for version, entry in model["versions"].items():
            mv = pull(f"{name}@{entry['digest']}", served, zoo)
            assert mv.version == int(version)
            zoo.verify(mv.ref)
            check_embedded_cards(mv.path, mv.card)
            check_expect(mv.path, mv.card)


def test_seqzoo_serve_pulls_three_models_from_the_registry(served, tmp_path):
    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "seqzoo", "serve", "--zoo", str(tmp_path / "zoo"), "--port",
                                 str(port), "--host", "127.0.0.1", "--registry", served, "--models", ",".join(SERVED),
                                 "--device", "cpu", "--threads", "1", "--poll-seconds", "0"], stdout=out, stderr=out,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        with SeqZooClient(f"127.0.0.1:{port}", timeout=30) as client:
            for name in SERVED:
                client.wait_serving(name, timeout=120, alive=lambda: proc.poll() is None, poll=0.2)
                card = json.loads((REGISTRY / name / "1" / "card.json").read_text())
                entries = [e for e in card["expect"] if "tracks" not in e and "structure" not in e][:2]
                got = client.score(name, sequences=[e["sequence"] for e in entries])
                for i, entry in enumerate(entries):
                    assert np.allclose(got[i], entry["probs"], rtol=1e-4, atol=1e-4), name
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in log.read_text()


def test_a_small_recipe_rebuilds_to_the_shipped_metrics(tmp_path):
    [recipe] = read_catalogue(REPO / "catalogue", [REBUILT])
    [result] = build([recipe], open_zoo(tmp_path / "zoo"), tmp_path / "work", jobs=1, threads=2, log=lambda _: None)
    assert result["status"] == "published", result
    latest = max(int(p.name) for p in (REGISTRY / REBUILT).iterdir() if p.name.isdigit())
    shipped = json.loads((REGISTRY / REBUILT / str(latest) / "card.json").read_text())
    assert shipped["recipe"]["digest"] == recipe.digest  # the shipped version was built from this recipe
    shipped = shipped["metrics"]["test"]
    for check in result["checks"]:
        key = check["metric"].removeprefix("metrics.test.").split(".")
        assert abs(check["value"] - shipped[key[0]][key[1]]) <= check["tolerance"], check
