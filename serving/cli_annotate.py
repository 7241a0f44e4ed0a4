"""``seqzoo annotate``: a model's tracks over a genome (bigWig, bedGraph) and its peaks (narrowPeak).

    seqzoo annotate --model pum2 --genome genome.fa [--regions regions.bed] [--stride 1]
                    [--strand +|-|both] [--class positive ...] --local [--zoo DIR] -o OUTDIR
                    [--peaks peaks.narrowPeak --threshold 0.5] [--bedgraph]

OUTDIR receives ``<class>.plus.bw`` / ``<class>.minus.bw`` (and ``.bedGraph.gz`` with
``--bedgraph``); it is complete or absent (written under a temporary name, then renamed).
See serving/annotate.py for the window rule.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from seqzoo.zoo.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model ref: name, name:3 or name@sha256:...")
    parser.add_argument("--genome", required=True, help="reference FASTA (plain, bgzip or gzip; indexed on first use)")
    parser.add_argument("--regions", help="BED file of regions to annotate (default: every contig, whole)")
    parser.add_argument("--contig-map", help="two-column file: BED contig name -> FASTA name")
    parser.add_argument("--stride", type=int, default=1, help="annotate every N-th position (default 1)")
    parser.add_argument("--strand", default="+", choices=("+", "-", "both"), help="strand(s) to score")
    parser.add_argument("--class", dest="classes", action="append",
                        help="class to write (repeatable; default: the last, a binary model's positive class)")
    parser.add_argument("--local", action="store_true", required=True,
                        help="score in this process with ONNX Runtime (the only mode so far)")
    parser.add_argument("--zoo", help="zoo folder (default $SEQZOO_ZOO or ./zoo)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("-o", "--out", required=True, help="output folder (must not exist, or be empty)")
    parser.add_argument("--peaks", help="write peaks (maximal runs of windows above --threshold) as narrowPeak")
    parser.add_argument("--threshold", type=float, default=0.5, help="peak threshold on the probability")
    parser.add_argument("--bedgraph", action="store_true", help="also write bgzipped bedGraph tracks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")


def _check(args) -> None:
    if args.stride < 1:
        raise InputError(f"--stride must be at least 1, got {args.stride}")
    if not 0 <= args.threshold <= 1:
        raise InputError(f"--threshold must be a probability in [0, 1], got {args.threshold}")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"-o {out}: exists and is not an empty folder (tracks are never written over)")
    if args.peaks and Path(args.peaks).is_dir():
        raise InputError(f"--peaks {args.peaks}: is a folder")


def _load_engine(args):
    """The model's engine and the columns of the asked classes; refuses models annotate cannot use."""
    from seqzoo.serving.engine import Engine
    from seqzoo.zoo.alphabets import ProductAlphabet
    from seqzoo.zoo.registry import open_zoo

    engine = Engine.load(open_zoo(args.zoo).resolve(args.model), device=args.device, threads=args.threads)
    if isinstance(engine.alphabet, ProductAlphabet):
        raise InputError(f"{engine.identity.ref} reads sequence and structure; annotate does not fold genomes")
    if engine.length is None:
        raise InputError(f"{engine.identity.ref} takes sequences of any length; annotate needs a fixed window")
    classes = args.classes or [engine.classes[-1]]
    for name in classes:
        if name not in engine.classes:
            raise InputError(f"--class {name}: not a class of {engine.identity.ref} ({', '.join(engine.classes)})")
    return engine, classes, [engine.classes.index(name) for name in classes]


def _score(engine, genome, regions, strands, classes, columns, args, tracks, peaks, total: int) -> None:
    """Score every region on every strand into the tracks and the peak callers."""
    from seqzoo.serving.annotate import region_scores
    from tqdm import tqdm

    rna = "U" in engine.alphabet.letters
    with tqdm(total=total, unit="pos", unit_scale=True, disable=args.no_progress, file=sys.stderr,
              desc="annotate") as bar:
        for region in regions:
            for strand in strands:
                for positions, probs in region_scores(engine, genome, region, args.stride, strand, rna):
                    for name, column in zip(classes, columns):
                        tracks.add(name, strand, region.chrom, positions, probs[:, column])
                        peaks[name, strand].feed(region.chrom, strand, positions, probs[:, column])
                    bar.update(len(positions))


def run(args) -> int:
    from seqzoo.serving.annotate import STRANDS, PeakCaller, Tracks, regions_of, write_narrowpeak
    from seqzoo.zoo.io.atomic import temporary_name
    from seqzoo.zoo.io.genome import Genome

    _check(args)
    engine, classes, columns = _load_engine(args)
    genome = Genome(args.genome, contig_map=args.contig_map)
    regions, notes = regions_of(genome, args.regions)
    for note in notes:
        print(f"seqzoo annotate: {note}", file=sys.stderr)
    strands = STRANDS[args.strand]
    total = sum(len(range(r.start, r.end, args.stride)) for r in regions) * len(strands)
    out = Path(args.out)
    staging, peak_tmp = temporary_name(out), temporary_name(args.peaks) if args.peaks else None
    staging.mkdir(parents=True)
    peaks = {(name, strand): PeakCaller(name, args.threshold, args.stride, genome.lengths)
             for name in classes for strand in strands}
    start = time.perf_counter()
    try:
        tracks = Tracks(staging, genome, classes, strands, args.stride, args.bedgraph)
        try:
            _score(engine, genome, regions, strands, classes, columns, args, tracks, peaks, total)
        finally:
            tracks.close()
        if peak_tmp is not None:
            rows = [row for caller in peaks.values() for row in caller.finish()]
            write_narrowpeak(peak_tmp, rows, {c: i for i, c in enumerate(genome.lengths)})
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
        if peak_tmp is not None:
            os.replace(peak_tmp, args.peaks)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if peak_tmp is not None:
            peak_tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    summary = {"model": engine.identity.ref, "digest": engine.identity.digest, "regions": len(regions),
               "shared_pass": engine.has_track and args.stride < engine.length,
               "positions": total, "seconds": round(seconds, 3), "positions_per_second": round(total / seconds, 1),
               "out": str(out), "files": sorted(p.name for p in out.iterdir()),
               "peaks": sum(len(c.rows) for c in peaks.values()) if args.peaks else None}
    print(f"annotated {total:,} positions of {len(regions)} regions with {engine.identity.ref} in {seconds:.1f} s "
          f"({total / seconds:,.0f} positions/s) -> {out}" + (f"; {summary['peaks']} peaks -> {args.peaks}"
                                                               if args.peaks else ""), file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0
