"""Where and in which class a kernel fires: positional and class enrichment (pysster).

Positional enrichment is the histogram, per class, of the position of each sequence's maximum
activation, counting only sequences whose maximum reaches the kernel's threshold (the largest
class mean, as for kernel motifs). A peak says the motif sits at a fixed place (for example at
the centre of CLIP peaks); a flat histogram says it can be anywhere. Class enrichment is the
distribution of the maximum activation in each class, drawn as violins: a kernel whose violins
differ separates the classes. Neither says whether the model's output depends on the kernel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError


def positional_histograms(values: np.ndarray, starts: np.ndarray, labels: np.ndarray, thresholds: np.ndarray,
                          length: int, width: int) -> np.ndarray:
    """Counts of maximum-activation positions per kernel and class.

    Parameters
    ----------
    values, starts : np.ndarray, shape=(N, K)
        Maximum activations and window starts (``kernel_motifs.first_layer_activations``).
    labels : np.ndarray, shape=(N, C), 0/1
    thresholds : np.ndarray, shape=(K,)
        A sequence counts for kernel k when its maximum >= thresholds[k] (and > 0).
    length : int
        Sequence length L.
    width : int
        Kernel width; a site is placed at its window's centre.

    Returns
    -------
    np.ndarray, shape=(K, C, L), int64: counts per position (window centre, clipped to [0, L)).
    """
    values, starts = np.asarray(values), np.asarray(starts)
    labels = np.asarray(labels) > 0.5
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if values.shape != starts.shape or len(values) != len(labels) or thresholds.shape != (values.shape[1],):
        raise InputError(f"values {values.shape}, starts {starts.shape}, labels {labels.shape}, "
                         f"thresholds {thresholds.shape} do not agree")
    centres = np.clip(starts + width // 2, 0, length - 1)
    k_count, c_count = values.shape[1], labels.shape[1]
    out = np.zeros((k_count, c_count, length), dtype=np.int64)
    above = ((values >= thresholds[None, :]) | np.isclose(values, thresholds[None, :])) & (values > 0)
    for c in range(c_count):
        for k in range(k_count):
            rows = above[:, k] & labels[:, c]
            out[k, c] = np.bincount(centres[rows, k], minlength=length)[:length]
    return out


def class_distributions(values: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """Maximum activations per class: list (C) of float arrays [n_c, K]."""
    values = np.asarray(values)
    labels = np.asarray(labels) > 0.5
    if len(values) != len(labels):
        raise InputError(f"{len(values)} activation rows but {len(labels)} label rows")
    return [values[labels[:, c]] for c in range(labels.shape[1])]


def plot_enrichment(path: str | os.PathLike, histogram: np.ndarray, distributions: Sequence[np.ndarray],
                    classes: Sequence[str], title: str = "", smooth: int = 3) -> Path:
    """One kernel's positional histogram (left) and class violins (right) as a PNG.

    Parameters
    ----------
    histogram : np.ndarray, shape=(C, L)
        This kernel's slice of :func:`positional_histograms`.
    distributions : list (C) of np.ndarray [n_c]
        This kernel's maximum activations per class.
    classes : class names (C)
    smooth : int
        Width of the moving average drawn over the histogram.
    """
    import matplotlib.pyplot as plt
    from seqzoo.zoo.logos import save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.2), gridspec_kw={"width_ratios": [2.2, 1]})
    kernel = np.ones(smooth) / smooth
    for c, name in enumerate(classes):
        counts = np.asarray(histogram[c], dtype=float)
        left.plot(np.arange(1, len(counts) + 1), np.convolve(counts, kernel, mode="same"), lw=1.2, label=name)
    left.set_xlabel("position (window centre)")
    left.set_ylabel("sequences")
    left.legend(fontsize=7, frameon=False)
    data = [np.asarray(d, dtype=float) if len(d) else np.zeros(1) for d in distributions]
    parts = right.violinplot(data, showmedians=True)
    for body in parts["bodies"]:
        body.set_alpha(0.6)
    right.set_xticks(np.arange(1, len(classes) + 1), list(classes), fontsize=7, rotation=30)
    right.set_ylabel("max activation")
    for ax in (left, right):
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
