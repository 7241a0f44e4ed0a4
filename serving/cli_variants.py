"""``seqzoo variants``: score the effects of a VCF's variants with a zoo model.

Streams the VCF in chunks (bounded memory, a progress bar), builds ref/alt windows from the
reference genome (``serving/windows.py``), scores them in-process (``--local``) or through a
server (``--server HOST:PORT``, the Variants service), and writes an annotated VCF or a table
(``serving/variant_writer.py``); optionally attribution maps of both alleles (``.npz``) and one
plot per variant. Outputs are complete or absent. See docs/variant-effects.md.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
import time
from collections import Counter

from seqzoo.zoo.errors import InputError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``seqzoo variants``."""
    parser.add_argument("--model", required=True, help="zoo ref: name, name:3, name@sha256:...")
    parser.add_argument("--vcf", required=True, help="input VCF/BCF (plain, gzip or bgzip)")
    parser.add_argument("--genome", required=True, help="reference FASTA (plain, bgzip or gzip)")
    parser.add_argument("--contig-map", help="two-column file: VCF contig name, FASTA record name")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", metavar="HOST:PORT", help="score through a seqzoo server")
    where.add_argument("--local", action="store_true", help="score in this process (ONNX Runtime)")
    parser.add_argument("-o", "--output", required=True, help="OUT.vcf.gz, OUT.vcf, OUT.tsv or OUT.parquet")
    parser.add_argument("--scores", nargs="+", default=["diff"],
                        help="ref alt diff abs_diff ratio log2fc logit_diff deepsea_effect (default diff)")
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
    parser.add_argument("--chunk-size", type=int, default=10_000, help="VCF records per chunk (default 10000)")
    parser.add_argument("--zoo", help="zoo root for --local (default $SEQZOO_ZOO, else the user data folder)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="--local: where to run")
    parser.add_argument("--threads", type=int, help="--local: ONNX Runtime threads")
    parser.add_argument("--token-file", help="--server: file holding the server's bearer token")
    parser.add_argument("--tls-ca", help="--server: CA certificate (PEM) for TLS")
    parser.add_argument("--batch", type=int, default=1024, help="--server: variants per request (default 1024)")
    parser.add_argument("--genome-cache", help="folder for decompressed genomes and indexes ($SEQZOO_CACHE)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    from seqzoo.serving.dask.cli import add_dask_arguments

    add_dask_arguments(parser, where, "variants")


def prefetch(items, depth: int = 1):
    """Yield ``items`` while a thread computes the next ``depth`` of them.

    Reading the VCF and cutting windows (Python, holds the GIL) then overlaps with scoring
    (ONNX Runtime or a server, which release it); at most ``depth + 2`` chunks are alive. An
    error in the producer is raised here; a consumer that stops early stops the producer.
    """
    done = object()
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, which raises it)
            put((done, exc))

    thread = threading.Thread(target=produce, name="variant-windows", daemon=True)
    thread.start()
    try:
        while True:
            item, error = box.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(5)


def _check_args(args) -> None:

    if (args.attribution_out or args.plots) and not args.attribution:
        raise InputError("--attribution-out and --plots need --attribution ig|ism")
    if args.attribution and not (args.attribution_out or args.plots):
        raise InputError("--attribution needs --attribution-out FILE.npz and/or --plots DIR")
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be positive, got {args.chunk_size}")
    if not 0 <= args.max_n_fraction <= 1:
        raise InputError(f"--max-n-fraction must be in [0, 1], got {args.max_n_fraction}")
    if (args.strand == "auto") != bool(args.genes):
        raise InputError("--strand auto and --genes FILE go together")


def run(args) -> int:
    from seqzoo.serving.effects import parse_scores
    from seqzoo.serving.variant_writer import output_format

    _check_args(args)
    if args.dask:
        from seqzoo.serving.dask.cli import run_variants

        if args.track_source:
            raise InputError("--track-source: scoring a multimodal model's variants on Dask is not supported; "
                             "use --local or --server")
        return run_variants(args)
    names = parse_scores(args.scores)
    output_format(args.output)
    return _run(args, names)


def _run(args, names: list[str]) -> int:
    from seqzoo.serving.effects import check_rc_rule, check_scores
    from seqzoo.serving.scorers import open_scorer
    from seqzoo.serving.track_sources import check_sources, open_sources
    from seqzoo.serving.variant_attribution import VariantExplainer
    from seqzoo.serving.variant_scoring import chunk_windows, fixed_length, score_rows
    from seqzoo.serving.variant_writer import open_writer, skip_code
    from seqzoo.zoo.io.genes import GeneStrands
    from seqzoo.zoo.io.genome import Genome
    from seqzoo.zoo.io.vcf import VcfReader
    from tqdm import tqdm

    started = time.monotonic()
    reader = VcfReader(args.vcf)
    genome = Genome(args.genome, contig_map=args.contig_map, cache=args.genome_cache)
    strand = GeneStrands(args.genes, genome) if args.strand == "auto" else args.strand
    scorer = open_scorer(args.model, local=args.local, zoo=args.zoo, device=args.device, threads=args.threads,
                         server=args.server, token_file=args.token_file, tls_ca=args.tls_ca,
                         call_timeout=600.0)
    writer = explainer = None
    counts: Counter = Counter()
    n_records = 0
    try:
        length = fixed_length(scorer)
        check_rc_rule(scorer.alphabet, args.rc_average, args.strand)
        check_scores(names, scorer.card, scorer.ref)
        sources = open_sources(args.track_source)
        check_sources(scorer.alphabet, sources, scorer.ref)
        if sources and args.attribution:
            raise InputError("--attribution with --track-source is not supported: score the variants, then "
                             "explain the windows with seqzoo attribute")
        writer = open_writer(args.output, reader.vcf, scorer.identity, length, scorer.classes, names, args.strand,
                             args.rc_average)
        if args.attribution:
            explainer = VariantExplainer(scorer, args.attribution, args.target, args.ig_steps, args.attribution_out,
                                         args.plots, args.strand, length)
        with tqdm(total=reader.records, unit="variant", disable=args.quiet, file=sys.stderr) as bar:
            chunks = prefetch((chunk, chunk_windows(scorer, chunk, genome, strand, args.max_n_fraction))
                              for chunk in reader.chunks(args.chunk_size))
            for chunk, rows in chunks:
                values, scored = score_rows(scorer, rows, names, args.rc_average, sources)
                writer.write_chunk(chunk, rows, values)
                counts.update(skip_code(row.skip) if row.skip else "scored" for row in rows)
                if explainer is not None:
                    explainer.explain([rows[i] for i in scored])
                n_records += len(chunk)
                bar.update(len(chunk))
        writer.commit()
        if explainer is not None:
            explainer.commit()
    except BaseException:
        for w in (writer, explainer):
            if w is not None:
                w.abort()
        raise
    finally:
        scorer.close()
        genome.close()
        reader.close()
    skipped = {k: v for k, v in counts.items() if k != "scored"}
    print(f"seqzoo variants: {n_records} records, {sum(counts.values())} variant x ALT x strand rows: "
          f"{counts['scored']} scored, {sum(skipped.values())} skipped"
          + (f" ({', '.join(f'{k} {v}' for k, v in sorted(skipped.items()))})" if skipped else "")
          + f"; {time.monotonic() - started:.1f} s -> {args.output}", file=sys.stderr)
    if counts and not counts["scored"]:  # a pipeline must notice a run that scored nothing
        print(f"seqzoo variants: error: no variant was scored ({', '.join(f'{k} {v}' for k, v in sorted(skipped.items()))});"
              f" {args.output} lists the reasons", file=sys.stderr)
        return 1
    return 0
