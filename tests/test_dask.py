"""Batch scoring on Dask (the operations' drivers with ``serving.ops.executors.Dask``) against
single-process scoring, row for row.

One small cluster on loopback for the module: two single-threaded worker processes, one of them
advertising a ``GPU`` resource (a tag only: it runs on the CPU), so the resources route can be
checked without a GPU. Partitions are made deliberately small so record boundaries fall inside
byte ranges, row groups and BED regions.
"""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from conftest import RBP, REPO, read_fasta_gz
from seqzoo.serving.dask.cluster import parse_resources
from seqzoo.serving.ops import score as score_op
from seqzoo.serving.ops import variants as variants_op
from seqzoo.serving.ops.executors import Dask
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.fasta import read_range

from seqzoo.cli import main as seqzoo_main

GENOME = REPO / "datasets" / "genome" / "NCTC8325.fasta.gz"
VCF = REPO / "datasets" / "genome" / "variant.vcf.gz"


@pytest.fixture(scope="module")
def cluster():
    """(client, address of the worker tagged GPU=1, address of the untagged one)."""
    from distributed import Client, Nanny, Scheduler, SpecCluster

    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}}
    workers = {
        "cpu": {"cls": Nanny, "options": {"nthreads": 1, "host": "127.0.0.1", "memory_limit": "2GiB"}},
        "gpu": {"cls": Nanny, "options": {"nthreads": 1, "host": "127.0.0.1", "memory_limit": "2GiB",
                                          "resources": {"GPU": 1}}},
    }
    with SpecCluster(scheduler=scheduler, workers=workers, asynchronous=False) as spec, Client(spec) as client:
        client.wait_for_workers(2, timeout=120)
        info = client.scheduler_info()["workers"]
        gpu = [a for a, w in info.items() if w.get("resources", {}).get("GPU")]
        cpu = [a for a in info if a not in gpu]
        assert len(gpu) == len(cpu) == 1
        yield client, gpu[0], cpu[0]


@pytest.fixture(scope="module")
def model(published_model):
    return published_model


@pytest.fixture(scope="module")
def fasta(tmp_path_factory) -> tuple:
    """A multi-line plain FASTA of 300 PUM2 sequences (60 nt lines), its gzip twin, and the records."""
    folder = tmp_path_factory.mktemp("dask-inputs")
    seqs = read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 150) + read_fasta_gz(RBP / "pum2.test.negative.fasta.gz",
                                                                                  150)
    ids = [f"s{i}{'_pos' if i < 150 else '_neg'}" for i in range(len(seqs))]
    text = "".join(f">{i} description {k}\n" + "".join(s[j:j + 60] + "\n" for j in range(0, len(s), 60))
                   for k, (i, s) in enumerate(zip(ids, seqs)))
    plain = folder / "windows.fa"
    plain.write_text(text)
    packed = folder / "windows.fa.gz"
    with gzip.open(packed, "wt") as f:
        f.write(text)
    return plain, packed, ids, seqs


def score_partitions(client, path: str, model, output: str, resources=None, window=None, **settings) -> dict:
    """The score driver on the cluster."""
    executor = Dask("pum2", client, zoo=str(model.zoo_root), resources=resources, window=window)
    return score_op.score(score_op.ScoreSettings(path, output, **settings), executor)


def score_variants(client, vcf: str, genome: str, model, output: str, scores: list, **settings) -> dict:
    """The variants driver on the cluster."""
    executor = Dask("pum2", client, zoo=str(model.zoo_root))
    return variants_op.score_variants(variants_op.VariantSettings(vcf, genome, output, tuple(scores), **settings),
                                      executor)


def score_local(model, path, out) -> pa.Table:
    """``seqzoo score --local`` (the single-process path) into a parquet file."""
    code = seqzoo_main(["score", "--local", "--zoo", str(model.zoo_root), "--model", "pum2", str(path),
                        "-o", str(out), "--threads", "1", "--no-progress"])
    assert code == 0
    return pq.read_table(out)


def assert_same_rows(dask_table: pa.Table, local_table: pa.Table, classes) -> None:
    assert dask_table.column("id").to_pylist() == local_table.column("id").to_pylist()
    for c in classes:
        np.testing.assert_allclose(dask_table.column(c).to_numpy(), local_table.column(c).to_numpy(), atol=1e-6)


def test_fasta_byte_ranges_equal_local_scoring(cluster, model, fasta, tmp_path):
    client, _, _ = cluster
    plain, _, ids, _ = fasta
    local = score_local(model, plain, tmp_path / "local.parquet")
    out = tmp_path / "scores"
    # ~45 records' worth of bytes per range: every boundary falls inside a record
    summary = score_partitions(client, str(plain), model, str(out), partition_rows=45)
    parts = sorted(p.name for p in out.iterdir())
    assert parts[0] == "_SUCCESS.json" and parts[1] == "part-00000.parquet"
    assert summary["parts"] == len(parts) - 1 > 3
    assert summary["rows"] == len(ids) == local.num_rows
    table = pq.read_table(out)
    assert table.column_names == ["id", "negative", "positive"]
    assert_same_rows(table, local, ["negative", "positive"])
    # each part is one partition in input order, stamped with the model's digest
    meta = json.loads(pq.read_schema(out / "part-00000.parquet").metadata[b"seqzoo_score"])
    assert meta["digest"] == model.digest
    assert json.loads((out / "_SUCCESS.json").read_text())["rows"] == len(ids)
    assert set(summary["workers"]) <= set(client.scheduler_info()["workers"])
    assert all(w["peak_rss_mib"] > 50 for w in summary["workers"].values())
    # the positives of this set score higher than the negatives
    positive = table.column("positive").to_numpy()
    assert positive[:150].mean() > positive[150:].mean()


@pytest.mark.parametrize("size", [61, 97, 997, 4096, 10**6])
def test_byte_ranges_cover_every_record_once(fasta, size):
    plain, _, ids, seqs = fasta
    total = plain.stat().st_size
    got_ids, got_seqs = [], []
    for start in range(0, total, size):
        records = read_range(plain, start, min(start + size, total))
        got_ids += [r.name for r in records]
        got_seqs += [r.sequence for r in records]
    assert got_ids == ids and got_seqs == seqs


def test_gzip_fasta_and_parquet_inputs(cluster, model, fasta, tmp_path):
    client, _, _ = cluster
    plain, packed, ids, seqs = fasta
    local = score_local(model, plain, tmp_path / "local.parquet")
    streamed = score_partitions(client, str(packed), model, str(tmp_path / "from-gz"), partition_rows=64)
    assert streamed["parts"] == 5  # ceil(300 / 64) chunks read by the client
    assert_same_rows(pq.read_table(tmp_path / "from-gz"), local, ["negative", "positive"])

    # parquet: row groups of 40, extra columns carried through, partitions of ~100 rows
    source = pa.table({"id": ids, "sequence": seqs, "gc": [s.count("G") + s.count("C") for s in seqs]})
    pq.write_table(source, tmp_path / "in.parquet", row_group_size=40)
    summary = score_partitions(client, str(tmp_path / "in.parquet"), model, str(tmp_path / "from-pq"),
                                  partition_rows=100)
    assert summary["parts"] == 3  # 3 row groups (120 rows) per partition, 8 groups in all
    table = pq.read_table(tmp_path / "from-pq")
    assert table.column_names == ["id", "gc", "negative", "positive"]
    assert table.column("gc").to_pylist() == source.column("gc").to_pylist()
    assert_same_rows(table, local, ["negative", "positive"])


def test_bed_windows_on_a_genome(cluster, model, tmp_path):
    from seqzoo.serving.engine import Engine
    from seqzoo.zoo.io.genome import Genome

    client, _, _ = cluster
    bed = tmp_path / "regions.bed"
    bed.write_text("# three regions\n"
                   "NC_007795.1\t1000\t1700\tgeneA\n"  # 700 bp: (700 - 200) // 150 + 1 = 4 windows
                   "NC_007795.1\t5000\t5120\tshort\n"  # shorter than L: one centred window
                   "NC_007795.1\t2821000\t2821361\tend\n")  # 361 bp: 2 windows
    genome = Genome(GENOME, cache=str(tmp_path / "cache"))
    contig = next(iter(genome.lengths))
    bed.write_text(bed.read_text().replace("NC_007795.1", contig))
    summary = score_partitions(client, str(bed), model, str(tmp_path / "windows"), partition_rows=3,
                                  genome=str(GENOME), stride=150, genome_cache=str(tmp_path / "cache"),
                                  convert_tu=True)  # an RNA model reads the DNA genome with T as U
    table = pq.read_table(tmp_path / "windows")
    assert summary["rows"] == table.num_rows == 7
    assert table.column("name").to_pylist() == ["geneA"] * 4 + ["short"] + ["end"] * 2
    starts = table.column("start").to_pylist()
    assert starts == [1000, 1150, 1300, 1450, 5060 - 100, 2821000, 2821150]
    assert table.column("end").to_pylist() == [s + 200 for s in starts]
    # the same windows fetched and scored directly
    engine = Engine.load(model.path, device="cpu", threads=1)
    windows = [genome.fetch(contig, s, s + 200) for s in starts]
    expected = engine.predict(engine.encode(windows, convert_tu=True))
    np.testing.assert_allclose(table.column("positive").to_numpy(), expected[:, 1], atol=1e-6)


def test_variants_parts_and_merged_vcf_equal_local(cluster, model, tmp_path):
    client, _, _ = cluster
    common = ["--zoo", str(model.zoo_root), "--model", "pum2", "--vcf", str(VCF), "--genome", str(GENOME),
              "--genome-cache", str(tmp_path / "cache"), "--scores", "diff", "log2fc", "--strand", "both", "--quiet"]
    assert seqzoo_main(["variants", "--local", *common, "-o", str(tmp_path / "local.parquet"), "--threads", "1"]) == 0
    assert seqzoo_main(["variants", "--local", *common, "-o", str(tmp_path / "local.vcf"), "--threads", "1"]) == 0
    mv = model
    for output in ("parts", "merged.vcf"):
        summary = score_variants(client, str(VCF), str(GENOME), mv, str(tmp_path / output), ["diff", "log2fc"],
                                    strand="both", genome_cache=str(tmp_path / "cache"), chunk_size=25)
        assert summary["parts"] == 5  # 109 records in chunks of 25
        assert summary["rows"] == 2 * 109 and summary["scored"] == 2 * 109
    local = pq.read_table(tmp_path / "local.parquet")
    parts = pq.read_table(tmp_path / "parts")
    assert parts.column_names == local.column_names
    assert parts.column("key").to_pylist() == local.column("key").to_pylist()
    for name in local.column_names:
        if name.endswith(("_diff", "_log2fc")):
            np.testing.assert_allclose(parts.column(name).to_numpy(), local.column(name).to_numpy(), atol=1e-6)
    local_vcf = (tmp_path / "local.vcf").read_text().splitlines()
    merged = (tmp_path / "merged.vcf").read_text().splitlines()
    assert len(merged) == len(local_vcf)
    body = [line for line in merged if not line.startswith("#")]
    assert len(body) == 109 and all("SEQZOO_pum2_positive_diff_plus=" in line for line in body)
    assert merged == local_vcf


def test_resources_route_runs_only_on_tagged_workers(cluster, model, fasta, tmp_path):
    """resources={"GPU": 1} passed with each submit: every partition runs on the worker that
    advertises GPU, none on the other (the route GPU workers take, here tagged on CPU)."""
    client, gpu, cpu = cluster
    plain, _, ids, _ = fasta
    summary = score_partitions(client, str(plain), model, str(tmp_path / "gpu-only"), partition_rows=30,
                                  resources={"GPU": 1})
    assert summary["parts"] > 5
    assert set(summary["workers"]) == {gpu}
    untagged = score_partitions(client, str(plain), model, str(tmp_path / "anywhere"), partition_rows=30,
                                   window=8)
    assert untagged["rows"] == summary["rows"] == len(ids)
    assert cpu in untagged["workers"] or gpu in untagged["workers"]
    assert parse_resources("GPU=1, MEM=2e9") == {"GPU": 1.0, "MEM": 2e9}
    with pytest.raises(InputError, match="'GPU' is not NAME=NUMBER"):
        parse_resources("GPU")


def test_bad_input_names_the_record_and_leaves_no_output(cluster, model, fasta, tmp_path):
    client, _, _ = cluster
    plain, _, ids, seqs = fasta
    bad = tmp_path / "bad.fa"
    records = [f">{i}\n{s}\n" for i, s in zip(ids, seqs)]
    records[200] = f">{ids[200]}\n{seqs[200][:50]}X{seqs[200][51:]}\n"
    bad.write_text("".join(records))
    with pytest.raises(InputError, match=rf"bad.fa: record {ids[200]}: .*'X'"):
        score_partitions(client, str(bad), model, str(tmp_path / "out"), partition_rows=30)
    assert sorted(os.listdir(tmp_path)) == ["bad.fa"]  # no folder, no temporary left behind
    (tmp_path / "exists").mkdir()
    with pytest.raises(InputError, match="already exists"):
        score_partitions(client, str(plain), model, str(tmp_path / "exists"))
    with pytest.raises(NotFoundError):
        score_partitions(client, str(tmp_path / "missing.fa"), model, str(tmp_path / "out"))
    with pytest.raises(InputError, match="a BED input needs --genome"):
        (tmp_path / "r.bed").write_text("chr1\t0\t300\n")
        score_partitions(client, str(tmp_path / "r.bed"), model, str(tmp_path / "out"))


def test_cli_score_and_variants_with_dask_local(model, fasta, tmp_path):
    """The commands themselves, with a LocalCluster of 2 worker processes they start and stop."""
    plain = fasta[0]
    local = score_local(model, plain, tmp_path / "local.parquet")
    code = seqzoo_main(["score", "--dask", "local:2", "--zoo", str(model.zoo_root), "--model", "pum2", str(plain),
                        "-o", str(tmp_path / "dask-out"), "--partition-rows", "100", "--dask-memory", "1GiB"])
    assert code == 0
    assert_same_rows(pq.read_table(tmp_path / "dask-out"), local, ["negative", "positive"])
    code = seqzoo_main(["variants", "--dask", "local:1", "--zoo", str(model.zoo_root), "--model", "pum2",
                        "--vcf", str(VCF), "--genome", str(GENOME), "--genome-cache", str(tmp_path / "cache"),
                        "-o", str(tmp_path / "v.vcf.gz"), "--chunk-size", "50"])
    assert code == 0
    with gzip.open(tmp_path / "v.vcf.gz", "rt") as f:
        assert sum(1 for line in f if not line.startswith("#")) == 109
