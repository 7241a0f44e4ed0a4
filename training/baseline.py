"""The k-mer baseline: logistic regression on k-mer frequencies (k = 1..5).

The baseline of the RNN genome paper, reported beside the CNN with ``--baseline``: each sequence
becomes the frequencies of its k-mers for k = 1..kmax (k-mers that touch an unknown base are not
counted), standardised, and a logistic regression (multinomial for softmax tasks, one per label
for multilabel) is fitted on the training split. For large alphabets kmax shrinks so that no k
has more than 4^5 = 1,024 k-mers. It sees the sequence only, never the structure.
"""

from __future__ import annotations

import numpy as np

MAX_KMERS = 4 ** 5


def kmer_features(codes: np.ndarray, alphabet_size: int, kmax: int = 5) -> np.ndarray:
    """k-mer frequencies of encoded sequences.

    Parameters
    ----------
    codes : np.ndarray, shape=(N, L), uint8
        Codes of a sequence alphabet; code ``alphabet_size`` is the unknown base.
    alphabet_size : int
    kmax : int

    Returns
    -------
    np.ndarray, shape=(N, sum_k A^k), float32
        For each k, counts of each k-mer divided by the number of counted windows.
    """
    codes = np.asarray(codes, dtype=np.int64)
    n, length = codes.shape
    blocks = []
    for k in range(1, kmax + 1):
        size = alphabet_size ** k
        if size > MAX_KMERS or k > length:
            break
        windows = length - k + 1
        index = np.zeros((n, windows), dtype=np.int64)
        valid = np.ones((n, windows), dtype=bool)
        for j in range(k):
            part = codes[:, j:j + windows]
            valid &= part < alphabet_size
            index = index * alphabet_size + np.minimum(part, alphabet_size - 1)
        flat = (index + (np.arange(n) * size)[:, None])[valid]
        counts = np.bincount(flat, minlength=n * size).reshape(n, size).astype(np.float32)
        blocks.append(counts / np.maximum(valid.sum(axis=1, keepdims=True), 1))
    return np.concatenate(blocks, axis=1)


class KmerBaseline:
    """Standardised k-mer frequencies -> logistic regression; ``predict_proba`` gives [N, C]."""

    def __init__(self, alphabet_size: int, task: str, seed: int = 0, kmax: int = 5):
        self.alphabet_size, self.task, self.seed, self.kmax = alphabet_size, task, seed, kmax

    def fit(self, codes: np.ndarray, labels: np.ndarray) -> KmerBaseline:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = kmer_features(codes, self.alphabet_size, self.kmax)
        regression = LogisticRegression(max_iter=2000, C=0.1, random_state=self.seed)
        if self.task == "multilabel":
            self.model = make_pipeline(StandardScaler(), OneVsRestClassifier(regression)).fit(x, labels)
        else:
            self.model = make_pipeline(StandardScaler(), regression).fit(x, labels.argmax(axis=1))
        self.n_classes = labels.shape[1]
        return self

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        """Probabilities [N, C] (softmax tasks: over classes; multilabel: per label)."""
        return np.asarray(self.model.predict_proba(kmer_features(codes, self.alphabet_size, self.kmax)),
                          dtype=np.float32)
