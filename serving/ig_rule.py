"""Integrated gradients' integration rule: the nodes along the path, their weights, the default,
and how many sequences one call may take. Shared by the engine, the server's attribution lane and
the commands that explain sequences (``seqzoo attribute``, ``seqzoo variants --attribution``).
"""

from __future__ import annotations

import numpy as np
from seqzoo.zoo.errors import InputError

# The most float32 values of one IG call's input path (steps x N x L x A), 16 MiB: the graph's
# activations are some 16x that for a 64-kernel model, so a call stays near 300 MiB at any steps.
IG_VALUES = 4 * 2**20
# Integrated gradients by default: 50 midpoint steps. Measured on 1,000 PUM2 windows against a
# 1,000-step reference (benchmarks/ig_bench.py), Gauss-Legendre is *less* complete than the
# midpoint rule at every number of passes for these ReLU networks (16 nodes: mean error 0.0063
# against 0.0047), so it is offered, not the default.
IG_RULE = "midpoint"
IG_STEPS = 50
IG_RULES = ("midpoint", "gauss-legendre")


def ig_nodes(steps: int, rule: str = IG_RULE) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha in (0, 1) along the path from the baseline and their weights (summing to 1)
    of an integration rule with ``steps`` gradient passes: ``midpoint`` ((k + 0.5) / steps) or
    ``gauss-legendre`` (exact for polynomials of degree 2 * steps - 1, captum's default; worse on
    the kinks a ReLU network's gradient has along the path)."""
    if not 1 <= int(steps) <= 1000:
        raise InputError(f"steps must be 1..1000, got {steps}")
    steps = int(steps)
    if rule == "gauss-legendre":
        x, w = np.polynomial.legendre.leggauss(steps)
        return (x + 1) / 2, w / 2
    if rule == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    raise InputError(f"integration rule {rule!r} is not one of {', '.join(IG_RULES)}")


def ig_rows(steps: int, length: int, width: int, values: int = IG_VALUES) -> int:
    """How many sequences one integrated-gradients call takes so it holds at most ``values``
    float32s (steps x rows x L x A): the engine bounds memory with it, the server's attribution
    lane (a smaller budget) the time one chunk keeps scoring waiting."""
    return max(1, values // (steps * length * width))
