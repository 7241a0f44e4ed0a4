"""``seqzoo zoo export RUN_DIR --name NAME``: publish a training run directory made earlier.

An action of ``seqzoo zoo`` that lives in the training wing (it exports graphs with PyTorch and
interprets the model), plugged into the zoo's command by ``seqzoo/cli/__init__.py`` so the zoo wing never
imports training.
"""

from __future__ import annotations

import argparse

from seqzoo.cli.about import about_from_args, warn_unstated
from seqzoo.cli.about import add_arguments as add_about_arguments

HELP = "publish a training run directory into the zoo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--name", required=True, help="model name in the zoo")
    parser.add_argument("--description", default=None)
    parser.add_argument("--motif-database", metavar="NAME|MEME",
                        help="jaspar2024, attract or a MEME file (default: by the model's alphabet)")
    add_about_arguments(parser)


def run(args, zoo) -> int:
    from seqzoo.cli.zoo import emit
    from seqzoo.training.publish import publish_run

    about = about_from_args(args)
    warn_unstated(about, "zoo export")
    mv = publish_run(args.run_dir, zoo, args.name, description=args.description, database=args.motif_database,
                     about=about)
    emit(args, mv.to_dict(), f"published {mv.name}:{mv.version} ({mv.digest}) at {mv.path}")
    return 0
