"""Attribution of a multimodal model's track inputs: DeepRiPe's region attribution maps.

Integrated gradients from each input's own baseline (0 for the sequence, 1/letters for a track)
give every track position and letter a share of the class probability. Averaged over the test
positives a model explains, the map says where and through which letter a track matters: for a
model that learned "this motif binds in 3'UTRs", the 3'UTR row lights up around the centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from seqzoo.zoo.numeric import NAME as NUMERIC


def track_maps(attributions: np.ndarray, onehot: np.ndarray, inputs) -> list[dict]:
    """Per track: the mean attribution [L_t, A_t] over sequences, and each letter's share.

    Parameters
    ----------
    attributions : np.ndarray, shape=(N, L, A)
        Integrated gradients of the packed input (from the inputs' baselines).
    onehot : np.ndarray, shape=(N, L, A)
        The packed one-hot input (which letter each position holds).
    inputs : zoo.inputs.Inputs

    Returns
    -------
    list of dict
        ``{"name", "letters", "mean": [L_t, A_t] array, "present": [L_t, A_t] array (the mean
        attribution at the letters the sequences hold), "per_letter": {letter: total attribution
        at positions holding it, averaged over sequences}}``, one per track; a numeric track has
        one column, named ``value``, held at every position.
    """
    out = []
    for track, (r0, r1, c0, c1) in zip(inputs.tracks, inputs.slices[1:]):
        attr = attributions[:, r0:r1, c0:c1]
        numeric = track.source == NUMERIC  # one column of numbers: every position holds it
        held = np.ones_like(attr, dtype=bool) if numeric else onehot[:, r0:r1, c0:c1] > 0
        letters = ["value"] if numeric else list(track.alphabet.letters)
        present = (attr * held).mean(axis=0)
        out.append({"name": track.name, "letters": letters, "mean": attr.mean(axis=0),
                    "present": present, "per_letter": {letter: round(float(present[:, j].sum()), 6)
                                                        for j, letter in enumerate(letters)}})
    return out

def plot_track_maps(path: str | Path, maps: list[dict], title: str) -> Path:
    """One heatmap per track (letters x positions) of the attribution at the letters held."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(maps), 1, figsize=(10, 1.2 + 0.45 * sum(len(m["letters"]) for m in maps)),
                             squeeze=False)
    for ax, m in zip(axes[:, 0], maps):
        values = m["present"].T
        limit = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_yticks(range(len(m["letters"])), list(m["letters"]))
        ax.set_xlabel(f"{m['name']} position")
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    axes[0, 0].set_title(title)
    from seqzoo.zoo.logos import save_figure

    return save_figure(fig, path, dpi=110)
