"""Sequence logos (logomaker) for motifs and attribution maps, saved as PNG files.

Shared by training (motif and attribution logos of the report) and serving (variant attribution
plots), so it lives in the core; it needs matplotlib and logomaker, never PyTorch.

A PWM logo stacks each column's letters with heights ``p * information content`` (bits), the
way motif databases draw them; an attribution logo stacks the signed attribution of each letter
(the observed letter only, or every letter). Every picture of seqzoo's reports that shows
letters goes through here, so sequence, structure and attribution logos look alike.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import write_bytes

COLOURS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839", "U": "#D62839",
           # structure elements (pysster's annotation) and dot-bracket
           "F": "#7f7f7f", "T_": "#bcbd22", "S": "#1f77b4", "H": "#d62728", "I": "#2ca02c", "M": "#9467bd",
           "(": "#1f77b4", ")": "#17becf", ".": "#d62728"}
# logomaker draws glyphs from a font; these characters render poorly, so they are shown as letters
_DISPLAY = {"(": "<", ")": ">", ".": "o"}


def _frame(matrix: np.ndarray, letters: str) -> pd.DataFrame:
    shown = [_DISPLAY.get(c, c) for c in letters]
    if len(set(shown)) != len(shown):
        raise InputError(f"letters {letters!r} repeat after display mapping")
    return pd.DataFrame(np.asarray(matrix, dtype=float), columns=shown)


def _colours(letters: str, structure: bool) -> dict:
    out = {}
    for c in letters:
        key = "T_" if structure and c == "T" else c
        out[_DISPLAY.get(c, c)] = COLOURS.get(key, "#444444")
    return out


def information_content(pwm: np.ndarray) -> np.ndarray:
    """Bits per column of a PWM [W, A]: log2(A) - entropy (float [W])."""
    p = np.clip(np.asarray(pwm, dtype=float), 1e-12, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return np.log2(p.shape[1]) + (p * np.log2(p)).sum(axis=1)


def draw_pwm(ax, pwm: np.ndarray, letters: str, title: str = "", structure: bool = False) -> None:
    """Draw a PWM [W, A] as an information-content logo on a matplotlib axis."""
    import logomaker

    pwm = np.asarray(pwm, dtype=float)
    if pwm.ndim != 2 or pwm.shape[1] != len(letters):
        raise InputError(f"pwm of shape {pwm.shape} does not match the letters {letters!r}")
    heights = pwm / pwm.sum(axis=1, keepdims=True) * information_content(pwm)[:, None]
    logomaker.Logo(_frame(heights, letters), ax=ax, color_scheme=_colours(letters, structure),
                   font_name="DejaVu Sans")
    ax.set_ylim(0, np.log2(len(letters)))
    ax.set_ylabel("bits")
    ax.set_xticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)


def draw_weights(ax, weights: np.ndarray, letters: str, title: str = "", structure: bool = False,
                 start: int = 0) -> None:
    """Draw signed per-letter weights [L, A] (attributions) as a logo around zero; the x axis counts
    positions from ``start`` (a window's own coordinates when only part of it is drawn)."""
    import logomaker

    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[1] != len(letters):
        raise InputError(f"weights of shape {weights.shape} do not match the letters {letters!r}")
    frame = _frame(weights, letters)
    frame.index = np.arange(start, start + len(frame))
    logomaker.Logo(frame, ax=ax, color_scheme=_colours(letters, structure), font_name="DejaVu Sans",
                   flip_below=False)
    ax.axhline(0, color="#888888", lw=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)


def figure_png(fig, dpi: int = 90) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed), in a palette of 256 colours: plots
    and logos lose nothing visible and shrink about threefold (reports, versions, registry)."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def save_figure(fig, path: str | os.PathLike, dpi: int = 90) -> Path:
    """Save a matplotlib figure as PNG atomically, close it, return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes(path, figure_png(fig, dpi))


def pwm_logos(panels: list[tuple[np.ndarray, str, str, bool]], dpi: int = 90) -> bytes:
    """PNG bytes of PWM logos stacked vertically.

    Parameters
    ----------
    panels : list of (pwm [W, A], letters, title, is_structure)
    """
    if not panels:
        raise InputError("no logos to draw")
    width = max(p[0].shape[0] for p in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(2.5, 0.32 * width), 1.4 * len(panels)), squeeze=False)
    for ax, (pwm, letters, title, structure) in zip(axes[:, 0], panels):
        draw_pwm(ax, pwm, letters, title, structure)
    return figure_png(fig, dpi)


def save_pwm_logos(path: str | os.PathLike, panels: list[tuple[np.ndarray, str, str, bool]]) -> Path:
    """Save one PNG with PWM logos stacked vertically (``pwm_logos``) atomically at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes(path, pwm_logos(panels))
