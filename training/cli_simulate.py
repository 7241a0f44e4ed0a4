"""``seqzoo simulate``: planted-motif FASTA files (positive.fa, negative.fa) for the FOXO1 exercise."""

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
    parser.add_argument("--out", required=True, help="output folder for positive.fa and negative.fa")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")


def run(args) -> int:
    from seqzoo.training.simulate import pick_motifs, simulate, write_fasta
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
    positives, negatives = simulate([m.pwm for m in motifs], letters, args.n, args.length, args.seed,
                                    "random" if args.random_position else "centre",
                                    "random" if args.random_strand else "forward")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_fasta(out / "positive.fa", positives, "positive")
    write_fasta(out / "negative.fa", negatives, "negative")
    info = {"positive": str(out / "positive.fa"), "negative": str(out / "negative.fa"),
            "motifs": [m.name for m in motifs], "n": args.n, "length": args.length, "seed": args.seed}
    print(json.dumps(info) if args.json else
          f"wrote {len(positives)} positives ({', '.join(info['motifs'])}) to {info['positive']} and "
          f"{len(negatives)} negatives to {info['negative']}")
    return 0
