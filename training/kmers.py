"""The k-mer view (DeepRiPe): which 6-mers are frequent among the best- and worst-scored positives.

Test positives of a class are ranked by the model's score for that class; the top and the bottom
10% are compared by how many of their sequences contain each k-mer. A k-mer that is common at the
top and rare at the bottom is what the model rewards. Counting is per sequence (a k-mer repeated
in one sequence counts once), and k-mers with an unknown letter are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from seqzoo.zoo.errors import InputError


def sequence_kmer_counts(sequences: Sequence[str], k: int, letters: str) -> Counter:
    """How many sequences contain each k-mer made only of ``letters``."""
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    allowed = set(letters)
    counts: Counter = Counter()
    for s in sequences:
        counts.update({s[i:i + k] for i in range(len(s) - k + 1) if set(s[i:i + k]) <= allowed})
    return counts


def top_bottom_kmers(sequences: Sequence[str], scores: np.ndarray, letters: str, k: int = 6, fraction: float = 0.1,
                     top: int = 10) -> dict:
    """Most frequent k-mers in the top and bottom ``fraction`` of sequences ranked by score.

    Parameters
    ----------
    sequences : sequence of str (the test positives of one class)
    scores : np.ndarray, shape=(n,)
        The model's score of that class for each sequence.
    letters : str
        The alphabet's letters (k-mers with other characters are ignored).
    k, fraction, top : int, float, int

    Returns
    -------
    dict with ``top`` and ``bottom``: lists of ``{"kmer", "fraction_top", "fraction_bottom"}``
    (share of sequences in each group containing it), sorted by ``fraction_top`` (resp. bottom),
    and ``n`` (sequences per group).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(sequences) != len(scores):
        raise InputError(f"{len(sequences)} sequences but {len(scores)} scores")
    if not 0 < fraction <= 0.5:
        raise InputError(f"fraction must be in (0, 0.5], got {fraction}")
    n = max(1, round(len(scores) * fraction))
    if len(scores) < 2:
        return {"n": 0, "top": [], "bottom": []}
    order = np.argsort(-scores, kind="stable")
    hi = [sequences[i] for i in order[:n]]
    lo = [sequences[i] for i in order[-n:]]
    c_hi, c_lo = sequence_kmer_counts(hi, k, letters), sequence_kmer_counts(lo, k, letters)

    def rows(counts: Counter) -> list[dict]:
        best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [{"kmer": kmer, "fraction_top": c_hi[kmer] / n, "fraction_bottom": c_lo[kmer] / n} for kmer, _ in best]

    return {"n": n, "top": rows(c_hi), "bottom": rows(c_lo)}
