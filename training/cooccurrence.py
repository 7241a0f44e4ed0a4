"""Which kernels fire together: the clustered kernels x sequences activation map (pysster Fig. S2).

The matrix of maximum first-layer activations (sequences x kernels) is standardised per kernel
(z-scores, so a kernel that fires weakly everywhere is not drowned by a strong one) and both its
rows and its columns are clustered hierarchically with Ward's method on Euclidean distances
(scipy). Kernels that end up side by side respond to the same sequences (the same motif learned
twice, or two motifs that co-occur); blocks of sequences with a class colour bar show which
kernel groups characterise which class. Correlation is not causation: co-firing kernels need not
both matter to the output.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError


@dataclass
class Clustering:
    """Result of :func:`cluster_activations`.

    Attributes
    ----------
    matrix : np.ndarray, shape=(n, K)
        Standardised activations of the (sub)sampled sequences, in input row order.
    rows : np.ndarray, shape=(n,)
        Indices into the input rows of the sampled sequences (input order).
    row_order, column_order : np.ndarray
        Leaf orders of the two dendrograms (indices into ``matrix`` rows / columns).
    row_linkage, column_linkage : np.ndarray
        scipy linkage matrices (Ward).
    """

    matrix: np.ndarray
    rows: np.ndarray
    row_order: np.ndarray
    column_order: np.ndarray
    row_linkage: np.ndarray
    column_linkage: np.ndarray


def standardise(values: np.ndarray) -> np.ndarray:
    """Z-score each column of [N, K]; a constant column becomes all zeros."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"activation matrix must be 2-d [N, K], got {values.shape}")
    std = values.std(axis=0)
    centred = values - values.mean(axis=0)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)


def cluster_activations(values: np.ndarray, max_sequences: int = 2000, seed: int = 0) -> Clustering:
    """Standardise and Ward-cluster a sequences x kernels activation matrix.

    Parameters
    ----------
    values : np.ndarray, shape=(N, K)
        Maximum activations (N >= 2, K >= 2).
    max_sequences : int
        Rows are subsampled (seeded, without replacement) to at most this many: Ward linkage is
        quadratic in memory.
    seed : int

    Returns
    -------
    Clustering
    """
    from scipy.cluster.hierarchy import leaves_list, linkage

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 2:
        raise InputError(f"clustering needs at least 2 sequences and 2 kernels, got {values.shape}")
    rows = np.arange(len(values))
    if len(rows) > max_sequences:
        rows = np.sort(np.random.default_rng(seed).choice(len(values), max_sequences, replace=False))
    matrix = standardise(values[rows])
    row_link = linkage(matrix, method="ward", metric="euclidean")
    col_link = linkage(matrix.T, method="ward", metric="euclidean")
    return Clustering(matrix, rows, leaves_list(row_link), leaves_list(col_link), row_link, col_link)


def plot_cooccurrence(path: str | os.PathLike, clustering: Clustering, labels: np.ndarray,
                      classes: Sequence[str], kernel_names: Sequence[str] | None = None) -> Path:
    """Heatmap of the clustered matrix (kernels as rows, sequences as columns) with class colours.

    Parameters
    ----------
    clustering : Clustering
    labels : np.ndarray, shape=(N, C), 0/1, for all input rows (subsampled by ``clustering.rows``)
    classes : class names (C)
    kernel_names : names of the K kernels (default ``k0..``)
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from scipy.cluster.hierarchy import dendrogram
    from seqzoo.zoo.logos import save_figure

    labels = np.asarray(labels) > 0.5
    sub = labels[clustering.rows]
    # a sequence's colour is its first positive class; none -> grey
    cls = np.where(sub.any(axis=1), sub.argmax(axis=1), len(classes))
    k = clustering.matrix.shape[1]
    names = list(kernel_names) if kernel_names is not None else [f"k{i}" for i in range(k)]
    palette = plt.get_cmap("tab10")
    colours = [palette(i % 10) for i in range(len(classes))] + [(0.8, 0.8, 0.8, 1.0)]
    fig = plt.figure(figsize=(9, 2.0 + 0.14 * k))
    dendro_ax = fig.add_axes([0.08, 0.80, 0.82, 0.15])
    bar_ax = fig.add_axes([0.08, 0.76, 0.82, 0.03])
    heat_ax = fig.add_axes([0.08, 0.05, 0.82, 0.70])
    cbar_ax = fig.add_axes([0.92, 0.05, 0.015, 0.70])
    dendrogram(clustering.row_linkage, ax=dendro_ax, no_labels=True, color_threshold=0,
               above_threshold_color="#555555")
    dendro_ax.axis("off")
    order = clustering.row_order
    bar_ax.imshow(cls[order][None, :], aspect="auto", cmap=ListedColormap(colours), vmin=0, vmax=len(colours) - 1,
                  interpolation="nearest")
    bar_ax.axis("off")
    shown = np.clip(clustering.matrix[order][:, clustering.column_order].T, -3, 3)
    image = heat_ax.imshow(shown, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest")
    heat_ax.set_yticks(np.arange(k), [names[i] for i in clustering.column_order], fontsize=6)
    heat_ax.set_xticks([])
    heat_ax.set_xlabel(f"{len(order)} sequences (Ward clustering of z-scored max activations)")
    fig.colorbar(image, cax=cbar_ax, label="z")
    fig.legend(handles=[Patch(color=colours[i], label=c) for i, c in enumerate(classes)], loc="upper right",
               fontsize=7, frameon=False, ncol=min(len(classes), 4))
    return save_figure(fig, path)
