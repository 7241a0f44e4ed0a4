"""`seqzoo variants` end to end: the S. aureus VCF through --local and through a real server,
annotated VCF read back by cyvcf2 and pysam, tables, attribution maps, plots and bad input."""

from __future__ import annotations

import asyncio
import gzip
import threading
from pathlib import Path

import numpy as np
import pytest
from seqzoo.serving.effects import effect_scores
from seqzoo.serving.engine import Engine
from seqzoo.zoo.alphabets import reverse_complement
from seqzoo.zoo.errors import InputError

from seqzoo.cli import main

DATA = Path(__file__).resolve().parent.parent / "datasets" / "genome"
VCF = DATA / "variant.vcf.gz"
FASTA = DATA / "NCTC8325.fasta.gz"
HEAD = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("genome-cache")


@pytest.fixture(scope="module")
def genome_string() -> str:
    with gzip.open(FASTA, "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">"))


@pytest.fixture(scope="module")
def engine(published_model) -> Engine:
    return Engine.load(published_model, device="cpu", threads=1)


def vcf_rows(path=VCF) -> list[tuple[int, str, str]]:
    with gzip.open(path, "rt") as f:
        return [(int(p), r, a) for _, p, _, r, a, *_ in (line.split("\t") for line in f if not line.startswith("#"))]


def windows_by_hand(sequence: str, pos: int, ref: str, alt: str, length: int = 200) -> tuple[str, str]:
    """The documented rule, written again from scratch: REF's first base at index L // 2."""
    p, c = pos - 1, length // 2
    left = "N" * max(0, c - p) + sequence[max(0, p - c):p]
    right_ref = sequence[p:p + length - c]
    right_alt = alt + sequence[p + len(ref):p + len(ref) + length]
    to_rna = str.maketrans("T", "U")
    pad = lambda s: (s + "N" * length)[:length]
    return pad(left + right_ref).translate(to_rna), pad(left + right_alt).translate(to_rna)


def variants(tmp: Path, *extra: str) -> list[str]:
    return ["variants", "--model", "pum2", "--vcf", str(VCF), "--genome", str(FASTA), "--quiet",
            "--genome-cache", str(tmp), *extra]


def test_local_annotated_vcf_readable_by_cyvcf2_and_pysam(published_model, engine, genome_string, cache, tmp_path):
    import cyvcf2
    import pysam

    out = tmp_path / "scored.vcf.gz"
    assert main(variants(cache, "--local", "--zoo", str(published_model.zoo_root), "--threads", "1",
                         "-o", str(out), "--scores", "diff", "log2fc", "logit_diff")) == 0
    rows = vcf_rows()
    ref_w, alt_w = zip(*(windows_by_hand(genome_string, p, r, a) for p, r, a in rows))
    want = effect_scores(engine.predict(engine.encode(list(ref_w))), engine.predict(engine.encode(list(alt_w))),
                         ["diff", "log2fc", "logit_diff"])
    fields = [f"SEQZOO_pum2_{c}_{s}" for c in ("negative", "positive") for s in ("diff", "log2fc", "logit_diff")]
    reader = cyvcf2.VCF(str(out))
    for field in fields + ["SEQZOO_pum2_REF_MATCH", "SEQZOO_pum2_SKIP"]:
        assert reader.get_header_type(field)["Number"] == "A"
    records = list(reader)
    assert len(records) == 109 and [(r.POS, r.REF, r.ALT[0]) for r in records] == rows
    got = np.array([[r.INFO[f] for f in fields] for r in records])
    expect = np.stack([want[s][:, c] for c in range(2) for s in ("diff", "log2fc", "logit_diff")], axis=1)
    np.testing.assert_allclose(got, expect, rtol=2e-5, atol=1e-6)
    assert all(r.INFO["SEQZOO_pum2_REF_MATCH"] == 1 for r in records)
    assert np.abs(got[:, 0]).max() > 0  # the model does see some of these variants
    with pysam.VariantFile(str(out)) as vf:
        assert set(fields) <= set(vf.header.info.keys())
        assert vf.header.info["SEQZOO_pum2_positive_diff"].number == "A"
        values = [rec.info["SEQZOO_pum2_positive_diff"][0] for rec in vf]
    np.testing.assert_allclose(values, got[:, 3], rtol=1e-6)
    header = out.read_bytes()
    assert gzip.decompress(header).decode().count("##seqzoo_variants=<model=pum2:1,") == 1
    # bgzipped and tabix-indexed: a region query reads only its records
    assert (tmp_path / "scored.vcf.gz.tbi").is_file()
    with pysam.VariantFile(str(out)) as vf:
        first = next(iter(vf))
        region = list(vf.fetch(first.chrom, first.pos - 1, first.pos))
    assert [r.pos for r in region] == [first.pos]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_a_run_that_scores_nothing_exits_non_zero(published_model, cache, tmp_path, capsys):
    vcf = tmp_path / "nothing.vcf"
    vcf.write_text(HEAD + "chrZ\t10\t.\tA\tC\t.\t.\t.\nchrZ\t20\t.\tA\tG\t.\t.\t.\n")
    out = tmp_path / "nothing.tsv"
    assert main(["variants", "--model", "pum2", "--vcf", str(vcf), "--genome", str(FASTA), "--quiet",
                 "--genome-cache", str(cache), "--local", "--zoo", str(published_model.zoo_root), "-o", str(out)]) == 1
    assert "no variant was scored (contig_missing 2)" in capsys.readouterr().err
    assert out.is_file()  # the reasons are written down


# --- a real server, with the Variants service and a genome --------------------------------------

class VariantServer:
    """A real seqzoo server (SeqZoo + Variants) on a loopback port, in its own event loop thread."""

    def __init__(self, zoo: Path, genome: Path | None, cache: Path):
        from seqzoo.serving.server import reference, variants_service
        from seqzoo.serving.server.app import SeqZooServer, ServerSettings
        from seqzoo.serving.server.batcher import BatcherSettings
        from seqzoo.serving.server.store import ModelStore, StoreSettings

        if genome is not None:
            reference.set_genome(genome, cache=cache)
        self.store = ModelStore(zoo, settings=StoreSettings(device="cpu", threads=1,
                                                            batcher=BatcherSettings(max_batch=512, max_delay=0.002)))
        self.server = SeqZooServer(self.store, ServerSettings(address="127.0.0.1:0", grace_seconds=2),
                                   hooks=[variants_service.register])
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            ready.set()
            self.loop.run_until_complete(self.server.wait())

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert ready.wait(120), "server did not start"
        reference._genome = None  # the servicer holds its own reference
        self.target = f"127.0.0.1:{self.server.port}"

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.server.drain(2), self.loop).result(30)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(published_model, cache):
    s = VariantServer(published_model.zoo_root, FASTA, cache)
    yield s
    s.stop()


def read_tsv(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def test_server_scores_match_local_and_the_batcher_scored_them(published_model, server, cache, tmp_path):
    local, remote = tmp_path / "local.tsv", tmp_path / "remote.tsv"
    common = ["--scores", "diff", "deepsea_effect", "--strand", "both"]
    assert main(variants(cache, "--local", "--zoo", str(published_model.zoo_root), "--threads", "1",
                         "-o", str(local), *common)) == 0
    batched = lambda: server.server.metrics.registry.get_sample_value(
        "seqzoo_batch_size_sum", {"model": "pum2", "version": "1"}) or 0.0
    before = batched()
    assert main(variants(cache, "--server", server.target, "--batch", "50", "-o", str(remote), *common)) == 0
    assert batched() - before == 109 * 2 * 2  # every ref and alt window went through the scoring batcher
    a, b = read_tsv(local), read_tsv(remote)
    assert len(a) == len(b) == 218  # 109 variants x 2 strands
    assert [r["strand"] for r in a[:2]] == ["+", "-"] and a[0]["key"] == "NC_007795:22181:C>A/+"
    cols = [c for c in a[0] if c.endswith(("_diff", "_deepsea_effect"))]
    np.testing.assert_allclose([[float(r[c]) for c in cols] for r in b], [[float(r[c]) for c in cols] for r in a],
                               rtol=1e-5, atol=1e-7)
    assert all(r["ref_match"] == "True" and r["skip"] == "" for r in a)


def test_server_coordinates_mode(published_model, server, engine, genome_string):
    from seqzoo.serving.client import SeqZooClient, VariantsClient

    with SeqZooClient(server.target, timeout=60) as client:
        vc = VariantsClient(client)
        scores, results = vc.score_coordinates("pum2", [
            ("NC_007795", 22181, "v1", "C", "A"), ("NC_007795", 22181, None, "G", "A"),
            ("chrZ", 5, None, "A", "C"), ("NC_007795", 47652, None, "TT", "<DEL>")],
            names=["diff", "alt"], strand="both")
        assert [(r.variant, r.strand, r.row) for r in results] == [
            (0, "+", 0), (0, "-", 1), (1, "+", -1), (1, "-", -1), (2, "+", -1), (2, "-", -1), (3, "+", -1),
            (3, "-", -1)]
        assert results[0].key == "v1/+" and results[0].ref_match == 1 and list(results[1].ref_span) == [99, 100]
        assert results[2].ref_match == 0 and results[2].skip.startswith("REF mismatch")
        assert results[4].skip == "contig 'chrZ' is not in the genome" and results[4].ref_match == -1
        assert "symbolic" in results[6].skip
        ref_w, alt_w = windows_by_hand(genome_string, 22181, "C", "A")
        windows = [ref_w, reverse_complement(ref_w, rna=True), alt_w, reverse_complement(alt_w, rna=True)]
        probs = engine.predict(engine.encode(windows))
        np.testing.assert_allclose(scores["alt"], probs[2:], atol=1e-6)
        np.testing.assert_allclose(scores["diff"], probs[2:] - probs[:2], atol=1e-6)
        with pytest.raises(InputError, match="is 10 long"):
            vc.call(vc.request("pum2", ["ACGUACGUAC"], ["ACGUACGUAA"], ["diff"], None))
        with pytest.raises(InputError, match="for DNA models"):
            vc.call(vc.request("pum2", [ref_w], [alt_w], ["diff"], "mean"))
        with pytest.raises(InputError, match="not one of"):
            vc.score_coordinates("pum2", [("NC_007795", 22181, None, "C", "A")], names=["bogus"])


# --- tables, skips, strands ------------------------------------------------------------------

def test_table_and_vcf_rows_per_alt_with_skip_reasons(published_model, cache, tmp_path):
    import cyvcf2
    import pyarrow.parquet as pq

    vcf = tmp_path / "mixed.vcf"
    vcf.write_text(HEAD + "NC_007795\t22181\trsM\tC\tA,T\t.\t.\t.\n"
                          "NC_007795\t22181\t.\tG\tA\t.\t.\t.\n"
                          "NC_007795\t33961\t.\tG\t<DEL>\t.\t.\t.\n"
                          "chrZ\t10\t.\tA\tC\t.\t.\t.\n"
                          "NC_007795\t2\t.\tG\tA\t.\t.\t.\n")
    base = ["variants", "--model", "pum2", "--vcf", str(vcf), "--genome", str(FASTA), "--quiet", "--genome-cache",
            str(cache), "--local", "--zoo", str(published_model.zoo_root), "--threads", "1"]
    out = tmp_path / "mixed.parquet"
    assert main(base + ["-o", str(out), "--strand", "-", "--scores", "ratio", "diff", "--max-n-fraction", "0.4"]) == 0
    table = pq.read_table(out)
    rows = table.to_pylist()
    assert [r["key"] for r in rows] == ["rsM:A", "rsM:T", "NC_007795:22181:G>A", "NC_007795:33961:G><DEL>",
                                        "chrZ:10:A>C", "NC_007795:2:G>A"]
    assert [r["ref_match"] for r in rows] == [True, True, False, None, None, True]
    assert rows[2]["skip"] == "REF mismatch: the VCF has G, the genome has C at NC_007795:22181"
    assert "symbolic" in rows[3]["skip"] and "not in the genome" in rows[4]["skip"]
    assert "% N (more than 40%" in rows[5]["skip"]  # 99 of its 200 bases lie before the contig start
    assert rows[0]["positive_ratio"] > 0 and rows[2]["positive_ratio"] is None
    assert all(r["strand"] == "-" and r["rc_average"] == "none" for r in rows)
    assert b"seqzoo_variants" in table.schema.metadata
    out_vcf = tmp_path / "mixed.vcf.gz"
    assert main(base + ["-o", str(out_vcf), "--strand", "both"]) == 0
    records = list(cyvcf2.VCF(str(out_vcf)))
    assert len(records) == 5
    plus, minus = records[0].INFO["SEQZOO_pum2_positive_diff_plus"], records[0].INFO["SEQZOO_pum2_positive_diff_minus"]
    assert len(plus) == len(minus) == 2  # Number=A: one value per ALT, one field per strand
    # the parquet run above scored the minus strand: the same numbers, written to 6 digits
    assert minus == pytest.approx((rows[0]["positive_diff"], rows[1]["positive_diff"]), rel=1e-5, abs=1e-7)
    assert plus != minus
    assert records[1].INFO["SEQZOO_pum2_SKIP"] == "ref_mismatch" and records[1].INFO["SEQZOO_pum2_REF_MATCH"] == 0
    assert records[3].INFO["SEQZOO_pum2_SKIP"] == "contig_missing"
    assert records[4].INFO.get("SEQZOO_pum2_SKIP") is None  # 49.5% N: scored at the default 0.5
    assert records[2].INFO.get("SEQZOO_pum2_positive_diff_plus") is None


def test_rc_average_on_a_dna_model(tmp_path, cache):
    from test_engine import make_version_dir

    zoo = tmp_path / "zoo"
    make_version_dir(zoo, "dna", 1, length=20, alphabet="dna", seed=3)
    engine = Engine.load(zoo / "dna" / "1", device="cpu", threads=1)
    vcf = tmp_path / "one.vcf"
    vcf.write_text(HEAD + "NC_007795\t22181\t.\tC\tA\t.\t.\t.\nNC_007795\t47652\t.\tTT\tT\t.\t.\t.\n")
    out = tmp_path / "rc.tsv"
    assert main(["variants", "--model", "dna", "--zoo", str(zoo), "--vcf", str(vcf), "--genome", str(FASTA),
                 "--genome-cache", str(cache), "--local", "--quiet", "-o", str(out), "--rc-average", "absmax",
                 "--scores", "diff"]) == 0
    rows = read_tsv(out)
    from seqzoo.serving.windows import build_windows
    from seqzoo.zoo.io.genome import Genome
    from seqzoo.zoo.io.vcf import VcfReader

    windows = build_windows(next(VcfReader(vcf).chunks()), Genome(FASTA, cache=cache), 20)
    assert windows[0].ref_window.find("T") >= 0  # DNA windows stay DNA for a DNA model
    for row, w in zip(rows, windows):
        seqs = [w.ref_window, w.alt_window, reverse_complement(w.ref_window), reverse_complement(w.alt_window)]
        p = engine.predict(engine.encode(seqs))
        fwd, rev = p[1] - p[0], p[3] - p[2]
        want = np.where(np.abs(fwd) >= np.abs(rev), fwd, rev)
        assert row["rc_average"] == "absmax"
        np.testing.assert_allclose([float(row["negative_diff"]), float(row["positive_diff"])], want, atol=2e-6)


# --- attribution ------------------------------------------------------------------------------

def test_ig_and_ism_maps_and_plots(published_model, engine, cache, tmp_path):
    vcf = tmp_path / "two.vcf"
    vcf.write_text(HEAD + "NC_007795\t22181\trs1\tC\tA\t.\t.\t.\nNC_007795\t47652\t.\tTT\tT\t.\t.\t.\n")
    base = ["variants", "--model", "pum2", "--vcf", str(vcf), "--genome", str(FASTA), "--quiet", "--genome-cache",
            str(cache), "--local", "--zoo", str(published_model.zoo_root), "--threads", "1", "-o",
            str(tmp_path / "o.tsv")]
    npz, plots = tmp_path / "ig.npz", tmp_path / "plots"
    assert main(base + ["--attribution", "ig", "--ig-steps", "16", "--attribution-out", str(npz),
                        "--plots", str(plots)]) == 0
    import json

    maps = np.load(npz)
    meta = json.loads(str(maps["__meta__"]))
    assert meta["method"] == "ig" and meta["target"] == "positive" and meta["steps"] == 16
    assert meta["columns"] == ["A", "C", "G", "U"]
    key = "NC_007795:47652:TT>T"
    assert sorted(maps.keys()) == sorted(["__meta__", "rs1/ref", "rs1/alt", "rs1/spans", f"{key}/ref",
                                          f"{key}/alt", f"{key}/spans"])
    assert maps["rs1/ref"].shape == (200, 4) and maps["rs1/ref"].dtype == np.float32
    np.testing.assert_array_equal(maps[f"{key}/spans"], [[100, 102], [100, 101]])
    ref_codes = engine.encode([read_tsv(tmp_path / "o.tsv") and _window(cache, 22181, "C", "A")[0]], convert_tu=True)
    want = engine.integrated_gradients(engine.alphabet.one_hot(ref_codes), engine.selector(1), 16)[0]
    np.testing.assert_allclose(maps["rs1/ref"], want, atol=1e-5)
    assert np.count_nonzero(maps["rs1/ref"].any(axis=1)) > 150  # one base per position carries signal
    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == ["000000_rs1.png", "000001_NC_007795_47652_TT_T.png"]
    assert all((plots / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    vcf.write_text(HEAD + "NC_007795\t22181\trs1\tC\tA\t.\t.\t.\n")
    ism = tmp_path / "ism.npz"
    assert main(base + ["--attribution", "ism", "--attribution-out", str(ism)]) == 0
    maps = np.load(ism)
    ref_w, alt_w = _window(cache, 22181, "C", "A")
    own = engine.encode([alt_w], convert_tu=True)[0]
    assert maps["rs1/alt"][np.arange(200), own].tolist() == [0.0] * 200  # the window's own letter
    p = engine.predict(engine.encode([ref_w, alt_w]))[:, 1]
    # the alt window's map at the variant, column C, is the back-mutation: p(ref) - p(alt)
    assert maps["rs1/alt"][100, 1] == pytest.approx(p[0] - p[1], abs=1e-6)


def _window(cache, pos, ref, alt):
    from seqzoo.serving.windows import build_windows
    from seqzoo.zoo.io.genome import Genome

    class R:
        chrom, id = "NC_007795", None

    r = R()
    r.pos, r.ref, r.alts = pos, ref, [alt]
    (w,) = build_windows([r], Genome(FASTA, cache=cache), 200, rna=True)
    return w.ref_window, w.alt_window


# --- bad input: one clear error, no output -----------------------------------------------------

def test_bad_input_leaves_no_output(published_model, cache, tmp_path, capsys):
    bad = tmp_path / "bad.vcf"
    bad.write_text(HEAD + "NC_007795\t22181\t.\tC\tA\t.\t.\t.\nNC_007795\tx\t.\tC\tA\t.\t.\t.\n")
    out = tmp_path / "out" / "o.vcf.gz"
    local = ["--local", "--zoo", str(published_model.zoo_root), "--threads", "1", "--quiet", "--genome-cache", str(cache)]
    assert main(["variants", "--model", "pum2", "--vcf", str(bad), "--genome", str(FASTA), "-o", str(out), *local]) == 2
    assert "bad.vcf:4: POS 'x' is not a positive integer" in capsys.readouterr().err
    assert main(["variants", "--model", "pum2", "--vcf", str(VCF), "--genome", str(tmp_path / "none.fa"), "-o",
                 str(out), *local]) == 2
    assert "none.fa does not exist" in capsys.readouterr().err
    assert main(["variants", "--model", "pum2", "--vcf", str(VCF), "--genome", str(FASTA), "-o", str(out),
                 "--rc-average", "mean", *local]) == 2
    assert "for DNA models" in capsys.readouterr().err
    assert main(["variants", "--model", "pum2", "--vcf", str(VCF), "--genome", str(FASTA), "-o",
                 str(tmp_path / "o.bed"), *local]) == 2
    assert "must end in .vcf.gz" in capsys.readouterr().err
    assert not out.exists() and (not out.parent.exists() or list(out.parent.iterdir()) == [])


def test_strand_auto_scores_each_variant_on_its_genes_strand(published_model, genome_string, cache, tmp_path):
    """--strand auto with a GTF (and the same genes as BED6): a variant in a plus-strand gene is
    scored on +, in a minus-strand gene on -, where genes of both strands overlap on both, and
    outside every gene it is skipped (no_gene); the values equal --strand + / - runs."""
    import pyarrow.parquet as pq

    positions = {"plus": 22181, "minus": 33961, "both": 40050, "none": 50000, "chr_alias": 60000}
    vcf = tmp_path / "v.vcf"
    lines = []
    for name, pos in positions.items():
        ref = genome_string[pos - 1]
        alt = "A" if ref != "A" else "C"
        lines.append(f"NC_007795\t{pos}\t{name}\t{ref}\t{alt}\t.\t.\t.\n")
    vcf.write_text(HEAD + "".join(lines))
    gtf = tmp_path / "genes.gtf"
    gtf.write_text("# a GTF with gene and exon lines (only gene lines are read)\n"
                   'NC_007795\ttest\tgene\t22000\t22300\t.\t+\t.\tgene_id "g1";\n'
                   'NC_007795\ttest\texon\t45000\t55000\t.\t-\t.\tgene_id "g9";\n'
                   'NC_007795\ttest\tgene\t33900\t34000\t.\t-\t.\tgene_id "g2";\n'
                   'NC_007795\ttest\tgene\t40000\t40100\t.\t+\t.\tgene_id "g3";\n'
                   'NC_007795\ttest\tgene\t40020\t40200\t.\t-\t.\tgene_id "g4";\n'
                   'gi|88193823|ref|NC_007795.1|\ttest\tgene\t59990\t60010\t.\t-\t.\tgene_id "g5";\n')
    bed = tmp_path / "genes.bed"
    bed.write_text("NC_007795\t21999\t22300\tg1\t0\t+\nNC_007795\t33899\t34000\tg2\t0\t-\n"
                   "NC_007795\t39999\t40100\tg3\t0\t+\nNC_007795\t40019\t40200\tg4\t0\t-\n"
                   "NC_007795.1\t59989\t60010\tg5\t0\t-\n")
    base = ["variants", "--model", "pum2", "--vcf", str(vcf), "--genome", str(FASTA), "--quiet", "--genome-cache",
            str(cache), "--local", "--zoo", str(published_model.zoo_root), "--threads", "1"]
    tables = {}
    for name, extra in (("gtf", ["--strand", "auto", "--genes", str(gtf)]),
                        ("bed", ["--strand", "auto", "--genes", str(bed)]),
                        ("plus", ["--strand", "+"]), ("minus", ["--strand", "-"])):
        out = tmp_path / f"{name}.parquet"
        assert main(base + ["-o", str(out), *extra]) == 0
        tables[name] = {r["key"]: r for r in pq.read_table(out).to_pylist()}
    for auto in (tables["gtf"], tables["bed"]):
        assert list(auto) == ["plus/+", "minus/-", "both/+", "both/-", "none/+", "chr_alias/-"]
        assert auto["none/+"]["skip"].startswith("no annotated gene overlaps it")
        for key, row in auto.items():
            if row["skip"] is None:
                name, strand = key.split("/")
                other = tables["plus" if strand == "+" else "minus"][name]
                assert row["positive_diff"] == pytest.approx(other["positive_diff"], abs=1e-7)
    assert main(base + ["-o", str(tmp_path / "x.tsv"), "--strand", "auto"]) == 2  # --genes missing
    # Dask workers read the annotation too: the same rows as --local
    spread = [a for a in base if a not in ("--local", "--threads", "1")]
    assert main(spread + ["--dask", "local:1", "--dask-memory", "1GiB", "-o", str(tmp_path / "dask"),
                          "--strand", "auto", "--genes", str(gtf), "--chunk-size", "2"]) == 0
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "dask").to_pylist()}
    assert list(rows) == list(tables["gtf"])
    for key, row in rows.items():
        assert row["skip"] == tables["gtf"][key]["skip"]
        assert row["positive_diff"] == pytest.approx(tables["gtf"][key]["positive_diff"], abs=1e-7, nan_ok=True)
