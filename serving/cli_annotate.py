"""``seqzoo annotate``: a model's tracks over a genome (bigWig, bedGraph) and its peaks (narrowPeak).

    seqzoo annotate --model pum2 --genome genome.fa [--regions regions.bed] [--stride 1]
                    [--strand +|-|both] [--class positive ...] --local [--zoo DIR] -o OUTDIR
                    [--peaks peaks.narrowPeak --threshold 0.5] [--bedgraph]
    seqzoo annotate --model pum2 --server HOST:PORT [--regions regions.bed] ... -o OUTDIR
    seqzoo annotate --model pum2 --genome genome.fa --dask local:2 [--zoo DIR] ... -o OUTDIR

``--local`` scores in this process; ``--server`` asks a server that holds the genome
(``seqzoo serve --genome``) for the regions' values, so only coordinates and values travel;
``--dask`` cuts the regions into pieces scored by Dask workers. All three use the window rule
and shared pass of serving/annotate.py and give the same files. OUTDIR receives
``<class>.plus.bw`` / ``<class>.minus.bw`` (and ``.bedGraph.gz`` with ``--bedgraph``); it is
complete or absent (written under a temporary name, then renamed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from seqzoo.serving.dask.cli import add_dask_arguments
from seqzoo.zoo.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model ref: name, name:3 or name@sha256:...")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="score in this process with ONNX Runtime")
    where.add_argument("--server", metavar="HOST:PORT",
                       help="ask a server that holds the genome (seqzoo serve --genome) for the values")
    parser.add_argument("--genome", help="reference FASTA (plain, bgzip or gzip; indexed on first use); "
                        "not with --server, which uses the server's")
    parser.add_argument("--regions", help="BED file of regions to annotate (default: every contig, whole)")
    parser.add_argument("--contig-map", help="two-column file: BED contig name -> FASTA name")
    parser.add_argument("--stride", type=int, default=1, help="annotate every N-th position (default 1)")
    parser.add_argument("--strand", default="+", choices=("+", "-", "both"), help="strand(s) to score")
    parser.add_argument("--class", dest="classes", action="append",
                        help="class to write (repeatable; default: the card's positive class; required for a model without one)")
    parser.add_argument("--zoo", help="zoo folder (default $SEQZOO_ZOO, else the user data folder)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("-o", "--out", required=True, help="output folder (must not exist, or be empty)")
    parser.add_argument("--peaks", help="write peaks (maximal runs of windows above --threshold) as narrowPeak")
    parser.add_argument("--threshold", type=float, default=0.5, help="peak threshold on the probability")
    parser.add_argument("--bedgraph", action="store_true", help="also write bgzipped bedGraph tracks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    parser.add_argument("--token-file", help="--server: file holding the server's bearer token")
    parser.add_argument("--tls-ca", help="--server: PEM certificate to trust (connect with TLS)")
    parser.add_argument("--timeout", type=float, default=86400.0, help="--server: deadline of the run, seconds")
    add_dask_arguments(parser, where, "annotate")


def _check(args) -> None:
    if args.server and args.genome:
        raise InputError("--genome: with --server the server's genome is annotated; leave it out")
    if not args.server and not args.genome:
        raise InputError("--genome is required with --local and --dask")
    if args.stride < 1:
        raise InputError(f"--stride must be at least 1, got {args.stride}")
    if not 0 <= args.threshold <= 1:
        raise InputError(f"--threshold must be a probability in [0, 1], got {args.threshold}")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"-o {out}: exists and is not an empty folder (tracks are never written over)")
    if args.peaks and Path(args.peaks).is_dir():
        raise InputError(f"--peaks {args.peaks}: is a folder")


@dataclass
class Source:
    """Where values come from: the model's identity and classes, the genome's contig names, and
    ``values(pieces)`` yielding (contig, strand, positions, values [k, K], shared_pass) in order."""

    ref: str
    digest: str
    classes: list[str]
    names: object  # Genome or ContigNames: lengths and contig-name resolution
    values: object
    close: object = field(default=lambda: None)


def _classes(args, ref: str, card: dict) -> tuple[list[str], list[int]]:
    from seqzoo.serving.annotate import class_columns

    return class_columns(args.classes or [], card, ref, "--class")


def _local(args) -> Source:
    from seqzoo.serving.annotate import check_model, region_scores
    from seqzoo.serving.engine import Engine
    from seqzoo.zoo.io.genome import Genome
    from seqzoo.zoo.registry import open_zoo

    engine = Engine.load(open_zoo(args.zoo).resolve(args.model), device=args.device, threads=args.threads)
    check_model(engine.alphabet, engine.length, engine.identity.ref, engine.task, surprisal=True)
    genome = Genome(args.genome, contig_map=args.contig_map)
    if engine.language_model:  # one track: the per-base surprisal
        from seqzoo.serving.surprisal import region_surprisal

        if args.classes and args.classes != ["surprisal"]:
            raise InputError(f"{engine.identity.ref} is a language model: its one track is 'surprisal', "
                             f"not --class {args.classes[0]}")

        def surprisal(pieces):
            for region, strand in pieces:
                for positions, values in region_surprisal(engine, genome, region, args.stride, strand):
                    yield region.chrom, strand, positions, values, False

        return Source(engine.identity.ref, engine.identity.digest, ["surprisal"], genome, surprisal, genome.close)
    asked, columns = _classes(args, engine.identity.ref, engine.card)
    rna = "U" in engine.alphabet.letters

    def values(pieces):
        for region, strand in pieces:
            for positions, probs, shared in region_scores(engine, genome, region, args.stride, strand, rna):
                yield region.chrom, strand, positions, probs[:, columns], shared

    return Source(engine.identity.ref, engine.identity.digest, asked, genome, values, genome.close)


def _server(args) -> Source:
    from seqzoo.serving.annotate import check_model
    from seqzoo.serving.client import AnnotationClient, SeqZooClient, read_token
    from seqzoo.zoo.inputs import alphabet_from_dict
    from seqzoo.zoo.io.genome import ContigNames

    client = SeqZooClient(args.server, token=read_token(args.token_file), tls_ca=args.tls_ca)
    try:
        info = client.get_model(args.model)
        check_model(alphabet_from_dict(info["card"]["input"]["alphabet"]), info["length"], info["ref"],
                    info["card"].get("task"))
        asked, _ = _classes(args, info["ref"], info["card"])
        annotation = AnnotationClient(client)
        lengths, fasta = annotation.contigs()
        names = ContigNames(lengths, args.contig_map, f"{args.server}'s genome {fasta}")
    except BaseException:
        client.close()
        raise

    def values(pieces):
        yield from annotation.annotate(info["ref"], list(pieces), args.stride, asked, args.timeout)

    return Source(info["ref"], info["digest"], asked, names, values, client.close)


def _dask(args) -> Source:
    from seqzoo.serving.annotate import check_model
    from seqzoo.serving.dask.annotate import AnnotateJob, annotate_pieces
    from seqzoo.serving.dask.cli import cluster_of
    from seqzoo.zoo.inputs import alphabet_from_dict
    from seqzoo.zoo.io.genome import Genome
    from seqzoo.zoo.registry import open_zoo

    model = open_zoo(args.zoo).verify(args.model)  # every file's digest checked once, before any worker loads it
    card = model.card
    check_model(alphabet_from_dict(card["input"]["alphabet"]), card["input"].get("length"), model.ref, card.get("task"))
    asked, columns = _classes(args, model.ref, card)
    genome = Genome(args.genome, contig_map=args.contig_map)
    (client, cluster), resources = cluster_of(args)
    job = AnnotateJob(model, str(args.genome), args.contig_map, None, args.stride, columns,
                      "cpu" if args.device == "auto" else args.device)

    def values(pieces):
        yield from annotate_pieces(client, job, pieces, args.dask_window, resources)

    def close():
        client.close()
        if cluster is not None:
            cluster.close()
        genome.close()

    return Source(model.ref, model.digest, asked, genome, values, close)


def run(args) -> int:
    from seqzoo.serving.annotate import STRANDS, PeakCaller, Tracks, pieces, regions_of, write_narrowpeak
    from seqzoo.zoo.io.atomic import temporary_name
    from tqdm import tqdm

    _check(args)
    source = (_server if args.server else _dask if args.dask else _local)(args)
    try:
        names = source.names
        regions, notes = regions_of(names, args.regions)
        for note in notes:
            print(f"seqzoo annotate: {note}", file=sys.stderr)
        strands = STRANDS[args.strand]
        total = sum(len(range(r.start, r.end, args.stride)) for r in regions) * len(strands)
        out = Path(args.out)
        staging, peak_tmp = temporary_name(out), temporary_name(args.peaks) if args.peaks else None
        staging.mkdir(parents=True)
        peaks = {(name, strand): PeakCaller(name, args.threshold, args.stride, names.lengths)
                 for name in source.classes for strand in strands}
        shared = False
        start = time.perf_counter()
        try:
            tracks = Tracks(staging, names.lengths, source.classes, strands, args.stride, args.bedgraph)
            try:
                with tqdm(total=total, unit="pos", unit_scale=True, disable=args.no_progress, file=sys.stderr,
                          desc="annotate") as bar:
                    for chrom, strand, positions, values, shared in source.values(pieces(regions, strands,
                                                                                          args.stride)):
                        for k, name in enumerate(source.classes):
                            tracks.add(name, strand, chrom, positions, values[:, k])
                            peaks[name, strand].feed(chrom, strand, positions, values[:, k])
                        bar.update(len(positions))
            finally:
                tracks.close()
            if peak_tmp is not None:
                rows = [row for caller in peaks.values() for row in caller.finish()]
                write_narrowpeak(peak_tmp, rows, {c: i for i, c in enumerate(names.lengths)})
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
    finally:
        source.close()
    seconds = time.perf_counter() - start
    mode = "server" if args.server else "dask" if args.dask else "local"
    summary = {"model": source.ref, "digest": source.digest, "mode": mode, "regions": len(regions),
               "shared_pass": bool(shared), "positions": total, "seconds": round(seconds, 3),
               "positions_per_second": round(total / seconds, 1), "out": str(out),
               "files": sorted(p.name for p in out.iterdir()),
               "peaks": sum(len(c.rows) for c in peaks.values()) if args.peaks else None}
    print(f"annotated {total:,} positions of {len(regions)} regions with {source.ref} ({mode}) in {seconds:.1f} s "
          f"({total / seconds:,.0f} positions/s) -> {out}" + (f"; {summary['peaks']} peaks -> {args.peaks}"
                                                               if args.peaks else ""), file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0
