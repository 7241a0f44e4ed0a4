"""Kernel motifs on a hand-made kernel: pysster's site rule, importance arithmetic, enrichment."""

import numpy as np
import pytest
import torch
from seqzoo.training import enrichment, kernel_motifs
from seqzoo.zoo.alphabets import get_alphabet
from seqzoo.zoo.errors import InputError
from torch import nn

DNA = get_alphabet("dna")


class OneKernel(nn.Module):
    """A first layer whose kernel 0 scores 1 on exactly ACGT (else <= 0) and kernel 1 on exactly TTTT."""

    def __init__(self, padding: int = 0):
        super().__init__()
        self.first_conv = nn.Conv1d(4, 2, 4, padding=padding)
        with torch.no_grad():
            self.first_conv.weight.zero_()
            for k, word in enumerate(("ACGT", "TTTT")):
                for i, ch in enumerate(word):
                    self.first_conv.weight[k, "ACGT".index(ch), i] = 1.0
            self.first_conv.bias.fill_(-3.0)


def planted(n_pos: int, n_neg: int, length: int = 20, seed: int = 0):
    """Positives carry ACGT at position 3 + (i % 10); negatives are made of A and C only (no ACGT, no TTTT)."""
    rng = np.random.default_rng(seed)
    seqs, where = [], []
    for i in range(n_pos):
        s = list(rng.choice(list("AC"), length))
        p = 3 + i % 10
        s[p:p + 4] = list("ACGT")
        seqs.append("".join(s))
        where.append(p)
    seqs += ["".join(rng.choice(list("AC"), length)) for _ in range(n_neg)]
    labels = np.zeros((n_pos + n_neg, 2), np.float32)
    labels[:n_pos, 1] = 1
    labels[n_pos:, 0] = 1
    return DNA.one_hot(DNA.encode(seqs)), labels, np.array(where)


def test_max_activation_and_position_on_hand_made_kernel():
    onehot, _, where = planted(12, 6)
    values, starts, width = kernel_motifs.first_layer_activations(OneKernel(), onehot)
    assert width == 4 and values.shape == (18, 2)
    np.testing.assert_allclose(values[:12, 0], 1.0)
    np.testing.assert_array_equal(starts[:12, 0], where)
    # A/C-only negatives score at most 1 + 1 - 3 = -1 on ACGT -> ReLU 0
    np.testing.assert_allclose(values[12:, 0], 0.0)
    np.testing.assert_allclose(values[:, 1], 0.0)


def test_padding_moves_starts_into_input_coordinates():
    onehot = DNA.one_hot(DNA.encode(["ACGTCCCCCC"]))
    values, starts, _ = kernel_motifs.first_layer_activations(OneKernel(padding=2), onehot)
    assert values[0, 0] == pytest.approx(1.0)
    assert starts[0, 0] == 0
    cut = kernel_motifs.windows(onehot, np.array([0]), np.array([-2]), 4)
    # the two positions before the sequence are empty, then A, C
    np.testing.assert_array_equal(cut[0].argmax(axis=1)[2:], [0, 1])
    assert cut[0, :2].sum() == 0


def test_pysster_rule_pwm_sites_and_importance():
    onehot, labels, _ = planted(12, 6)
    values, starts, width = kernel_motifs.first_layer_activations(OneKernel(), onehot)
    motifs = kernel_motifs.kernel_motifs(onehot, values, starts, labels, width, pseudocount=0.5)
    m = motifs[0]
    # class means: positives 1.0, negatives 0.0 -> threshold 1, top class 1, importance 1
    assert m.top_class == 1 and m.threshold == pytest.approx(1.0) and m.importance == pytest.approx(1.0)
    np.testing.assert_allclose(m.class_means, [0.0, 1.0])
    # 12 sequences above threshold, cap 12 // 3 = 4, but all 12 tie at the cut and pysster keeps ties
    assert m.n_sites == 12
    np.testing.assert_array_equal(m.counts, 12 * np.eye(4))
    np.testing.assert_allclose(m.pwm, (12 * np.eye(4) + 0.5) / 14.0)
    # the dead kernel (never active) has no sites and a uniform PWM
    assert motifs[1].n_sites == 0 and motifs[1].importance == 0.0
    np.testing.assert_allclose(motifs[1].pwm, 0.25)


def test_cap_keeps_highest_activations():
    onehot, labels, _ = planted(9, 3)
    values = np.zeros((12, 1), np.float32)
    values[:9, 0] = np.arange(1, 10)  # class means: 5 (positives), 0 (negatives)
    starts = np.zeros((12, 1), np.int64)
    m = kernel_motifs.kernel_motifs(onehot, values, starts, labels, 4)[0]
    # above threshold 5: values 5..9 (5 sequences) -> cap max(min(750, 5 // 3), 1) = 1: only value 9
    assert m.n_sites == 1 and m.threshold == pytest.approx(5.0)
    assert m.importance == pytest.approx(5.0)


def test_importance_arithmetic_multilabel():
    values = np.array([[1.0, 4.0], [3.0, 0.0], [5.0, 2.0]])
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    importance, means = kernel_motifs.importance_scores(values, labels)
    np.testing.assert_allclose(means[:2], [[2.0, 2.0], [4.0, 1.0]])
    assert np.isnan(means[2]).all()  # a class with no sequences does not count
    np.testing.assert_allclose(importance, [2.0, 1.0])
    with pytest.raises(InputError):
        kernel_motifs.importance_scores(values, labels[:2])


def test_split_product_marginalises_sequence_and_structure():
    pwm = np.zeros((1, 4 * 3))
    pwm[0, 0 * 3 + 2] = 0.5  # A with structure 2
    pwm[0, 3 * 3 + 2] = 0.25  # U with structure 2
    pwm[0, 3 * 3 + 0] = 0.25  # U with structure 0
    seq, struct = kernel_motifs.split_product(pwm, 4, 3)
    np.testing.assert_allclose(seq, [[0.5, 0, 0, 0.5]])
    np.testing.assert_allclose(struct, [[0.25, 0, 0.75]])


def test_positional_histogram_counts_window_centres_per_class():
    onehot, labels, where = planted(12, 6)
    values, starts, width = kernel_motifs.first_layer_activations(OneKernel(), onehot)
    hist = enrichment.positional_histograms(values, starts, labels, np.array([1.0, 1.0]), 20, width)
    assert hist.shape == (2, 2, 20)
    expected = np.bincount(where + 2, minlength=20)
    np.testing.assert_array_equal(hist[0, 1], expected)
    assert hist[0, 0].sum() == 0 and hist[1].sum() == 0  # negatives and the dead kernel: nothing
    dists = enrichment.class_distributions(values, labels)
    assert [d.shape for d in dists] == [(6, 2), (12, 2)]
