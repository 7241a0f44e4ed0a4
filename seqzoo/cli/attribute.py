"""``seqzoo attribute``: explain every sequence of a FASTA file, in the arrays TF-MoDISco reads.

    seqzoo attribute --model pum2 --local windows.fa -o attributions.npz
                     [--method ig|saliency|ism] [--target CLASS] [--steps 50] [--modisco DIR]
                     [--logos DIR --logo-count 10]
    seqzoo attribute --model pum2 --server HOST:PORT windows.fa -o attributions.npz

The operation and the arrays it writes are ``serving.ops.attribute``'s; this module turns
arguments into its settings and an executor.
"""

from __future__ import annotations

import argparse
import sys

from seqzoo.cli.where import add_where_arguments, executor_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from seqzoo.serving.ops import ATTRIBUTE_METHODS as METHODS

    parser.add_argument("--model", required=True, help="model ref: name, name:3 or name@sha256:...")
    parser.add_argument("input", help="FASTA file (.fa, .fasta, optionally .gz)")
    parser.add_argument("-o", "--output", required=True, help="output .npz")
    parser.add_argument("--method", default="ig", choices=METHODS,
                        help="integrated gradients (default), the input gradient, or in-silico mutagenesis")
    parser.add_argument("--target", help="class to explain (default: the card's positive class; required for a model without one)")
    parser.add_argument("--steps", type=int, default=0,
                        help="integrated-gradient steps (midpoint rule; 0 = the engine's default, 50)")
    parser.add_argument("--modisco", metavar="DIR", help="also write DIR/ohe.npz and DIR/shap.npz for modisco-lite")
    parser.add_argument("--logos", metavar="DIR", help="draw the first --logo-count sequences' maps as PNG logos")
    parser.add_argument("--logo-count", type=int, default=10, help="sequences drawn with --logos (default 10)")
    parser.add_argument("--batch", type=int, default=64, help="sequences per attribution call (default 64)")
    parser.add_argument("--convert-tu", action="store_true", help="read T as U for RNA models (U as T for DNA)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_where_arguments(parser)


def run(args) -> int:
    from tqdm import tqdm

    from seqzoo.serving.ops.attribute import AttributeSettings, attribute

    settings = AttributeSettings(args.input, args.output, args.method, args.target, args.steps, args.modisco,
                                 args.logos, args.logo_count, args.batch, args.convert_tu)
    executor = executor_of(args)
    try:
        with tqdm(unit="seq", desc="attribute", file=sys.stderr, disable=args.no_progress) as bar:
            summary = attribute(settings, executor, lambda done: bar.update(done - bar.n))
    finally:
        executor.close()
    print(f"explained {summary['sequences']} sequences with {summary['model']} ({summary['target']}, "
          f"{summary['method']}) -> {summary['output']}"
          + (f"; modisco inputs -> {args.modisco}" if args.modisco else "")
          + (f"; {summary['logos']} logos -> {args.logos}" if args.logos else ""), file=sys.stderr)
    return 0
