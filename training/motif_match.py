"""Match learned motifs to a motif database with TOMTOM statistics (memelite's tomtom).

Databases ship with seqzoo in ``zoo/resources/motifs/`` (JASPAR 2024 CORE vertebrates for DNA
models, ATtRACT human RBP motifs for RNA models; licences in that folder's README) and are found
through :func:`database_path`, so nothing is downloaded. A user's own MEME file works the same way.

The p-value of a query/target pair is memelite's TOMTOM p-value (complete scores, Euclidean
distance, best offset, reverse complement for DNA only: an RNA-binding protein reads one strand).
q-values are Benjamini-Hochberg over one query's p-values against every target in the database,
so they depend on the database's size; a query is "matched" at ``q < 0.05`` by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.motifs_io import Motif, read_meme

RESOURCES = Path(__file__).resolve().parent.parent / "zoo" / "resources" / "motifs"
DATABASES = {
    "jaspar2024": "JASPAR2024_CORE_vertebrates.meme",
    "attract": "ATtRACT_human_RBP.meme",
    "hocomoco-foxo1": "HOCOMOCO_v11_FOXO1.meme",
}


def _resources() -> Path:
    """The shipped motif folder (installed package data, or the source tree)."""
    try:
        import seqzoo.zoo as zoo_pkg

        packaged = Path(zoo_pkg.__file__).resolve().parent / "resources" / "motifs"
        if packaged.is_dir():
            return packaged
    except ImportError:  # pragma: no cover - seqzoo.zoo is always importable in practice
        pass
    return RESOURCES


def database_path(name_or_path: str | os.PathLike | None, alphabet_name: str = "dna") -> Path:
    """The MEME file of a database: a shipped name, a path, or the default for an alphabet.

    Parameters
    ----------
    name_or_path : ``"jaspar2024"``, ``"attract"``, ``"hocomoco-foxo1"``, a MEME file path, or None
        None picks JASPAR 2024 for DNA and ATtRACT for RNA (``alphabet_name``).
    alphabet_name : str
        The model's sequence alphabet name (``dna``, ``rna``, ...), used when ``name_or_path`` is None.

    Returns
    -------
    Path of an existing MEME file.
    """
    if name_or_path is None:
        if alphabet_name == "dna":
            name_or_path = "jaspar2024"
        elif alphabet_name == "rna":
            name_or_path = "attract"
        else:
            raise NotFoundError(f"no shipped motif database for the {alphabet_name} alphabet; "
                                "pass a MEME file with --database")
    key = str(name_or_path)
    if key.lower() in DATABASES:
        path = _resources() / DATABASES[key.lower()]
    else:
        path = Path(key)
    if not path.is_file():
        raise NotFoundError(f"motif database {key!r}: no such file {path} (shipped: {', '.join(DATABASES)})")
    return path


@dataclass
class Database:
    """A loaded motif database: its file, letters and motifs (pwm [W, A] each)."""

    path: Path
    letters: str
    motifs: list[Motif]

    @property
    def label(self) -> str:
        return self.path.stem


_CACHE: dict[Path, Database] = {}


def load_database(name_or_path: str | os.PathLike | None, alphabet_name: str = "dna") -> Database:
    """Read (once per process) the database that :func:`database_path` names."""
    path = database_path(name_or_path, alphabet_name).resolve()
    if path not in _CACHE:
        letters, motifs = read_meme(path)
        if not motifs:
            raise InputError(f"{path}: the motif database holds no motifs")
        _CACHE[path] = Database(path, letters, motifs)
    return _CACHE[path]


def _nucleotides_equal(a: str, b: str) -> bool:
    """ACGT and ACGU are the same columns (T read as U)."""
    return a.replace("U", "T") == b.replace("U", "T")


def bh_qvalues(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values along the last axis.

    Parameters
    ----------
    p_values : np.ndarray, shape=(..., T)

    Returns
    -------
    np.ndarray, same shape: q[i] = min_{j >= rank(i)} p_(j) * T / j, capped at 1.
    """
    p = np.asarray(p_values, dtype=np.float64)
    t = p.shape[-1]
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, axis=-1) * t / np.arange(1, t + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(p)
    np.put_along_axis(q, order, np.minimum(ranked, 1.0), axis=-1)
    return q


def compare(queries: Sequence[np.ndarray], targets: Sequence[np.ndarray], reverse_complement: bool,
            n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """TOMTOM p-values and BH q-values of every query against every target.

    Parameters
    ----------
    queries : sequence of np.ndarray, each shape=(W_q, A)
    targets : sequence of np.ndarray, each shape=(W_t, A)
    reverse_complement : bool
        Also compare against each target's reverse complement (DNA).
    n_jobs : int
        numba threads for memelite.

    Returns
    -------
    p_values, q_values : np.ndarray, shape=(len(queries), len(targets))
    """
    from memelite import tomtom

    if not len(queries):
        return np.zeros((0, len(targets))), np.zeros((0, len(targets)))
    width = targets[0].shape[1]
    for i, q in enumerate(queries):
        q = np.asarray(q)
        if q.ndim != 2 or q.shape[1] != width:
            raise InputError(f"query motif {i} has shape {q.shape}; the database has {width} letters")
        if q.shape[0] < 1 or not np.all(np.isfinite(q)):
            raise InputError(f"query motif {i} is empty or not finite")
    qs = [np.ascontiguousarray(np.asarray(q, dtype=np.float64).T) for q in queries]
    ts = [np.ascontiguousarray(np.asarray(t, dtype=np.float64).T) for t in targets]
    p_values = np.asarray(tomtom(qs, ts, reverse_complement=reverse_complement, n_jobs=n_jobs)[0], dtype=np.float64)
    p_values = np.clip(np.nan_to_num(p_values, nan=1.0), 0.0, 1.0)
    return p_values, bh_qvalues(p_values)


def match_motifs(pwms: Sequence[np.ndarray], letters: str, database: str | os.PathLike | None = None,
                 alphabet_name: str | None = None, top: int = 3, n_jobs: int = 1) -> list[list[dict]]:
    """Best database matches of each motif.

    Parameters
    ----------
    pwms : sequence of np.ndarray, each shape=(W, A)
        Probability matrices over ``letters``.
    letters : str
        The motifs' alphabet (must equal the database's, with T and U interchangeable).
    database : shipped name, MEME path, or None (the default database of ``alphabet_name``)
    alphabet_name : str, optional
        ``dna`` or ``rna``; guessed from ``letters`` (U means RNA) when omitted. RNA, and any
        motif against an RNA database, is matched on the forward strand only.
    top : int
        How many matches to keep per motif, best first.

    Returns
    -------
    list (one per motif) of lists of ``{"database", "id", "name", "p_value", "q_value"}``.
    """
    if alphabet_name is None:
        alphabet_name = "rna" if "U" in letters else "dna"
    db = load_database(database, alphabet_name)
    if not _nucleotides_equal(letters, db.letters):
        raise InputError(f"motifs over {letters} cannot be matched against {db.path.name} ({db.letters})")
    # an RNA database (ATtRACT) holds strand-specific RNA-binding motifs: forward strand only, even for
    # motifs learned from CLIP sites written in DNA letters
    stranded = alphabet_name != "dna" or "U" in db.letters
    p, q = compare(pwms, [m.pwm for m in db.motifs], reverse_complement=not stranded, n_jobs=n_jobs)
    results = []
    for i in range(len(pwms)):
        order = np.lexsort((p[i], q[i]))[:top]
        results.append([{"database": db.label, "id": db.motifs[j].name,
                         "name": db.motifs[j].description or db.motifs[j].name,
                         "p_value": float(p[i, j]), "q_value": float(q[i, j])} for j in order])
    return results


def match_to_target(pwms: Sequence[np.ndarray], target: np.ndarray, letters: str,
                    background: str | os.PathLike | None = None, alphabet_name: str | None = None,
                    n_jobs: int = 1) -> tuple[np.ndarray, list[dict]]:
    """q-value of each motif against one known motif, among a whole database.

    The known motif is compared alongside every motif of ``background`` (so the TOMTOM null
    and the multiple-testing correction are those of a real database search, not of a single
    comparison); its q-value answers "did we recover this motif?".

    Parameters
    ----------
    pwms : sequence of np.ndarray, each shape=(W, A)
    target : np.ndarray, shape=(W_t, A)
    letters : str
    background : database to search alongside the target (default for the alphabet)

    Returns
    -------
    q_values : np.ndarray, shape=(len(pwms),)
        The target's q-value for each motif.
    best : list of dict
        Each motif's best hit in the background database (``id``, ``name``, ``q_value``).
    """
    if alphabet_name is None:
        alphabet_name = "rna" if "U" in letters else "dna"
    db = load_database(background, alphabet_name)
    if not _nucleotides_equal(letters, db.letters):
        raise InputError(f"motifs over {letters} cannot be matched against {db.path.name} ({db.letters})")
    targets = [np.asarray(target, dtype=np.float64)] + [m.pwm for m in db.motifs]
    p, q = compare(pwms, targets, reverse_complement=alphabet_name == "dna", n_jobs=n_jobs)
    best = []
    for i in range(len(pwms)):
        j = int(np.lexsort((p[i, 1:], q[i, 1:]))[0]) + 1
        best.append({"database": db.label, "id": db.motifs[j - 1].name,
                     "name": db.motifs[j - 1].description or db.motifs[j - 1].name,
                     "p_value": float(p[i, j]), "q_value": float(q[i, j])})
    return q[:, 0].copy(), best
