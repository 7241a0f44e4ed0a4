"""The k-mer view: per-sequence counts in the top and bottom fractions by score."""

import numpy as np
import pytest
from seqzoo.training.kmers import sequence_kmer_counts, top_bottom_kmers
from seqzoo.zoo.errors import InputError


def test_counts_once_per_sequence_and_skip_unknown():
    counts = sequence_kmer_counts(["AAAAA", "AANAA", "CAAAC"], 3, "ACGT")
    assert counts["AAA"] == 2 and counts["CAA"] == 1 and "ANA" not in counts


def test_top_and_bottom_ten_percent():
    sequences = ["TGTAAATA" + "C" * 4] * 2 + ["CCCCGGGGCCCC"] * 18
    scores = np.r_[[0.99, 0.98], np.linspace(0.6, 0.51, 18)]
    view = top_bottom_kmers(sequences, scores, "ACGU".replace("U", "T"), k=6, fraction=0.1, top=3)
    assert view["n"] == 2
    assert view["top"][0]["fraction_top"] == 1.0 and view["top"][0]["fraction_bottom"] == 0.0
    assert {r["kmer"] for r in view["top"]} <= {"TGTAAA", "GTAAAT", "TAAATA", "AAATAC", "AATACC", "ATACCC", "TACCCC"}
    assert view["bottom"][0]["kmer"] in ("CCCCGG", "CCCGGG", "CCGGGG", "CGGGGC", "GGGGCC", "GGGCCC", "GGCCCC")
    with pytest.raises(InputError, match="2 sequences but 1 scores"):
        top_bottom_kmers(sequences[:2], scores[:1], "ACGT")
