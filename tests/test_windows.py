"""Reference genome, VCF reading and variant windows: hand-worked examples and the real S. aureus data."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from seqzoo.serving.windows import VariantWindow, build_windows, variant_key
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.genome import Genome, compression, read_contig_map
from seqzoo.zoo.io.vcf import VcfReader, check_text_vcf

DATA = Path(__file__).resolve().parent.parent / "datasets" / "genome"
#          0         1
#          01234567890123456789
CONTIG = "ACGTTGCAAGCTTACGGATC"
HEADER = "gi|123|ref|NC_000001.1| a test contig"


class Rec:
    """A VCF-like record for hand-worked examples."""

    def __init__(self, chrom, pos, ref, alts, vid=None):
        self.chrom, self.pos, self.ref, self.alts, self.id = chrom, pos, ref, alts, vid


@pytest.fixture()
def tiny(tmp_path):
    fasta = tmp_path / "tiny.fa"
    fasta.write_text(f">{HEADER}\n{CONTIG[:12]}\n{CONTIG[12:]}\n>chrX\n{'ACGT' * 5}\n")
    return Genome(fasta, cache=tmp_path / "cache")


def one(genome, rec, length=6, **kw) -> VariantWindow:
    rows = build_windows([rec], genome, length, **kw)
    assert len(rows) == 1
    return rows[0]


def test_snv_plus_strand(tiny):
    w = one(tiny, Rec("NC_000001", 6, "G", ["A"]))
    assert (w.ref_window, w.alt_window) == ("GTTGCA", "GTTACA")
    assert w.ref_span == w.alt_span == (3, 4)
    assert w.ref_match is True and w.skip is None
    assert w.key == "NC_000001:6:G>A"


def test_snv_minus_strand_and_both(tiny):
    w = one(tiny, Rec("NC_000001", 6, "G", ["A"]), strand="-")
    assert (w.ref_window, w.alt_window) == ("TGCAAC", "TGTAAC")
    assert w.ref_span == (2, 3) and w.ref_window[2] == "C" and w.alt_window[2] == "T"
    rows = build_windows([Rec("NC_000001", 6, "G", ["A"], "rs7")], tiny, 6, strand="both")
    assert [(r.strand, r.key) for r in rows] == [("+", "rs7/+"), ("-", "rs7/-")]
    assert rows[1].alt_window == "TGTAAC"


def test_insertion_trimmed_to_length(tiny):
    w = one(tiny, Rec("NC_000001", 6, "G", ["GTT"]))
    assert (w.ref_window, w.alt_window) == ("GTTGCA", "GTTGTT")
    assert w.alt_span == (3, 6)
    w = one(tiny, Rec("NC_000001", 6, "G", ["GTT"]), length=9)  # c = 4: CGTT + GTT + G[6:8]
    assert (w.ref_window, w.alt_window) == ("CGTTGCAAG", "CGTTGTTCA")


def test_deletion_extended_from_reference(tiny):
    w = one(tiny, Rec("NC_000001", 6, "GCA", ["G"]))
    assert (w.ref_window, w.alt_window) == ("GTTGCA", "GTTGAG")
    assert w.ref_span == (3, 6) and w.alt_span == (3, 4)
    w = one(tiny, Rec("NC_000001", 6, "GCA", ["G"]), strand="-")
    assert (w.ref_window, w.alt_window) == ("TGCAAC", "CTCAAC")
    assert w.ref_span == (0, 3) and w.alt_span == (2, 3)


def test_mnv(tiny):
    w = one(tiny, Rec("NC_000001", 6, "GC", ["TT"]))
    assert (w.ref_window, w.alt_window) == ("GTTGCA", "GTTTTA")


def test_contig_ends_padded_with_n(tiny):
    w = one(tiny, Rec("NC_000001", 1, "A", ["C"]))
    assert (w.ref_window, w.alt_window) == ("NNNACG", "NNNCCG")
    w = one(tiny, Rec("NC_000001", 20, "C", ["G"]))
    assert (w.ref_window, w.alt_window) == ("GATCNN", "GATGNN")
    w = one(tiny, Rec("NC_000001", 20, "C", ["G"]), max_n_fraction=0.2)
    assert w.ref_window is None and "33% N" in w.skip


def test_rna_windows_transcribed(tiny):
    w = one(tiny, Rec("NC_000001", 6, "G", ["A"]), rna=True)
    assert (w.ref_window, w.alt_window) == ("GUUGCA", "GUUACA")
    w = one(tiny, Rec("NC_000001", 6, "G", ["A"]), rna=True, strand="-")
    assert (w.ref_window, w.alt_window) == ("UGCAAC", "UGUAAC")


def test_multiallelic_split_and_skips(tiny):
    rows = build_windows([Rec("NC_000001", 6, "G", ["A", "<DEL>", "*", "G", "R"], "rs1")], tiny, 6)
    assert [r.key for r in rows] == ["rs1:A", "rs1:<DEL>", "rs1:*", "rs1:G", "rs1:R"]
    assert rows[0].skip is None and rows[0].alt_window == "GTTACA"
    assert "symbolic" in rows[1].skip and "'*'" in rows[2].skip
    assert rows[3].skip == "ALT is the same as REF"
    assert "other than ACGTN: R" in rows[4].skip
    assert all(r.ref_window is None for r in rows[1:])


def test_ref_mismatch_flagged_never_scored(tiny):
    w = one(tiny, Rec("NC_000001", 6, "T", ["A"]))
    assert w.ref_match is False and w.ref_window is None
    assert w.skip == "REF mismatch: the VCF has T, the genome has G at NC_000001:6"
    assert one(tiny, Rec("NC_000001", 6, "N", ["A"])).ref_match is True  # N in REF matches any base


def test_unknown_contig_and_past_end(tiny):
    w = one(tiny, Rec("chr9", 6, "G", ["A"]))
    assert w.skip == "contig 'chr9' is not in the genome" and w.ref_match is None
    w = one(tiny, Rec("NC_000001", 20, "CA", ["C"]))
    assert "past the end of NC_000001 (20 bases)" in w.skip


def test_contig_alias_rule(tiny, tmp_path):
    full = "gi|123|ref|NC_000001.1|"
    assert tiny.resolve(full) == full
    assert tiny.resolve("NC_000001.1") == full and tiny.resolve("NC_000001") == full
    assert tiny.resolve("123") == full
    assert tiny.resolve("X") == "chrX" and tiny.resolve("chrX") == "chrX"
    assert tiny.resolve("ref") is None and tiny.resolve("NC_000002") is None
    with pytest.raises(NotFoundError, match="contig 'chr2' is not in"):
        tiny.require("chr2")
    mapping = tmp_path / "map.tsv"
    mapping.write_text("# vcf fasta\nseq1\tchrX\n")
    genome = Genome(tiny.path, contig_map=mapping, cache=tmp_path / "cache")
    assert genome.resolve("seq1") == "chrX"
    mapping.write_text("seq1 chrX extra\n")
    with pytest.raises(InputError, match=r"map.tsv:1: expected two columns"):
        read_contig_map(mapping)
    mapping.write_text("seq1 chrY\n")
    with pytest.raises(NotFoundError, match="maps to 'chrY'"):
        Genome(tiny.path, contig_map=mapping, cache=tmp_path / "cache")


def test_ambiguous_alias_is_an_error(tmp_path):
    fasta = tmp_path / "two.fa"
    fasta.write_text(">gi|1|ref|NC_1.1|\nACGT\n>gi|2|ref|NC_1.2|\nACGT\n")
    genome = Genome(fasta, cache=tmp_path / "c")
    assert genome.resolve("NC_1.2") == "gi|2|ref|NC_1.2|"
    with pytest.raises(InputError, match="matches several records"):
        genome.resolve("NC_1")


def test_fetch_padding(tiny):
    contig = tiny.resolve("NC_000001")
    assert tiny.fetch(contig, -3, 2) == "NNNAC"
    assert tiny.fetch(contig, 18, 23) == "TCNNN"
    assert tiny.fetch(contig, -5, -2) == "NNN"
    assert tiny.fetch(contig, 25, 27) == "NN"


def test_missing_and_bgzip_and_gzip_fasta(tmp_path):
    from Bio import bgzf

    with pytest.raises(NotFoundError, match="does not exist"):
        Genome(tmp_path / "nope.fa")
    plain = f">c1\n{CONTIG}\n"
    bgz = tmp_path / "g.fa.gz"
    with bgzf.BgzfWriter(str(bgz), "wb") as f:
        f.write(plain.encode())
    gz = tmp_path / "p.fa.gz"
    with gzip.open(gz, "wt") as f:
        f.write(plain)
    assert (compression(bgz), compression(gz)) == ("bgzip", "gzip")
    cache = tmp_path / "cache"
    for path in (bgz, gz):
        genome = Genome(path, cache=cache)
        assert genome.fetch("c1", 0, 20) == CONTIG
        assert genome.index_path.parent == cache  # never written beside the user's file
    assert not (tmp_path / "g.fa.gz.fai").exists()
    bad = tmp_path / "bad.fa"
    bad.write_text(">c1\nACGT\nAC\nACGT\n")
    with pytest.raises(InputError, match="bad.fa: not a FASTA file pyfaidx can index"):
        Genome(bad, cache=cache)


def test_variant_key_shortens_long_alleles():
    key = variant_key("c", 5, None, "A" * 30, "A", 1, "+", False)
    assert key.startswith("c:5:30bp-") and key.endswith(">A")
    assert variant_key("c", 5, "rs1", "A", "G", 2, "-", True) == "rs1:G/-"


# --- VCF reading --------------------------------------------------------------------------------

VCF_HEAD = "##fileformat=VCFv4.2\n##contig=<ID=c1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def test_vcf_chunks_and_line_numbers(tmp_path):
    path = tmp_path / "a.vcf"
    path.write_text(VCF_HEAD + "".join(f"c1\t{i}\t.\tA\tG,T\t.\t.\t.\n" for i in range(1, 6))
                    + "c1\t9\trs9\tA\t.\t.\t.\t.\n")
    reader = VcfReader(path)
    chunks = list(reader.chunks(4))
    assert [len(c) for c in chunks] == [4, 2]
    records = [r for c in chunks for r in c]
    assert [r.line for r in records] == [4, 5, 6, 7, 8, 9]
    assert records[0].alts == ["G", "T"] and records[0].id is None
    assert records[-1].alts == [] and records[-1].id == "rs9"
    fasta = tmp_path / "c1.fa"
    fasta.write_text(">c1\n" + "A" * 100 + "\n")
    rows = build_windows(records[-1:], Genome(fasta, cache=tmp_path / "cache"), 4)
    assert rows[0].skip == "no ALT allele"


def test_malformed_vcf_lines_reported_with_numbers(tmp_path):
    path = tmp_path / "bad.vcf.gz"
    with gzip.open(path, "wt") as f:
        f.write(VCF_HEAD + "c1\t10\t.\tA\tG\t.\t.\t.\n\nc1\tabc\t.\tA\tG\t.\t.\t.\nc1\t12\n"
                "c1\t13\t.\tA\tG\tx\t.\t.\n")
    with pytest.raises(InputError) as err:
        VcfReader(path)
    message = str(err.value)
    assert "bad.vcf.gz:5: blank line" in message
    assert "bad.vcf.gz:6: POS 'abc' is not a positive integer" in message
    assert "bad.vcf.gz:7: 2 tab-separated columns" in message
    assert "bad.vcf.gz:8: QUAL 'x'" in message
    notvcf = tmp_path / "x.vcf"
    notvcf.write_text("chr1\t1\n")
    with pytest.raises(InputError, match="x.vcf:1: not a VCF"):
        check_text_vcf(notvcf)
    with pytest.raises(NotFoundError):
        VcfReader(tmp_path / "missing.vcf")


def test_bcf_input(tmp_path):
    import cyvcf2

    text = tmp_path / "a.vcf"
    text.write_text(VCF_HEAD + "c1\t3\trsA\tA\tG\t.\t.\t.\n")
    template = cyvcf2.VCF(str(text))
    bcf = tmp_path / "a.bcf"
    writer = cyvcf2.Writer(str(bcf), template, mode="wb")
    for v in template:
        writer.write_record(v)
    writer.close()
    reader = VcfReader(bcf)
    assert reader.binary
    (record,) = next(reader.chunks())
    assert (record.pos, record.id, record.ref, record.alts, record.line) == (3, "rsA", "A", ["G"], None)


# --- the real S. aureus genome and its 109 variants ----------------------------------------------

@pytest.fixture(scope="module")
def saureus(tmp_path_factory):
    cache = tmp_path_factory.mktemp("genome-cache")
    genome = Genome(DATA / "NCTC8325.fasta.gz", cache=cache)
    with gzip.open(DATA / "NCTC8325.fasta.gz", "rt") as f:
        sequence = "".join(line.strip() for line in f if not line.startswith(">"))
    return genome, sequence


def test_saureus_every_variant_windowed_or_skipped(saureus):
    genome, sequence = saureus
    assert genome.lengths == {"gi|88193823|ref|NC_007795.1|": 2_821_361} == {genome.resolve("NC_007795"):
                                                                          len(sequence)}
    records = [r for chunk in VcfReader(DATA / "variant.vcf.gz").chunks(50) for r in chunk]
    assert len(records) == 109
    rows = build_windows(records, genome, 200)
    assert len(rows) == 109
    assert all(r.ref_match is True and r.skip is None for r in rows)  # the README: every REF matches
    snvs = [r for r in rows if len(r.ref) == len(r.alt) == 1]
    assert len(snvs) == 77
    for row in rows:  # every window rebuilt independently from the decompressed genome string
        p = row.pos - 1
        flank = sequence[max(p - 100, 0):p]
        expect_ref = (flank + sequence[p:p + 100])
        expect_alt = (flank + row.alt + sequence[p + len(row.ref):p + len(row.ref) + 200])[:200]
        assert row.ref_window == expect_ref and row.alt_window == expect_alt
        assert row.ref_window[100:100 + len(row.ref)] == row.ref[:100]


def test_saureus_hand_checked_windows(saureus):
    genome, _ = saureus
    recs = [Rec("NC_007795", 22181, "C", ["A"]), Rec("NC_007795", 47652, "TT", ["T"]),
            Rec("NC_007795", 412763, "TGC", ["TTGG"]), Rec("NC_007795", 2420618, "A", ["AT"])]
    rows = build_windows(recs, genome, 200)
    # bases copied by hand from the genome around each POS (10 before | REF | 10 after)
    assert rows[0].ref_window[90:111] == "GTTTTTCCGT" + "C" + "CAATAATCAT"
    assert rows[0].alt_window[90:111] == "GTTTTTCCGT" + "A" + "CAATAATCAT"
    assert rows[1].ref_window[90:112] == "TAGTCTGTTT" + "TT" + "CTAATGTTGA"
    assert rows[1].alt_window[90:111] == "TAGTCTGTTT" + "T" + "CTAATGTTGA"
    assert rows[2].alt_window[90:114] == "TGAATAATTT" + "TTGG" + "TACGAATTCC"
    assert rows[3].alt_window[90:112] == "TATCGCTAAA" + "AT" + "CCAAAAGTTC"
    minus = build_windows(recs[:1], genome, 200, strand="-")[0]
    assert minus.ref_window[89:110] == "ATGATTATTG" + "G" + "ACGGAAAAAC"
    assert minus.alt_window[99] == "T"
