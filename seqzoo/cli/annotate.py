"""``seqzoo annotate``: a model's tracks over a genome (bigWig, bedGraph) and its peaks (narrowPeak).

    seqzoo annotate --model pum2 --genome genome.fa [--regions regions.bed] [--stride 1]
                    [--strand +|-|both] [--class positive ...] --local [--zoo DIR] -o OUTDIR
                    [--peaks peaks.narrowPeak --threshold 0.5] [--bedgraph]
    seqzoo annotate --model pum2 --server HOST:PORT [--regions regions.bed] ... -o OUTDIR
    seqzoo annotate --model pum2 --genome genome.fa --dask local:2 [--zoo DIR] ... -o OUTDIR

``--server`` asks a server that holds the genome (``seqzoo serve --genome``) for the regions'
values, so only coordinates and values travel. A language model's track is its per-base
surprisal. The operation is ``serving.ops.annotate``; this module turns arguments into its
settings and an executor. OUTDIR receives ``<class>.plus.bw`` / ``<class>.minus.bw`` (and
``.bedGraph.gz`` with ``--bedgraph``); it is complete or absent.
"""

from __future__ import annotations

import argparse
import json
import sys

from seqzoo.cli.where import add_where_arguments, executor_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model ref: name, name:3 or name@sha256:...")
    parser.add_argument("--genome", help="reference FASTA (plain, bgzip or gzip; indexed on first use); "
                        "not with --server, which uses the server's")
    parser.add_argument("--regions", help="BED file of regions to annotate (default: every contig, whole)")
    parser.add_argument("--contig-map", help="two-column file: BED contig name -> FASTA name")
    parser.add_argument("--genome-cache", help="folder for decompressed genomes and indexes ($SEQZOO_CACHE)")
    parser.add_argument("--stride", type=int, default=1, help="annotate every N-th position (default 1)")
    parser.add_argument("--strand", default="+", choices=("+", "-", "both"), help="strand(s) to score")
    parser.add_argument("--class", dest="classes", action="append",
                        help="class to write (repeatable; default: the card's positive class; required for a model "
                             "without one; a language model's one track is 'surprisal')")
    parser.add_argument("-o", "--out", required=True, help="output folder (must not exist, or be empty)")
    parser.add_argument("--peaks", help="write peaks (maximal runs of windows above --threshold) as narrowPeak")
    parser.add_argument("--threshold", type=float, default=0.5, help="peak threshold on the probability")
    parser.add_argument("--bedgraph", action="store_true", help="also write bgzipped bedGraph tracks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    add_where_arguments(parser, timeout=86400.0)


def run(args) -> int:
    from tqdm import tqdm

    from seqzoo.serving.ops.annotate import AnnotateSettings, annotate

    settings = AnnotateSettings(args.out, args.genome, args.regions, args.contig_map, args.genome_cache, args.stride,
                                args.strand, tuple(args.classes or ()), args.peaks, args.threshold, args.bedgraph,
                                args.timeout)
    executor = executor_of(args)
    try:
        with tqdm(unit="pos", unit_scale=True, disable=args.no_progress, file=sys.stderr, desc="annotate") as bar:
            summary = annotate(settings, executor, lambda done: bar.update(done - bar.n),
                               lambda note: print(f"seqzoo annotate: {note}", file=sys.stderr))
    finally:
        executor.close()
    print(f"annotated {summary['positions']:,} positions of {summary['regions']} regions with {summary['model']} "
          f"({summary['mode']}) in {summary['seconds']:.1f} s ({summary['positions_per_second']:,.0f} positions/s) "
          f"-> {summary['out']}" + (f"; {summary['peaks']} peaks -> {args.peaks}" if args.peaks else ""),
          file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0
