"""Variant-effect scores per class, from the model's probabilities for the ref and alt windows.

With ``r`` and ``a`` the probabilities of one class for the ref and alt windows, each clipped
to ``[eps, 1 - eps]`` (``eps = 1e-6``) before any ratio or logarithm so that no score is
infinite:

=================  ==========================================================
``ref``            r
``alt``            a
``diff``           a - r                      (DeepRiPe: p(mutant) - p(wild type))
``abs_diff``       \\|a - r\\|
``ratio``          a / r
``log2fc``         log2(a / r)
``logit_diff``     logit(a) - logit(r),  logit(x) = ln(x / (1 - x))
``deepsea_effect`` \\|logit(a) - logit(r)\\| x \\|a - r\\|   (DeepSEA's e-value input)
=================  ==========================================================

``diff``, ``abs_diff``, ``ref`` and ``alt`` use the unclipped probabilities. Scores are
computed in float64 and returned as float32.

Reverse-complement averaging (DNA models only, whose biology has no strand): every score is
computed on the given strand and on the reverse complement of both windows, then combined score
by score: ``mean`` (the average), ``max`` (the larger), ``absmax`` (the one with the larger
absolute value, sign kept). The outputs state the rule used.
"""

from __future__ import annotations

import numpy as np

from seqzoo.zoo.errors import InputError

SCORES = ("ref", "alt", "diff", "abs_diff", "ratio", "log2fc", "logit_diff", "deepsea_effect")
RC_RULES = ("mean", "max", "absmax")
EPS = 1e-6


def parse_scores(names: str | list[str] | None) -> list[str]:
    """Validate score names (a list, or a comma-separated string); None gives ``diff``."""
    if names is None:
        return ["diff"]
    if isinstance(names, str):
        names = [n for n in names.replace(" ", ",").split(",") if n]
    else:
        names = [n for item in names for n in item.replace(" ", ",").split(",") if n]
    if not names:
        raise InputError(f"no scores given; choose from {', '.join(SCORES)}")
    for name in names:
        if name not in SCORES:
            raise InputError(f"score {name!r} is not one of {', '.join(SCORES)}")
    return list(dict.fromkeys(names))


def effect_scores(ref_probs: np.ndarray, alt_probs: np.ndarray, names: list[str] | tuple[str, ...] = SCORES
                  ) -> dict[str, np.ndarray]:
    """Variant-effect scores per class (formulas in the module docstring).

    Parameters
    ----------
    ref_probs, alt_probs : np.ndarray, shape=(N, C)
        Class probabilities of the ref and alt windows, in [0, 1].
    names : sequence of str
        Which scores (from :data:`SCORES`).

    Returns
    -------
    dict of str -> np.ndarray, shape=(N, C), dtype=float32
    """
    r = np.asarray(ref_probs, dtype=np.float64)
    a = np.asarray(alt_probs, dtype=np.float64)
    if r.shape != a.shape or r.ndim != 2:
        raise InputError(f"ref and alt probabilities must both be [N, C]; got {r.shape} and {a.shape}")
    for name in names:
        if name not in SCORES:
            raise InputError(f"score {name!r} is not one of {', '.join(SCORES)}")
    rc = np.clip(r, EPS, 1 - EPS)
    ac = np.clip(a, EPS, 1 - EPS)
    out: dict[str, np.ndarray] = {}
    logit_diff = None
    for name in names:
        if name == "ref":
            value = r
        elif name == "alt":
            value = a
        elif name == "diff":
            value = a - r
        elif name == "abs_diff":
            value = np.abs(a - r)
        elif name == "ratio":
            value = ac / rc
        elif name == "log2fc":
            value = np.log2(ac / rc)
        else:
            if logit_diff is None:
                logit_diff = (np.log(ac) - np.log1p(-ac)) - (np.log(rc) - np.log1p(-rc))
            value = logit_diff if name == "logit_diff" else np.abs(logit_diff) * np.abs(a - r)
        out[name] = value.astype(np.float32)
    return out


def combine_strands(forward: dict[str, np.ndarray], reverse: dict[str, np.ndarray], rule: str
                    ) -> dict[str, np.ndarray]:
    """Combine each score over the two orientations of a DNA window.

    Parameters
    ----------
    forward, reverse : dict of str -> np.ndarray, shape=(N, C)
        The same scores on the given strand and on the reverse complement.
    rule : {"mean", "max", "absmax"}
        ``mean``: (f + r) / 2; ``max``: max(f, r); ``absmax``: f where \\|f\\| >= \\|r\\| else r.

    Returns
    -------
    dict of str -> np.ndarray, shape=(N, C), dtype=float32
    """
    if rule not in RC_RULES:
        raise InputError(f"reverse-complement rule {rule!r} is not one of {', '.join(RC_RULES)}")
    if forward.keys() != reverse.keys():
        raise InputError("forward and reverse scores name different scores")
    out = {}
    for name, f in forward.items():
        r = reverse[name]
        if rule == "mean":
            value = (f.astype(np.float64) + r) / 2
        elif rule == "max":
            value = np.maximum(f, r)
        else:
            value = np.where(np.abs(f) >= np.abs(r), f, r)
        out[name] = value.astype(np.float32)
    return out
