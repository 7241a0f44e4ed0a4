"""Attribution motifs by TF-MoDISco (modisco-lite), the field's tool for them, where it installs.

``tfmodisco_motifs`` runs TF-MoDISco on one-hot sequences and their hypothetical contributions
(integrated gradients' path-averaged gradient at every letter) and returns its positive
patterns as the interpretation's consensus motifs: each pattern's PWM trimmed to the columns
carrying at least ``TRIM`` of its peak contribution, its seqlet count and share. modisco-lite
handles four-letter alphabets (DNA, RNA) only; ``available`` says whether it can run here.
"""

from __future__ import annotations

import numpy as np
from seqzoo.training.attribution import ConsensusMotif

TRIM = 0.3
MIN_SEQLETS = 20  # TF-MoDISco's smallest final cluster


def available(alphabet_size: int) -> bool:
    """Whether modisco-lite is installed and handles an alphabet of this many letters."""
    if alphabet_size != 4:
        return False
    try:
        import modiscolite  # noqa: F401
    except ImportError:
        return False
    return True


def tfmodisco_motifs(onehot: np.ndarray, hypothetical: np.ndarray, max_motifs: int = 3,
                     max_seqlets: int = 2000, window: int | None = None) -> list[ConsensusMotif]:
    """TF-MoDISco's positive patterns, largest first (at most ``max_motifs``).

    Parameters
    ----------
    onehot, hypothetical : np.ndarray, shape=(N, L, 4)
    window : int, optional
        Seqlet window (modisco's ``sliding_window_size``); default min(21, L // 3).
    """
    import logging

    from modiscolite.tfmodisco import TFMoDISco

    length = onehot.shape[1]
    window = window or max(5, min(21, length // 3))
    flank = max(2, min(10, (length - window) // 4))
    logging.getLogger("numba").setLevel(logging.WARNING)
    positive, _ = TFMoDISco(one_hot=np.asarray(onehot, dtype=np.float32),
                            hypothetical_contribs=np.asarray(hypothetical, dtype=np.float32),
                            sliding_window_size=window, flank_size=flank, max_seqlets_per_metacluster=max_seqlets,
                            trim_to_window_size=min(30, length), initial_flank_to_add=min(10, flank),
                            final_min_cluster_size=MIN_SEQLETS, verbose=False)
    patterns = sorted(positive or [], key=lambda p: -len(p.seqlets))[:max_motifs]
    total = sum(len(p.seqlets) for p in positive or []) or 1
    motifs = []
    for pattern in patterns:
        contribution = np.asarray(pattern.contrib_scores, dtype=np.float64)
        weight = np.abs(contribution).sum(axis=1)
        keep = np.flatnonzero(weight >= TRIM * weight.max())
        lo, hi = int(keep.min()), int(keep.max()) + 1
        pwm = np.asarray(pattern.sequence, dtype=np.float64)[lo:hi] + 1e-3
        motifs.append(ConsensusMotif(pwm / pwm.sum(axis=1, keepdims=True), len(pattern.seqlets),
                                     len(pattern.seqlets) / total, contribution[lo:hi]))
    return motifs
