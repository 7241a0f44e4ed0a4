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
``llr``            a - r of a language model's outputs: its ``log_likelihood`` column is
                   ln P(alt window) - ln P(ref window), the log-likelihood ratio
=================  ==========================================================

A language model (card task ``language_model``) answers [log-likelihood, perplexity] per window,
not probabilities: it takes ``llr`` (and ``ref``, ``alt``, ``diff``); a classifier never takes ``llr``.

``diff``, ``abs_diff``, ``ref`` and ``alt`` use the unclipped probabilities. Scores are
computed in float64 and returned as float32.

Reverse-complement averaging (DNA models only, whose biology has no strand): every score is
computed on the given strand and on the reverse complement of both windows, then combined score
by score: ``mean`` (the average), ``max`` (the larger), ``absmax`` (the one with the larger
absolute value, sign kept). The outputs state the rule used.
"""

from __future__ import annotations

import numpy as np
from seqzoo.zoo.alphabets import sequence_letters
from seqzoo.zoo.errors import InputError

SCORES = ("ref", "alt", "diff", "abs_diff", "ratio", "log2fc", "logit_diff", "deepsea_effect", "llr")
LM_SCORES = ("llr", "ref", "alt", "diff")  # the scores of a language model's (log-likelihood, perplexity)
RC_RULES = ("mean", "max", "absmax")
EPS = 1e-6
PREDICT_BATCH = 1024


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
        elif name in ("diff", "llr"):
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


def check_scores(names: list[str], card: dict, ref: str) -> None:
    """Refuse scores the model's outputs do not mean: ``llr`` of a classifier, probability
    scores of a language model."""
    language_model = card.get("task") == "language_model"
    for name in names:
        if name == "llr" and not language_model:
            raise InputError(f"score 'llr' is a language model's log-likelihood ratio; model {ref} is a "
                             f"{card.get('task')} classifier (use diff, log2fc, ...)")
        if language_model and name not in LM_SCORES:
            raise InputError(f"model {ref} is a language model (log-likelihood, perplexity per window): score "
                             f"{name!r} is for probabilities; use {', '.join(LM_SCORES)}")


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


def check_rc_rule(alphabet, rule: str | None, strand: str) -> None:
    """Refuse reverse-complement averaging where it makes no sense (RNA/protein models, both strands)."""
    if rule is None:
        return
    if rule not in RC_RULES:
        raise InputError(f"reverse-complement rule {rule!r} is not one of {', '.join(RC_RULES)}")
    if sorted(sequence_letters(alphabet)) != sorted("ACGT"):
        raise InputError("--rc-average is for DNA models (alphabet ACGT); this model reads "
                         f"{sequence_letters(alphabet)}, whose sequences have a strand: use --strand")
    if strand in ("both", "auto"):
        raise InputError(f"--rc-average already scores both orientations: use it with --strand + or -, not {strand}")


def pair_sequences(ref_windows: list[str], alt_windows: list[str], rc_rule: str | None) -> list[str]:
    """The sequences to predict for N variants: ref then alt, then (with a rule) their reverse
    complements: ``[ref_1..ref_N, alt_1..alt_N, rc(ref_1)..rc(ref_N), rc(alt_1)..rc(alt_N)]``."""
    from seqzoo.zoo.alphabets import reverse_complement

    if len(ref_windows) != len(alt_windows):
        raise InputError(f"{len(ref_windows)} ref windows but {len(alt_windows)} alt windows")
    sequences = list(ref_windows) + list(alt_windows)
    if rc_rule is not None:
        sequences += [reverse_complement(s) for s in sequences]
    return sequences


def encode_pairs(engine, ref_windows: list[str], alt_windows: list[str], rc_rule: str | None,
                 tracks: dict[str, list[str]] | None = None):
    """uint8 codes of :func:`pair_sequences` (T read as U for RNA models; a multimodal model's
    ``tracks``, one string per variant, shared by its ref and alt windows); an encoding error names
    the window the caller sent (``alt window 0``), not its place in the combined list."""
    from seqzoo.zoo.errors import SeqzooError

    if tracks and rc_rule is not None:
        raise InputError("--rc-average does not apply to a multimodal model (its tracks have a strand)")
    paired = {name: list(values) + list(values) for name, values in (tracks or {}).items()} or None
    try:
        return engine.encode(pair_sequences(ref_windows, alt_windows, rc_rule), convert_tu=True, tracks=paired)
    except SeqzooError as exc:
        if exc.index is None or exc.noun != "sequence":
            raise
        n = len(ref_windows)
        part, k = divmod(exc.index, n)
        kind = ("ref window", "alt window", "reverse complement of ref window",
                "reverse complement of alt window")[part]
        raise exc.at(index=k, noun=kind) from None


def scores_from_probs(probs: np.ndarray, n: int, names: list[str], rc_rule: str | None
                      ) -> dict[str, np.ndarray]:
    """Scores from the probabilities of :func:`pair_sequences`' output.

    Parameters
    ----------
    probs : np.ndarray, shape=(2N, C) or (4N, C) with a reverse-complement rule
    n : int
        N, the number of variants.
    names : list of str
    rc_rule : {None, "mean", "max", "absmax"}

    Returns
    -------
    dict of str -> np.ndarray, shape=(N, C), dtype=float32
    """
    expect = n * (4 if rc_rule else 2)
    if probs.shape[0] != expect:
        raise InputError(f"expected {expect} rows of probabilities for {n} variants, got {probs.shape[0]}")
    forward = effect_scores(probs[:n], probs[n:2 * n], names)
    if rc_rule is None:
        return forward
    return combine_strands(forward, effect_scores(probs[2 * n:3 * n], probs[3 * n:], names), rc_rule)


def score_windows(engine, ref_windows: list[str], alt_windows: list[str], names: list[str],
                  rc_rule: str | None = None, batch: int = PREDICT_BATCH,
                  tracks: dict[str, list[str]] | None = None) -> dict[str, np.ndarray]:
    """Scores of N variant window pairs through an in-process engine (``seqzoo variants --local``).

    Parameters
    ----------
    engine : Engine
        ``encode(sequences, convert_tu=True)`` and ``predict(codes)``.
    ref_windows, alt_windows : list of str, N windows of the model's length each
    names : list of str
    rc_rule : {None, "mean", "max", "absmax"}
    batch : int
        Windows per forward pass: bounds the graph's activation memory (a 4,096-window pass of
        a 200-nt CNN holds ~0.5 GB) without costing speed on CPU.
    tracks : dict of str -> list of str, optional
        A multimodal model's tracks at each variant (N strings each), shared by ref and alt.

    Returns
    -------
    dict of str -> np.ndarray, shape=(N, C), dtype=float32
    """
    if not ref_windows:
        return {name: np.zeros((0, len(engine.classes)), dtype=np.float32) for name in names}
    probs = engine.predict(encode_pairs(engine, ref_windows, alt_windows, rc_rule, tracks), batch)
    return scores_from_probs(probs, len(ref_windows), names, rc_rule)
