"""Kernel motifs: what each first-layer convolution kernel detects (pysster's rule).

For every input sequence a first-layer kernel gives an activation track (ReLU of the
convolution); its maximum marks the subsequence, of the kernel's width, that the kernel likes
best. pysster (Budach & Marsico 2018, Bioinformatics 34:3035; ``Model.visualize_kernel`` in
github.com/budach/pysster) builds the kernel's motif from those subsequences as follows, and so
does this module:

- threshold = the largest of the per-class means of the maximum activation;
- the class reaching it (the "top class") is the only one whose subsequences are used;
- a sequence contributes when its maximum activation is >= threshold (within float rounding);
- at most ``max(min(750, n_above / 3), 1)`` sequences, those with the highest maximum
  activation, where ``n_above`` counts sequences of every class above the threshold;
- the kernel's importance is the highest minus the lowest class mean of the maximum activation
  (a kernel that fires in one class and not in another separates them).

It is not a weight-matrix reading of the kernel (kernel weights are not probabilities) and not an
attribution: it says what the kernel matches in real data, not how much the output depends on it.
For structure models (product alphabet) the PWM over sequence x structure symbols is marginalised
into a sequence PWM and a structure PWM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from seqzoo.zoo.errors import InputError

MAX_SITES = 750


@dataclass
class KernelMotif:
    """One first-layer kernel's motif and statistics.

    Attributes
    ----------
    kernel : int
        Index of the kernel in ``model.first_conv``.
    counts : np.ndarray, shape=(W, A)
        Summed one-hot rows of the selected subsequences (W = kernel width).
    pwm : np.ndarray, shape=(W, A)
        ``(counts + pseudocount) / (n_sites + A * pseudocount)``.
    n_sites : int
        Number of subsequences used.
    importance : float
        max minus min of ``class_means``.
    class_means : np.ndarray, shape=(C,)
        Mean maximum activation per class.
    threshold : float
        The activation threshold (max of ``class_means``).
    top_class : int
        The class whose subsequences built the motif.
    """

    kernel: int
    counts: np.ndarray
    pwm: np.ndarray
    n_sites: int
    importance: float
    class_means: np.ndarray
    threshold: float
    top_class: int


def _conv_geometry(conv) -> tuple[int, int, int]:
    """(width, padding, dilation) of an nn.Conv1d, refusing stride != 1 and string padding."""
    width = int(conv.kernel_size[0])
    stride = int(conv.stride[0])
    dilation = int(conv.dilation[0])
    if stride != 1 or dilation != 1:
        raise InputError(f"kernel motifs need a first convolution with stride 1 and dilation 1, "
                         f"got stride {stride}, dilation {dilation}")
    padding = conv.padding
    if isinstance(padding, str):
        padding = 0 if padding == "valid" else (width - 1) // 2
    else:
        padding = int(padding[0])
    return width, padding, dilation


def first_layer_activations(model, onehot: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, int]:
    """Maximum first-layer activation of every kernel on every sequence, and where it is.

    Parameters
    ----------
    model : torch.nn.Module with ``first_conv`` (nn.Conv1d taking ``x.transpose(1, 2)``)
    onehot : np.ndarray, shape=(N, L, A), float32
    batch_size : int

    Returns
    -------
    values : np.ndarray, shape=(N, K), float32
        max over positions of ReLU(conv(x)).
    starts : np.ndarray, shape=(N, K), int64
        Start, in input coordinates, of the window at the maximum (may be negative or run past
        the end when the convolution pads; those letters count as nothing).
    width : int
        The kernel width W.
    """
    import torch

    conv = getattr(model, "first_conv", None)
    if conv is None:
        raise InputError("the model has no first_conv: kernel motifs need a convolution as first layer")
    onehot = np.asarray(onehot, dtype=np.float32)
    if onehot.ndim != 3 or onehot.shape[2] != conv.in_channels:
        raise InputError(f"one-hot input of shape {onehot.shape} does not fit a first convolution with "
                         f"{conv.in_channels} input channels")
    width, padding, _ = _conv_geometry(conv)
    values, starts = [], []
    with torch.no_grad():
        for lo in range(0, len(onehot), batch_size):
            x = torch.from_numpy(onehot[lo:lo + batch_size]).transpose(1, 2)
            act = conv(x)  # [B, K, L']
            top, where = act.max(dim=2)
            values.append(torch.relu(top).numpy())
            starts.append(where.numpy().astype(np.int64) - padding)
    if not values:
        k = conv.out_channels
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64), width
    return np.concatenate(values), np.concatenate(starts), width


def importance_scores(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-kernel importance: highest minus lowest class mean of the maximum activation.

    Parameters
    ----------
    values : np.ndarray, shape=(N, K)
        Maximum activations.
    labels : np.ndarray, shape=(N, C)
        0/1 class membership (a sequence may belong to several classes).

    Returns
    -------
    importance : np.ndarray, shape=(K,)
    class_means : np.ndarray, shape=(C, K); NaN for a class without sequences.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels) > 0.5
    if values.ndim != 2 or labels.ndim != 2 or len(values) != len(labels):
        raise InputError(f"values {values.shape} and labels {labels.shape} must be [N, K] and [N, C]")
    counts = labels.sum(axis=0)
    sums = labels.T.astype(np.float64) @ values
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    means[counts == 0] = np.nan
    present = counts > 0
    if not present.any():
        raise InputError("no sequence has a positive label: class means are undefined")
    importance = np.nanmax(means[present], axis=0) - np.nanmin(means[present], axis=0)
    return importance, means


def windows(onehot: np.ndarray, rows: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Cut windows [len(rows), width, A] out of one-hot sequences; positions outside are zero."""
    _, length, a = onehot.shape
    if not len(rows):
        return np.zeros((0, width, a), np.float32)
    padded = np.zeros((len(rows), length + 2 * width, a), dtype=np.float32)
    padded[:, width:width + length] = onehot[rows]
    offsets = np.asarray(starts)[:, None] + width + np.arange(width)[None, :]
    offsets = np.clip(offsets, 0, length + 2 * width - 1)
    return padded[np.arange(len(rows))[:, None], offsets]


def kernel_motifs(onehot: np.ndarray, values: np.ndarray, starts: np.ndarray, labels: np.ndarray,
                  width: int, pseudocount: float = 0.5, max_sites: int = MAX_SITES) -> list[KernelMotif]:
    """PWMs of all kernels by pysster's rule (see the module docstring).

    Parameters
    ----------
    onehot : np.ndarray, shape=(N, L, A)
    values, starts : np.ndarray, shape=(N, K)
        From :func:`first_layer_activations`.
    labels : np.ndarray, shape=(N, C), 0/1
    width : int
        Kernel width W.
    pseudocount : float
        Added to every count before normalising (keeps rare letters off log(0) in matching).
    max_sites : int
        pysster's cap of 750 subsequences.

    Returns
    -------
    list of KernelMotif, one per kernel, in kernel order.
    """
    onehot = np.asarray(onehot, dtype=np.float32)
    values = np.asarray(values)
    starts = np.asarray(starts)
    labels = np.asarray(labels) > 0.5
    if onehot.ndim != 3 or len(onehot) != len(values) or values.shape != starts.shape:
        raise InputError(f"onehot {onehot.shape}, values {values.shape}, starts {starts.shape} do not agree")
    importance, means = importance_scores(values, labels)
    a = onehot.shape[2]
    motifs = []
    for k in range(values.shape[1]):
        column = np.where(np.isnan(means[:, k]), -np.inf, means[:, k])
        top_class = int(np.argmax(column))
        threshold = float(column[top_class])
        counts = np.zeros((width, a), dtype=np.float64)
        n_sites = 0
        if threshold > 0:
            above = (values[:, k] > threshold) | np.isclose(values[:, k], threshold)
            candidates = np.flatnonzero(above & labels[:, top_class])
            cap = max(min(max_sites, int(above.sum() / 3)), 1)
            if len(candidates) > cap:
                # the cap highest maximum activations (ties at the cut are all kept, as in pysster)
                cut = np.sort(values[candidates, k])[::-1][cap - 1]
                candidates = candidates[values[candidates, k] >= cut]
            counts = windows(onehot, candidates, starts[candidates, k], width).sum(axis=0).astype(np.float64)
            n_sites = len(candidates)
        pwm = (counts + pseudocount) / (counts.sum(axis=1, keepdims=True) + a * pseudocount)
        motifs.append(KernelMotif(k, counts, pwm, n_sites, float(importance[k]), means[:, k].copy(),
                                  threshold, top_class))
    return motifs


def split_product(pwm: np.ndarray, n_sequence: int, n_structure: int) -> tuple[np.ndarray, np.ndarray]:
    """Marginalise a product-alphabet PWM [W, N*M] into sequence [W, N] and structure [W, M] PWMs.

    Column ``s * M + t`` is sequence letter s with structure letter t (zoo.alphabets.ProductAlphabet).
    """
    pwm = np.asarray(pwm, dtype=np.float64)
    if pwm.ndim != 2 or pwm.shape[1] != n_sequence * n_structure:
        raise InputError(f"pwm of shape {pwm.shape} is not over {n_sequence} x {n_structure} product symbols")
    cube = pwm.reshape(pwm.shape[0], n_sequence, n_structure)
    seq, struct = cube.sum(axis=2), cube.sum(axis=1)
    return seq / seq.sum(axis=1, keepdims=True), struct / struct.sum(axis=1, keepdims=True)
