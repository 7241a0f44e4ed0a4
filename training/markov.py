"""Order-k Markov chains of a genome: the baseline a language model must beat.

An order-k chain predicts a base from the k bases before it, with add-0.5 (Jeffreys) smoothing of
the counts of every (context, base) pair in the training stretches (both strands). It is scored
on exactly the positions the language model is scored on (``positions``), so the two perplexities
compare. The order is chosen on validation, k = 0..10.
"""

from __future__ import annotations

import numpy as np

MAX_ORDER = 10
PSEUDOCOUNT = 0.5


def _context_index(codes: np.ndarray, k: int) -> np.ndarray:
    """For each position i >= k of ``codes`` (0..3), the base-4 number of bases i-k..i-1 (-1 before k)."""
    index = np.zeros(len(codes), dtype=np.int64)
    for j in range(1, k + 1):
        shifted = np.zeros(len(codes), dtype=np.int64)
        shifted[j:] = codes[:-j]
        index = index * 4 + shifted
    index[:k] = -1
    return index


def fit(stretches: list[np.ndarray], k: int) -> np.ndarray:
    """Log-probabilities [4**k, 4] of the next base given each context, from training stretches
    (uint8 codes 0..3, 4 = N; a position whose base or context holds N is not counted)."""
    counts = np.zeros((4 ** k, 4), dtype=np.float64)
    for codes in stretches:
        valid = _valid(codes, k)
        ctx = _context_index(np.minimum(codes, 3).astype(np.int64), k)
        np.add.at(counts, (ctx[valid], codes[valid].astype(np.int64)), 1.0)
    counts += PSEUDOCOUNT
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def _valid(codes: np.ndarray, k: int) -> np.ndarray:
    """Positions whose base and k preceding bases are all known."""
    known = codes < 4
    ok = known.copy()
    ok[:k] = False
    for j in range(1, k + 1):
        ok[j:] &= known[:-j]
    return ok


def surprisal(table: np.ndarray, k: int, stretch: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """-ln p of the base at each of ``positions`` of ``stretch`` under the order-k chain ``table``."""
    ctx = _context_index(np.minimum(stretch, 3).astype(np.int64), k)
    return -table[ctx[positions], stretch[positions].astype(np.int64)]


def log_likelihood(table: np.ndarray, k: int, stretches: list[np.ndarray], positions: list[np.ndarray]) -> tuple:
    """(sum of log p, count) over the given positions of each stretch."""
    total = -sum(float(surprisal(table, k, codes, where).sum()) for codes, where in zip(stretches, positions))
    return total, sum(len(where) for where in positions)


def best_order(train: list[np.ndarray], val: list[np.ndarray], val_positions: list[np.ndarray],
               test: list[np.ndarray], test_positions: list[np.ndarray], max_order: int = MAX_ORDER
               ) -> tuple[dict, np.ndarray]:
    """The order with the lowest validation perplexity, its validation and test perplexities, and
    its table (log-probabilities [4**k, 4]; each order is fitted once).

    Positions must have at least ``max_order`` known bases before them (``positions`` ensures it).
    """
    per_order, best = {}, None
    for k in range(max_order + 1):
        table = fit(train, k)
        ll, n = log_likelihood(table, k, val, val_positions)
        per_order[k] = float(np.exp(-ll / n))
        if best is None or per_order[k] < per_order[best[0]]:
            best = (k, table)
    k, table = best
    ll, n = log_likelihood(table, k, test, test_positions)
    return {"order": k, "perplexity": {"val": per_order[k], "test": float(np.exp(-ll / n))},
            "val_by_order": {str(o): round(p, 5) for o, p in per_order.items()}}, table
