"""A numeric track's scale: per-position numbers (a bigWig's signal) as codes of one input column.

Every path that carries a model's input (the engine, the batcher, the wire, ONNX) carries one
uint8 code per position, and the graph's first step looks each code up in a table. A numeric
track keeps that shape: its values are cut into at most ``LEVELS`` levels at the training values'
quantiles, each level is one code, and the table row of a level is the value the network sees,
one column wide: the level's mid-rank among the training values, from -1 (lowest) to 1 (highest).
Ranks make any signal's scale (read coverage, conservation scores, ...) the same to the network,
and a heavy tail cannot swamp it. Code 0 is "no data" (NaN, or a position the bigWig does not
cover) and reads 0, the median; it is also the default integrated-gradients baseline.

The scale travels in the card (``edges``, the cut points; ``values``, the mean training value in
each level, in the signal's own units; ``ranks``, what the network sees), so every reader encodes
a number exactly as training did. ``decode`` gives each level's mean value back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from seqzoo.zoo.errors import InputError

LEVELS = 64  # at most; values with many ties (zeros of a coverage track) get fewer
NAME = "numeric"


@dataclass(frozen=True)
class Levels:
    """The scale of one numeric track (alphabet-like: ``size``, ``num_codes``, ``table``,
    ``encode``, ``decode``, ``to_dict``).

    Parameters
    ----------
    edges : tuple of float
        K - 1 increasing cut points: level k holds edges[k-1] <= x < edges[k].
    values : tuple of float
        K: the mean training value of each level (what ``decode`` returns).
    ranks : tuple of float
        K: each level's mid-rank among the training values, scaled to [-1, 1] (the network's input).
    """

    edges: tuple[float, ...]
    values: tuple[float, ...]
    ranks: tuple[float, ...]
    name: str = NAME
    letters: str = ""  # no letters: one column of numbers

    def __post_init__(self) -> None:
        k = len(self.values)
        if k < 1 or len(self.ranks) != k or len(self.edges) != k - 1:
            raise InputError(f"a numeric scale needs K values and ranks and K - 1 edges, got {len(self.edges)} "
                             f"edges, {k} values, {len(self.ranks)} ranks")
        if k + 1 > 255 or np.any(np.diff(self.edges) <= 0):
            raise InputError("a numeric scale's edges must increase, with at most 254 levels")

    @classmethod
    def fit(cls, values: np.ndarray, levels: int = LEVELS, what: str = "track") -> Levels:
        """The scale of the finite numbers in ``values`` (any shape; NaN = no data)."""
        finite = np.sort(np.asarray(values, dtype=np.float64).ravel())
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            raise InputError(f"the {what} has no data at any training record (every value is missing)")
        edges = np.unique(np.quantile(finite, np.arange(1, levels) / levels, method="higher"))
        edges = edges[edges > finite[0]]  # a cut at the minimum would leave an empty first level
        level = np.searchsorted(edges, finite, side="right")
        counts = np.bincount(level, minlength=len(edges) + 1)
        means = np.bincount(level, weights=finite, minlength=len(edges) + 1) / counts
        below = np.concatenate([[0], np.cumsum(counts)[:-1]])
        ranks = 2.0 * (below + counts / 2.0) / finite.size - 1.0
        return cls(tuple(float(e) for e in edges), tuple(float(m) for m in means), tuple(float(r) for r in ranks))

    @property
    def size(self) -> int:
        return 1

    @property
    def num_codes(self) -> int:
        return len(self.values) + 1

    @property
    def table(self) -> np.ndarray:
        """float32 [num_codes, 1]: code 0 (no data) reads 0, code k the rank of level k - 1."""
        return np.asarray([[0.0], *([r] for r in self.ranks)], dtype=np.float32)

    def encode(self, rows: Sequence, convert_tu: bool = False, what: str = "track") -> np.ndarray:
        """Numbers [N, L] (an array, or N sequences of numbers; NaN or None = no data) -> codes uint8 [N, L]."""
        converted = []
        for i, row in enumerate(rows):
            try:
                if isinstance(row, (str, bytes)):
                    raise TypeError
                converted.append(np.asarray(row, dtype=np.float64).reshape(-1))
            except (TypeError, ValueError):
                raise InputError(f"{what} {i}: a numeric track takes numbers (NaN or null for no data)") from None
        if len({len(r) for r in converted}) > 1:
            raise InputError(f"{what}s of a numeric track must all have the same length")
        array = np.stack(converted) if converted else np.zeros((0, 0))
        bad = np.isinf(array)
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise InputError(f"{what} {i}: position {j} holds {array[i, j]}; give finite numbers or NaN for no data")
        codes = np.searchsorted(np.asarray(self.edges), array, side="right") + 1
        codes[np.isnan(array)] = 0
        return codes.astype(np.uint8)

    def decode(self, codes: np.ndarray) -> list[np.ndarray]:
        """Codes [N, L] -> each record's level means (float64 [L]; NaN for no data)."""
        codes = np.asarray(codes)
        if codes.size and int(codes.max()) >= self.num_codes:
            raise InputError(f"code {int(codes.max())} is outside the numeric scale's {self.num_codes} codes")
        means = np.asarray([np.nan, *self.values])
        return list(means[codes])

    def to_dict(self) -> dict:
        return {"name": self.name, "letters": "", "edges": list(self.edges), "values": list(self.values),
                "ranks": list(self.ranks)}

    @classmethod
    def from_dict(cls, data: dict) -> Levels:
        try:
            return cls(tuple(map(float, data["edges"])), tuple(map(float, data["values"])),
                       tuple(map(float, data["ranks"])))
        except KeyError as exc:
            raise InputError(f"numeric scale entry is missing the field {exc.args[0]!r}") from None


def as_json(row) -> list:
    """One record's numbers as JSON (NaN -> null)."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(row, dtype=np.float64)]

