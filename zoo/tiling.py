"""How a language model's windows tile a stretch of bases: the one rule for scoring every base once.

Windows of ``length`` bases start every ``length - length // 2`` bases and each scores only from
offset ``length // 2`` on (its first window too), the last one ending at the stretch's end: every
base from ``length // 2`` on is scored exactly once, with at least ``length // 2`` bases before it.
Training (held-out perplexity, the Markov comparison) and serving (the surprisal track) both use it.
"""

from __future__ import annotations


def tile(n: int, length: int) -> tuple[list[int], list[int]]:
    """Window starts over a stretch of ``n`` bases and the offset each starts scoring from (window k
    scores its offsets [first_k, length)); none when the stretch is shorter than a window."""
    burn = length // 2
    starts = list(range(0, n - length + 1, length - burn))
    if starts and starts[-1] + length < n:
        starts.append(n - length)
    firsts, covered = [], burn
    for s in starts:
        firsts.append(max(covered, s + burn) - s)
        covered = s + length
    return starts, firsts
