"""Annotating a genome: a model's value at every ``stride``-th position of BED regions (or of every
contig), on one or both strands, as bigWig (and bgzipped bedGraph) tracks and narrowPeak peaks.

    annotate(AnnotateSettings(out="tracks/", genome="genome.fa"), executor)

The regions (a BED, or every contig) are cut into pieces (:func:`pieces`); each piece is one
:class:`AnnotatePiece` task wherever the executor runs it: the windows' probabilities of the asked
classes (the window rule and shared pass of ``serving.annotate.region_values``), or a language
model's per-base surprisal. A server holds its own genome and runs the pieces whole
(``on_server``: only coordinates and values travel). The driver feeds the values, in order, to
the track writers and peak callers (``serving.tracks``). The output folder is complete or absent (written under a
temporary name, then renamed); so is the peaks file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from seqzoo.serving.annotate import CHUNK, Region
from seqzoo.zoo.errors import InputError, SeqzooError
from seqzoo.zoo.io.bed import read_bed
from seqzoo.zoo.io.genome import ContigNames, Genome

PIECE = 8 * CHUNK  # positions of one task (a piece of a region on one strand)


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


@dataclass(frozen=True)
class AnnotateSettings:
    """What ``seqzoo annotate`` is asked. ``genome``: the FASTA to annotate (None through a server,
    which annotates its own); ``regions``: a BED (None: every contig, whole); ``classes``: the
    classes to write (empty: the card's positive class; a language model: its surprisal)."""

    out: str
    genome: str | None = None
    regions: str | None = None
    contig_map: str | None = None
    genome_cache: str | None = None
    stride: int = 1
    strand: str = "+"
    classes: tuple[str, ...] = ()
    peaks: str | None = None
    threshold: float = 0.5
    bedgraph: bool = False
    timeout: float = 86400.0  # through a server: the deadline of each request's stream

    def check(self, where: str) -> None:
        from seqzoo.serving.annotate import STRANDS

        if where == "server" and self.genome:
            raise InputError("--genome: with --server the server's genome is annotated; leave it out")
        if where != "server" and not self.genome:
            raise InputError(f"--genome is required with --{where}")
        if self.stride < 1:
            raise InputError(f"--stride must be at least 1, got {self.stride}")
        if self.strand not in STRANDS:
            raise InputError(f"--strand {self.strand}: not one of {', '.join(STRANDS)}")
        if not 0 <= self.threshold <= 1:
            raise InputError(f"--threshold must be a probability in [0, 1], got {self.threshold}")
        out = Path(self.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise InputError(f"-o {out}: exists and is not an empty folder (tracks are never written over)")
        if self.peaks and Path(self.peaks).is_dir():
            raise InputError(f"--peaks {self.peaks}: is a folder")


@dataclass(frozen=True)
class AnnotatePiece:
    """Task: the values of one (Region, strand) piece: positions [k] and the classes' values [k, K]."""

    settings: AnnotateSettings
    classes: tuple[str, ...]

    def __call__(self, context, item) -> dict:
        from seqzoo.serving.annotate import class_columns, region_values
        from seqzoo.serving.ops.executors import task_costs

        index, (region, strand) = item
        started, cpu = time.perf_counter(), time.process_time()
        s, engine = self.settings, context.scorer.engine
        genome = context.genome(s.genome, s.contig_map, s.genome_cache)
        _, columns = class_columns(list(self.classes), engine.card, engine.identity.ref, "--class")
        parts = list(region_values(engine, genome, region, s.stride, strand, columns))
        return {"index": index, "chrom": region.chrom, "strand": strand,
                "positions": np.concatenate([p for p, _, _ in parts]),
                "values": np.concatenate([v for _, v, _ in parts]),
                "shared_pass": any(shared for _, _, shared in parts), "rows": sum(len(p) for p, _, _ in parts),
                **task_costs(started, cpu)}

    def on_server(self, executor, items):
        """The pieces annotated by the server on its genome (``seqzoo.v1.Annotation``), chunk by chunk."""
        from seqzoo.serving.client import AnnotationClient

        answers = AnnotationClient(executor.client).annotate(executor.scorer.ref, (piece for _, piece in items),
                                                               self.settings.stride, list(self.classes),
                                                               self.settings.timeout)
        for chrom, strand, positions, values, shared in answers:
            yield {"chrom": chrom, "strand": strand, "positions": positions, "values": values,
                   "shared_pass": shared, "rows": len(positions)}


def contigs(settings: AnnotateSettings, executor):
    """The genome the executor annotates: the FASTA (indexed here, once), or a server's contig names."""
    if executor.where != "server":
        from seqzoo.serving.ops.executors import Context

        return Context.genome(settings.genome, settings.contig_map, settings.genome_cache)
    from seqzoo.serving.client import AnnotationClient
    from seqzoo.zoo.io.genome import ContigNames

    lengths, fasta = AnnotationClient(executor.client).contigs()
    return ContigNames(lengths, settings.contig_map, f"{executor.client.target}'s genome {fasta}")


def annotate(settings: AnnotateSettings, executor, progress: Callable[[int], None] | None = None,
             notes: Callable[[str], None] | None = None) -> dict:
    """Annotate the regions with the executor's model into ``settings.out`` (and ``settings.peaks``).

    ``progress(positions)`` is called with the positions done after each block of values;
    ``notes(text)`` with each note on the regions (a BED interval clipped at a contig's end).

    Returns
    -------
    dict
        ``model``, ``digest``, ``mode``, ``classes``, ``regions``, ``positions``, ``shared_pass``,
        ``seconds``, ``positions_per_second``, ``out``, ``files``, ``peaks``.
    """
    from seqzoo.serving.annotate import STRANDS, check_model, class_columns

    settings.check(executor.where)
    scorer = executor.scorer
    check_model(scorer.alphabet, scorer.length, scorer.ref)
    classes, _ = class_columns(list(settings.classes), scorer.card, scorer.ref, "--class")
    names = contigs(settings, executor)
    regions, notes_ = regions_of(names, settings.regions)
    for note in notes_:
        if notes is not None:
            notes(note)
    strands = STRANDS[settings.strand]
    total = sum(len(range(r.start, r.end, settings.stride)) for r in regions) * len(strands)
    start = time.perf_counter()
    items = enumerate(pieces(regions, strands, settings.stride))
    shared, peaks = _write(settings, names.lengths, classes, strands,
                           executor.map(AnnotatePiece(settings, tuple(classes)), items), progress)
    seconds = time.perf_counter() - start
    out = Path(settings.out)
    return {"model": scorer.ref, "digest": scorer.digest, "mode": executor.where, "classes": classes,
            "regions": len(regions), "shared_pass": shared, "positions": total, "seconds": round(seconds, 3),
            "positions_per_second": round(total / max(seconds, 1e-9), 1), "out": str(out),
            "files": sorted(p.name for p in out.iterdir()), "peaks": peaks}


def _write(settings: AnnotateSettings, lengths: dict, classes: list[str], strands: tuple, blocks,
           progress) -> tuple[bool, int | None]:
    """Feed the blocks of values to the tracks and peak callers; commit the folder (and the peaks)
    when every block is in. Returns (shared pass used, peaks written or None)."""
    from seqzoo.serving.tracks import PeakCaller, Tracks, write_narrowpeak
    from seqzoo.zoo.io.atomic import AtomicFolder, temporary_name

    Path(settings.out).parent.mkdir(parents=True, exist_ok=True)
    folder = AtomicFolder(settings.out, empty_ok=True)
    peak_tmp = temporary_name(settings.peaks) if settings.peaks else None
    callers = {(name, strand): PeakCaller(name, settings.threshold, settings.stride, lengths)
               for name in classes for strand in strands}
    shared, done = False, 0
    try:
        tracks = Tracks(folder.tmp, lengths, classes, strands, settings.stride, settings.bedgraph)
        try:
            for block in blocks:
                chrom, strand, positions, values = block["chrom"], block["strand"], block["positions"], block["values"]
                for k, name in enumerate(classes):
                    tracks.add(name, strand, chrom, positions, values[:, k])
                    callers[name, strand].feed(chrom, strand, positions, values[:, k])
                shared = shared or bool(block["shared_pass"])
                done += len(positions)
                if progress is not None:
                    progress(done)
        finally:
            tracks.close()
        if peak_tmp is not None:
            rows = [row for caller in callers.values() for row in caller.finish()]
            write_narrowpeak(peak_tmp, rows, {c: i for i, c in enumerate(lengths)})
        folder.commit()
        if peak_tmp is not None:
            os.replace(peak_tmp, settings.peaks)
    except BaseException:
        folder.abort()
        if peak_tmp is not None:
            peak_tmp.unlink(missing_ok=True)
        raise
    return shared, sum(len(c.rows) for c in callers.values()) if settings.peaks else None
