"""``seqzoo variants``: score the effects of a VCF's variants with a zoo model.

    seqzoo variants --model pum2 --vcf v.vcf.gz --genome genome.fa --local -o effects.vcf.gz
    seqzoo variants ... --server HOST:PORT --strand auto --genes genes.gtf -o effects.parquet
    seqzoo variants ... --dask local:2 -o effects/            (a folder of parquet parts)

The operation is ``serving.ops.variants``; this module turns arguments into its settings and an
executor. See docs/variant-effects.md.
"""

from __future__ import annotations

import argparse
import sys

from seqzoo.cli.where import add_where_arguments, executor_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``seqzoo variants``."""
    parser.add_argument("--model", required=True, help="zoo ref: name, name:3, name@sha256:...")
    parser.add_argument("--vcf", required=True, help="input VCF/BCF (plain, gzip or bgzip)")
    parser.add_argument("--genome", required=True, help="reference FASTA (plain, bgzip or gzip)")
    parser.add_argument("--contig-map", help="two-column file: VCF contig name, FASTA record name")
    parser.add_argument("-o", "--output", required=True,
                        help="OUT.vcf.gz, OUT.vcf, OUT.tsv or OUT.parquet, or a folder of parquet parts (any other name)")
    parser.add_argument("--scores", nargs="+", default=["diff"],
                        help="ref alt diff abs_diff ratio log2fc logit_diff deepsea_effect llr (default diff)")
    parser.add_argument("--strand", choices=["+", "-", "both", "auto"], default="+",
                        help="score the plus strand, the minus strand (reverse complement), both, or (auto) the "
                             "strand of the annotated gene each variant lies in (--genes)")
    parser.add_argument("--genes", metavar="GTF|BED6",
                        help="with --strand auto: gene annotation with strands (GTF gene lines, or BED6); a variant "
                             "in genes on both strands is scored on both, one in no gene is skipped (no_gene)")
    parser.add_argument("--rc-average", choices=["mean", "max", "absmax"],
                        help="DNA models: also score the reverse complement and combine (stated in the output)")
    parser.add_argument("--attribution", choices=["ig", "ism"], help="explain both alleles of every scored variant")
    parser.add_argument("--attribution-out", metavar="FILE.npz", help="attribution maps keyed by variant ID")
    parser.add_argument("--plots", metavar="DIR", help="one PNG per variant: ref and alt logos (needs --attribution)")
    parser.add_argument("--target", help="class to explain (default: the card's positive class; required for a model without one)")
    parser.add_argument("--ig-steps", type=int, default=0,
                        help="integrated-gradients steps per window (default 0: 50 midpoint steps)")
    parser.add_argument("--track-source", action="append", default=[], metavar="NAME=BED|BW",
                        help="a multimodal model's track at each variant: a BED whose intervals name one letter "
                             "each (e.g. region type), or a bigWig of a numeric track; repeat per track")
    parser.add_argument("--max-n-fraction", type=float, default=0.5,
                        help="skip windows more than this fraction N (default 0.5)")
    parser.add_argument("--chunk-size", type=int, default=10_000, help="VCF records per task (default 10000)")
    parser.add_argument("--batch", type=int, default=1024, help="window pairs per forward pass or request (default 1024)")
    parser.add_argument("--genome-cache", help="folder for decompressed genomes and indexes ($SEQZOO_CACHE)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_where_arguments(parser)


def run(args) -> int:
    from tqdm import tqdm

    from seqzoo.serving.effects import parse_scores
    from seqzoo.serving.ops.variants import VariantSettings, score_variants

    settings = VariantSettings(args.vcf, args.genome, args.output, tuple(parse_scores(args.scores)), args.strand,
                               args.genes, args.rc_average, args.contig_map, args.genome_cache, args.max_n_fraction,
                               args.chunk_size, tuple(args.track_source), args.attribution, args.attribution_out,
                               args.plots, args.target, args.ig_steps, args.batch)
    executor = executor_of(args)
    try:
        with tqdm(unit="variant", disable=args.quiet, file=sys.stderr) as bar:
            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            summary = score_variants(settings, executor, advance)
    finally:
        executor.close()
    skipped = summary["skipped"]
    said = f" ({', '.join(f'{k} {v}' for k, v in skipped.items())})" if skipped else ""
    print(f"seqzoo variants: {summary['records']} records, {summary['rows']} variant x ALT x strand rows: "
          f"{summary['scored']} scored, {sum(skipped.values())} skipped{said}; {summary['seconds']:.1f} s "
          f"({executor.where}) -> {summary['output']}", file=sys.stderr)
    if summary["rows"] and not summary["scored"]:  # a pipeline must notice a run that scored nothing
        print(f"seqzoo variants: error: no variant was scored{said}; {summary['output']} lists the reasons",
              file=sys.stderr)
        return 1
    return 0
