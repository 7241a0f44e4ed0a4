"""Classification metrics: accuracy and per-class AUROC, AP, precision, recall, F1.

Computed with numpy to the same definitions as scikit-learn (``roc_auc_score`` with ties
handled by the trapezoid rule, ``average_precision_score`` as the step-wise sum
``sum (R_n - R_{n-1}) P_n``, ``precision_recall_fscore_support`` one-vs-rest), which the tests
check. Predictions: the arg-max class for softmax tasks, probability >= 0.5 for multilabel.
A class that has only one label value in a split gets ``None`` for AUROC and AP.
"""

from __future__ import annotations

import numpy as np


def _curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct threshold (descending), and thresholds."""
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    distinct = np.flatnonzero(np.diff(s)) if len(s) > 1 else np.zeros(0, dtype=np.int64)
    ends = np.r_[distinct, len(y) - 1]
    tps = np.cumsum(y)[ends]
    fps = 1 + ends - tps
    return tps, fps, s[ends]


def roc_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) starting at (0, 0); y 0/1 [N], s scores [N]."""
    y, s = np.asarray(y, dtype=np.float64), np.asarray(s, dtype=np.float64)
    tps, fps, _ = _curve(y, s)
    tpr = np.r_[0, tps] / max(tps[-1], 1)
    fpr = np.r_[0, fps] / max(fps[-1], 1)
    return fpr, tpr


def pr_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) from the highest threshold down, ending at recall 1."""
    y, s = np.asarray(y, dtype=np.float64), np.asarray(s, dtype=np.float64)
    tps, fps, _ = _curve(y, s)
    precision = tps / (tps + fps)
    recall = tps / max(tps[-1], 1)
    return np.r_[0, recall], np.r_[1, precision]


def auroc(y: np.ndarray, s: np.ndarray) -> float | None:
    """Area under the ROC curve (trapezoids), None when y holds one value only."""
    y = np.asarray(y)
    if y.min() == y.max():
        return None
    fpr, tpr = roc_curve(y, s)
    return float(np.trapezoid(tpr, fpr))


def average_precision(y: np.ndarray, s: np.ndarray) -> float | None:
    """Average precision: sum over thresholds of (recall step) x precision; None without positives."""
    y = np.asarray(y)
    if y.max() == 0 or y.min() == y.max():
        return None
    recall, precision = pr_curve(y, s)
    return float(np.sum(np.diff(recall) * precision[1:]))


def predictions(scores: np.ndarray, task: str) -> np.ndarray:
    """0/1 predictions [N, C]: arg-max one-hot (binary, multiclass) or scores >= 0.5 (multilabel)."""
    scores = np.asarray(scores)
    if task == "multilabel":
        return (scores >= 0.5).astype(np.float32)
    out = np.zeros_like(scores, dtype=np.float32)
    out[np.arange(len(scores)), scores.argmax(axis=1)] = 1.0
    return out


def compute_metrics(labels: np.ndarray, scores: np.ndarray, classes: list[str], task: str) -> dict:
    """All metrics of one split.

    Parameters
    ----------
    labels : np.ndarray, shape=(N, C), 0/1
    scores : np.ndarray, shape=(N, C), probabilities
    classes : list of str, length C
    task : {"binary", "multiclass", "multilabel"}

    Returns
    -------
    dict
        ``{"n", "accuracy", "auroc": {cls: x}, "ap": {...}, "precision": {...}, "recall": {...},
        "f1": {...}, "support": {...}, "weighted": {"auroc", "ap", "precision", "recall", "f1"}}``.
        Accuracy is the fraction of records whose prediction is entirely right (subset accuracy
        for multilabel). Weighted values average the classes by their number of positives.
    """
    labels, scores = np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    pred = predictions(scores, task).astype(np.float64)
    out: dict = {"n": len(labels), "accuracy": float(np.mean(np.all(pred == labels, axis=1)))}
    for name in ("auroc", "ap", "precision", "recall", "f1", "support"):
        out[name] = {}
    for c, cls in enumerate(classes):
        y, s, p = labels[:, c], scores[:, c], pred[:, c]
        tp = float(np.sum((p == 1) & (y == 1)))
        precision = float(tp / p.sum()) if p.sum() else 0.0
        recall = float(tp / y.sum()) if y.sum() else 0.0
        out["auroc"][cls] = auroc(y, s)
        out["ap"][cls] = average_precision(y, s)
        out["precision"][cls] = precision
        out["recall"][cls] = recall
        out["f1"][cls] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out["support"][cls] = int(y.sum())
    support = np.array([out["support"][c] for c in classes], dtype=np.float64)
    out["weighted"] = {}
    for name in ("auroc", "ap", "precision", "recall", "f1"):
        values = [out[name][c] for c in classes]
        keep = np.array([v is not None for v in values]) & (support > 0)
        out["weighted"][name] = (float(np.average([v for v, k in zip(values, keep) if k], weights=support[keep]))
                                 if keep.any() else None)
    return out


def headline(metrics: dict, classes: list[str], task: str, key: str = "auroc") -> float:
    """One number to rank models by: the positive class's value for binary, else the weighted one."""
    value = metrics[key][classes[1]] if task == "binary" else metrics["weighted"][key]
    return float("nan") if value is None else float(value)
