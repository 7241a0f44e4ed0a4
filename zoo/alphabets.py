"""Alphabets and encoding: strings -> uint8 codes -> one-hot float32, and back.

Every wing encodes through this module (training, ONNX export, the server, the client), so a
sequence means the same thing everywhere. The rule for unknown characters is deterministic and
stated in the model card: an unknown character (``N`` and the IUPAC ambiguity codes for
nucleotides, ``X B Z J U O`` for proteins) gets one extra code whose one-hot row is all zeros
(``unknown="zero"``, the default) or ``1/A`` in every column (``unknown="uniform"``). Nothing is
replaced at random (pysster's rule), so the same input always scores the same.

One-hot encoding is a row lookup in ``alphabet.table`` (float32 [num_codes, A]); the exported
ONNX forward graph embeds the same table, so the host never one-hot encodes for the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from seqzoo.zoo.errors import InputError

DNA_LETTERS = "ACGT"
RNA_LETTERS = "ACGU"
PROTEIN_LETTERS = "ACDEFGHIKLMNPQRSTVWY"
NUCLEOTIDE_UNKNOWN = "NRYSWKMBDHV"
PROTEIN_UNKNOWN = "XBZJUO"
DOT_BRACKET_LETTERS = "()."
ANNOTATED_STRUCTURE_LETTERS = "FTSHIM"  # 5' end, 3' end, stem, hairpin, interior loop/bulge, multiloop
UNKNOWN_RULES = ("zero", "uniform")
INVALID = 255


def _not_in(sequence_index: int, position: int, char: str, alphabet_name: str, letters: str,
            what: str = "sequence") -> InputError:
    return InputError(f"character {char!r} at position {position + 1} is not in the {alphabet_name} alphabet "
                      f"{letters}", index=sequence_index, noun=what)


@dataclass(frozen=True)
class Alphabet:
    """A sequence alphabet: ``letters`` get codes 0..A-1, ``unknown_letters`` get code A.

    Parameters
    ----------
    name : str
        ``"dna"``, ``"rna"``, ``"protein"``, or ``"custom"``.
    letters : str
        The A letters, in column order of the one-hot encoding (upper case).
    unknown_letters : str
        Characters accepted as "unknown base" (encoded as code A).
    unknown : {"zero", "uniform"}
        One-hot row of the unknown code: all zeros, or 1/A in every column.
    """

    name: str
    letters: str
    unknown_letters: str = "N"
    unknown: str = "zero"
    _lut: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        letters, unknown_letters = self.letters.upper(), self.unknown_letters.upper()
        if not letters or len(set(letters)) != len(letters):
            raise InputError(f"alphabet letters {self.letters!r} must be non-empty and distinct")
        if len(letters) >= INVALID - 1:
            raise InputError(f"alphabet {self.letters!r} has more than {INVALID - 2} letters")
        if set(letters) & set(unknown_letters):
            raise InputError(f"letters {sorted(set(letters) & set(unknown_letters))} are both letters and "
                             "unknown letters")
        if self.unknown not in UNKNOWN_RULES:
            raise InputError(f"unknown rule {self.unknown!r} is not one of {', '.join(UNKNOWN_RULES)}")
        if not all(" " < c < "\x7f" for c in letters + unknown_letters):
            raise InputError(f"alphabet letters must be printable ASCII: {self.letters!r}")
        object.__setattr__(self, "letters", letters)
        object.__setattr__(self, "unknown_letters", unknown_letters)
        lut = np.full(256, INVALID, dtype=np.uint8)
        for code, char in enumerate(letters):
            lut[ord(char)] = lut[ord(char.lower())] = code
        for char in unknown_letters:
            lut[ord(char)] = lut[ord(char.lower())] = len(letters)
        object.__setattr__(self, "_lut", lut)

    @property
    def size(self) -> int:
        """A: the number of one-hot columns."""
        return len(self.letters)

    @property
    def num_codes(self) -> int:
        """How many codes exist (letters plus the unknown code)."""
        return self.size + 1

    @property
    def unknown_code(self) -> int:
        return self.size

    @property
    def table(self) -> np.ndarray:
        """float32 [num_codes, A]: the one-hot row of every code."""
        table = np.zeros((self.num_codes, self.size), dtype=np.float32)
        table[np.arange(self.size), np.arange(self.size)] = 1.0
        if self.unknown == "uniform":
            table[self.unknown_code] = 1.0 / self.size
        return table

    def lookup(self, convert_tu: bool = False) -> np.ndarray:
        """uint8 [256]: byte -> code (255 for characters outside the alphabet).

        With ``convert_tu``, an RNA alphabet reads T as U and a DNA alphabet reads U as T:
        a DNA window scored by an RNA model (and the reverse) is transcribed, never rejected.
        """
        if not convert_tu:
            return self._lut
        lut = self._lut.copy()
        for src, dst in (("T", "U"), ("U", "T")):
            if dst in self.letters and src not in self.letters:
                lut[ord(src)] = lut[ord(src.lower())] = self.letters.index(dst)
        return lut

    def encode(self, sequences: Sequence[str], convert_tu: bool = False, what: str = "sequence") -> np.ndarray:
        """Encode equal-length strings as codes.

        Parameters
        ----------
        sequences : sequence of str, each of length L
        convert_tu : bool
            Map T<->U when the other nucleotide alphabet's letter is met.
        what : str
            How errors name an item ("sequence", "window", ...).

        Returns
        -------
        np.ndarray, shape=(N, L), dtype=uint8
        """
        return encode_with(self.lookup(convert_tu), sequences, self.name, self.letters, what)

    def encode_one(self, sequence: str, convert_tu: bool = False) -> np.ndarray:
        """Encode one string of any length: uint8 [L]."""
        return self.encode([sequence], convert_tu)[0]

    def decode(self, codes: np.ndarray) -> list[str]:
        """Codes [N, L] -> strings; the unknown code decodes to the first unknown letter (N, X)."""
        codes = np.asarray(codes)
        if codes.ndim != 2:
            raise InputError(f"codes must be 2-d [N, L], got shape {codes.shape}")
        if codes.size and int(codes.max()) >= self.num_codes:
            raise InputError(f"code {int(codes.max())} is outside the {self.name} alphabet's "
                             f"{self.num_codes} codes")
        chars = np.frombuffer((self.letters + (self.unknown_letters[:1] or "?")).encode(), dtype=np.uint8)
        return [row.tobytes().decode() for row in chars[codes]]

    def one_hot(self, codes: np.ndarray) -> np.ndarray:
        """Codes [N, L] -> float32 [N, L, A] (the unknown code by the alphabet's rule)."""
        return one_hot(codes, self.table)

    def to_dict(self) -> dict:
        return {"name": self.name, "letters": self.letters, "unknown_letters": self.unknown_letters,
                "unknown": self.unknown}


@dataclass(frozen=True)
class ProductAlphabet:
    """pysster's sequence x structure alphabet: one symbol per (base, structure element) pair.

    Code ``s * M + t`` stands for sequence letter s and structure letter t (N*M one-hot
    columns). A sequence position with an unknown base keeps its structure: code ``N*M + t``,
    whose one-hot row is zero (or uniform over the N bases at structure t). Decoding gives both
    strings back exactly. Structure letters must all be known.
    """

    sequence: Alphabet
    structure: Alphabet

    @property
    def name(self) -> str:
        return f"{self.sequence.name}x{self.structure.name}"

    @property
    def size(self) -> int:
        return self.sequence.size * self.structure.size

    @property
    def num_codes(self) -> int:
        return self.size + self.structure.size

    @property
    def table(self) -> np.ndarray:
        n, m = self.sequence.size, self.structure.size
        table = np.zeros((self.num_codes, self.size), dtype=np.float32)
        table[np.arange(self.size), np.arange(self.size)] = 1.0
        if self.sequence.unknown == "uniform":
            for t in range(m):
                table[self.size + t, np.arange(n) * m + t] = 1.0 / n
        return table

    def encode(self, sequences: Sequence[str], structures: Sequence[str], convert_tu: bool = False) -> np.ndarray:
        """Encode sequences with their structures: uint8 [N, L] product codes."""
        if len(sequences) != len(structures):
            raise InputError(f"{len(sequences)} sequences but {len(structures)} structures")
        seq = self.sequence.encode(sequences, convert_tu).astype(np.int32)
        struct = self.structure.encode(structures, what="structure").astype(np.int32)
        if seq.shape != struct.shape:
            raise InputError(f"sequences are {seq.shape[1]} long but structures {struct.shape[1]}")
        unknown_struct = np.argwhere(struct == self.structure.unknown_code)
        if len(unknown_struct):
            i, j = unknown_struct[0]
            raise InputError(f"position {j + 1} has no known structure element", index=int(i), noun="structure")
        m = self.structure.size
        codes = np.where(seq == self.sequence.unknown_code, self.size + struct, seq * m + struct)
        return codes.astype(np.uint8)

    def decode(self, codes: np.ndarray) -> tuple[list[str], list[str]]:
        """Product codes [N, L] -> (sequences, structures), exactly as encoded."""
        codes = np.asarray(codes).astype(np.int32)
        if codes.size and int(codes.max()) >= self.num_codes:
            raise InputError(f"code {int(codes.max())} is outside the {self.name} alphabet's "
                             f"{self.num_codes} codes")
        m = self.structure.size
        known = codes < self.size
        seq = np.where(known, codes // m, self.sequence.unknown_code)
        struct = np.where(known, codes % m, codes - self.size)
        return self.sequence.decode(seq), self.structure.decode(struct)

    def one_hot(self, codes: np.ndarray) -> np.ndarray:
        return one_hot(codes, self.table)

    def to_dict(self) -> dict:
        return {**self.sequence.to_dict(), "structure": self.structure.to_dict()}


def encode_with(lut: np.ndarray, sequences: Sequence[str], alphabet_name: str, letters: str,
                what: str = "sequence") -> np.ndarray:
    """Encode equal-length strings through a byte lookup table; errors name index and character."""
    if isinstance(sequences, str):
        raise InputError(f"expected a list of {what}s, got one string")
    n = len(sequences)
    if n == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    length = len(sequences[0])
    for i, s in enumerate(sequences):
        if len(s) != length:
            raise InputError(f"is {len(s)} long but {what} 0 is {length} long", index=i, noun=what)
    try:
        raw = "".join(sequences).encode("ascii")
    except UnicodeEncodeError as exc:
        index, position = divmod(exc.start, length) if length else (0, 0)
        raise _not_in(index, position, sequences[index][position], alphabet_name, letters, what) from None
    codes = lut[np.frombuffer(raw, dtype=np.uint8)].reshape(n, length)
    bad = np.flatnonzero(codes.reshape(-1) == INVALID)
    if len(bad):
        index, position = divmod(int(bad[0]), length)
        raise _not_in(index, position, sequences[index][position], alphabet_name, letters, what)
    return codes


def one_hot(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Codes [N, L] -> float32 [N, L, A] by row lookup in ``table`` [num_codes, A]."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise InputError(f"codes must be uint8, got {codes.dtype}")
    if codes.size and int(codes.max()) >= table.shape[0]:
        raise InputError(f"code {int(codes.max())} is outside the alphabet's {table.shape[0]} codes")
    return table[codes]


def get_alphabet(spec: str, unknown: str = "zero") -> Alphabet:
    """An alphabet by name (``dna``, ``rna``, ``protein``) or by its letters (``ACGT``, ``HPNC``)."""
    key = spec.strip()
    if key.lower() == "dna":
        return Alphabet("dna", DNA_LETTERS, NUCLEOTIDE_UNKNOWN, unknown)
    if key.lower() == "rna":
        return Alphabet("rna", RNA_LETTERS, NUCLEOTIDE_UNKNOWN, unknown)
    if key.lower() == "protein":
        return Alphabet("protein", PROTEIN_LETTERS, PROTEIN_UNKNOWN, unknown)
    if not key:
        raise InputError("alphabet is empty: give dna, rna, protein or the letters")
    unknown_letters = "" if "N" in key.upper() else "N"
    return Alphabet("custom", key, unknown_letters, unknown)


def structure_alphabet(kind: str = "annotated") -> Alphabet:
    """The structure alphabet: ``annotated`` (F T S H I M) or ``dot-bracket`` (( ) .)."""
    if kind == "annotated":
        return Alphabet("annotated-structure", ANNOTATED_STRUCTURE_LETTERS, "", "zero")
    if kind == "dot-bracket":
        return Alphabet("dot-bracket", DOT_BRACKET_LETTERS, "", "zero")
    raise InputError(f"structure alphabet {kind!r} is not one of annotated, dot-bracket")


def reverse_complement(sequence: str, rna: bool = False) -> str:
    """Reverse complement of a DNA (or, with ``rna``, RNA) string; case kept, IUPAC codes complemented."""
    return sequence.translate(_RNA_COMPLEMENT if rna else _DNA_COMPLEMENT)[::-1]


_DNA_COMPLEMENT = str.maketrans("ACGTUNRYSWKMBDHVacgtunryswkmbdhv", "TGCAANYRSWMKVHDBtgcaanyrswmkvhdb")
_RNA_COMPLEMENT = str.maketrans("ACGTUNRYSWKMBDHVacgtunryswkmbdhv", "UGCAANYRSWMKVHDBugcaanyrswmkvhdb")


def sequence_letters(alphabet) -> str:
    """The nucleotide letters of a model's alphabet (the sequence part of a structure alphabet)."""
    return getattr(alphabet, "sequence", alphabet).letters


def is_rna(alphabet) -> bool:
    """True when the alphabet reads U and not T (windows are transcribed T -> U for it)."""
    letters = sequence_letters(alphabet)
    return "U" in letters and "T" not in letters
