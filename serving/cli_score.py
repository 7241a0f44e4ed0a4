"""``seqzoo score``: class probabilities for every sequence of a FASTA file, through a server, in-process or on Dask.

    seqzoo score --server HOST:PORT --model pum2 windows.fa.gz -o scores.tsv
    seqzoo score --local --zoo myzoo --model pum2:3 windows.fa -o scores.parquet
    seqzoo score --dask local:2 --zoo myzoo --model pum2:3 windows.fa -o scores/

The input is read as a stream (``zoo.io.fasta``) and scored by the one loop
(``serving.scoring.score_records``) with a local or a remote scorer, so files of any size run
in bounded memory and both give the same rows. Output rows keep input order: ``id`` (the FASTA
name) then one column per class; the file records the model's ref and digest and appears only
when complete (``zoo.io.table``).
"""

from __future__ import annotations

import argparse
import sys

from seqzoo.serving.dask.cli import add_dask_arguments
from seqzoo.zoo.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", metavar="HOST:PORT", help="score through a seqzoo server")
    where.add_argument("--local", action="store_true", help="score in this process with the same engine")
    parser.add_argument("--model", required=True, help="model ref: name, name:latest, name:3 or name@sha256:...")
    parser.add_argument("input", help="FASTA file (.fa, .fasta, optionally .gz)")
    parser.add_argument("-o", "--output", required=True, help="output .tsv or .parquet")
    parser.add_argument("--zoo", help="zoo folder for --local (default $SEQZOO_ZOO, else the user data folder)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="--local device")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads for --local")
    parser.add_argument("--batch", type=int, default=1024, help="sequences per request / forward pass")
    parser.add_argument("--window", type=int, default=8, help="requests in flight on the stream")
    parser.add_argument("--convert-tu", action="store_true", help="read T as U for RNA models (U as T for DNA)")
    parser.add_argument("--track", action="append", default=[], metavar="NAME=FILE",
                        help="a multimodal model's track: a FASTA of per-position letters named like the input's "
                             "records, or a bigWig (.bw) read at each record's header coordinates (repeat per "
                             "track; a structure track is folded when not given)")
    parser.add_argument("--token-file", help="file holding the server's bearer token")
    parser.add_argument("--tls-ca", help="PEM certificate to trust (connect with TLS)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="deadline of the whole run, seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_dask_arguments(parser, where, "score")


def score_file(path: str, scorer, output: str, batch_size: int = 1024, progress: bool = False,
               tracks: list[str] | None = None) -> int:
    """Score every record of FASTA ``path`` into ``output`` with a progress bar; the rows written.
    ``tracks``: a multimodal model's ``NAME=FILE`` tracks (serving.track_sources.record_tracks)."""
    from seqzoo.serving.scoring import with_tracks, write_scores
    from seqzoo.serving.track_sources import record_tracks
    from seqzoo.zoo.alphabets import ProductAlphabet
    from seqzoo.zoo.io.fasta import FastaReader
    from tqdm import tqdm

    with FastaReader(path, structures=isinstance(scorer.alphabet, ProductAlphabet)) as reader, \
            tqdm(total=reader.size, unit="B", unit_scale=True, desc="score", file=sys.stderr,
                 disable=not progress) as bar:
        def advance(rows: int) -> None:
            bar.update(reader.position - bar.n)
            bar.set_postfix(sequences=rows, refresh=False)

        records = with_tracks(reader, record_tracks(tracks, scorer.alphabet)) if tracks else reader
        return write_scores(records, scorer, output, {"model": scorer.ref, "digest": scorer.digest, "input": str(path)},
                            batch_size, advance)


def run(args) -> int:
    if args.batch < 1 or args.window < 1:
        raise InputError("--batch and --window must be at least 1")
    if args.dask:
        from seqzoo.serving.dask.cli import run_score

        if args.track:
            raise InputError("--track: scoring a multimodal model on Dask is not supported; use --local or --server")
        return run_score(args)
    from seqzoo.serving.scorers import open_scorer

    scorer = open_scorer(args.model, local=args.local, zoo=args.zoo, device=args.device, threads=args.threads,
                         server=args.server, token_file=args.token_file, tls_ca=args.tls_ca,
                         window=args.window, convert_tu=args.convert_tu, timeout=args.timeout)
    try:
        rows = score_file(args.input, scorer, args.output, args.batch, not args.no_progress, args.track)
    finally:
        scorer.close()
    print(f"scored {rows} sequences with {scorer.ref} ({scorer.provider}) -> {args.output}", file=sys.stderr)
    return 0
