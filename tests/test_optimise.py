"""Visualisation by optimisation on hand-made networks whose best input is known."""

import numpy as np
import torch
from seqzoo.training import optimise
from seqzoo.zoo.motifs_io import consensus
from torch import nn


class MotifNet(nn.Module):
    """Class 1's logit is the best ACGTTA match anywhere in the input (a known optimum)."""

    def __init__(self):
        super().__init__()
        self.first_conv = nn.Conv1d(4, 1, 6)
        with torch.no_grad():
            self.first_conv.weight.fill_(-1.0)
            for i, ch in enumerate("ACGTTA"):
                self.first_conv.weight[0, "ACGT".index(ch), i] = 1.0
            self.first_conv.bias.zero_()
        self.output_activation = "softmax"

    def forward(self, x):
        score = self.first_conv(x.transpose(1, 2)).amax(dim=2)[:, 0]
        return torch.stack([torch.zeros_like(score), score], dim=1)


def test_smoothing_is_laplace():
    s = np.array([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(optimise.smooth(s, 0.1), [[1.1 / 1.4, 0.1 / 1.4, 0.1 / 1.4, 0.1 / 1.4],
                                                         [0.6 / 1.4, 0.6 / 1.4, 0.1 / 1.4, 0.1 / 1.4]])


def test_class_optimisation_finds_the_motif():
    torch.set_num_threads(1)
    result = optimise.optimise_class(MotifNet(), 1, length=20, alphabet_size=4, width=6, starts=3, steps=150,
                                     lr=0.1, lam=0.05, seed=0)
    assert consensus(result.pwm, "ACGT").upper() == "ACGTTA"
    assert result.probability > 0.99
    assert result.inputs.min() >= 0 and result.inputs.max() <= 1


def test_kernel_optimisation_reads_the_kernel():
    result = optimise.optimise_kernel(MotifNet(), 0, starts=2, steps=150, lr=0.1, lam=0.05)
    assert consensus(result.pwm, "ACGT").upper() == "ACGTTA"
    # the optimum of w.s - lam |s|^2 on [0, 1] is s = 1 on positive weights, 0 on negative ones
    np.testing.assert_allclose(result.inputs.max(axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(np.sort(result.inputs, axis=1)[:, :3], 0.0, atol=1e-3)
