"""A language model's per-base surprisal along a genome: -ln p(base | the bases before it).

``seqzoo annotate`` on a language model writes this track. A stretch is read with ``B = L // 2``
bases before it and tiled with the model's windows of ``L`` bases (``zoo.tiling``), so every base
is scored once with at least ``B`` (at most ``L - 1``) bases of context. On the
minus strand the stretch is reverse-complemented: the value at p is the surprisal of the
complementary base reading 3' to 5'. Unknown bases get NaN (no value in the track).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from seqzoo.zoo.alphabets import reverse_complement
from seqzoo.zoo.tiling import tile

CHUNK = 1 << 15  # positions read and scored at a time


def stretch_surprisal(engine, codes: np.ndarray) -> np.ndarray:
    """Surprisal [n - L // 2] of the bases of ``codes`` [n] from offset L // 2 on."""
    length = engine.length
    pad = max(0, length - len(codes))  # a stretch shorter than a window: unknown bases before it
    codes = np.concatenate([np.full(pad, engine.alphabet.unknown_code, dtype=np.uint8), codes])
    starts, firsts = tile(len(codes), length)
    windows = np.lib.stride_tricks.sliding_window_view(codes, length)[starts]
    values = engine.surprisal(np.ascontiguousarray(windows))
    out = np.full(len(codes), np.nan, dtype=np.float32)
    for s, first, row in zip(starts, firsts, values):
        out[s + first:s + length] = row[first:]
    return out[pad + length // 2:]


def region_surprisal(engine, genome, region, stride: int, strand: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions [k], surprisal [k, 1]) of a region's every ``stride``-th base, CHUNK at a time."""
    burn = engine.length // 2
    for first in range(region.start, region.end, CHUNK * stride):
        last = min(region.end, first + CHUNK * stride)
        if strand == "+":
            segment = genome.fetch(region.chrom, first - burn, last)
        else:
            segment = reverse_complement(genome.fetch(region.chrom, first, last + burn))
        codes = engine.alphabet.encode_one(segment, convert_tu=True)
        values = stretch_surprisal(engine, codes)
        if strand == "-":
            values = values[::-1]
        positions = np.arange(first, last, dtype=np.int64)
        keep = slice(0, None, stride)
        yield positions[keep], values[keep, None]
