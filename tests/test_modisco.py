"""TF-MoDISco (modisco-lite) as the interpretation's attribution-motif finder: a motif planted in
the attributions comes back as a pattern, trimmed to the motif."""

from __future__ import annotations

import numpy as np
from seqzoo.training import modisco


def test_a_planted_attribution_motif_is_found():
    rng = np.random.default_rng(0)
    n, length, motif = 400, 120, "TGTAAATA"
    codes = rng.integers(0, 4, (n, length))
    starts = rng.integers(10, length - 20, n)
    for i, s in enumerate(starts):
        codes[i, s:s + len(motif)] = ["ACGT".index(c) for c in motif]
    onehot = np.eye(4, dtype=np.float32)[codes]
    hypothetical = rng.normal(0, 0.02, onehot.shape).astype(np.float32)
    for i, s in enumerate(starts):  # the model would credit the motif's letters
        hypothetical[i, s:s + len(motif)] += onehot[i, s:s + len(motif)]
    assert modisco.available(4) and not modisco.available(20)
    motifs = modisco.tfmodisco_motifs(onehot, hypothetical)
    assert motifs, "TF-MoDISco found no pattern"
    best = motifs[0]
    consensus = "".join("ACGT"[k] for k in best.pwm.argmax(axis=1))
    assert motif in consensus or motif[1:-1] in consensus, consensus
    assert best.n_seqlets >= modisco.MIN_SEQLETS and 0 < best.fraction <= 1
    assert np.allclose(best.pwm.sum(axis=1), 1)
