"""``seqzoo lm``: train a character-level language model of a genome and publish it into the zoo.

    seqzoo lm --name saureus-lm --genome datasets/genome/NCTC8325.fasta.gz [--arch gru|lstm|cnn]
              [--layers 2] [--hidden 128] [--context 100] [--epochs 10] [--holdout-fraction 0.1 |
              --holdout-contigs A,B] [--seed 0] [--zoo DIR] [--out DIR] [--json]

The published version scores windows of ``--context`` bases: Score gives each window's
log-likelihood and perplexity, ``seqzoo variants --scores llr`` the log-likelihood ratio of the
alternative and reference windows, ``seqzoo annotate`` a per-base surprisal track.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from seqzoo.cli.about import about_from_args, warn_unstated
from seqzoo.cli.about import add_arguments as add_about_arguments
from seqzoo.zoo.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="model name (run folder and zoo name)")
    parser.add_argument("--genome", required=True, help="FASTA of the genome (plain or gz)")
    held = parser.add_mutually_exclusive_group()
    held.add_argument("--holdout-fraction", type=float, default=0.1,
                      help="the last fraction of every contig is held out: validation its first half, test the rest")
    held.add_argument("--holdout-contigs", metavar="A,B",
                      help="hold out these whole contigs instead (validation the first half of each, test the rest)")
    parser.add_argument("--arch", choices=("gru", "lstm", "cnn"), default="gru",
                        help="recurrent (the paper's GRU/LSTM) or dilated causal convolutions")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128, help="units per layer")
    parser.add_argument("--context", type=int, default=100, help="window length the model reads and scores")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=3, help="epochs without a better validation perplexity")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS", help="stop after the epoch that passes it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    parser.add_argument("--out", help="run directory (default: runs/NAME)")
    parser.add_argument("--zoo", metavar="DIR", help="zoo to publish into (default $SEQZOO_ZOO, else the user data folder)")
    parser.add_argument("--no-publish", action="store_true", help="write the run directory only")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    add_about_arguments(parser)


def run(args) -> int:
    import torch

    from seqzoo.training.lm_run import LMOptions, run_lm
    from seqzoo.zoo.refs import validate_name

    if not args.no_publish:
        validate_name(args.name)
        about = about_from_args(args)
    for flag in ("layers", "hidden", "context", "epochs", "batch", "patience"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag} must be at least 1")
    if not Path(args.genome).is_file():
        raise InputError(f"--genome {args.genome}: no such file")
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    out = Path(args.out or Path("runs") / args.name)
    contigs = [c for c in (args.holdout_contigs or "").split(",") if c] or None
    metrics = run_lm(LMOptions(args.genome, str(out), args.holdout_fraction, contigs, args.arch, args.layers,
                               args.hidden, args.context, args.epochs, args.batch, args.learning_rate, args.patience,
                               args.time_limit, args.seed, args.device, args.quiet))
    info = {"name": args.name, "version": None, "path": None}
    if not args.no_publish:
        from seqzoo.training.lm_publish import publish_lm
        from seqzoo.zoo.registry import open_zoo

        warn_unstated(about, "lm")
        mv = publish_lm(out, open_zoo(args.zoo), args.name, about=about)
        info.update(version=mv.version, path=str(mv.path), digest=mv.digest)
    markov = metrics["markov"]
    summary = {**info, "seconds": round(time.perf_counter() - start, 1), "perplexity": metrics["perplexity"],
               "markov": {"order": markov["order"], "perplexity": markov["perplexity"]}, "run": str(out)}
    ppl = metrics["perplexity"]
    print(f"{args.name}: test perplexity {ppl['test']:.4f} (validation {ppl['val']:.4f}); Markov order "
          f"{markov['order']}: {markov['perplexity']['test']:.4f}" +
          (f"; published {info['name']}:{info['version']}" if info["version"] else ""), file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0
