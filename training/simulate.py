"""Planted-motif sequences (the FOXO1 exercise): a known answer to test a classifier against.

Negatives are uniform i.i.d. bases. Positives are uniform bases with a site sampled from each
motif's probability matrix (a new sample per sequence, column by column) planted at the centre,
or at a random position; optionally on a random strand (the sampled site reverse-complemented).
With several motifs, each positive gets one site of every motif: centred as one block (in the
order given), or at random non-overlapping positions.

``simulate_regions`` is DeepRiPe's region-type question with a known answer: a sequence binds only
when its motif sits in a 3'UTR, which a sequence-only model cannot know and a model with the
region track can. ``place_signal`` asks the same question of a numeric track: it lays the records
out on a genome and turns each region track into a noisy bigWig signal, highest in 3'UTRs.
"""

from __future__ import annotations

import os
from itertools import pairwise

import numpy as np
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.atomic import write_text
from seqzoo.zoo.motifs_io import Motif, read_meme


def pick_motifs(path: str | os.PathLike, ids: list[str] | None = None) -> tuple[str, list[Motif]]:
    """Motifs of a MEME file by id (first word or the factor name), or the first one without ids."""
    letters, motifs = read_meme(path)
    if not motifs:
        raise InputError(f"{path}: no MOTIF in the file")
    if not ids:
        return letters, motifs[:1]
    chosen = []
    for wanted in ids:
        found = [m for m in motifs if wanted in (m.name, m.description) or wanted in m.description.split()]
        if not found:
            raise NotFoundError(f"{path}: no motif {wanted!r} (first ids: {', '.join(m.name for m in motifs[:5])})")
        chosen.append(found[0])
    return letters, chosen


def sample_site(pwm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One site sampled from a PWM [W, A]: int codes [W]."""
    cumulative = np.cumsum(pwm / pwm.sum(axis=1, keepdims=True), axis=1)
    return (rng.random((len(pwm), 1)) > cumulative).sum(axis=1).clip(0, pwm.shape[1] - 1)


def simulate(pwms: list[np.ndarray], letters: str, n: int, length: int, seed: int = 0,
             position: str = "centre", strand: str = "forward") -> tuple[list[str], list[str]]:
    """Simulate ``n`` sequences: ``n // 2`` positives (motifs planted) and ``n - n // 2`` negatives.

    Parameters
    ----------
    pwms : list of np.ndarray, each shape=(W, A)
    letters : str
        The alphabet of the PWM columns (ACGT for DNA motifs).
    n, length : int
    seed : int
    position : {"centre", "random"}
    strand : {"forward", "random"}
        ``random`` plants the reverse complement of the sampled site with probability 1/2
        (nucleotide alphabets only).

    Returns
    -------
    (positives, negatives) : lists of str
    """
    if n < 2:
        raise InputError(f"--n {n}: need at least 2 sequences (one of each class)")
    widths = [len(p) for p in pwms]
    if sum(widths) > length:
        raise InputError(f"--length {length} is shorter than the motifs' total width {sum(widths)}")
    if position not in ("centre", "random") or strand not in ("forward", "random"):
        raise InputError(f"position {position!r} / strand {strand!r}: use centre|random and forward|random")
    complement = None
    if strand == "random":
        pairs = {"A": "T", "C": "G", "G": "C", "T": "A", "U": "A"}
        if not set(letters) <= set(pairs):
            raise InputError(f"--random-strand needs a nucleotide alphabet, the motifs use {letters}")
        complement = np.array([letters.index(pairs[c]) if pairs[c] in letters else letters.index("U")
                               for c in letters])
    rng = np.random.default_rng(seed)
    a = len(letters)
    n_pos = n // 2
    codes = rng.integers(0, a, size=(n, length))
    for i in range(n_pos):
        sites = []
        for pwm in pwms:
            site = sample_site(pwm, rng)
            if complement is not None and rng.random() < 0.5:
                site = complement[site[::-1]]
            sites.append(site)
        if position == "centre":
            start = (length - sum(widths)) // 2
            block = np.concatenate(sites)
            codes[i, start:start + len(block)] = block
        else:
            # random non-overlapping placement: distribute the free space in random gaps
            free = length - sum(widths)
            cuts = np.sort(rng.integers(0, free + 1, size=len(sites)))
            order = rng.permutation(len(sites))
            offset = 0
            for k, j in enumerate(order):
                start = cuts[k] + offset
                codes[i, start:start + widths[j]] = sites[j]
                offset += widths[j]
    table = np.frombuffer(letters.encode(), dtype=np.uint8)
    strings = [row.tobytes().decode() for row in table[codes]]
    return strings[:n_pos], strings[n_pos:]


REGION_LETTERS = "5C3I"  # 5'UTR, CDS, 3'UTR, intron (one letter per position of the region track)


def simulate_regions(pwm: np.ndarray, letters: str, n: int, length: int = 150, track_length: int = 250,
                     seed: int = 0) -> tuple[list[str], list[str], list[str], list[str]]:
    """Sequences with a region track: positive only when the motif sits in a 3'UTR segment.

    Every positive has a site sampled from ``pwm`` at a random position, and half the negatives
    too; the region track (``track_length`` positions centred on the sequence; 1 to 4 segments of
    5'UTR / CDS / 3'UTR / intron with random bounds and types) holds 3'UTR (``3``) under a positive's
    site and another region type under a negative's. Sequence-only, a model can find the motif but
    not tell the two apart (AUROC 0.75 at best); with the track it can (AUROC 1).

    Returns
    -------
    (positives, negatives, positive regions, negative regions) : lists of str
    """
    if n < 4:
        raise InputError(f"--n {n}: need at least 4 sequences")
    width = len(pwm)
    if width > length or track_length < length:
        raise InputError(f"--length {length} must hold the motif ({width}) and fit in the track ({track_length})")
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(letters), size=(n, length))
    regions = np.empty((n, track_length), dtype=np.int64)
    offset, n_pos = (track_length - length) // 2, n // 2
    for i in range(n):
        cuts = np.sort(rng.choice(np.arange(1, track_length), size=rng.integers(0, 4), replace=False))
        bounds = [0, *cuts.tolist(), track_length]
        for lo, hi in pairwise(bounds):
            regions[i, lo:hi] = rng.integers(0, len(REGION_LETTERS))
        planted = i < n_pos or rng.random() < 0.5
        if not planted:
            continue
        start = int(rng.integers(0, length - width + 1))
        codes[i, start:start + width] = sample_site(pwm, rng)
        centre = offset + start + width // 2
        lo = max(b for b in bounds if b <= centre)
        hi = min(b for b in bounds if b > centre)
        kind = REGION_LETTERS.index("3")
        if i >= n_pos:  # a planted negative: its site's segment is anything but 3'UTR
            kind = int(rng.choice([k for k in range(len(REGION_LETTERS)) if k != kind]))
        regions[i, lo:hi] = kind
    table = np.frombuffer(letters.encode(), dtype=np.uint8)
    strings = [row.tobytes().decode() for row in table[codes]]
    region_table = np.frombuffer(REGION_LETTERS.encode(), dtype=np.uint8)
    tracks = [row.tobytes().decode() for row in region_table[regions]]
    return strings[:n_pos], strings[n_pos:], tracks[:n_pos], tracks[n_pos:]


SIGNAL_MEANS = {"5": 1.0, "C": 2.0, "3": 4.0, "I": 0.0}  # a signal's mean per region type; 3'UTR highest


def place_signal(regions: list[str], length: int, seed: int = 0, chroms: int = 4, missing: float = 0.02
                 ) -> tuple[list[str], dict[str, int], dict[str, np.ndarray]]:
    """Lay records out on a genome and turn their region tracks into a numeric signal.

    Record i lies on ``chr{1 + i % chroms}``, every other one of them on the minus strand, in
    its own slot; its region track (centred on its ``length``-nt sequence, read 5' to 3') becomes
    per-base values: the region type's mean in SIGNAL_MEANS plus exponential noise of mean 1
    (one position alone does not tell the type; a segment does), a ``missing`` share of
    positions without data (NaN).

    Returns
    -------
    (headers ``chrN:start-end(strand)`` of the records' sequences, contig lengths, contig -> per-base values)
    """
    from seqzoo.zoo.io.coords import Coordinates

    rng = np.random.default_rng(seed)
    size = len(regions[0]) if regions else 0
    stride = size + 50
    lengths = {f"chr{c + 1}": stride * ((len(regions) - c + chroms - 1) // chroms) for c in range(chroms)}
    values = {chrom: np.full(n, np.nan) for chrom, n in lengths.items()}
    means = np.asarray([SIGNAL_MEANS.get(ch, 0.0) for ch in map(chr, range(128))])
    headers = []
    for i, region in enumerate(regions):
        chrom, slot, strand = f"chr{1 + i % chroms}", i // chroms, "-" if (i // chroms) % 2 else "+"
        before = length // 2 - size // 2  # the track starts this far before the sequence (negative)
        start = slot * stride - before if strand == "+" else slot * stride + size + before - length
        where = Coordinates(chrom, start, start + length, strand)
        lo, hi = where.window(size)
        signal = means[np.frombuffer(region.encode(), dtype=np.uint8)] + rng.exponential(1.0, size)
        signal[rng.random(size) < missing] = np.nan
        values[chrom][lo:hi] = signal if strand == "+" else signal[::-1]
        headers.append(f"{chrom}:{where.start}-{where.end}({strand})")
    return headers, lengths, values


def write_fasta(path: str | os.PathLike, sequences: list[str], prefix: str, names: list[str] | None = None) -> None:
    """Write sequences as FASTA (one line each; named ``prefix_i`` or ``names``), atomically."""
    names = names or [f"{prefix}_{i}" for i in range(len(sequences))]
    write_text(path, "".join(f">{name}\n{s}\n" for name, s in zip(names, sequences)))
