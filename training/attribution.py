"""Integrated gradients in PyTorch, attribution logos, and consensus motifs from attribution maps.

Integrated gradients (Sundararajan et al. 2017) attribute the change of a class probability
between an all-zero baseline (the unknown base) and a sequence x to each input letter:
``IG(x) = x * mean_s grad P_c(alpha_s * x)`` with midpoints ``alpha_s = (s + 0.5) / S``, the same
rule as the exported ``ig.onnx`` the server runs (this is the training-time twin, on torch). With
enough steps the attributions sum to ``P_c(x) - P_c(0)`` (completeness).

DeepRiPe's consensus motifs come from the aggregated maps of confidently scored positives: in
each map, seqlets are the windows with the most positive attribution; the seqlets are clustered
(Ward on their attribution profiles), aligned to their cluster's mean by small shifts, and each
large cluster's letters become a PWM. That is a lightweight cousin of TF-MoDISco, used where
TF-MoDISco itself (training/modisco.py) cannot run: alphabets other than four letters, or no
pattern found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from seqzoo.zoo.errors import InputError


def integrated_gradients(model, onehot: np.ndarray, class_index: int, steps: int = 50, batch_size: int = 64,
                         hypothetical: bool = False, baseline: np.ndarray | None = None) -> np.ndarray:
    """Integrated gradients of one class probability, all-zero baseline (or ``baseline``), midpoint rule.

    Parameters
    ----------
    model : torch.nn.Module with ``probabilities(x [N, L, A]) -> [N, C]``, in eval mode
    onehot : np.ndarray, shape=(N, L, A), float32
    class_index : int
        The class c whose probability P_c is explained.
    steps : int
        S interpolation steps (alphas (s + 0.5) / S).
    batch_size : int
        Sequences per batch (each expands to S inputs).
    hypothetical : bool
        Return the path-averaged gradient ``mean_s dP_c/dx (alpha_s x)`` at every letter (the
        hypothetical contributions TF-MoDISco reads; times x it is IG).
    baseline : np.ndarray, shape=(L, A), optional
        Where the path starts (a multimodal model's per-input baselines, ``Inputs.baseline``):
        the path is b + alpha (x - b) and the attribution (x - b) * mean gradient.

    Returns
    -------
    np.ndarray, shape=(N, L, A), float32: ``(x - b) * mean_s dP_c/dx (b + alpha_s (x - b))``.
    """
    import torch

    onehot = np.asarray(onehot, dtype=np.float32)
    if onehot.ndim != 3:
        raise InputError(f"one-hot input must be [N, L, A], got shape {onehot.shape}")
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    alphas = torch.tensor((np.arange(steps) + 0.5) / steps, dtype=torch.float32)
    base = torch.zeros(()) if baseline is None else torch.from_numpy(np.asarray(baseline, dtype=np.float32))
    out = np.zeros_like(onehot)
    for lo in range(0, len(onehot), batch_size):
        x = torch.from_numpy(onehot[lo:lo + batch_size]) - base
        n = len(x)
        scaled = (base + alphas[None, :, None, None] * x[:, None]).reshape(n * steps, *x.shape[1:]).requires_grad_(True)
        probs = model.probabilities(scaled)
        if not 0 <= class_index < probs.shape[1]:
            raise InputError(f"class index {class_index} is outside the model's {probs.shape[1]} classes")
        (grad,) = torch.autograd.grad(probs[:, class_index].sum(), scaled)
        mean = grad.reshape(n, steps, *x.shape[1:]).mean(dim=1)
        out[lo:lo + n] = (mean if hypothetical else x * mean).detach().numpy()
    return out


def output_difference(model, onehot: np.ndarray, class_index: int) -> np.ndarray:
    """P_c(x) - P_c(0) for each sequence (what IG attributions must sum to): float [N]."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.asarray(onehot, dtype=np.float32))
        return (model.probabilities(x)[:, class_index] - model.probabilities(torch.zeros_like(x))[:, class_index]).numpy()


@dataclass
class Seqlets:
    """Seqlets cut from attribution maps.

    Attributes
    ----------
    sequences : np.ndarray, shape=(S, W + 2 * margin, A)
        One-hot letters of each seqlet with ``margin`` extra positions on both sides.
    attributions : np.ndarray, shape=(S, W + 2 * margin, A)
        The attributions at the same positions.
    rows, starts : np.ndarray, shape=(S,)
        Source sequence and start of the central W-window.
    """

    sequences: np.ndarray
    attributions: np.ndarray
    rows: np.ndarray
    starts: np.ndarray
    width: int
    margin: int


def find_seqlets(attributions: np.ndarray, onehot: np.ndarray, width: int = 12, per_sequence: int = 1,
                 margin: int = 4, min_fraction: float = 0.1) -> Seqlets:
    """The ``per_sequence`` windows of ``width`` with the largest summed attribution in each map.

    Windows may not overlap; a window counts only when its sum is positive and at least
    ``min_fraction`` of the largest window sum over all maps.

    Parameters
    ----------
    attributions, onehot : np.ndarray, shape=(N, L, A)
    width : int
        W, the seqlet width (a little wider than the expected motif).
    """
    attributions = np.asarray(attributions, dtype=np.float32)
    onehot = np.asarray(onehot, dtype=np.float32)
    if attributions.shape != onehot.shape or attributions.ndim != 3:
        raise InputError(f"attributions {attributions.shape} and one-hot {onehot.shape} must both be [N, L, A]")
    n, length, _ = onehot.shape
    if width > length:
        raise InputError(f"seqlet width {width} is longer than the sequences ({length})")
    score = attributions.sum(axis=2)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(score, axis=1)], axis=1)
    window = csum[:, width:] - csum[:, :-width]  # [N, L - W + 1]
    floor = max(float(window.max(initial=0.0)) * min_fraction, 1e-12)
    rows, starts = [], []
    for i in range(n):
        w = window[i].copy()
        for _ in range(per_sequence):
            j = int(np.argmax(w))
            if w[j] < floor:
                break
            rows.append(i)
            starts.append(j)
            w[max(0, j - width + 1): j + width] = -np.inf
    rows_a, starts_a = np.asarray(rows, dtype=np.int64), np.asarray(starts, dtype=np.int64)
    full = width + 2 * margin
    pad = ((0, 0), (full, full), (0, 0))
    seq_p, attr_p = np.pad(onehot, pad), np.pad(attributions, pad)
    index = starts_a[:, None] - margin + full + np.arange(full)[None, :]
    return Seqlets(seq_p[rows_a[:, None], index], attr_p[rows_a[:, None], index], rows_a, starts_a, width, margin)


@dataclass
class ConsensusMotif:
    """A cluster of aligned seqlets: its PWM [W', A] (trimmed), size and mean attribution profile."""

    pwm: np.ndarray
    n_seqlets: int
    fraction: float
    contribution: np.ndarray


def _align(attr: np.ndarray, seqs: np.ndarray, width: int, margin: int, rounds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Shift each seqlet by up to +-margin to best match its cluster's mean profile."""
    shifts = np.zeros(len(attr), dtype=np.int64)
    centre = attr[:, margin:margin + width]
    reference = centre.mean(axis=0)
    for _ in range(rounds):
        scores = np.stack([(attr[:, margin + d:margin + d + width] * reference).sum(axis=(1, 2))
                           for d in range(-margin, margin + 1)], axis=1)
        shifts = scores.argmax(axis=1) - margin
        take = margin + shifts[:, None] + np.arange(width)[None, :]
        aligned = attr[np.arange(len(attr))[:, None], take]
        reference = aligned.mean(axis=0)
    take = margin + shifts[:, None] + np.arange(width)[None, :]
    rows = np.arange(len(attr))[:, None]
    return seqs[rows, take], attr[rows, take]


def trim(pwm: np.ndarray, min_bits: float = 0.3, min_width: int = 4) -> tuple[int, int]:
    """[lo, hi) of the span from the first to the last column with >= min_bits information."""
    from seqzoo.zoo.logos import information_content

    ic = information_content(pwm)
    strong = np.flatnonzero(ic >= min_bits)
    if not len(strong):
        return 0, len(pwm)
    lo, hi = int(strong[0]), int(strong[-1]) + 1
    while hi - lo < min(min_width, len(pwm)):
        lo, hi = max(0, lo - 1), min(len(pwm), hi + 1)
    return lo, hi


def consensus_motifs(seqlets: Seqlets, max_clusters: int = 3, min_fraction: float = 0.15,
                     pseudocount: float = 0.5, max_seqlets: int = 3000, seed: int = 0) -> list[ConsensusMotif]:
    """Cluster seqlets into consensus PWMs, largest cluster first.

    Parameters
    ----------
    seqlets : Seqlets
    max_clusters : int
        Ward's tree is cut into at most this many clusters.
    min_fraction : float
        Clusters holding fewer seqlets than this fraction are dropped.
    pseudocount : float
        Added to the letter counts of every column.
    max_seqlets : int
        Seqlets are subsampled (seeded) above this many (Ward is quadratic).

    Returns
    -------
    list of ConsensusMotif, each pwm [W', A] trimmed of low-information flanks.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(seqlets.rows)
    if n == 0:
        return []
    pick = np.arange(n)
    if n > max_seqlets:
        pick = np.sort(np.random.default_rng(seed).choice(n, max_seqlets, replace=False))
    attr, seqs = seqlets.attributions[pick], seqlets.sequences[pick]
    w, m = seqlets.width, seqlets.margin
    if len(pick) >= 3 and max_clusters > 1:
        feats = attr[:, m:m + w].reshape(len(pick), -1).astype(np.float64)
        feats /= np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12
        clusters = fcluster(linkage(feats, method="ward"), t=max_clusters, criterion="maxclust")
    else:
        clusters = np.ones(len(pick), dtype=np.int64)
    out = []
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        if len(members) < max(2, min_fraction * len(pick)):
            continue
        aligned_seqs, aligned_attr = _align(attr[members], seqs[members], w, m)
        counts = aligned_seqs.sum(axis=0).astype(np.float64)
        pwm = (counts + pseudocount) / (counts.sum(axis=1, keepdims=True) + counts.shape[1] * pseudocount)
        lo, hi = trim(pwm)
        out.append(ConsensusMotif(pwm[lo:hi], len(members), len(members) / len(pick),
                                  aligned_attr.mean(axis=0)[lo:hi]))
    out.sort(key=lambda c: -c.n_seqlets)
    return out


def plot_attribution_maps(path, attributions: np.ndarray, onehot: np.ndarray, letters: str, titles: list[str],
                          structure_letters: str | None = None):
    """PNG with, per sequence, the logo of its positive attributions and of all attributions.

    Parameters
    ----------
    attributions, onehot : np.ndarray, shape=(n, L, A)
    letters : str
        Column letters (for a product alphabet, pass the sequence letters and
        ``structure_letters``: attributions are summed over structure for the drawing).
    titles : list of str (n)
    """
    import matplotlib.pyplot as plt
    from seqzoo.zoo.logos import draw_weights, save_figure

    attributions = np.asarray(attributions, dtype=np.float64)
    if structure_letters:
        n, length, _ = attributions.shape
        attributions = attributions.reshape(n, length, len(letters), len(structure_letters)).sum(axis=3)
    n, length, _ = attributions.shape
    fig, axes = plt.subplots(2 * n, 1, figsize=(max(6.0, 0.09 * length), 1.3 * 2 * n), squeeze=False)
    for i in range(n):
        draw_weights(axes[2 * i, 0], np.clip(attributions[i], 0, None), letters, f"{titles[i]}: positive attributions")
        draw_weights(axes[2 * i + 1, 0], attributions[i], letters, f"{titles[i]}: all attributions")
    fig.tight_layout()
    return save_figure(fig, path)
