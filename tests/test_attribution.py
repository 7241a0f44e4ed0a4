"""Integrated gradients (completeness), seqlets and consensus motifs."""

import numpy as np
import pytest
import torch
from seqzoo.training import attribution
from seqzoo.training.models import build_model
from seqzoo.zoo.alphabets import get_alphabet
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.motifs_io import consensus

DNA = get_alphabet("dna")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = build_model({"conv_num": 1, "kernel_num": 6, "kernel_len": 5, "neuron_num": 8, "dense_num": 1},
                      alphabet_size=4, n_classes=2, length=30, task="binary")
    with torch.no_grad():  # larger weights so that the output moves well away from 0.5
        for p in net.parameters():
            p.mul_(4.0)
    return net.eval()


def test_ig_completeness(model):
    rng = np.random.default_rng(0)
    onehot = DNA.one_hot(rng.integers(0, 4, size=(6, 30)).astype(np.uint8))
    diff = attribution.output_difference(model, onehot, 1)
    assert np.abs(diff).max() > 0.05  # the test is not trivially satisfied by a flat model
    attr = attribution.integrated_gradients(model, onehot, 1, steps=400, batch_size=3)
    assert attr.shape == onehot.shape
    np.testing.assert_allclose(attr.sum(axis=(1, 2)), diff, atol=2e-3)
    # only observed letters carry attribution (x * grad with an all-zero baseline)
    assert np.all(attr[onehot == 0] == 0)
    # few steps are a worse Riemann sum than many
    coarse = attribution.integrated_gradients(model, onehot, 1, steps=2)
    assert np.abs(coarse.sum(axis=(1, 2)) - diff).max() >= np.abs(attr.sum(axis=(1, 2)) - diff).max()


def test_ig_rejects_bad_input(model):
    with pytest.raises(InputError, match="class index 5"):
        attribution.integrated_gradients(model, np.zeros((1, 30, 4), np.float32), 5, steps=2)
    with pytest.raises(InputError, match=r"\[N, L, A\]"):
        attribution.integrated_gradients(model, np.zeros((30, 4), np.float32), 1)


def planted_maps(n=40, length=30, motif="TGTACA", seed=0):
    """One-hot sequences with a motif at a varying position and attribution = 1 on motif letters, small noise."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    where = 5 + rng.integers(0, 15, size=n)
    motif_codes = DNA.encode([motif])[0]
    for i, p in enumerate(where):
        codes[i, p:p + len(motif)] = motif_codes
    onehot = DNA.one_hot(codes)
    attr = onehot * rng.normal(0, 0.02, size=(n, length, 1)).astype(np.float32)
    for i, p in enumerate(where):
        attr[i, p:p + len(motif)] = onehot[i, p:p + len(motif)] * 1.0
    return onehot, attr, where


def test_seqlets_sit_on_attribution_peaks():
    onehot, attr, where = planted_maps()
    s = attribution.find_seqlets(attr, onehot, width=6, margin=2)
    np.testing.assert_array_equal(s.rows, np.arange(40))
    np.testing.assert_array_equal(s.starts, where)
    assert s.sequences.shape == (40, 10, 4)
    # the central window of every seqlet spells the motif
    assert set(DNA.decode(s.sequences[:, 2:8].argmax(axis=2).astype(np.uint8))) == {"TGTACA"}


def test_consensus_motif_from_misaligned_seqlets():
    onehot, attr, _ = planted_maps(n=60, seed=1)
    # a wider window than the motif: seqlets are offset, alignment and trimming must recover it
    s = attribution.find_seqlets(attr, onehot, width=10, margin=3)
    motifs = attribution.consensus_motifs(s, max_clusters=1)
    assert len(motifs) == 1 and motifs[0].n_seqlets == 60
    assert consensus(motifs[0].pwm, "ACGT").upper().find("TGTACA") >= 0
    assert motifs[0].pwm.shape[0] <= 10


def test_attribution_logo_png(tmp_path, model):
    onehot, attr, _ = planted_maps(n=2)
    path = attribution.plot_attribution_maps(tmp_path / "a.png", attr, onehot, "ACGT", ["one", "two"])
    assert path.read_bytes()[:4] == b"\x89PNG"
