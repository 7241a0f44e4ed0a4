"""One reader, one scoring loop, four ways to score: ``--local``, ``--server``, ``--dask`` and
``seqzoo.load(...).predict`` give the same ids and probabilities for an awkward FASTA; a server
paused mid-run (SIGSTOP) does not break ``seqzoo score --server``; the Python API's verbs agree
with the engine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import RBP, read_fasta_gz
from seqzoo.serving.client import SeqZooClient
from seqzoo.serving.engine import Engine
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.table import read_metadata
from test_server import free_port

import seqzoo
from seqzoo.cli import main


def awkward_fasta(path, sequences):
    """``;`` comments (also first), CRLF line ends, descriptions, lower case, wrapped lines."""
    parts = ["; made for the one-core test\r\n", ";another comment\r\n"]
    for i, s in enumerate(sequences):
        s = s.lower() if i % 2 else s
        parts.append(f">r{i} a description with words {i}\r\n")
        parts.extend(s[j:j + 70] + "\r\n" for j in range(0, len(s), 70))
    path.write_bytes("".join(parts).encode())
    return path


class ServerProcess:
    """``seqzoo serve`` in a child process, SERVING when the constructor returns."""

    def __init__(self, zoo_root, model: str, extra: tuple = (), port: int | None = None, token: str | None = None):
        self.port = port or free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "seqzoo", "serve", "--zoo", str(zoo_root), "--port",
                                      str(self.port), "--host", "127.0.0.1", "--models", model, "--poll-seconds", "0",
                                      *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with SeqZooClient(self.target, token=token) as client:
            client.wait_serving(timeout=120, alive=lambda: self.proc.poll() is None)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def server(published_model):
    s = ServerProcess(published_model.zoo_root, published_model.name)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sequences():
    return read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 60) + read_fasta_gz(RBP / "pum2.test.negative.fasta.gz",
                                                                                   60)


def test_four_paths_give_identical_rows(published_model, server, sequences, tmp_path):
    fasta = awkward_fasta(tmp_path / "awkward.fa", sequences)
    ref, zoo = f"{published_model.name}:{published_model.version}", str(published_model.zoo_root)
    common = ["--model", ref, str(fasta), "--no-progress", "--batch", "16"]
    assert main(["score", "--local", "--zoo", zoo, *common, "-o", str(tmp_path / "local.parquet")]) == 0
    assert main(["score", "--server", server.target, *common, "-o", str(tmp_path / "server.parquet")]) == 0
    assert main(["score", "--dask", "local:1", "--zoo", zoo, *common, "-o", str(tmp_path / "dask"),
                 "--partition-rows", "25", "--dask-memory", "1GiB"]) == 0
    tables = {name: pq.read_table(tmp_path / name) for name in ("local.parquet", "server.parquet", "dask")}
    ids = [f"r{i}" for i in range(len(sequences))]
    model = seqzoo.load(ref, zoo=zoo)
    api = model.predict([s.lower() if i % 2 else s for i, s in enumerate(sequences)])
    assert list(api.columns) == published_model.card["classes"] and len(api) == len(ids)
    for name, table in tables.items():
        assert table.column("id").to_pylist() == ids, name
        for c in published_model.card["classes"]:
            np.testing.assert_array_equal(table.column(c).to_numpy(), api[c].to_numpy(), err_msg=name)
    # every output names the exact version and digest that scored it
    for name in ("local.parquet", "server.parquet"):
        assert read_metadata(tmp_path / name) == {"model": ref, "digest": published_model.digest,
                                                  "input": str(fasta)}
    assert main(["score", "--local", "--zoo", zoo, *common, "-o", str(tmp_path / "local.tsv")]) == 0
    assert read_metadata(tmp_path / "local.tsv")["digest"] == published_model.digest


def test_api_local_and_remote_verbs_agree_with_the_engine(published_model, server, sequences):
    ref, zoo = f"{published_model.name}:{published_model.version}", str(published_model.zoo_root)
    local = seqzoo.load(ref, zoo=zoo)
    remote = seqzoo.connect(server.target).load(published_model.name)
    assert local.ref == remote.ref == ref and local.digest == remote.digest == published_model.digest
    assert local.card["classes"] == remote.card["classes"]
    engine = Engine.load(published_model, device="cpu")
    want = engine.predict(engine.encode(sequences[:10]))
    np.testing.assert_allclose(local.predict(sequences[:10]).to_numpy(), want, atol=1e-6)
    np.testing.assert_allclose(remote.predict(sequences[:10]).to_numpy(), want, atol=1e-6)
    for method in ("ig", "saliency", "ism"):
        a, b = local.attribute(sequences[:3], method=method), remote.attribute(sequences[:3], method=method)
        assert a.shape == (3, engine.length, engine.alphabet.size)
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(InputError, match=r"sequence 1: character 'X' at position 3"):
        local.predict([sequences[0], "ACXG" + sequences[1][4:]])
    with pytest.raises(InputError, match=r"sequence 1: character 'X' at position 3"):
        remote.predict([sequences[0], "ACXG" + sequences[1][4:]])
    with pytest.raises(InputError, match="one string"):
        local.predict("ACGU")


def test_predict_with_and_without_convert_tu_from_many_threads(published_model, server, sequences):
    """A model is shared by threads: one thread's convert_tu never reaches another's call (it was
    set on the shared scorer, so a DNA call could run with another call's False)."""
    from concurrent.futures import ThreadPoolExecutor

    engine = Engine.load(published_model, device="cpu")
    rna, dna = sequences[:8], [s.replace("U", "T") for s in sequences[:8]]
    want = engine.predict(engine.encode(rna))
    for model in (seqzoo.load(f"{published_model.name}:{published_model.version}", zoo=str(published_model.zoo_root)),
                  seqzoo.connect(server.target).load(published_model.name)):
        def call(i: int, model=model):
            if i % 2:
                return model.predict(dna, batch_size=2, convert_tu=True).to_numpy()
            return model.predict(rna, batch_size=2).to_numpy()

        with ThreadPoolExecutor(4) as pool:
            for got in pool.map(call, range(60)):
                np.testing.assert_allclose(got, want, atol=1e-6)
        with pytest.raises(InputError, match="character 'T'"):
            model.predict(dna)  # the model's own setting is still False


def test_api_score_variants_matches_the_cli(published_model, tmp_path):
    from test_variants_e2e import FASTA as GENOME
    from test_variants_e2e import VCF

    ref, zoo = f"{published_model.name}:{published_model.version}", str(published_model.zoo_root)
    frame = seqzoo.load(ref, zoo=zoo).score_variants(str(VCF), str(GENOME), scores=("diff", "log2fc"),
                                                     genome_cache=str(tmp_path / "cache"))
    assert main(["variants", "--local", "--zoo", zoo, "--model", ref, "--vcf", str(VCF), "--genome", str(GENOME),
                 "--genome-cache", str(tmp_path / "cache"), "--scores", "diff", "log2fc", "--quiet",
                 "-o", str(tmp_path / "cli.parquet")]) == 0
    cli = pq.read_table(tmp_path / "cli.parquet").to_pandas()
    assert list(frame.columns) == list(cli.columns) and len(frame) == len(cli) >= 109
    assert frame["key"].tolist() == cli["key"].tolist()
    np.testing.assert_array_equal(frame["positive_diff"].to_numpy(), cli["positive_diff"].to_numpy())


def test_score_survives_a_paused_server(published_model, server, sequences, tmp_path):
    """The request generator waits for a free slot while the server is stopped (SIGSTOP) for 3 s;
    the run must go on when it resumes and write every row (it once died with AttributeError)."""
    fifo = tmp_path / "input.fa"
    os.mkfifo(fifo)
    out = tmp_path / "out.tsv"
    result: dict = {}

    def score():
        result["code"] = main(["score", "--server", server.target, "--model", published_model.name, str(fifo),
                               "-o", str(out), "--batch", "8", "--window", "1", "--no-progress"])

    runner = threading.Thread(target=score)
    runner.start()
    records = [f">p{i}\n{s}\n" for i, s in enumerate(sequences)]
    with open(fifo, "w") as pipe:
        pipe.writelines(records[:40])
        pipe.flush()
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGSTOP)
        try:
            pipe.writelines(records[40:])
            pipe.flush()
            time.sleep(3.0)  # the client waits on its window far longer than its 0.5 s poll
        finally:
            server.proc.send_signal(signal.SIGCONT)
    runner.join(120)
    assert not runner.is_alive() and result["code"] == 0
    lines = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert [line.split("\t")[0] for line in lines[1:]] == [f"p{i}" for i in range(len(sequences))]


def test_api_load_pulls_from_a_registry_and_pins(published_model, tmp_path):
    from seqzoo.zoo.errors import NotFoundError
    from seqzoo.zoo.registry import open_zoo
    from seqzoo.zoo.remote import push

    registry = f"file://{tmp_path / 'registry'}"
    push("pum2", registry, open_zoo(published_model.zoo_root))
    cache = tmp_path / "cache-zoo"
    with pytest.raises(NotFoundError, match="no such model"):
        seqzoo.load("pum2", zoo=str(cache))
    model = seqzoo.load(f"pum2@{published_model.digest}", zoo=str(cache), registry=registry)
    assert model.ref == "pum2:1" and model.digest == published_model.digest
    assert open_zoo(cache).verify("pum2:1").digest == published_model.digest  # pulled, every file checked
    again = seqzoo.load("pum2", zoo=str(cache), registry=registry)  # latest: asked of the registry
    assert again.digest == published_model.digest
    np.testing.assert_array_equal(model.predict(["ACGU" * 50]).to_numpy(), again.predict(["ACGU" * 50]).to_numpy())
