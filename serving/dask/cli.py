"""The ``--dask`` option of ``seqzoo score`` and ``seqzoo variants``: arguments in, plain values to the library.

Imported whenever the ``seqzoo`` parser is built, so it imports the Dask jobs (numpy, the
readers) only when ``--dask`` runs.
"""

from __future__ import annotations

import sys

from seqzoo.serving.dask import DEFAULT_PARTITION_ROWS
from seqzoo.serving.dask.cluster import connect, parse_resources
from seqzoo.zoo.errors import InputError


def add_dask_arguments(parser, where, command: str = "score") -> None:
    """Add ``--dask`` to a command's where-to-score group, and the Dask options to its parser.

    ``score`` also gets ``--partition-rows`` and the BED input options (``--genome``,
    ``--stride``); ``variants`` partitions by its own ``--chunk-size`` and has ``--genome``.
    """
    outputs = {"score": "; -o names a folder of parquet parts",
               "variants": "; -o names a folder of parquet parts (or a .vcf/.vcf.gz, merged)", "annotate": ""}
    where.add_argument("--dask", metavar="SCHEDULER", help="score on a Dask cluster: a scheduler address, "
                       "or local[:N] for N local worker processes" + outputs[command])
    group = parser.add_argument_group("Dask (--dask)")
    if command == "score":
        group.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS,
                           help="sequences or windows per partition (default %(default)s)")
        group.add_argument("--genome", help="with a BED input: the reference FASTA to cut windows from")
        group.add_argument("--stride", type=int, help="with a BED input: bases between windows (default: L)")
    group.add_argument("--dask-resources", metavar="NAME=N[,...]",
                       help="worker resources each task needs, e.g. GPU=1 (workers started with --resources GPU=1)")
    group.add_argument("--dask-window", type=int, help="partitions in flight (default: 2 per worker thread + 2)")
    group.add_argument("--dask-memory", default="auto", help="memory limit per local worker (default auto)")


def cluster_of(args):
    """((client, local cluster or None), resources) for a command's ``--dask`` options."""
    resources = parse_resources(args.dask_resources)
    return connect(args.dask, worker_resources=resources or None, memory_limit=args.dask_memory), resources


def run_score(args) -> int:
    """``seqzoo score --dask``."""
    from seqzoo.serving.dask.score import score_partitions
    from seqzoo.zoo.registry import open_zoo

    zoo = open_zoo(args.zoo)
    model = zoo.verify(args.model)  # every file's digest checked once, before any worker loads it
    (client, cluster), resources = cluster_of(args)
    try:
        summary = score_partitions(client, args.input, model, args.output, args.partition_rows, args.dask_window,
                                   resources, device=args.device,
                                   batch_size=args.batch, convert_tu=args.convert_tu,
                                   genome=getattr(args, "genome", None), stride=getattr(args, "stride", None))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"scored {summary['rows']} rows in {summary['parts']} parts with {summary['model']} on "
          f"{len(summary['workers'])} Dask workers in {summary['seconds']:.1f} s -> {summary['output']}",
          file=sys.stderr)
    return 0


def run_variants(args) -> int:
    """``seqzoo variants --dask``."""
    from seqzoo.serving.dask.variants import score_variants
    from seqzoo.serving.effects import parse_scores
    from seqzoo.zoo.registry import open_zoo

    if args.attribution:
        raise InputError("--attribution is not available with --dask; run it with --local or --server")
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be positive, got {args.chunk_size}")
    model = open_zoo(args.zoo).verify(args.model)
    (client, cluster), resources = cluster_of(args)
    try:
        summary = score_variants(client, args.vcf, args.genome, model, args.output, parse_scores(args.scores),
                                 args.strand, args.rc_average, args.contig_map, args.genome_cache,
                                 args.max_n_fraction, args.chunk_size, args.dask_window, resources,
                                 device=args.device, genes=args.genes)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"seqzoo variants: {summary['rows']} variant x ALT x strand rows, {summary['scored']} scored, in "
          f"{summary['parts']} parts on {len(summary['workers'])} Dask workers, {summary['seconds']:.1f} s "
          f"-> {summary['output']}", file=sys.stderr)
    return 0
