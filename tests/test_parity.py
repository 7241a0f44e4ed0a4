"""The parity matrix: every operation through every mode, on the same inputs, gives the same output.

Operations (rows): score a FASTA (and with a multimodal model's tracks), score BED windows of a
genome, variant effects (strand auto with genes, attribution maps; a multimodal model's track
sources; a language model's llr), annotation tracks and peaks (a classifier; a language model's
surprisal), attribution arrays (ig, saliency, ism). Modes (columns): the CLI with ``--local``,
``--server`` and ``--dask``, and the Python API in process, connected to a server and on a Dask
client. Every cell is compared with the CLI ``--local`` output: exactly for names, coordinates
and counts, within 1e-6 for numbers (a server batches requests with other requests, which may
change ONNX Runtime's float summation order). README.md shows the same matrix.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from conftest import RBP, REPO, read_fasta_gz
from seqzoo.serving.server import reference
from test_multimodal import publish_regions, write_region_set
from test_server import ServerThread

import seqzoo
from seqzoo.cli import main

GENOME = REPO / "datasets" / "genome" / "NCTC8325.fasta.gz"
VCF = REPO / "datasets" / "genome" / "variant.vcf.gz"
MODES = ("cli-local", "cli-server", "cli-dask", "api-local", "api-server", "api-dask")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, published_model):
    """The inputs, one zoo (pum2, a multimodal ``regions`` model, the shipped S. aureus language
    model), a server holding the genome, and a one-worker Dask cluster."""
    from distributed import Client, LocalCluster

    tmp = tmp_path_factory.mktemp("parity")
    zoo = tmp / "zoo"
    shutil.copytree(published_model.zoo_root / published_model.name, zoo / "pum2")
    shutil.copytree(REPO / "registry" / "saureus-lm" / "1", zoo / "saureus-lm" / "1")
    c = {"tmp": tmp, "zoo": str(zoo), "cache": str(tmp / "cache")}
    _inputs(tmp, c)
    publish_regions(tmp, zoo)
    reference.set_genome(GENOME, cache=c["cache"])
    server = ServerThread(zoo)
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", memory_limit="2GiB")
    client = Client(cluster)
    c.update(server=server.target, scheduler=cluster.scheduler_address, client=client)
    try:
        yield c
    finally:
        client.close()
        cluster.close()
        server.drain()
        reference._genome = None


def _inputs(tmp: Path, c: dict) -> None:
    """FASTA, BED, gene and region files for the cases."""
    sequences = read_fasta_gz(RBP / "pum2.test.positive.fasta.gz", 20) + read_fasta_gz(
        RBP / "pum2.test.negative.fasta.gz", 20)
    (tmp / "pum2.fa").write_text("".join(f">s{i} record {i}\n{s.lower() if i % 3 else s}\n"
                                         for i, s in enumerate(sequences)))
    write_region_set(tmp)
    with gzip.open(GENOME, "rt") as f:
        contig = f.readline()[1:].split()[0]
    c["contig"] = contig
    (tmp / "windows.bed").write_text(f"{contig}\t1000\t1700\tgeneA\n{contig}\t5000\t5120\tshort\n"
                                     f"{contig}\t2821000\t2821361\tend\n")
    (tmp / "genes.bed").write_text(f"{contig}\t0\t1500000\tleft\t0\t+\n{contig}\t1000000\t2900000\tright\t0\t-\n")
    (tmp / "annotate.bed").write_text(f"{contig}\t22000\t22400\ta\n{contig}\t33900\t34200\tb\n")
    (tmp / "lm.bed").write_text(f"{contig}\t50000\t50300\tc\n")
    rng = np.random.default_rng(5)
    bases = "".join(rng.choice(list("ACGT"), 2000))
    (tmp / "g.fa").write_text(f">chr1\n{bases}\n")
    cuts = [0, 300, 700, 1100, 1500, 2000]
    (tmp / "letters.bed").write_text("".join(f"chr1\t{a}\t{b}\t{'5C3I3'[i]}\n" for i, (a, b) in enumerate(pairwise(cuts))))
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=2000>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"chr1\t{p}\tv{p}\t{bases[p - 1]}\t{'A' if bases[p - 1] != 'A' else 'G'}\t.\t.\t." for p in (150, 690, 1200)]
    (tmp / "v.vcf").write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Case:
    """One row of the matrix: its model, CLI arguments, API call, output name and reader."""

    model: str
    command: str
    cli: Callable[[dict, str], list[str]]  # (ctx, mode) -> arguments after the where-options
    api: Callable  # (Model, ctx, mode, out) -> None
    output: str
    read: Callable[[Path], dict]


def _table(path: Path) -> dict:
    import pandas as pd

    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, sep="\t", comment="#", keep_default_na=False, na_values=[""])
    return {name: (frame[name].to_numpy() if frame[name].dtype.kind == "f"
                   else frame[name].astype(object).where(frame[name].notna(), None).to_numpy())
            for name in frame.columns}


def _npz(path: Path) -> dict:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def _variants_with_maps(path: Path) -> dict:
    return {**_table(path), **{f"maps/{k}": v for k, v in _npz(path.with_suffix(".npz")).items()}}


def _tracks(folder: Path) -> dict:
    import pyBigWig

    out = {}
    for bw_path in sorted(folder.glob("*.bw")):
        with pyBigWig.open(str(bw_path)) as bw:
            rows = [(chrom, *iv) for chrom in bw.chroms() for iv in (bw.intervals(chrom) or ())]
        out[bw_path.name + "/starts"] = np.array([r[1] for r in rows])
        out[bw_path.name + "/values"] = np.array([r[3] for r in rows], dtype=np.float64)
    peaks = folder.parent / (folder.name + ".narrowPeak")
    if peaks.exists():
        rows = [line.split("\t") for line in peaks.read_text().splitlines()]
        out["peaks/where"] = np.array(["\t".join(r[:4] + r[5:6]) for r in rows])
        out["peaks/signal"] = np.array([float(r[6]) for r in rows])
    out["files"] = np.array(sorted(p.name for p in folder.iterdir()))
    return out


def _genome_args(c: dict, mode: str) -> list[str]:
    return [] if mode.endswith("server") else ["--genome", str(GENOME)]


CASES = {
    "score FASTA": Case(
        "pum2", "score", lambda c, m: [str(c["tmp"] / "pum2.fa"), "--batch", "16"],
        lambda model, c, m, out: model.score(str(c["tmp"] / "pum2.fa"), out, batch=16), "out.parquet", _table),
    "score FASTA + tracks": Case(
        "regions", "score", lambda c, m: [str(c["tmp"] / "pos.fa"), "--track", f"region={c['tmp'] / 'region.fa'}"],
        lambda model, c, m, out: model.score(str(c["tmp"] / "pos.fa"), out, tracks=[f"region={c['tmp'] / 'region.fa'}"]),
        "out.tsv", _table),
    "score BED + genome windows": Case(
        "pum2", "score", lambda c, m: [str(c["tmp"] / "windows.bed"), "--genome", str(GENOME), "--stride", "150",
                                       "--convert-tu", "--genome-cache", c["cache"]],
        lambda model, c, m, out: model.score(str(c["tmp"] / "windows.bed"), out, genome=str(GENOME), stride=150,
                                             convert_tu=True, genome_cache=c["cache"]), "out.parquet", _table),
    "variants: strand auto + genes, attribution": Case(
        "pum2", "variants",
        lambda c, m: ["--vcf", str(VCF), "--genome", str(GENOME), "--genome-cache", c["cache"], "--strand", "auto",
                      "--genes", str(c["tmp"] / "genes.bed"), "--scores", "diff", "log2fc", "--chunk-size", "40",
                      "--attribution", "ig", "--ig-steps", "8", "--attribution-out", "{npz}", "--quiet"],
        lambda model, c, m, out: model.score_variants(
            str(VCF), str(GENOME), ("diff", "log2fc"), output=out, genome_cache=c["cache"], strand="auto",
            genes=str(c["tmp"] / "genes.bed"), chunk_size=40, attribution="ig", ig_steps=8,
            attribution_out=str(Path(out).with_suffix(".npz"))), "out.parquet", _variants_with_maps),
    "variants: track sources": Case(
        "regions", "variants",
        lambda c, m: ["--vcf", str(c["tmp"] / "v.vcf"), "--genome", str(c["tmp"] / "g.fa"), "--track-source",
                      f"region={c['tmp'] / 'letters.bed'}", "--quiet"],
        lambda model, c, m, out: model.score_variants(str(c["tmp"] / "v.vcf"), str(c["tmp"] / "g.fa"), output=out,
                                                      track_sources={"region": str(c["tmp"] / "letters.bed")}),
        "out.tsv", _table),
    "variants: language model llr": Case(
        "saureus-lm", "variants",
        lambda c, m: ["--vcf", str(VCF), "--genome", str(GENOME), "--genome-cache", c["cache"], "--scores", "llr",
                      "--strand", "both", "--quiet"],
        lambda model, c, m, out: model.score_variants(str(VCF), str(GENOME), ("llr",), output=out,
                                                      genome_cache=c["cache"], strand="both"),
        "out.parquet", _table),
    "annotate: classifier, both strands, peaks": Case(
        "pum2", "annotate",
        lambda c, m: [*_genome_args(c, m), "--regions", str(c["tmp"] / "annotate.bed"), "--stride", "5",
                      "--strand", "both", "--peaks", "{out}.narrowPeak", "--threshold", "0.3", "--no-progress"],
        lambda model, c, m, out: model.annotate(out, None if m.endswith("server") else str(GENOME),
                                                regions=str(c["tmp"] / "annotate.bed"), stride=5, strand="both",
                                                peaks=out + ".narrowPeak", threshold=0.3), "tracks", _tracks),
    "annotate: language model surprisal": Case(
        "saureus-lm", "annotate",
        lambda c, m: [*_genome_args(c, m), "--regions", str(c["tmp"] / "lm.bed"), "--no-progress"],
        lambda model, c, m, out: model.annotate(out, None if m.endswith("server") else str(GENOME),
                                                regions=str(c["tmp"] / "lm.bed")), "tracks", _tracks),
    **{f"attribute: {method}": Case(
        "pum2", "attribute", lambda c, m, method=method: [str(c["tmp"] / "pum2.fa"), "--method", method, "--steps", "8",
                                                          "--batch", "16", "--no-progress"],
        lambda model, c, m, out, method=method: model.attribute_file(str(c["tmp"] / "pum2.fa"), out, method=method,
                                                                     steps=8, batch=16), "out.npz", _npz)
       for method in ("ig", "saliency", "ism")},
}


def run_cell(case: Case, mode: str, c: dict, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = str(folder / case.output)
    if mode.startswith("cli"):
        where = {"cli-local": ["--local", "--zoo", c["zoo"], "--threads", "1"], "cli-server": ["--server", c["server"]],
                 "cli-dask": ["--dask", c["scheduler"], "--zoo", c["zoo"]]}[mode]
        args = [a.replace("{out}", out).replace("{npz}", str(Path(out).with_suffix(".npz"))) for a in case.cli(c, mode)]
        flag = "--out" if case.command == "annotate" else "-o"
        assert main([case.command, "--model", case.model, *where, *args, flag, out]) == 0
    else:
        model = {"api-local": lambda: seqzoo.load(case.model, zoo=c["zoo"], threads=1),
                 "api-server": lambda: seqzoo.connect(c["server"]).load(case.model),
                 "api-dask": lambda: seqzoo.load(case.model, zoo=c["zoo"], dask=c["client"])}[mode]()
        with model:
            case.api(model, c, mode, out)
    return case.read(Path(out))


_REFERENCE: dict = {}


@pytest.mark.parametrize("mode", MODES[1:])
@pytest.mark.parametrize("name", list(CASES))
def test_every_mode_gives_the_local_cli_output(ctx, name, mode, tmp_path):
    case = CASES[name]
    if name not in _REFERENCE:
        _REFERENCE[name] = run_cell(case, "cli-local", ctx, ctx["tmp"] / "reference" / name.replace(" ", "_"))
    want, got = _REFERENCE[name], run_cell(case, mode, ctx, tmp_path)
    assert sorted(got) == sorted(want)
    floats = [v for v in want.values() if v.dtype.kind == "f"]
    assert floats and any(np.isfinite(v).any() for v in floats)  # the reference holds numbers
    for key, value in want.items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[key], value, atol=1e-6, rtol=0, err_msg=f"{name} / {mode}: {key}")
        elif key == "meta":  # the attribute archive's facts: the input path differs by nothing, the rest too
            assert json.loads(str(got[key])) == json.loads(str(value))
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=f"{name} / {mode}: {key}")
