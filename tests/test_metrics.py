import numpy as np
import pytest
from seqzoo.training.baseline import kmer_features
from seqzoo.training.metrics import auroc, average_precision, compute_metrics, headline
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    precision_recall_fscore_support,
    roc_auc_score,
)


def _case(task, seed, n=300, c=3, ties=False):
    rng = np.random.default_rng(seed)
    if task == "multilabel":
        labels = (rng.random((n, c)) < 0.4).astype(np.float32)
        scores = np.clip(labels * 0.3 + rng.random((n, c)) * 0.7, 0, 1)
    else:
        c = 2 if task == "binary" else c
        y = rng.integers(0, c, n)
        labels = np.eye(c, dtype=np.float32)[y]
        logits = labels * 1.5 + rng.normal(size=(n, c))
        scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if ties:
        scores = np.round(scores, 1)  # many tied scores: the trapezoid/step rules must match
    return labels, scores


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("ties", [False, True])
def test_metrics_equal_scikit_learn(task, ties):
    labels, scores = _case(task, seed=7, ties=ties)
    classes = [f"c{i}" for i in range(labels.shape[1])]
    m = compute_metrics(labels, scores, classes, task)
    if task == "multilabel":
        pred = (scores >= 0.5).astype(int)
        assert m["accuracy"] == pytest.approx(accuracy_score(labels, pred), abs=1e-12)
        p, r, f, s = precision_recall_fscore_support(labels, pred, zero_division=0)
    else:
        y, pred = labels.argmax(1), scores.argmax(1)
        assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
        p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(len(classes)), zero_division=0)
    for i, cls in enumerate(classes):
        assert m["auroc"][cls] == pytest.approx(roc_auc_score(labels[:, i], scores[:, i]), abs=1e-12)
        assert m["ap"][cls] == pytest.approx(average_precision_score(labels[:, i], scores[:, i]), abs=1e-12)
        assert (m["precision"][cls], m["recall"][cls], m["f1"][cls]) == pytest.approx((p[i], r[i], f[i]), abs=1e-12)
        assert m["support"][cls] == s[i]
    assert m["weighted"]["auroc"] == pytest.approx(roc_auc_score(labels, scores, average="weighted")
                                                   if task != "binary" else roc_auc_score(labels[:, 1], scores[:, 1]),
                                                   abs=1e-12)
    assert m["weighted"]["ap"] == pytest.approx(average_precision_score(labels, scores, average="weighted"), abs=1e-12)
    assert m["weighted"]["f1"] == pytest.approx(np.average(f, weights=s), abs=1e-12)


def test_single_valued_labels_give_none_and_headline():
    labels = np.array([[0, 1], [0, 1]], dtype=np.float32)
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert auroc(labels[:, 1], scores[:, 1]) is None and average_precision(labels[:, 0], scores[:, 0]) is None
    m = compute_metrics(labels, scores, ["a", "b"], "binary")
    assert m["accuracy"] == 0.5 and m["auroc"]["b"] is None
    labels, scores = _case("binary", seed=1)
    m = compute_metrics(labels, scores, ["neg", "pos"], "binary")
    assert headline(m, ["neg", "pos"], "binary") == pytest.approx(roc_auc_score(labels[:, 1], scores[:, 1]))


def test_kmer_features_count_windows_and_skip_unknown():
    codes = np.array([[0, 1, 0, 1, 4]], dtype=np.uint8)  # A C A C N (DNA, code 4 = N)
    x = kmer_features(codes, 4, kmax=2)
    assert x.shape == (1, 4 + 16)
    assert x[0, :4].tolist() == [0.5, 0.5, 0, 0]  # 4 counted bases: 2 A, 2 C
    dimers = x[0, 4:]
    assert dimers[0 * 4 + 1] == pytest.approx(2 / 3) and dimers[1 * 4 + 0] == pytest.approx(1 / 3)
    assert kmer_features(np.zeros((2, 10), np.uint8), 20).shape == (2, 20 + 400)  # protein: k <= 2
