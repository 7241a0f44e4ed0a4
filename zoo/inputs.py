"""Several inputs in one code row: a sequence and its named tracks (DeepRiPe's multimodal models).

A multimodal model reads the sequence (say 150 nt) and one or more per-position tracks of their
own alphabets and lengths, centred on the same site (DeepRiPe's 250-position region type of
5'UTR / CDS / 3'UTR / intron; the RNA structure as its own branch). Every path that carries codes
(the engine, the batcher, the wire, ONNX) keeps ONE uint8 array per record: the inputs are packed
side by side, ``[sequence | track 1 | track 2 ...]``, each input's codes shifted into a code range
of its own, and the one-hot table is block-diagonal, so position p of input i lights a column of
input i only. The network slices the one-hot back into its inputs (``slices``).

Each input has an integrated-gradients baseline, the value of every one-hot column at the start of
the path (DeepRiPe: 0 for the sequence, 0.25 for the region type); ``baseline`` is the [L, A]
array of it. A track whose source is ``structure`` is folded from the sequence by ViennaRNA when
a request does not bring it. ``alphabet_from_dict`` rebuilds any model's input alphabet (plain,
sequence x structure, or packed inputs) from its card entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from seqzoo.zoo.alphabets import INVALID, Alphabet, ProductAlphabet
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.numeric import NAME as NUMERIC
from seqzoo.zoo.numeric import Levels

STRUCTURE = "structure"  # the track name (and source) of a folded-structure input


@dataclass(frozen=True)
class TrackInput:
    """One track of a multimodal model.

    Parameters
    ----------
    name : str
        How requests and files name it (``region``, ``structure``).
    alphabet : Alphabet
        Its letters (one-hot columns) and unknown rule.
    length : int
        Positions, centred on the same site as the sequence.
    baseline : float
        Integrated gradients start every one-hot column of this input at this value.
    source : {"letters", "structure", "numeric"}
        Given letters, the sequence's folded structure (computed when a request omits it), or
        numbers (a bigWig's signal; ``alphabet`` is then its zoo.numeric.Levels scale).
    """

    name: str
    alphabet: Alphabet | Levels
    length: int
    baseline: float = 0.0
    source: str = "letters"

    def to_dict(self) -> dict:
        return {"name": self.name, "alphabet": self.alphabet.to_dict(), "length": int(self.length),
                "baseline": float(self.baseline), "source": self.source}


@dataclass(frozen=True)
class Inputs:
    """The sequence alphabet and length, and the tracks packed after it (alphabet-like: ``size``,
    ``num_codes``, ``table``, ``one_hot``, ``encode``, ``decode``, ``to_dict``).

    Parameters
    ----------
    sequence : Alphabet
    length : int
        The sequence's length.
    tracks : tuple of TrackInput
        At least one; names distinct and not ``sequence``.
    sequence_baseline : float
    """

    sequence: Alphabet
    length: int
    tracks: tuple[TrackInput, ...]
    sequence_baseline: float = 0.0

    def __post_init__(self) -> None:
        names = [t.name for t in self.tracks]
        if not names:
            raise InputError("a multimodal input needs at least one track")
        if len(set(names)) != len(names) or "sequence" in names:
            raise InputError(f"track names must be distinct and not 'sequence': {names}")
        if self.num_codes >= INVALID:
            raise InputError(f"the inputs need {self.num_codes} codes; at most {INVALID - 1} fit in a byte")

    @property
    def name(self) -> str:
        return "+".join([self.sequence.name, *(t.name for t in self.tracks)])

    @property
    def letters(self) -> str:
        """The sequence's letters (what motifs and logos are drawn in)."""
        return self.sequence.letters

    @property
    def parts(self) -> list[tuple[str, Alphabet, int, float]]:
        """(name, alphabet, length, baseline) of every input, the sequence first."""
        return [("sequence", self.sequence, self.length, self.sequence_baseline)] + \
            [(t.name, t.alphabet, t.length, t.baseline) for t in self.tracks]

    @property
    def size(self) -> int:
        return sum(a.size for _, a, _, _ in self.parts)

    @property
    def num_codes(self) -> int:
        return sum(a.num_codes for _, a, _, _ in self.parts)

    @property
    def total_length(self) -> int:
        """L of the packed code row."""
        return sum(n for _, _, n, _ in self.parts)

    @property
    def slices(self) -> list[tuple[int, int, int, int]]:
        """(first position, end position, first column, end column) of every input in the one-hot."""
        out, row, col = [], 0, 0
        for _, alphabet, length, _ in self.parts:
            out.append((row, row + length, col, col + alphabet.size))
            row, col = row + length, col + alphabet.size
        return out

    def _code_offsets(self) -> list[int]:
        return list(np.cumsum([0] + [a.num_codes for _, a, _, _ in self.parts])[:-1])

    @property
    def table(self) -> np.ndarray:
        """float32 [num_codes, A], block-diagonal: each input's codes light its own columns."""
        table = np.zeros((self.num_codes, self.size), dtype=np.float32)
        for (_, alphabet, _, _), offset, (_, _, c0, c1) in zip(self.parts, self._code_offsets(), self.slices):
            table[offset:offset + alphabet.num_codes, c0:c1] = alphabet.table
        return table

    @property
    def baseline(self) -> np.ndarray:
        """float32 [L, A]: each input's baseline in its own block, zero elsewhere."""
        out = np.zeros((self.total_length, self.size), dtype=np.float32)
        for (_, _, _, value), (r0, r1, c0, c1) in zip(self.parts, self.slices):
            out[r0:r1, c0:c1] = value
        return out

    def one_hot(self, codes: np.ndarray) -> np.ndarray:
        from seqzoo.zoo.alphabets import one_hot

        return one_hot(codes, self.table)

    def check_names(self, given: Mapping[str, object]) -> None:
        """Refuse a track name that is not one of this model's inputs."""
        known = {t.name for t in self.tracks}
        for name in given:
            if name not in known:
                raise InputError(f"track {name!r} is not an input of this model (inputs: sequence, "
                                 f"{', '.join(sorted(known))})")

    def encode(self, sequences: Sequence[str], tracks: Mapping[str, Sequence[str]] | None = None,
               convert_tu: bool = False) -> np.ndarray:
        """Pack sequences and their tracks into codes uint8 [N, total_length].

        Parameters
        ----------
        sequences : N strings of the sequence's length
        tracks : name -> N strings of that track's length (a numeric track: N rows of numbers, NaN
            for no data); a ``structure`` track is folded from the sequences when absent. Every
            other track must be given.
        convert_tu : bool
            Read T as U for an RNA sequence alphabet (and U as T for DNA).
        """
        tracks = dict(tracks or {})
        self.check_names(tracks)
        blocks = [self._block("sequence", self.sequence, self.length, sequences, convert_tu)]
        for track in self.tracks:
            values = tracks.get(track.name)
            if values is None or len(values) == 0:
                if track.source != STRUCTURE:
                    raise InputError(f"track {track.name!r} is missing: the model needs it for every sequence")
                from seqzoo.zoo import structure

                values = structure.structures(list(sequences), form="annotated")
            if len(values) != len(sequences):
                raise InputError(f"track {track.name!r} has {len(values)} records but there are "
                                 f"{len(sequences)} sequences")
            blocks.append(self._block(track.name, track.alphabet, track.length, values))
        for block, offset in zip(blocks, self._code_offsets()):
            block += np.uint8(offset)
        return np.concatenate(blocks, axis=1)

    @staticmethod
    def _block(name: str, alphabet: Alphabet, length: int, values: Sequence[str], convert_tu: bool = False):
        field = None if name == "sequence" else name  # a track's error names its own field: "sequence 3, field region"
        for i, value in enumerate(values):
            if len(value) != length:
                raise InputError(f"is {len(value)} long but the model's {name} input takes {length}",
                                 index=i, field=field)
        try:
            return alphabet.encode(list(values), convert_tu) if len(values) else np.zeros((0, length), dtype=np.uint8)
        except InputError as exc:
            raise (exc if field is None else exc.at(field=field)) from None

    def split(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        """Packed codes [N, L] -> each input's own codes (name -> uint8 [N, L_i])."""
        codes = np.asarray(codes)
        return {name: codes[:, r0:r1] - np.uint8(offset)
                for (name, _, _, _), offset, (r0, r1, _, _) in zip(self.parts, self._code_offsets(), self.slices)}

    def decode(self, codes: np.ndarray) -> tuple[list[str], dict[str, list]]:
        """Packed codes -> (sequences, name -> track strings), exactly as encoded (a numeric
        track: each position's level mean, which encodes to the same code)."""
        split = self.split(codes)
        return self.sequence.decode(split["sequence"]), {
            t.name: t.alphabet.decode(split[t.name]) for t in self.tracks}

    def to_dict(self) -> dict:
        return {**self.sequence.to_dict(), "baseline": float(self.sequence_baseline), "length": int(self.length),
                "tracks": [t.to_dict() for t in self.tracks]}


def _alphabet(d: dict, unknown_letters: str = "N") -> Alphabet | Levels:
    if d.get("name") == NUMERIC:
        return Levels.from_dict(d)
    return Alphabet(d["name"], d["letters"], d.get("unknown_letters", unknown_letters), d.get("unknown", "zero"))


def inputs_from_dict(data: dict) -> Inputs:
    """Rebuild Inputs from its card entry (the alphabet entry that has ``tracks``)."""
    try:
        return Inputs(_alphabet(data), int(data["length"]), tuple(
            TrackInput(t["name"], _alphabet(t["alphabet"]), int(t["length"]), float(t.get("baseline", 0.0)),
                       t.get("source", "letters")) for t in data["tracks"]), float(data.get("baseline", 0.0)))
    except KeyError as exc:
        raise InputError(f"input entry is missing the field {exc.args[0]!r}") from None


def alphabet_from_dict(data: dict) -> Alphabet | ProductAlphabet | Inputs:
    """Rebuild an alphabet from its card entry (``to_dict``); an entry with ``tracks`` is a
    multimodal model's packed inputs (``seqzoo.zoo.inputs.Inputs``)."""
    if data.get("tracks"):
        return inputs_from_dict(data)
    try:
        base = _alphabet(data)
        return ProductAlphabet(base, _alphabet(data["structure"], "")) if data.get("structure") else base
    except KeyError as exc:
        raise InputError(f"alphabet entry is missing the field {exc.args[0]!r}") from None
