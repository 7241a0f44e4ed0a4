"""`seqzoo sites` (pooling the sites of many tasks) and chromosome hold-out in `seqzoo train`:
header coordinates in every form, binning, background, BED cut from a genome, a real pool of
iONMF experiments, and the errors a user meets."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from seqzoo.zoo.alphabets import reverse_complement
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.coords import Coordinates, parse_coordinates
from seqzoo.zoo.io.table import read_metadata

from seqzoo.cli import main

IONMF = REPO / "datasets" / "clip-ionmf"


def sites(*argv) -> int:
    return main(["sites", *argv])


@pytest.mark.parametrize(("header", "length", "want"), [
    (" chr1,+,368294,368394; class:1", 101, ("chr1", 368293, 368394, "+")),  # closed, from 1 (iONMF)
    ("chr2,-,100,200", 100, ("chr2", 100, 200, "-")),  # half-open
    ("chr1:243666886-243667086(-)", 200, ("chr1", 243666886, 243667086, "-")),  # bedtools getfasta -s
    ("chr3:10-20:+ some description", 11, ("chr3", 9, 20, "+")),
    ("chrX:5-10", 5, ("chrX", 5, 10, "+")),
    ("chr4 100 200 site7 0 -", 100, ("chr4", 100, 200, "-")),
    ("chr4\t100\t200", 100, ("chr4", 100, 200, "+")),
])
def test_header_coordinates_in_every_form(header, length, want):
    assert parse_coordinates(header, length) == Coordinates(*want)


@pytest.mark.parametrize("header", ["0,2", "site1 bound", "chr1,+,x,5", ""])
def test_headers_without_coordinates(header):
    assert parse_coordinates(header, 10) is None


@pytest.mark.parametrize("header, words", [
    ("chr1:200-100(+)", "chr1:200-100: the end is before the start"),
    ("chr1,+,-5,100; class:1", "chr1:-5-100: a coordinate is negative"),
    ("chr1,+,1000000000000000000000000000000,1000000000000000000000000000100", "past any genome"),
])
def test_impossible_coordinates_are_named(header, words):
    with pytest.raises(InputError, match=re.escape(words)):
        parse_coordinates(header, 101)


def write(path, records):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as f:
        f.writelines(f">{h}\n{s}\n" for h, s in records)
    return path


def test_sites_of_tasks_pool_by_bin_with_background(tmp_path, capsys):
    rng = np.random.default_rng(0)
    seq = lambda: "".join(rng.choice(list("ACGT"), 11))
    a = write(tmp_path / "a.fa.gz", [
        ("chr1,+,1001,1011; class:1", seq()),   # centre 1005 -> bin 20 (shared with b)
        ("chr1,+,2001,2011; class:1", seq()),
        ("chr10,-,501,511; class:1", seq()),
        ("chr1,+,5001,5011; class:0", seq()),   # background
        ("chr1,+,2021,2031; class:0", seq()),   # background in a bound bin: dropped
    ])
    b = write(tmp_path / "b.fa", [("chr1:1010-1021(+)", seq()), ("chr1:1010-1021(-)", seq()),
                                  ("chr2:300-311(+)", seq())])  # plain sites (no labels)
    extra = write(tmp_path / "bg.fa", [("chr2 7000 7011", seq()), ("chr1,+,5011,5021", seq())])
    out = tmp_path / "pool.parquet"
    assert sites("--task", f"A={a}", "--task", f"B={b}", "--background", str(extra), "-o", str(out)) == 0
    err = capsys.readouterr().err
    table = pd.read_parquet(out)
    assert list(table.columns) == ["chrom", "start", "end", "strand", "sequence", "A", "B"]
    rows = [(r.chrom, r.start, r.strand, r.A, r.B) for r in table.itertuples()]
    assert rows == [("chr1", 1000, "+", 1, 1), ("chr1", 1010, "-", 0, 1), ("chr1", 2000, "+", 1, 0),
                    ("chr1", 5000, "+", 0, 0), ("chr2", 300, "+", 0, 1), ("chr2", 7000, "+", 0, 0),
                    ("chr10", 500, "-", 1, 0)]  # natural chromosome order
    summary = read_metadata(out, "seqzoo_sites")
    assert summary["tasks"] == {"A": {"sites": 3, "rows": 3}, "B": {"sites": 3, "rows": 3}}
    assert summary["rows_bound_by_several_tasks"] == 1 and summary["background_in_bound_bins"] == 1
    assert summary["background_rows"] == 2  # 5001 (from a) and 5011 (from bg) share a bin: one row
    assert all(len(entry["sha256"]) == 64 for entry in summary["inputs"])
    assert "1 bound by several tasks" in err and "A " in err
    # without the class:0 records of task files; TSV output carries the summary as its first line
    tsv = tmp_path / "pool.tsv"
    assert sites("--task", f"A={a}", "--task", f"B={b}", "--no-background", "-o", str(tsv)) == 0
    lines = tsv.read_text().splitlines()
    assert lines[0].startswith("#seqzoo_sites ") and json.loads(lines[0].split(" ", 1)[1])["background_rows"] == 0
    assert len(lines) == 2 + 5


def test_bed_sites_are_cut_from_the_genome(tmp_path):
    rng = np.random.default_rng(1)
    contig = "".join(rng.choice(list("ACGT"), 400))
    genome = tmp_path / "g.fa"
    genome.write_text(f">chrA\n{contig}\n")
    bed = tmp_path / "t.bed"
    bed.write_text("chrA\t100\t110\tx\t0\t+\nchrA\t200\t210\tx\t0\t-\nchrA\t0\t6\tx\t0\t+\n")
    out = tmp_path / "p.parquet"
    assert sites("--task", f"T={bed}", "--genome", str(genome), "--length", "21", "-o", str(out)) == 0
    table = pd.read_parquet(out)
    # windows of --length bases centred on each interval, padded with N past the contig's start
    assert table.sequence.tolist() == ["N" * 7 + contig[:14], contig[95:116], reverse_complement(contig[195:216])]
    assert table.start.tolist() == [-7, 95, 195]
    assert (table.end - table.start).tolist() == [21, 21, 21] and table["T"].tolist() == [1, 1, 1]
    assert sites("--task", f"T={bed}", "-o", str(out)) == 2  # BED needs a genome


def test_a_real_pool_of_ionmf_experiments(tmp_path, capsys):
    """Three iONMF experiments: every class:1 record is a site; rows bound by several proteins
    exist; background never shares a bin with a site."""
    names = {"PUM2": "23_PARCLIP_PUM2", "QKI": "24_PARCLIP_QKI", "IGF2BP": "15_PARCLIP_IGF2BP123"}
    out = tmp_path / "p.parquet"
    assert sites(*[a for n, f in names.items() for a in ("--task", f"{n}={IONMF / f}.training.fa.gz")],
                 "-o", str(out)) == 0
    table = pd.read_parquet(out)
    summary = read_metadata(out, "seqzoo_sites")
    assert {t: s["sites"] for t, s in summary["tasks"].items()} == {"PUM2": 6000, "QKI": 6000, "IGF2BP": 6000}
    bound = table[list(names)].sum(axis=1)
    assert summary["rows_bound_by_several_tasks"] == int((bound > 1).sum()) > 0
    assert summary["background_rows"] == int((bound == 0).sum()) > 60_000
    keys = table.chrom + table.strand + ((table.start + table.end) // 2 // 50).astype(str)
    assert keys.is_unique
    assert set(table.sequence.str.len()) == {101}


@pytest.mark.parametrize(("argv", "message"), [
    (["--task", "A={missing}"], "missing.fa: no such file"),
    (["--task", "A={nocoords}"], "nocoords.fa:3: record s2: no coordinates in the header"),
    (["--task", "A={good}", "--task", "A={good}"], "--task A: the task is given twice"),
    (["--task", "chrom={good}"], "--task chrom: a task name is"),
    (["--task", "A={onlybg}"], "--task A: no sites"),
    (["--task", "A={good}", "--bin", "0"], "--bin must be at least 1"),
    (["--task", "A={good}", "-o", "{txt}"], "must end in .tsv or .parquet"),
    # issue 26, 11 and 13: a label is exactly class:0 or class:1; impossible coordinates are named
    (["--task", "A={seven}"], "seven.fa:3: record chr1,+,11,20;: label class:7 is not class:0 or class:1"),
    (["--task", "A={yes}"], "yes.fa:1: record chr1,+,1,10;: label class:yes is not class:0 or class:1"),
    (["--task", "A={two}"], "two.fa:1: record chr1,+,1,10;: 2 class labels in one header (class:1, class:0)"),
    (["--task", "A={huge}"], "huge.fa:1: record chr1,+,1000000000000000000000000000000,"),
    (["--task", "A={reversed}"], "reversed.fa:1: record chr1,+,20,10: coordinates chr1:20-10: the end is before"),
])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, argv, message):
    files = {"good": write(tmp_path / "good.fa", [("chr1,+,1,10", "ACGTACGTAC")]),
             "nocoords": write(tmp_path / "nocoords.fa", [("chr1,+,1,10", "ACGTACGTAC"), ("s2", "ACGT")]),
             "onlybg": write(tmp_path / "bg.fa", [("chr1,+,1,10; class:0", "ACGTACGTAC")]),
             "missing": tmp_path / "missing.fa", "txt": tmp_path / "out.txt",
             "seven": write(tmp_path / "seven.fa", [("chr1,+,1,10; class:1", "ACGTACGTAC"),
                                                    ("chr1,+,11,20; class:7", "ACGTACGTAC")]),
             "yes": write(tmp_path / "yes.fa", [("chr1,+,1,10; class:yes", "ACGTACGTAC")]),
             "two": write(tmp_path / "two.fa", [("chr1,+,1,10; class:1; class:0", "ACGTACGTAC")]),
             "huge": write(tmp_path / "huge.fa", [(f"chr1,+,{10**30},{10**30 + 9}; class:1", "ACGTACGTAC")]),
             "reversed": write(tmp_path / "reversed.fa", [("chr1,+,20,10", "ACGTACGTAC")])}
    out = tmp_path / "out.parquet"
    argv = [a.format(**files) for a in argv]
    assert sites(*argv, *([] if "-o" in argv else ["-o", str(out)])) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "out.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_chromosome_hold_out_in_training(tmp_path, capsys):
    """--test-chroms / --val-chroms split by the records' chromosomes (FASTA headers or a table's
    chrom column); the card records them; no record of a held-out chromosome is trained on."""
    rng = np.random.default_rng(2)
    chroms = ["chr1", "chr2", "chr3", "chr4"]
    records = {label: [(f"{chroms[i % 4]}:{1000 * i}-{1000 * i + 30}(+)",
                        "".join(rng.choice(list("ACGT"), 30))) for i in range(80)] for label in ("neg", "pos")}
    paths = {label: write(tmp_path / f"{label}.fa", recs) for label, recs in records.items()}
    common = ["train", "--name", "h", "--class", f"neg={paths['neg']}", "--class", f"pos={paths['pos']}",
              "--epochs", "1", "--no-publish", "--quiet", "--threads", "1", "--kernel-num", "4"]
    assert main([*common, "--out", str(tmp_path / "run"), "--test-chroms", "chr1", "--val-chroms", "chr2"]) == 0
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    split = card["training"]["split"]
    assert split["test_chroms"] == ["chr1"] and split["val_chroms"] == ["chr2"]
    assert card["training"]["counts"]["test"] == {"neg": 20, "pos": 20}
    assert card["training"]["counts"]["val"] == {"neg": 20, "pos": 20}
    assert card["training"]["counts"]["train"] == {"neg": 40, "pos": 40}
    # a table with a chrom column (what seqzoo sites writes)
    table = pd.DataFrame({"chrom": [h.split(":")[0] for recs in records.values() for h, _ in recs],
                          "sequence": [s for recs in records.values() for _, s in recs],
                          "label": ["neg"] * 80 + ["pos"] * 80})
    table.to_parquet(tmp_path / "t.parquet")
    assert main(["train", "--name", "t", "--table", str(tmp_path / "t.parquet"), "--label-columns", "label",
                 "--test-chroms", "chr3,chr4", "--out", str(tmp_path / "trun"), "--epochs", "1", "--no-publish",
                 "--quiet", "--threads", "1", "--kernel-num", "4"]) == 0
    card = json.loads((tmp_path / "trun" / "card.json").read_text())
    assert card["training"]["counts"]["test"] == {"neg": 40, "pos": 40}
    capsys.readouterr()
    bad = [("--test-chroms", "chr9", "--test-chroms chr9: no record lies on it"),
           ("--test-chroms", "chr1,chr2,chr3,chr4", "nothing is left to train on")]
    for flag, value, message in bad:
        assert main([*common, "--out", str(tmp_path / "bad"), flag, value]) == 2
        assert message in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "bad"), "--test-chroms", "chr1", "--val-chroms", "chr1"]) == 2
    assert "--val-chroms chr1: also in --test-chroms" in capsys.readouterr().err
    nocoords = write(tmp_path / "plain.fa", [(f"s{i}", "".join(rng.choice(list("ACGT"), 30))) for i in range(40)])
    assert main(["train", "--name", "p", "--class", f"neg={nocoords}", "--class", f"pos={paths['pos']}",
                 "--test-chroms", "chr1", "--out", str(tmp_path / "bad"), "--no-publish", "--quiet"]) == 2
    assert f"--test-chroms needs every record's chromosome; {nocoords}:1 has none" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
