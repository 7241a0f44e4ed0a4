"""Plots of a trained model: ROC and precision-recall curves per class, and the training history.

Matplotlib with the Agg backend (no display needed); every figure is written to a PNG file.
Curves come from ``training.metrics`` so a plot and the card's numbers always agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from seqzoo.training.metrics import auroc, average_precision, pr_curve, roc_curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    from seqzoo.zoo.logos import save_figure

    save_figure(fig, path, dpi=110)


def plot_roc(labels: np.ndarray, scores: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> None:
    """ROC curve of every class (one-vs-rest) into ``path`` (PNG); labels, scores [N, C]."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for c, cls in enumerate(classes):
        if labels[:, c].min() == labels[:, c].max():
            continue
        fpr, tpr = roc_curve(labels[:, c], scores[:, c])
        ax.plot(fpr, tpr, label=f"{cls} (AUROC {auroc(labels[:, c], scores[:, c]):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title or "ROC", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def plot_pr(labels: np.ndarray, scores: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> None:
    """Precision-recall curve of every class into ``path`` (PNG); labels, scores [N, C]."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for c, cls in enumerate(classes):
        if labels[:, c].max() == 0 or labels[:, c].min() == 1:
            continue
        recall, precision = pr_curve(labels[:, c], scores[:, c])
        ax.step(recall, precision, where="post",
                label=f"{cls} (AP {average_precision(labels[:, c], scores[:, c]):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title=title or "precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    _save(fig, path)


def plot_history(history: list[dict], path: str | Path, best_epoch: int | list[int] = 0) -> None:
    """Training and validation loss, and validation AUROC, per epoch into ``path`` (PNG).

    An ensemble's history (entries with ``member``) gets one set of curves per member, and
    ``best_epoch`` is then one epoch per member.
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    members = sorted({h.get("member", 0) for h in history})
    bests = best_epoch if isinstance(best_epoch, list) else [best_epoch] * len(members)
    for i, (member, best) in enumerate(zip(members, bests)):
        rows = [h for h in history if h.get("member", 0) == member]
        epochs = [h["epoch"] for h in rows]
        tag = f" (member {member})" if member else ""
        left.plot(epochs, [h["loss"] for h in rows], color=f"C{2 * i}", label="train loss" + tag)
        left.plot(epochs, [h["val_loss"] for h in rows], color=f"C{2 * i + 1}", label="validation loss" + tag)
        right.plot(epochs, [h["val_auroc"] for h in rows], color=f"C{2 * i}", label="member " + str(member))
        for ax in (left, right):
            if best:
                ax.axvline(best, color=f"C{2 * i}", ls="--", lw=0.8)
    for ax in (left, right):
        ax.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend(fontsize=8 if len(members) == 1 else 6)
    right.set_ylabel("validation AUROC")
    if len(members) > 1:
        right.legend(fontsize=6)
    _save(fig, path)
