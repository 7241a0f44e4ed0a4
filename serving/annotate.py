"""Genome annotation values: a model's probability at every N-th position of a region, on one
strand (or a language model's per-base surprisal), for the annotate driver (serving.ops.annotate)
and the server's Annotation service alike.

The window of position p is ``[p - L//2, p - L//2 + L)``, the centring rule of variant windows;
contig ends are padded with N; a minus-strand window is the reverse complement of the plus one
(T read as U for RNA models). The value of the window centred at p covers ``[p, p + stride)``.

A region's bases are read once and encoded once, in chunks of ``CHUNK`` positions, so memory
stays bounded at any genome size. A version with ``track.onnx`` scores a chunk's windows in one
shared pass (the convolutions of overlapping windows computed once); others score each window
(views into the chunk's codes). The values go to the tracks and peaks of ``serving.tracks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from seqzoo.zoo.alphabets import reverse_complement
from seqzoo.zoo.card import default_class
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.genome import Genome

CHUNK = 1 << 15  # positions scored per call
SHARED_FRACTION = 16  # a chunk takes the shared pass from 1/16 of a segment's windows up (serving.annotate.shared_pass)
MAX_REGIONS = 100_000  # regions one Annotation request may hold
MAX_WINDOWS = 1 << 24  # windows one Annotation request may ask for, over all its regions (the client splits to fit)
STRANDS = {"+": ("+",), "-": ("-",), "both": ("+", "-")}


@dataclass(frozen=True)
class Region:
    """A 0-based half-open interval of a genome contig."""

    chrom: str
    start: int
    end: int


def check_model(alphabet, length: int | None, ref: str) -> None:
    """Refuse a model annotation cannot use: one that reads structure or other tracks, or takes any length."""
    from seqzoo.zoo.alphabets import ProductAlphabet

    if isinstance(alphabet, ProductAlphabet):
        raise InputError(f"{ref} reads sequence and structure; annotate does not fold genomes")
    if getattr(alphabet, "tracks", None):
        raise InputError(f"{ref} is multimodal (inputs: sequence, {', '.join(t.name for t in alphabet.tracks)}); "
                         "annotate reads the genome's sequence only")
    if not length:
        raise InputError(f"{ref} takes sequences of any length; annotate needs a fixed window")


def class_columns(asked: list[str], card: dict, ref: str, flag: str) -> tuple[list[str], list[int] | None]:
    """The classes to annotate (default: the card's positive class, zoo.card.default_class) and their
    columns; an unknown one is an error naming ``flag`` (the option or field it came from). A
    language model has one track, ``surprisal`` (columns None)."""
    if card.get("task") == "language_model":
        if list(asked) not in ([], ["surprisal"]):
            raise InputError(f"{ref} is a language model: its one track is 'surprisal', not {flag} {asked[0]}")
        return ["surprisal"], None
    classes = list(card["classes"])
    asked = list(asked) or [default_class(card, ref, flag)]
    for name in asked:
        if name not in classes:
            raise InputError(f"{flag} {name}: not a class of {ref} ({', '.join(classes)})")
    return asked, [classes.index(name) for name in asked]


def region_values(engine, genome: Genome, region: Region, stride: int, strand: str,
                  columns: list[int] | None) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """(positions [k], values [k, K], shared) of a region, ``CHUNK`` positions at a time: the
    ``columns`` of the windows' probabilities (:func:`region_scores`), or with ``columns`` None a
    language model's per-base surprisal (``serving.surprisal``; K = 1)."""
    if columns is None:
        from seqzoo.serving.surprisal import region_surprisal

        for positions, values in region_surprisal(engine, genome, region, stride, strand):
            yield positions, values, False
        return
    rna = "U" in engine.alphabet.letters
    for positions, probs, shared in region_scores(engine, genome, region, stride, strand, rna):
        yield positions, probs[:, columns], shared


def region_scores(engine, genome: Genome, region: Region, stride: int, strand: str,
                  rna: bool) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """(positions [k], probabilities [k, C], shared) of a region's windows, ``CHUNK`` positions at a time.

    Where :func:`shared_pass` says so, one pass of ``track.onnx`` scores every window of the chunk's
    stretch (``Engine.track``) and every stride-th is kept (``shared`` True); otherwise each window is
    a forward pass of its own (views into the stretch's codes, no copies).
    """
    length, half = engine.length, engine.length // 2
    for first in range(region.start, region.end, CHUNK * stride):
        positions = np.arange(first, min(region.end, first + CHUNK * stride), stride, dtype=np.int64)
        start = int(positions[0]) - half
        forward = genome.fetch(region.chrom, start, int(positions[-1]) - half + length)
        segment = reverse_complement(forward, rna=rna) if strand == "-" else forward
        try:
            codes = engine.alphabet.encode_one(segment, convert_tu=True)
        except InputError:
            raise _bad_base(engine.alphabet, forward, genome, region.chrom, start) from None
        offsets = positions - positions[0]
        if strand == "-":  # the window of offset o is the reverse complement's window len - L - o
            offsets = len(codes) - length - offsets
        if shared_pass(engine, stride, len(positions)):
            yield positions, engine.track(codes)[offsets], True
        else:
            yield positions, engine.predict(np.lib.stride_tricks.sliding_window_view(codes, length)[offsets]), False


def window_count(start: int, end: int, stride: int) -> int:
    """Windows of an interval [start, end) at ``stride`` (positions start, start + stride, ...)."""
    return -(-max(0, end - start) // stride)


def shared_pass(engine, stride: int, windows: int) -> bool:
    """Whether ``windows`` windows at ``stride`` are scored by track.onnx's shared pass: a stride below
    the window and at least 1/16 of a segment's windows (a segment costs the same however few it
    holds: a 1-bp region's one window paid for a whole 4,096-window segment; BENCHMARKS.md "faults")."""
    return engine.has_track and stride < engine.length and windows * SHARED_FRACTION >= engine.track_windows


def _bad_base(alphabet, forward: str, genome: Genome, chrom: str, start: int) -> InputError:
    """The error for a stretch of the genome the model's alphabet cannot read, naming the contig and
    the 1-based genomic position of its first bad character (found by bisection: failures only)."""
    lo, hi = 0, len(forward)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            alphabet.encode_one(forward[lo:mid], convert_tu=True)
            lo = mid
        except InputError:
            hi = mid
    return InputError(f"{genome.path}: {chrom}:{start + lo + 1}: character {forward[lo]!r} is not in the "
                      f"{alphabet.name} alphabet {alphabet.letters}")
