"""Motifs on disk: read and write MEME (version 4) motif files over any alphabet.

A motif is a position probability matrix: ``pwm`` float [W, A], each row sums to 1 over the
alphabet's letters. MEME text is the exchange format of motif databases (JASPAR, HOCOMOCO,
ATtRACT) and of seqzoo's own ``motifs.meme`` (learned sequence motifs and, for structure models,
structure motifs in a file of their own, since one MEME file has one alphabet).

memelite ships a reader too, but it assumes four letters and drops the alphabet line; this one
keeps the alphabet, reads any alphabet size and names the file and line of a bad row. It lives in
``zoo`` (no torch) so the server and the CLI can read a version's ``motifs.meme``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.atomic import write_text


@dataclass
class Motif:
    """One motif: a name, an optional description, and its probability matrix.

    Parameters
    ----------
    name : str
        The first word of the MEME ``MOTIF`` line (an identifier, no spaces).
    pwm : np.ndarray, shape=(W, A)
        Letter probabilities per position; rows sum to 1.
    description : str
        The rest of the ``MOTIF`` line (for JASPAR, the factor name), may be empty.
    nsites : int
        How many sites the matrix was built from (MEME's ``nsites``).
    """

    name: str
    pwm: np.ndarray
    description: str = ""
    nsites: int = 20
    extra: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.pwm.shape[0])


def consensus(pwm: np.ndarray, letters: str, threshold: float = 0.5) -> str:
    """The consensus string of a PWM [W, A]: the top letter, lower case where its probability < threshold."""
    pwm = np.asarray(pwm)
    if pwm.ndim != 2 or pwm.shape[1] != len(letters):
        raise InputError(f"pwm of shape {pwm.shape} does not have one column per letter of {letters!r}")
    top = pwm.argmax(axis=1)
    return "".join(letters[t] if pwm[i, t] >= threshold else letters[t].lower() for i, t in enumerate(top))


def read_meme(path: str | os.PathLike) -> tuple[str, list[Motif]]:
    """Read a MEME version 4 file.

    Parameters
    ----------
    path : path of a MEME text file (``ALPHABET=`` line optional; ACGT assumed without one)

    Returns
    -------
    letters : str
        The alphabet's letters, in column order.
    motifs : list of Motif
        In file order; each ``pwm`` is float64 [w, alength].
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no such MEME file")
    letters = "ACGT"
    motifs: list[Motif] = []
    current: Motif | None = None
    rows: list[list[float]] = []
    width = 0
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if current is not None and width and len(rows) < width:
                if not text:
                    continue
                try:
                    row = [float(v) for v in text.split()]
                except ValueError:
                    raise InputError(f"{path}:{number}: expected {len(letters)} probabilities, got {text!r}") from None
                if len(row) != len(letters):
                    raise InputError(f"{path}:{number}: row has {len(row)} values but the alphabet "
                                     f"{letters} has {len(letters)} letters")
                rows.append(row)
                if len(rows) == width:
                    current.pwm = np.asarray(rows, dtype=np.float64)
                    motifs.append(current)
                    current, rows, width = None, [], 0
                continue
            if text.startswith("ALPHABET="):
                letters = text.split("=", 1)[1].strip().split()[0]
            elif text.startswith("MOTIF"):
                if current is not None:
                    raise InputError(f"{path}:{number}: motif {current.name!r} has no letter-probability matrix")
                parts = text.split(None, 2)
                if len(parts) < 2:
                    raise InputError(f"{path}:{number}: MOTIF line without a name")
                current = Motif(parts[1], np.zeros((0, len(letters))), parts[2] if len(parts) > 2 else "")
            elif text.startswith("letter-probability matrix") and current is not None:
                fields = dict(zip(text.split(":", 1)[1].replace("=", " ").split()[::2],
                                  text.split(":", 1)[1].replace("=", " ").split()[1::2]))
                try:
                    width = int(fields["w"])
                    current.nsites = int(float(fields.get("nsites", 20)))
                except (KeyError, ValueError):
                    raise InputError(f"{path}:{number}: letter-probability line without a valid w=") from None
                if int(fields.get("alength", len(letters))) != len(letters):
                    raise InputError(f"{path}:{number}: alength={fields['alength']} but the alphabet is {letters}")
                if width <= 0:
                    raise InputError(f"{path}:{number}: motif {current.name!r} has width {width}")
    if current is not None:
        raise InputError(f"{path}: motif {current.name!r} ends before its {width} rows")
    return letters, motifs


def write_meme(path: str | os.PathLike, motifs: Iterable[Motif], letters: str,
               background: np.ndarray | None = None, strands: str = "+ -") -> Path:
    """Write motifs as a MEME version 4 file, atomically.

    Parameters
    ----------
    path : destination file
    motifs : iterable of Motif, each ``pwm`` of shape (W, len(letters))
    letters : str
        The alphabet in column order (``ACGT``, ``ACGU``, ``FTSHIM``...).
    background : np.ndarray, shape=(A,), optional
        Letter frequencies; uniform when omitted.
    strands : str
        ``"+ -"`` for DNA, ``"+"`` for RNA and structure.

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    a = len(letters)
    bg = np.full(a, 1.0 / a) if background is None else np.asarray(background, dtype=float)
    lines = ["MEME version 4", "", f"ALPHABET= {letters}", "", f"strands: {strands}", "",
             "Background letter frequencies", " ".join(f"{c} {p:.6f}" for c, p in zip(letters, bg)), ""]
    for index, motif in enumerate(motifs):
        pwm = np.asarray(motif.pwm, dtype=float)
        if pwm.ndim != 2 or pwm.shape[1] != a:
            raise InputError(f"motif {index} ({motif.name}) has shape {pwm.shape}, expected (W, {a}) for {letters}")
        if not np.all(np.isfinite(pwm)) or (pwm < 0).any():
            raise InputError(f"motif {index} ({motif.name}) has negative or non-finite probabilities")
        pwm = pwm / pwm.sum(axis=1, keepdims=True)
        name = motif.name.replace(" ", "_")
        lines.append(f"MOTIF {name} {motif.description}".rstrip())
        lines.append(f"letter-probability matrix: alength= {a} w= {pwm.shape[0]} nsites= {int(motif.nsites)} E= 0")
        lines.extend(" " + "  ".join(f"{v:.6f}" for v in row) for row in pwm)
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, "\n".join(lines) + "\n")
