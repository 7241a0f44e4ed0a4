"""``seqzoo simulate``: planted-motif FASTA files (positive.fa, negative.fa) for the FOXO1 exercise;
with ``--regions``, also region.fa, the region track of DeepRiPe's multimodal question, and with
``--signal`` the same question as a numeric track: signal.bw, records with coordinate headers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--motif", action="append", required=True, metavar="FILE.meme",
                        help="MEME file of the motif(s); repeat for motifs from several files")
    parser.add_argument("--motif-id", action="append", default=[], metavar="ID",
                        help="motif id or factor name in the file(s) (repeat for several; default: the first)")
    parser.add_argument("--n", type=int, default=20000, help="number of sequences, half with the motif")
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-position", action="store_true", help="plant at a random position, not the centre")
    parser.add_argument("--random-strand", action="store_true", help="plant the reverse complement half the time")
    parser.add_argument("--regions", type=int, metavar="TRACK_LENGTH", nargs="?", const=250,
                        help="the region-type question: a random-position site binds only in a 3'UTR; also writes "
                             "region.fa (per-position 5/C/3/I for 5'UTR/CDS/3'UTR/intron, default 250 long)")
    parser.add_argument("--signal", action="store_true",
                        help="with --regions: also signal.bw, the region track as a noisy numeric signal (3'UTR "
                             "highest) at each record's coordinates (the FASTA headers carry them)")
    parser.add_argument("--out", required=True, help="output folder for positive.fa and negative.fa")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")


def run(args) -> int:
    from seqzoo.training.simulate import pick_motifs, place_signal, simulate, simulate_regions, write_fasta
    from seqzoo.zoo.errors import InputError

    letters, motifs = None, []
    for path in args.motif:
        ids = [i for i in args.motif_id] if len(args.motif) == 1 else None
        file_letters, chosen = pick_motifs(path, ids)
        if letters is not None and file_letters != letters:
            raise InputError(f"{path}: alphabet {file_letters} differs from {letters} of the other motif files")
        letters = file_letters
        motifs.extend(chosen)
    if args.length < 1:
        raise InputError(f"--length {args.length} must be positive")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"positive": str(out / "positive.fa"), "negative": str(out / "negative.fa"),
            "motifs": [m.name for m in motifs], "n": args.n, "length": args.length, "seed": args.seed}
    if args.signal and args.regions is None:
        raise InputError("--signal turns the region track into numbers: add --regions")
    names = None
    if args.regions is not None:
        if len(motifs) != 1:
            raise InputError("--regions plants one motif: give one --motif-id")
        positives, negatives, pos_regions, neg_regions = simulate_regions(motifs[0].pwm, letters, args.n, args.length,
                                                                          args.regions, args.seed)
        write_fasta(out / "region.fa", pos_regions + neg_regions, "",
                    [f"positive_{i}" for i in range(len(pos_regions))] + [f"negative_{i}" for i in range(len(neg_regions))])
        info["region"] = str(out / "region.fa")
        if args.signal:
            from seqzoo.zoo.io.bigwig import write_signal

            names, lengths, values = place_signal(pos_regions + neg_regions, args.length, args.seed)
            write_signal(out / "signal.bw", lengths, values)
            info["signal"] = str(out / "signal.bw")
    else:
        positives, negatives = simulate([m.pwm for m in motifs], letters, args.n, args.length, args.seed,
                                        "random" if args.random_position else "centre",
                                        "random" if args.random_strand else "forward")
    headers = names or [None] * (len(positives) + len(negatives))  # coordinates after the name with --signal
    write_fasta(out / "positive.fa", positives, "positive",
                [f"positive_{i} {h}" if h else f"positive_{i}" for i, h in enumerate(headers[:len(positives)])])
    write_fasta(out / "negative.fa", negatives, "negative",
                [f"negative_{i} {h}" if h else f"negative_{i}" for i, h in enumerate(headers[len(positives):])])
    print(json.dumps(info) if args.json else
          f"wrote {len(positives)} positives ({', '.join(info['motifs'])}) to {info['positive']} and "
          f"{len(negatives)} negatives to {info['negative']}")
    return 0
