"""``seqzoo sites``: pool the binding sites of many tasks into one multitask training table.

    seqzoo sites --task PUM2=23_PARCLIP_PUM2.training.fa.gz --task QKI=24_PARCLIP_QKI.training.fa.gz \\
                 [--background more.fa ...] [--no-background] [--bin 50] -o sites.parquet
    seqzoo sites --task A=a.bed --task B=b.bed --genome hg19.fa --length 101 -o sites.tsv

The output (parquet or TSV, complete or absent) has ``chrom, start, end, strand, sequence`` (0-based
half-open) and one 0/1 column per task; its summary (counts per task, overlaps, inputs with their
sha256) is in the parquet metadata entry ``seqzoo_sites`` (the TSV's first line) and on stderr.
Train on it with ``seqzoo train --table sites.parquet --label-columns A,B [--test-chroms ...]``.
See training/sites.py for the pooling rule.
"""

from __future__ import annotations

import argparse
import json
import sys

from seqzoo.zoo.errors import InputError

KEY = "seqzoo_sites"


def _task(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=FILE")
    return name, path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", dest="tasks", action="append", type=_task, default=[], metavar="NAME=FILE",
                        help="a task's sites: FASTA with coordinates in the headers (iONMF class:1 records when "
                             "labelled) or BED6 with --genome; repeat per task")
    parser.add_argument("--background", action="append", default=[], metavar="FILE",
                        help="records bound by no task (FASTA with coordinates, or BED6 with --genome)")
    parser.add_argument("--no-background", action="store_true",
                        help="leave out the class:0 records of labelled task files")
    parser.add_argument("--bin", type=int, default=50, help="sites whose centres share a bin of this many bases "
                        "(same chrom and strand) become one row (default 50)")
    parser.add_argument("--genome", help="reference FASTA to cut BED intervals from")
    parser.add_argument("--contig-map", help="with --genome: two-column file, BED contig name -> FASTA name")
    parser.add_argument("--length", type=int, help="with BED input: bases cut around each interval's centre")
    parser.add_argument("-o", "--output", required=True, help="output .parquet or .tsv")


def run(args) -> int:
    from seqzoo.training.data import sha256_hex
    from seqzoo.training.sites import COLUMNS, pool_sites
    from seqzoo.zoo.io.table import TableWriter, table_format

    table_format(args.output)
    if args.length is not None and args.length < 1:
        raise InputError(f"--length must be positive, got {args.length}")
    genome = None
    if args.genome:
        from seqzoo.zoo.io.genome import Genome

        genome = Genome(args.genome, contig_map=args.contig_map)
    try:
        columns, summary = pool_sites(args.tasks, args.background, args.bin, genome, args.length,
                                      not args.no_background)
    finally:
        if genome is not None:
            genome.close()
    for entry in summary["inputs"]:
        entry["sha256"] = sha256_hex(entry["path"])
    types = {name: "string" if name in ("chrom", "strand", "sequence") else "int64" for name in columns}
    with TableWriter(args.output, types, summary, key=KEY) as writer:
        writer.write(columns)
    tasks = [name for name in columns if name not in COLUMNS]
    print(_describe(summary, tasks, args.output), file=sys.stderr)
    return 0


def _describe(summary: dict, tasks: list[str], output: str) -> str:
    """The pooled table in words (the stderr summary)."""
    width = max(len(t) for t in tasks)
    bound = (f"  bound rows {summary['bound_rows']:,} ({summary['rows_bound_by_several_tasks']:,} bound by several "
             f"tasks), background rows {summary['background_rows']:,} ({summary['background_in_bound_bins']:,} "
             f"background records fell in bound bins and were dropped); bin {summary['bin']} nt")
    lines = [f"seqzoo sites: {summary['rows']:,} rows -> {output}", bound, f"  {'task':<{width}}  sites   rows"]
    lines += [f"  {t:<{width}}  {summary['tasks'][t]['sites']:>6,} {summary['tasks'][t]['rows']:>6,}" for t in tasks]
    lines.append(f"  tasks per bound row: {json.dumps(summary['tasks_per_bound_row'])}")
    return "\n".join(lines)
