"""Genome annotation tracks: a model's probability at every N-th position of a genome or of BED
regions, on one or both strands, as bigWig (and bgzipped bedGraph) tracks and narrowPeak peaks.

The window of position p is ``[p - L//2, p - L//2 + L)``, the centring rule of variant windows;
contig ends are padded with N; a minus-strand window is the reverse complement of the plus one
(T read as U for RNA models). The value of the window centred at p covers ``[p, p + stride)``.

A region's bases are read once and encoded once, in chunks of ``CHUNK`` positions, so memory
stays bounded at any genome size. A version with ``track.onnx`` scores a chunk's windows in one
shared pass (the convolutions of overlapping windows computed once); others score each window
(views into the chunk's codes). Peaks are maximal runs of windows above a threshold, found while
the values stream past (``PeakCaller``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from seqzoo.zoo.alphabets import reverse_complement
from seqzoo.zoo.card import default_class
from seqzoo.zoo.errors import InputError, SeqzooError
from seqzoo.zoo.io.bed import read_bed
from seqzoo.zoo.io.genome import ContigNames, Genome

CHUNK = 1 << 15  # positions scored per call
SHARED_FRACTION = 16  # a chunk takes the shared pass from 1/16 of a segment's windows up (serving.annotate.shared_pass)
PIECE = 8 * CHUNK  # positions of one unit of work handed out (a Dask task)
MAX_REGIONS = 100_000  # regions one Annotation request may hold
MAX_WINDOWS = 1 << 24  # windows one Annotation request may ask for, over all its regions (the client splits to fit)
STRANDS = {"+": ("+",), "-": ("-",), "both": ("+", "-")}
STRAND_NAMES = {"+": "plus", "-": "minus"}


@dataclass(frozen=True)
class Region:
    """A 0-based half-open interval of a genome contig."""

    chrom: str
    start: int
    end: int


def regions_of(genome: Genome | ContigNames, bed: str | os.PathLike | None) -> tuple[list[Region], list[str]]:
    """The regions to annotate, in the genome's contig order, overlaps merged; and notes.

    ``genome`` is the FASTA, or the contig names of a server's genome. Without ``bed``: every contig whole. BED intervals past a contig end are clipped (noted);
    an unknown contig is an error naming the file and line.
    """
    order = {name: i for i, name in enumerate(genome.lengths)}
    if bed is None:
        return [Region(c, 0, n) for c, n in genome.lengths.items()], []
    notes, spans = [], []
    for record in read_bed(bed):
        try:
            chrom = genome.require(record.chrom)
        except SeqzooError as exc:
            raise exc.at(file=str(bed), line=record.line) from None
        size = genome.lengths[chrom]
        start, end = max(0, record.start), min(record.end, size)
        if end < record.end:
            notes.append(f"{bed}:{record.line}: {record.chrom}:{record.start}-{record.end} runs past the contig's "
                         f"end ({size}); clipped")
        if end > start:
            spans.append((order[chrom], start, end, chrom))
    spans.sort()
    merged: list[Region] = []
    for _, start, end, chrom in spans:
        if merged and merged[-1].chrom == chrom and start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Region(chrom, last.start, max(last.end, end))
        else:
            merged.append(Region(chrom, start, end))
    if not merged:
        raise InputError(f"{bed}: no interval left to annotate")
    return merged, notes


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


def pieces(regions: list[Region], strands: tuple[str, ...], stride: int,
           size: int = PIECE) -> Iterator[tuple[Region, str]]:
    """(piece, strand) in output order: each region on each strand, cut into pieces of at most
    ``size`` positions that start on the region's stride grid (a position's window does not
    depend on its neighbours, so the pieces' values are the region's)."""
    step = size * stride
    for region in regions:
        for strand in strands:
            for first in range(region.start, region.end, step):
                yield Region(region.chrom, first, min(region.end, first + step)), strand


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


class PeakCaller:
    """Maximal runs of consecutive windows above ``threshold`` on one contig and strand, as
    narrowPeak rows (BED6+4: name = class, score = 1000 x max, strand, signalValue = max,
    pValue and qValue -1, peak = summit offset). Feed positions in increasing order; ``sizes``
    (contig lengths) clip a peak that reaches a contig's end.

    The summit is the run's centroid weighted by each window's excess over the threshold, not
    its highest window: a window model scores a site about equally from every window that
    holds it, so the highest window lies anywhere on that plateau, while the centroid finds
    the site (planted FOXO1 sites recovered within 10 bp: 154 of 200 against 81 for the
    maximum, benchmarks/planted_bench.py).
    """

    def __init__(self, name: str, threshold: float, stride: int, sizes: dict[str, int]):
        self.name, self.threshold, self.stride, self.sizes = name, threshold, stride, sizes
        self.rows: list[tuple] = []
        self._run: list | None = None  # [chrom, strand, start, last, max, sum of weights, sum of weight x position]

    def feed(self, chrom: str, strand: str, positions: np.ndarray, values: np.ndarray) -> None:
        above = values > self.threshold
        run = self._run
        if run is not None and (run[0] != chrom or run[1] != strand or not above[0]
                                or positions[0] != run[3] + self.stride):
            self._close()
            run = None
        # boundaries of the runs inside this chunk
        edges = np.flatnonzero(np.diff(np.concatenate(([0], above.view(np.int8), [0]))))
        for lo, hi in zip(edges[::2], edges[1::2]):
            weights = values[lo:hi].astype(np.float64) - self.threshold
            part = [float(values[lo:hi].max()), float(weights.sum()), float(weights @ positions[lo:hi])]
            if run is not None and lo == 0:  # the run goes on from the previous chunk
                run[3] = int(positions[hi - 1])
                run[4], run[5], run[6] = max(run[4], part[0]), run[5] + part[1], run[6] + part[2]
            else:
                if run is not None:
                    self._close()
                run = self._run = [chrom, strand, int(positions[lo]), int(positions[hi - 1]), *part]
            if hi < len(values):  # the run ends inside this chunk
                self._close()
                run = None
        self._run = run

    def _close(self) -> None:
        if self._run is None:
            return
        chrom, strand, start, last, best, weight, moment = self._run
        summit = start if weight <= 0 else round(moment / weight)
        self.rows.append((chrom, start, min(last + self.stride, self.sizes[chrom]), self.name, min(1000, round(1000 * best)),
                          strand, best, -1, -1, summit - start))
        self._run = None

    def finish(self) -> list[tuple]:
        self._close()
        return self.rows


def write_narrowpeak(path: Path, rows: list[tuple], order: dict[str, int]) -> None:
    """Peaks sorted by contig (genome order), start, strand, as ENCODE narrowPeak text."""
    rows = sorted(rows, key=lambda r: (order[r[0]], r[1], r[5], r[3]))
    with open(path, "w") as f:
        f.writelines(f"{chrom}\t{start}\t{end}\t{name}\t{score}\t{strand}\t{signal:.6g}\t{p}\t{q}\t{peak}\n"
                     for chrom, start, end, name, score, strand, signal, p, q, peak in rows)


class Tracks:
    """One bigWig (pyBigWig) and, optionally, one bgzipped bedGraph (Bio.bgzf) per class and strand in
    a folder; values arrive region by region in the genome's contig order."""

    def __init__(self, folder: Path, sizes: dict[str, int], classes: list[str], strands: tuple[str, ...],
                 stride: int, bedgraph: bool):
        import pyBigWig
        from Bio import bgzf

        self.stride = stride
        self.sizes = dict(sizes)
        self.bigwigs, self.bedgraphs = {}, {}
        for name in classes:
            for strand in strands:
                stem = f"{name}.{STRAND_NAMES[strand]}"
                bw = pyBigWig.open(str(folder / f"{stem}.bw"), "w")
                bw.addHeader(list(self.sizes.items()), maxZooms=10)
                self.bigwigs[name, strand] = bw
                if bedgraph:
                    self.bedgraphs[name, strand] = bgzf.BgzfWriter(str(folder / f"{stem}.bedGraph.gz"), "wb")

    def add(self, name: str, strand: str, chrom: str, positions: np.ndarray, values: np.ndarray) -> None:
        """Values of windows at increasing ``positions`` (one stride apart) of ``chrom``."""
        values = values.astype(np.float64)
        size = self.sizes[chrom]
        whole = int(np.searchsorted(positions, size - self.stride, side="right"))  # spans inside the contig
        bw = self.bigwigs[name, strand]
        if whole:
            bw.addEntries(chrom, int(positions[0]), values=values[:whole], span=self.stride, step=self.stride)
        if whole < len(positions):  # the last span stops at the contig's end
            bw.addEntries([chrom], [int(positions[whole])], ends=[size], values=[float(values[whole])])
        out = self.bedgraphs.get((name, strand))
        if out is not None:
            ends = np.minimum(positions + self.stride, size)
            out.write("".join(f"{chrom}\t{s}\t{e}\t{v:.6g}\n" for s, e, v in
                              zip(positions.tolist(), ends.tolist(), values.tolist())).encode())

    def close(self) -> None:
        for bw in self.bigwigs.values():
            bw.close()
        for out in self.bedgraphs.values():
            out.close()
