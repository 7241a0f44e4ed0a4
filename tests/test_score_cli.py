"""``seqzoo score`` (--local and --server) and ``score_table``: same numbers either way, input order
kept, errors that name the file, line and record, outputs that appear only when complete."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from seqzoo.serving.engine import Engine
from seqzoo.serving.scorers import LocalScorer
from seqzoo.serving.scoring import score_table
from seqzoo.zoo.errors import InputError
from test_engine import make_version_dir
from test_server import ServerThread

from seqzoo.cli import main


def write_fasta(path, records, width=5):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as f:
        for name, seq in records:
            f.write(f">{name} some description\n")
            for i in range(0, len(seq), width):  # wrapped lines
                f.write(seq[i:i + width] + "\n")


def read_tsv(path):
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    header = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[1:]]
    return header, [r[0] for r in rows], np.array([[float(x) for x in r[1:]] for r in rows])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    make_version_dir(root, "toy", 1, seed=0)
    return root


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(11)
    return [(f"seq{i}", "".join(rng.choice(list("ACGUN"), size=12))) for i in range(2500)]


def test_score_table_keeps_columns_and_order_and_names_rows(zoo):
    engine = Engine.load(zoo / "toy" / "1", device="cpu", threads=1)
    seqs = ["ACGUACGUACGU", "UUUUACGUACGN", "GGGGCCCCAAAA"]
    table = pa.table({"id": ["a", "b", "c"], "chrom": ["1", "2", "3"], "sequence": seqs})
    out = score_table(table, LocalScorer(engine), batch_size=2)
    assert out.column_names == ["id", "chrom", "negative", "positive"]
    probs = np.stack([out.column(c).to_numpy() for c in ("negative", "positive")], axis=1)
    np.testing.assert_allclose(probs, engine.predict(engine.encode(seqs)), atol=1e-6)
    with pytest.raises(InputError, match="row 2: character 'X'"):
        score_table(pa.table({"sequence": seqs[:2] + ["GGGGCCXCAAAA"]}), LocalScorer(engine), batch_size=2)
    with pytest.raises(InputError, match="no column 'sequence'"):
        score_table(pa.table({"seq": seqs}), LocalScorer(engine))


def test_local_and_server_give_the_same_scores(zoo, records, tmp_path, capsys):
    fasta = tmp_path / "in.fa.gz"
    write_fasta(fasta, records)
    engine = Engine.load(zoo / "toy" / "1", device="cpu", threads=1)
    expected = engine.predict(engine.encode([s for _, s in records]))
    local = tmp_path / "local.tsv"
    assert main(["score", "--local", "--zoo", str(zoo), "--model", "toy", str(fasta), "-o", str(local),
                 "--threads", "1", "--no-progress"]) == 0
    header, ids, probs = read_tsv(local)
    assert header == ["id", "negative", "positive"] and ids == [n for n, _ in records]
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    server = ServerThread(zoo)
    try:
        remote = tmp_path / "remote.parquet"
        assert main(["score", "--server", server.target, "--model", "toy", str(fasta), "-o", str(remote),
                     "--batch", "300", "--window", "3", "--no-progress"]) == 0
        table = pq.read_table(remote)
        assert table.column("id").to_pylist() == [n for n, _ in records]
        got = np.stack([table.column(c).to_numpy() for c in ("negative", "positive")], axis=1)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert "scored 2500 sequences with toy:1" in capsys.readouterr().err
        # a bad record deep in the file: one line naming file, line and record; no output file left
        bad = tmp_path / "bad.fa"
        broken = records[:1500] + [("oops", "ACGUACGXACGU")] + records[1500:1600]
        write_fasta(bad, broken, width=100)
        out = tmp_path / "bad.tsv"
        assert main(["score", "--server", server.target, "--model", "toy", str(bad), "-o", str(out),
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"{bad}:3001: record oops: character 'X' at position 8" in err
        assert not out.exists() and not list(tmp_path.glob(".bad.tsv*"))
        short = tmp_path / "short.fa"
        write_fasta(short, records[:3] + [("tiny", "ACG")])
        assert main(["score", "--server", server.target, "--model", "toy", str(short), "-o", str(out),
                     "--no-progress"]) == 2
        assert f"{short}:" in capsys.readouterr().err
    finally:
        server.drain()
    assert main(["score", "--local", "--zoo", str(zoo), "--model", "nosuch", str(fasta), "-o", str(local),
                 "--no-progress"]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_real_pum2_model_reproduces_its_card_locally_and_over_the_server(published_model, tmp_path):
    expect = published_model.card["expect"]
    assert expect, "the published card should carry expected predictions"
    records = [(f"e{i}", e["sequence"]) for i, e in enumerate(expect)]
    want = np.array([e["probs"] for e in expect], dtype=np.float32)
    fasta = tmp_path / "expect.fa"
    write_fasta(fasta, records, width=60)
    out = tmp_path / "local.tsv"
    assert main(["score", "--local", "--zoo", str(published_model.zoo_root), "--model",
                 f"{published_model.name}:{published_model.version}", str(fasta), "-o", str(out),
                 "--no-progress", "--convert-tu"]) == 0
    np.testing.assert_allclose(read_tsv(out)[2], want, atol=1e-4)
    server = ServerThread(published_model.zoo_root)
    try:
        remote = tmp_path / "remote.tsv"
        assert main(["score", "--server", server.target, "--model", published_model.name, str(fasta), "-o",
                     str(remote), "--no-progress", "--convert-tu"]) == 0
        np.testing.assert_allclose(read_tsv(remote)[2], want, atol=1e-4)
    finally:
        server.drain()


def test_a_pipe_and_any_file_name_are_read_as_fasta(published_model, tmp_path):
    """``zcat x.fa.gz | seqzoo score ... /dev/stdin`` and a FASTA named ``.txt`` score like the file;
    a file that is not FASTA is named with its line."""
    import subprocess
    import sys

    from conftest import RBP, read_fasta_gz

    text = "".join(f">r{i}\n{s}\n" for i, s in enumerate(read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 30)))
    (tmp_path / "in.fa").write_text(text)
    (tmp_path / "in.txt").write_text(text)
    (tmp_path / "bad.txt").write_text("hello\n")
    base = [sys.executable, "-m", "seqzoo", "score", "--local", "--zoo", str(published_model.zoo_root), "--model",
            "pum2", "--no-progress"]
    runs = {"file": [str(tmp_path / "in.fa")], "txt": [str(tmp_path / "in.txt")], "stdin": ["/dev/stdin"]}
    for name, args in runs.items():
        out = subprocess.run([*base, *args, "-o", str(tmp_path / f"{name}.tsv")], input=text, text=True,
                             capture_output=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
    rows = {name: (tmp_path / f"{name}.tsv").read_text().splitlines()[1:] for name in runs}
    assert len(rows["file"]) == 31 and rows["stdin"] == rows["file"] == rows["txt"]
    bad = subprocess.run([*base, str(tmp_path / "bad.txt"), "-o", str(tmp_path / "bad.tsv")], capture_output=True,
                         text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "bad.txt:1: expected a '>' header line" in bad.stderr
    assert not (tmp_path / "bad.tsv").exists()
