import gzip

import numpy as np
import pytest
from seqzoo.training import data
from seqzoo.zoo.alphabets import get_alphabet
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.fasta import read_fasta


def write(path, text):
    path.write_text(text)
    return path


def test_fasta_multiline_gzip_and_encoding(tmp_path):
    plain = write(tmp_path / "a.fa", ">s1 desc\nACGU\nAC\n\n>s2\nacgn\n")
    gz = tmp_path / "a.fa.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, gz):
        records = read_fasta(path)
        assert [(r.header, r.sequence, r.line) for r in records] == [("s1 desc", "ACGUAC", 1), ("s2", "acgn", 5)]
    codes = get_alphabet("rna").encode(data.centre(["ACGUAC", "acgn"], 6))
    assert codes.tolist() == [[0, 1, 2, 3, 0, 1], [4, 0, 1, 2, 4, 4]]


def test_class_files_labels_and_file_records(tmp_path):
    pos = write(tmp_path / "pos.fa", ">a\nACGT\n>b\nAAAA\n")
    neg = write(tmp_path / "neg.fa", ">c\nCCCC\n")
    ds, _ = data.read_class_files([("pos", pos), ("neg", neg)])
    assert ds.task == "binary" and ds.classes == ["pos", "neg"]
    assert ds.labels.tolist() == [[1, 0], [1, 0], [0, 1]]
    assert [f["records"] for f in ds.files] == [2, 1]
    assert ds.files[0]["sha256"] == data.sha256_hex(pos)
    assert ds.origins == [f"{pos}:1", f"{pos}:3", f"{neg}:1"]


def test_bad_character_names_file_line_and_char(tmp_path):
    path = write(tmp_path / "x.fa", ">a\nACGT\n>b\nACGT\nAXGT\n")
    records = read_fasta(path)
    with pytest.raises(InputError, match=rf"{path}:5: character 'X' is not in the dna alphabet ACGT"):
        data.check_characters([r.sequence for r in records], [], get_alphabet("dna"), records=records, path=path)
    with pytest.raises(InputError, match=r"character 'U' .*use --alphabet rna"):
        data.check_characters(["ACU"], ["t.csv:2"], get_alphabet("dna"))


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"\n\n", "file is empty"),
    (b"ACGT\n", r"x.fa:1: expected a '>' header"),
    (b">a\n>b\nACGT\n", r"x.fa:1: record 'a' has no sequence"),
    (b"\x1f\x8b\x08\x00garbage", "unreadable gzip"),
])
def test_reader_errors(tmp_path, content, message):
    path = tmp_path / "x.fa"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_fasta(path)


def test_one_class_only_and_missing_file(tmp_path):
    pos = write(tmp_path / "pos.fa", ">a\nACGT\n")
    with pytest.raises(InputError, match="only one class"):
        data.read_class_files([("pos", pos), ("pos", pos)])
    with pytest.raises(InputError, match="no such file"):
        read_fasta(tmp_path / "missing.fa")


def test_structure_lines_and_mixed_records(tmp_path):
    path = write(tmp_path / "s.fa", ">a\nGGGAAACCC\n(((...)))\n>b\nACGUACGU\nFFFFTTTT\n")
    records = read_fasta(path)
    assert [(r.sequence, r.structure) for r in records] == [("GGGAAACCC", "(((...)))"), ("ACGUACGU", "FFFFTTTT")]
    mixed = write(tmp_path / "m.fa", ">a\nGGGAAACCC\n(((...)))\n>b\nACGUACGU\n")
    with pytest.raises(InputError, match=rf"{mixed}:4: mixed input"):
        data.read_class_files([("a", mixed), ("b", path)])
    # a DNA record of two T lines is a sequence, not a structure
    assert read_fasta(write(tmp_path / "t.fa", ">a\nTTTT\nTTTT\n"))[0].sequence == "TTTTTTTT"


def test_multilabel_headers(tmp_path):
    path = write(tmp_path / "ml.fa", ">0,2\nACGT\n>1\nAAAA\n>2 extra words\nCCCC\n")
    ds, _ = data.read_multilabel_fasta(path, ["a", "b", "c"])
    assert ds.task == "multilabel" and ds.classes == ["a", "b", "c"]
    assert ds.labels.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    bad = write(tmp_path / "bad.fa", ">0,2\nACGT\n>chr1:5\nAAAA\n")
    with pytest.raises(InputError, match=rf"{bad}:3: header 'chr1:5' is not a comma-separated list"):
        data.read_multilabel_fasta(bad)


def test_tables_csv_tsv_parquet(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"seq": ["ACGT", "AAAA", "CCCC", "GGGG"], "cls": ["x", "y", "z", "x"],
                          "a": [1, 0, 1, 0], "b": [0, 1, 1, 0]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.tsv", "t.parquet"):
        multi = data.read_table(tmp_path / name, "seq", ["cls"])
        assert multi.task == "multiclass" and multi.classes == ["x", "y", "z"]
        assert multi.labels.argmax(axis=1).tolist() == [0, 1, 2, 0]
        ml = data.read_table(tmp_path / name, "seq", ["a", "b"])
        assert ml.task == "multilabel" and ml.labels.tolist() == [[1, 0], [0, 1], [1, 1], [0, 0]]
    with pytest.raises(InputError, match=r"column 'label' is missing"):
        data.read_table(tmp_path / "t.csv", "seq", ["label"])
    frame.assign(a=[1, 1, 1, 1]).to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(InputError, match="label column 'a' has one value only"):
        data.read_table(tmp_path / "one.csv", "seq", ["a", "b"])
    frame.assign(a=[1, 0, 2, 0]).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(InputError, match=r"two.csv:4: column 'a' holds '2'"):
        data.read_table(tmp_path / "two.csv", "seq", ["a", "b"])


def test_centre_pads_and_crops_symmetrically():
    assert data.centre(["ACG", "ACGTACGT", "A"], 4) == ["ACGN", "GTAC", "NANN"]
    assert data.centre(["GGG"], 6, "F", "T") == ["FGGGTT"]
    assert data.choose_length(["A", "ACG", "AC"]) == 3


def test_stratified_split_is_seeded_and_stratified():
    labels = np.zeros((100, 2), dtype=np.float32)
    labels[:80, 0] = 1
    labels[80:, 1] = 1
    rest, held = data.stratified_split(labels, 0.25, seed=3)
    assert len(held) == 25 and labels[held, 1].sum() == 5 and labels[held, 0].sum() == 20
    assert set(rest) | set(held) == set(range(100)) and not set(rest) & set(held)
    again = data.stratified_split(labels, 0.25, seed=3)[1]
    other = data.stratified_split(labels, 0.25, seed=4)[1]
    assert np.array_equal(held, again) and not np.array_equal(held, other)


def test_leakage_report_and_drop_mask():
    rna = get_alphabet("rna")
    report = data.leakage(["ACGU", "acgt", "NNNN", "GGGG"], ["GGGG", "CCCC"], ["ACGU", "CCCC"], rna)
    assert report["train_test"] == 2  # ACGU and acgt (T = U) occur in test
    assert report["val_test"] == 1 and report["train_val"] == 1
    assert report["all_unknown"] == {"train": 1, "val": 0, "test": 0}
    keep = data.leak_mask(["ACGU", "acgt", "NNNN", "GGGG"], [["ACGU"]], rna)
    assert keep.tolist() == [False, False, False, True]


def test_infer_alphabet():
    assert data.infer_alphabet(["ACGUN"]).name == "rna"
    assert data.infer_alphabet(["ACGTN"]).name == "dna"
    assert data.infer_alphabet(["MKLVE"]).name == "protein"
