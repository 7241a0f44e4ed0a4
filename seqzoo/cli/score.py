"""``seqzoo score``: class probabilities for every sequence of a FASTA, parquet or BED (+ genome) input.

    seqzoo score --server HOST:PORT --model pum2 windows.fa.gz -o scores.tsv
    seqzoo score --local --zoo myzoo --model pum2:3 windows.fa -o scores.parquet
    seqzoo score --dask local:2 --zoo myzoo --model pum2:3 windows.fa -o scores/
    seqzoo score --local --model foxo1 regions.bed --genome genome.fa --stride 50 -o windows.parquet

The operation is ``serving.ops.score``; this module turns arguments into its settings and an executor.
"""

from __future__ import annotations

import argparse
import sys

from seqzoo.cli.where import add_where_arguments, executor_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqzoo.serving.ops import DEFAULT_PARTITION_ROWS

    parser.add_argument("--model", required=True, help="model ref: name, name:latest, name:3 or name@sha256:...")
    parser.add_argument("input", help="FASTA (.fa, .fasta, optionally .gz), parquet (a 'sequence' column) or BED")
    parser.add_argument("-o", "--output", required=True,
                        help="output .tsv or .parquet, or a folder of parquet parts (any other name)")
    parser.add_argument("--batch", type=int, default=1024, help="sequences per request / forward pass")
    parser.add_argument("--convert-tu", action="store_true", help="read T as U for RNA models (U as T for DNA)")
    parser.add_argument("--track", action="append", default=[], metavar="NAME=FILE",
                        help="a multimodal model's track: a FASTA of per-position letters named like the input's "
                             "records, or a bigWig (.bw) read at each record's header coordinates (repeat per "
                             "track; a structure track is folded when not given)")
    parser.add_argument("--genome", help="with a BED input: the reference FASTA to cut windows from")
    parser.add_argument("--stride", type=int, help="with a BED input: bases between windows (default: the length)")
    parser.add_argument("--genome-cache", help="folder for decompressed genomes and indexes ($SEQZOO_CACHE)")
    parser.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS,
                        help="sequences or windows per task (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_where_arguments(parser)


def run(args) -> int:
    from tqdm import tqdm

    from seqzoo.serving.ops.score import ScoreSettings, score

    settings = ScoreSettings(args.input, args.output, args.batch, args.convert_tu, tuple(args.track), args.genome,
                             args.stride, args.genome_cache, args.partition_rows)
    executor = executor_of(args)
    try:
        with tqdm(unit="seq", unit_scale=True, desc="score", file=sys.stderr, disable=args.no_progress) as bar:
            summary = score(settings, executor, lambda rows: bar.update(rows - bar.n))
    finally:
        executor.close()
    print(f"scored {summary['rows']} sequences with {summary['model']} ({executor.scorer.provider}) in "
          f"{summary['seconds']:.1f} s -> {summary['output']}", file=sys.stderr)
    return 0
