"""Variant-effect score formulas against numpy, strand combination, and their guards."""

from __future__ import annotations

import numpy as np
import pytest
from seqzoo.serving.effects import (
    EPS,
    SCORES,
    check_rc_rule,
    combine_strands,
    effect_scores,
    pair_sequences,
    parse_scores,
    scores_from_probs,
)
from seqzoo.zoo.alphabets import get_alphabet, is_rna
from seqzoo.zoo.errors import InputError


def test_formulas_match_numpy():
    rng = np.random.default_rng(0)
    r = rng.uniform(0.01, 0.99, size=(50, 3))
    a = rng.uniform(0.01, 0.99, size=(50, 3))
    got = effect_scores(r, a)
    assert set(got) == set(SCORES)
    logit = lambda p: np.log(p / (1 - p))
    want = {"ref": r, "alt": a, "diff": a - r, "abs_diff": np.abs(a - r), "ratio": a / r,
            "log2fc": np.log2(a) - np.log2(r), "logit_diff": logit(a) - logit(r),
            "deepsea_effect": np.abs(logit(a) - logit(r)) * np.abs(a - r)}
    for name, value in want.items():
        assert got[name].dtype == np.float32 and got[name].shape == (50, 3)
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_hand_worked_values_and_clipping():
    got = effect_scores(np.array([[0.2, 0.0]]), np.array([[0.8, 1.0]]))
    assert got["diff"][0, 0] == pytest.approx(0.6)
    assert got["ratio"][0, 0] == pytest.approx(4.0)
    assert got["log2fc"][0, 0] == pytest.approx(2.0)
    assert got["logit_diff"][0, 0] == pytest.approx(np.log(4) - np.log(0.25))  # 2.7726
    assert got["deepsea_effect"][0, 0] == pytest.approx(0.6 * 2 * np.log(4), rel=1e-6)
    # 0 -> 1: clipped to [1e-6, 1 - 1e-6], finite
    assert got["diff"][0, 1] == 1.0
    assert got["ratio"][0, 1] == pytest.approx((1 - EPS) / EPS, rel=1e-5)
    assert got["logit_diff"][0, 1] == pytest.approx(2 * np.log((1 - EPS) / EPS), rel=1e-5)
    assert all(np.isfinite(v).all() for v in got.values())


def test_only_requested_scores_and_bad_input():
    got = effect_scores(np.full((2, 1), 0.5), np.full((2, 1), 0.25), ["log2fc", "diff"])
    assert list(got) == ["log2fc", "diff"] and got["log2fc"][0, 0] == pytest.approx(-1.0)
    with pytest.raises(InputError, match="score 'bogus'"):
        effect_scores(np.zeros((1, 1)), np.zeros((1, 1)), ["bogus"])
    with pytest.raises(InputError, match=r"\[N, C\]"):
        effect_scores(np.zeros((2, 1)), np.zeros((3, 1)))
    assert parse_scores("diff, log2fc,diff") == ["diff", "log2fc"]
    assert parse_scores(None) == ["diff"]
    with pytest.raises(InputError, match="'foo' is not one of"):
        parse_scores(["diff,foo"])


def test_combine_strands_rules():
    f = {"diff": np.array([[0.2, -0.5]], dtype=np.float32)}
    r = {"diff": np.array([[-0.4, 0.1]], dtype=np.float32)}
    np.testing.assert_allclose(combine_strands(f, r, "mean")["diff"], [[-0.1, -0.2]], atol=1e-7)
    np.testing.assert_allclose(combine_strands(f, r, "max")["diff"], [[0.2, 0.1]])
    np.testing.assert_allclose(combine_strands(f, r, "absmax")["diff"], [[-0.4, -0.5]])
    with pytest.raises(InputError, match="'median'"):
        combine_strands(f, r, "median")


def test_pair_sequences_and_scores_from_probs():
    seqs = pair_sequences(["AACG", "TTTT"], ["AATG", "TTAT"], "mean")
    assert seqs == ["AACG", "TTTT", "AATG", "TTAT", "CGTT", "AAAA", "CATT", "ATAA"]
    probs = np.array([[0.1], [0.5], [0.3], [0.5], [0.2], [0.4], [0.6], [0.4]])
    got = scores_from_probs(probs, 2, ["diff"], "mean")
    # forward diffs 0.2, 0.0; reverse-complement diffs 0.4, 0.0; mean 0.3, 0.0
    np.testing.assert_allclose(got["diff"][:, 0], [0.3, 0.0], atol=1e-6)
    got = scores_from_probs(probs[:4], 2, ["diff"], None)
    np.testing.assert_allclose(got["diff"][:, 0], [0.2, 0.0], atol=1e-6)
    with pytest.raises(InputError, match="expected 8 rows"):
        scores_from_probs(probs[:4], 2, ["diff"], "max")


def test_rc_rule_guards():
    dna, rna = get_alphabet("dna"), get_alphabet("rna")
    assert is_rna(rna) and not is_rna(dna)
    check_rc_rule(dna, "mean", "+")
    check_rc_rule(rna, None, "both")
    with pytest.raises(InputError, match="for DNA models"):
        check_rc_rule(rna, "mean", "+")
    with pytest.raises(InputError, match="not both"):
        check_rc_rule(dna, "absmax", "both")
