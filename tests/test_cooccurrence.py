"""Ward clustering of a small kernels x sequences matrix, standardisation, and the heatmap file."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster
from seqzoo.training import cooccurrence
from seqzoo.zoo.errors import InputError


def blocks(seed: int = 0):
    """12 sequences x 6 kernels: sequences 0-5 fire kernels 0-2, sequences 6-11 fire kernels 3-5."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 0.2, size=(12, 6))
    values[:6, :3] += 3.0
    values[6:, 3:] += 1.0  # a weaker kernel group: standardisation puts it on the same footing
    return values


def test_standardise_zero_mean_unit_std_and_constant_columns():
    values = np.column_stack([np.arange(5.0), np.full(5, 7.0)])
    z = cooccurrence.standardise(values)
    np.testing.assert_allclose(z[:, 0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(), 1)
    np.testing.assert_array_equal(z[:, 1], 0)


def test_ward_recovers_kernel_and_sequence_groups():
    c = cooccurrence.cluster_activations(blocks())
    rows = fcluster(c.row_linkage, 2, criterion="maxclust")
    cols = fcluster(c.column_linkage, 2, criterion="maxclust")
    assert len(set(rows[:6])) == 1 and len(set(rows[6:])) == 1 and rows[0] != rows[6]
    assert len(set(cols[:3])) == 1 and len(set(cols[3:])) == 1 and cols[0] != cols[3]
    # leaf orders keep each group contiguous
    assert set(c.row_order[:6]) in ({0, 1, 2, 3, 4, 5}, {6, 7, 8, 9, 10, 11})
    assert sorted(c.column_order) == list(range(6))
    np.testing.assert_array_equal(c.rows, np.arange(12))


def test_subsampling_and_heatmap(tmp_path):
    values = np.vstack([blocks(s) for s in range(5)])  # 60 sequences
    labels = np.zeros((60, 2))
    labels[np.arange(60) % 12 < 6, 0] = 1
    labels[np.arange(60) % 12 >= 6, 1] = 1
    c = cooccurrence.cluster_activations(values, max_sequences=20, seed=3)
    assert c.matrix.shape == (20, 6) and len(np.unique(c.rows)) == 20
    path = cooccurrence.plot_cooccurrence(tmp_path / "h.png", c, labels, ["a", "b"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_too_small_matrix_is_refused():
    with pytest.raises(InputError, match="2 kernels"):
        cooccurrence.cluster_activations(np.ones((5, 1)))
