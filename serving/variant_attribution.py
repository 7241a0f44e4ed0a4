"""Attribution maps of both alleles of each variant: integrated gradients or in-silico mutagenesis.

For every scored variant the ref and alt windows are explained for one target class (default:
the card's positive class, zoo.card.default_class):

* ``ig``: integrated gradients through the version's ``ig.onnx`` (all-zero baseline, ``steps``
  midpoint steps, 50 by default): ``[L, A]``, non-zero only at each window's own bases; the values sum to
  about p(window) - p(all-N).
* ``ism``: in-silico mutagenesis through the forward graph only: ``[L, A]`` where entry
  ``[j, a]`` is p(window with letter a at j) - p(window); the window's own letter is 0.

The arrays go to an ``.npz`` keyed by variant ID (``<key>/ref``, ``<key>/alt`` float32
[L, A]; ``<key>/spans`` int64 [[ref_start, ref_end], [alt_start, alt_end]]) plus ``__meta__``,
a JSON string naming the model, method, target class, steps and one-hot columns. The file is
streamed member by member (bounded memory) under a temporary name and renamed at the end.

Plots (DeepRiPe's figure 7): one PNG per variant, the ref logo above the alt logo, the allele
shaded in both. IG logos show the attributions as they are; ISM logos show, at each position,
the window's own letter with height ``-mean`` of its substitutions (how much the prediction
relies on that letter). Structure models are drawn per base (structure columns summed).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import AtomicFile

METHODS = ("ig", "ism")

# attribute(sequences, method, target, steps) -> float32 [N, L, A]
AttributeFn = Callable[[list, str, "str | None", int], np.ndarray]


def attribute_pairs(attribute: AttributeFn, ref_windows: list[str], alt_windows: list[str], method: str,
                    target: str | None = None, steps: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Attributions of N ref and N alt windows in one call.

    Returns
    -------
    ref_attr, alt_attr : np.ndarray, shape=(N, L, A), float32
    """
    if len(ref_windows) != len(alt_windows):
        raise InputError(f"{len(ref_windows)} ref windows but {len(alt_windows)} alt windows")
    n = len(ref_windows)
    if n == 0:
        raise InputError("no windows to explain")
    both = np.asarray(attribute(list(ref_windows) + list(alt_windows), method, target, steps), dtype=np.float32)
    return both[:n], both[n:]


def _unique(key: str, seen: dict[str, int]) -> str:
    count = seen.get(key, 0)
    seen[key] = count + 1
    return key if count == 0 else f"{key}#{count + 1}"


class AttributionWriter(AtomicFile):
    """Stream attribution maps into an ``.npz`` (complete or absent).

    Parameters
    ----------
    path : str or Path
        The ``.npz`` to write.
    meta : dict
        Written as ``__meta__`` (JSON): model, method, target, steps, columns, strand...
    """

    def __init__(self, path: str | os.PathLike, meta: dict) -> None:
        if Path(path).suffix != ".npz":
            raise InputError(f"attribution output {path} must end in .npz")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path)
        self._zip = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self._seen: dict[str, int] = {}
        self.count = 0
        self._put("__meta__", np.array(json.dumps(meta, sort_keys=True)))

    def _put(self, name: str, array: np.ndarray) -> None:
        with self._zip.open(name + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)

    def add(self, key: str, ref_attr: np.ndarray, alt_attr: np.ndarray, ref_span: tuple[int, int],
            alt_span: tuple[int, int]) -> str:
        """Write one variant's maps; returns the key used (``#2`` appended to a repeated ID)."""
        key = _unique(key, self._seen)
        self._put(f"{key}/ref", np.asarray(ref_attr, dtype=np.float32))
        self._put(f"{key}/alt", np.asarray(alt_attr, dtype=np.float32))
        self._put(f"{key}/spans", np.array([ref_span, alt_span], dtype=np.int64))
        self.count += 1
        return key

    def _close(self) -> None:
        self._zip.close()


def logo_matrix(attr: np.ndarray, window: str, method: str, columns: list[str], letters: str) -> np.ndarray:
    """The [L, B] matrix a logo draws for one window (B nucleotide letters; see the module docstring).

    Parameters
    ----------
    attr : np.ndarray, shape=(L, A)
        Attributions over the model's one-hot columns.
    window : str
        The window's letters (for ISM: which letter is the window's own).
    method : {"ig", "ism"}
    columns : list of str
        The A column names (single letters, or base+structure pairs for structure models).
    letters : str
        The B nucleotide letters.

    Returns
    -------
    np.ndarray, shape=(L, B)
    """
    base_of = [letters.index(c[0]) for c in columns]
    matrix = np.zeros((attr.shape[0], len(letters)), dtype=np.float64)
    for col, base in enumerate(base_of):
        matrix[:, base] += attr[:, col]
    if method == "ig":
        return matrix
    from seqzoo.serving.ism import reliance

    present = np.zeros_like(matrix)
    for j, char in enumerate(window.upper().replace("T", "U") if "U" in letters else window.upper()):
        if char in letters:
            present[j, letters.index(char)] = 1.0
    return reliance(matrix, present)


def plot_variant(path: str | os.PathLike, title: str, ref_matrix: np.ndarray, alt_matrix: np.ndarray,
                 letters: str, ref_span: tuple[int, int], alt_span: tuple[int, int], width: int = 101) -> Path:
    """Write one PNG: the ref logo above the alt logo, each allele shaded (matplotlib Agg, logomaker).

    Only ``width`` positions around the alleles are drawn (all of a shorter window): a logo of
    every position of a long window is unreadable, and logomaker draws every glyph (~5 ms each).
    The x axis keeps window coordinates.

    Parameters
    ----------
    path : str or Path
        The PNG to write (atomically).
    ref_matrix, alt_matrix : np.ndarray, shape=(L, B)
        From :func:`logo_matrix`.
    letters : str
        The B column letters.
    ref_span, alt_span : tuple of int
        ``[start, end)`` of each allele in its window.
    """
    import matplotlib.pyplot as plt
    from seqzoo.zoo.logos import draw_weights, save_figure

    length = ref_matrix.shape[0]
    centre = (min(ref_span[0], alt_span[0]) + max(ref_span[1], alt_span[1])) // 2
    lo = max(0, min(centre - width // 2, length - width))
    hi = min(length, lo + width)
    fig, axes = plt.subplots(2, 1, figsize=(max(8.0, (hi - lo) / 9), 4.2), sharex=True, sharey=True)
    lim = max(float(np.abs(ref_matrix[lo:hi]).max()), float(np.abs(alt_matrix[lo:hi]).max()), 1e-9) * 1.1
    for ax, matrix, span, label in ((axes[0], ref_matrix, ref_span, "ref"), (axes[1], alt_matrix, alt_span, "alt")):
        draw_weights(ax, matrix[lo:hi], letters, start=lo)
        ax.axvspan(span[0] - 0.5, span[1] - 0.5, color="gold", alpha=0.35, lw=0)
        ax.set_ylim(-lim, lim)
        ax.set_xlim(lo - 0.5, hi - 0.5)
        ax.set_ylabel(label)
    axes[0].set_title(title, fontsize=9)
    axes[1].set_xlabel("position in window (0-based)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=80)


def plot_name(index: int, key: str) -> str:
    """A safe file name for variant ``index``'s plot: ``000012_NC_007795_22181_C_A.png``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:80]
    return f"{index:06d}_{safe}.png"


BATCH = 16  # variants explained per call: 32 windows x the IG passes keeps the graph's activations small


def variant_maps(scorer, rows: list, method: str, target: str, steps: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The maps of both alleles of these VariantWindows (all scored): float32 [n, L, A] ref and alt,
    ``BATCH`` variants per attribution call of ``scorer`` (a LocalScorer or RemoteScorer)."""
    if not rows:
        empty = np.zeros((0, int(scorer.length or 0), len(scorer.columns)), dtype=np.float32)
        return empty, empty
    parts = [attribute_pairs(scorer.attribute, [r.ref_window for r in rows[start:start + BATCH]],
                             [r.alt_window for r in rows[start:start + BATCH]], method, target, steps)
             for start in range(0, len(rows), BATCH)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class VariantExplainer:
    """Writes the attribution maps of both alleles of scored variants (``variant_maps``) into an
    ``.npz`` and/or one plot each.

    Parameters
    ----------
    scorer : LocalScorer or RemoteScorer
        The model's facts (ref, digest, columns, alphabet).
    method : {"ig", "ism"}
    target : str
        The class explained.
    steps : int
        Integrated-gradients steps per window (0: the engine's default, 50 midpoint steps).
    npz : str, optional
        The ``.npz`` of maps (``AttributionWriter``).
    plots : str, optional
        A folder for one PNG per variant (ref and alt logos).
    strand : str
    length : int
    """

    def __init__(self, scorer, method: str, target: str, steps: int, npz: str | None, plots: str | None,
                 strand: str, length: int):
        from seqzoo.zoo.alphabets import sequence_letters

        self.target = target
        self.scorer, self.method, self.steps = scorer, method, steps
        self.letters = sequence_letters(scorer.alphabet)
        self.plots = Path(plots) if plots else None
        if self.plots:
            self.plots.mkdir(parents=True, exist_ok=True)
        self.plotted = 0
        self.writer = None if not npz else AttributionWriter(npz, {
            "model": scorer.ref, "digest": scorer.digest, "method": method,
            "target": self.target, "steps": steps if method == "ig" else 0,
            "columns": list(scorer.columns), "strand": strand, "length": length,
            "layout": "<key>/ref, <key>/alt: float32 [L, A]; <key>/spans: [[ref_start, ref_end], [alt_start, alt_end]]"})

    def write(self, rows: list, maps: tuple[np.ndarray, np.ndarray]) -> None:
        """Write these VariantWindows' maps (``variant_maps`` of the same rows)."""
        ref_attr, alt_attr = maps
        for k, row in enumerate(rows):
            key = row.key
            if self.writer is not None:
                key = self.writer.add(row.key, ref_attr[k], alt_attr[k], row.ref_span, row.alt_span)
            if self.plots is not None:
                self._plot(key, row, ref_attr[k], alt_attr[k])

    def _plot(self, key: str, row, ref_attr: np.ndarray, alt_attr: np.ndarray) -> None:
        columns = list(self.scorer.columns)
        title = (f"{key}  |  {self.scorer.ref}  class {self.target}"
                 f"  |  {self.method}  |  strand {row.strand}")
        plot_variant(self.plots / plot_name(self.plotted, key), title,
                     logo_matrix(ref_attr, row.ref_window, self.method, columns, self.letters),
                     logo_matrix(alt_attr, row.alt_window, self.method, columns, self.letters),
                     self.letters, row.ref_span, row.alt_span)
        self.plotted += 1

    def commit(self) -> None:
        if self.writer is not None:
            self.writer.commit()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
