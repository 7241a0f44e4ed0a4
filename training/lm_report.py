"""The report of a language model: perplexity curves, surprisal along a held-out stretch, and the
k-mers the model finds most and least surprising (what it learned of the genome's grammar)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
from seqzoo.zoo.io.atomic import write_text

KMER = 6
MIN_COUNT = 20


def kmer_surprisal(codes: np.ndarray, positions: np.ndarray, model: np.ndarray, markov: np.ndarray,
                   k: int = KMER, top: int = 12) -> dict:
    """Mean surprisal (nats) of the last base of each k-mer ending at a scored position.

    Returns ``{"easiest": [...], "hardest": [...]}`` rows ``{"kmer", "count", "model", "markov"}``
    of the k-mers seen at least MIN_COUNT times, by the model's mean surprisal.
    """
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    keep = positions >= k - 1
    positions, model, markov = positions[keep], model[keep], markov[keep]
    windows = np.stack([codes[positions - (k - 1) + j] for j in range(k)], axis=1)
    known = (windows < 4).all(axis=1)
    index = (windows[known].astype(np.int64) * (4 ** np.arange(k - 1, -1, -1))).sum(axis=1)
    count = np.bincount(index, minlength=4 ** k)
    model_sum = np.bincount(index, weights=model[known], minlength=4 ** k)
    markov_sum = np.bincount(index, weights=markov[known], minlength=4 ** k)
    seen = np.flatnonzero(count >= MIN_COUNT)
    mean = model_sum[seen] / count[seen]
    order = seen[np.argsort(mean, kind="stable")]

    def row(i: int) -> dict:
        kmer = letters[[(i // 4 ** (k - 1 - j)) % 4 for j in range(k)]].tobytes().decode()
        return {"kmer": kmer, "count": int(count[i]), "model": round(float(model_sum[i] / count[i]), 4),
                "markov": round(float(markov_sum[i] / count[i]), 4)}

    return {"easiest": [row(i) for i in order[:top]], "hardest": [row(i) for i in order[::-1][:top]]}


def _png(fig) -> str:
    from seqzoo.zoo.logos import figure_png

    return base64.b64encode(figure_png(fig, dpi=100)).decode()


def write_report(run_dir: Path, path: Path, name: str) -> dict:
    """report.html for a language-model run (self-contained: pictures inlined); returns the k-mer table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = json.loads((run_dir / "history.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with np.load(run_dir / "surprisal.npz") as data:
        codes, positions, model, markov = (data[k] for k in ("codes", "positions", "model", "markov"))
    markov_ppl = metrics["markov"]["perplexity"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_perplexity"] for h in history], "o-", label="training")
    ax.plot(epochs, [h["val_perplexity"] for h in history], "o-", label="validation")
    ax.axhline(markov_ppl["val"], color="grey", ls="--", label=f"Markov order {metrics['markov']['order']} (val)")
    ax.set(xlabel="epoch", ylabel="perplexity", title="perplexity per epoch")
    ax.legend()
    curves = _png(fig)
    shown = slice(0, min(600, len(positions)))
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(positions[shown], model[shown], lw=0.8, label="model")
    ax.plot(positions[shown], markov[shown], lw=0.8, alpha=0.7, label="Markov")
    ax.set(xlabel="position in the first test stretch", ylabel="surprisal (nats)",
           title="-log p(base | preceding bases) along a held-out stretch")
    ax.legend()
    trace = _png(fig)
    kmers = kmer_surprisal(codes, positions, model, markov)

    def table(rows: list[dict]) -> str:
        body = "".join(f"<tr><td class='mono'>{r['kmer']}</td><td>{r['count']}</td><td>{r['model']:.3f}</td>"
                       f"<td>{r['markov']:.3f}</td></tr>" for r in rows)
        return f"<table><tr><th>{KMER}-mer</th><th>seen</th><th>model</th><th>Markov</th></tr>{body}</table>"

    ppl = metrics["perplexity"]
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}: language model</title>"
            "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{padding:2px 8px}"
            ".mono{font-family:monospace}</style></head><body>"
            f"<h1>{html.escape(name)}: genome language model</h1>"
            f"<p>Test perplexity {ppl['test']:.4f} (validation {ppl['val']:.4f}); the best Markov chain (order "
            f"{metrics['markov']['order']}, chosen on validation) {markov_ppl['test']:.4f} on the same "
            f"{metrics['positions']['test']:,} test positions. Best epoch {metrics['best_epoch']} of "
            f"{metrics['epochs_run']}, {metrics['seconds']:.0f} s.</p>"
            f"<img src='data:image/png;base64,{curves}'><h2>Surprisal along a held-out stretch</h2>"
            f"<img src='data:image/png;base64,{trace}' style='width:100%'>"
            f"<h2>Learned k-mer preferences</h2><p>Mean surprisal (nats) of the last base of each {KMER}-mer "
            f"(seen at least {MIN_COUNT} times in the first test stretch): the contexts the model predicts best "
            f"and worst.</p><h3>Most predictable</h3>{table(kmers['easiest'])}"
            f"<h3>Least predictable</h3>{table(kmers['hardest'])}</body></html>")
    write_text(path, text)
    return kmers
