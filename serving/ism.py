"""In-silico mutagenesis through a model's forward graph: every single substitution of every sequence.

It needs only ``Engine.predict``, so it runs on any model the engine serves, language models
included (whose "probabilities" are the window log-likelihood and perplexity).
"""

from __future__ import annotations

import numpy as np
from seqzoo.zoo.alphabets import ProductAlphabet
from seqzoo.zoo.errors import InputError


def ism(engine, codes: np.ndarray, selector: np.ndarray) -> np.ndarray:
    """In-silico mutagenesis through the forward graph: every single substitution.

    Entry [i, j, a] is ``sum(selector * (probs(mutant) - probs(sequence i)))`` where the
    mutant has letter a at position j; the reference letter's entry is 0. For a structure
    model the base changes and the structure stays: column ``s * M + t`` holds the
    substitution to base s at a position of structure t, other columns are 0.

    A multimodal model's substitutions are the sequence's letters at the sequence's positions
    (its tracks stay as they are).

    Parameters
    ----------
    engine : Engine
    codes : np.ndarray, shape=(N, L), uint8
    selector : np.ndarray, shape=(N, C), float32

    Returns
    -------
    np.ndarray, shape=(N, L, A), float32
    """
    codes = engine.check_codes(codes)
    selector = np.asarray(selector, dtype=np.float32)
    n, length = codes.shape
    if selector.shape != (n, len(engine.classes)):
        raise InputError(f"selector must be [{n}, {len(engine.classes)}], got {selector.shape}")
    out = np.zeros((n, length, engine.alphabet.size), dtype=np.float32)
    if isinstance(engine.alphabet, ProductAlphabet):
        n_bases, m = engine.alphabet.sequence.size, engine.alphabet.structure.size
    else:  # a multimodal model: the sequence's letters at the sequence's positions (tracks stay)
        n_bases, m = getattr(engine.alphabet, "sequence", engine.alphabet).size, 1
    positions = np.arange(engine.length if engine.packed else length)
    for i in range(n):
        ref = codes[i]
        ref_score = float(engine.predict(ref[None])[0] @ selector[i])
        if isinstance(engine.alphabet, ProductAlphabet):  # keep each position's structure element
            struct = np.where(ref < engine.alphabet.size, ref % m, ref.astype(np.int64) - engine.alphabet.size)
        else:
            struct = np.zeros(length, dtype=np.int64)
        mutants = np.repeat(ref[None], len(positions) * n_bases, axis=0)  # [L * B, L]
        rows = np.arange(len(positions) * n_bases)
        pos = np.repeat(positions, n_bases)
        base = np.tile(np.arange(n_bases), length)
        mutants[rows, pos] = (base * m + struct[pos]).astype(np.uint8)
        scores = engine.predict(mutants) @ selector[i] - ref_score
        out[i, pos, base * m + struct[pos]] = scores
    return out


def reliance(deltas: np.ndarray, present: np.ndarray) -> np.ndarray:
    """How much a prediction relies on each letter present, from its substitutions' changes.

    ``deltas`` [..., L, A] are ISM changes (0 at the letter present), ``present`` [..., L, A] its
    one-hot; the result is minus the mean change of the A - 1 substitutions, at the letter present
    (0 elsewhere): the ISM logos of variant plots and the ``contributions`` of ``seqzoo attribute``.
    """
    return present * (-deltas.sum(axis=-1, keepdims=True) / max(deltas.shape[-1] - 1, 1))
