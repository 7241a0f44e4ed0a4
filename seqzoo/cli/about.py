"""What a publisher states about a model, as flags of ``seqzoo train``, ``seqzoo lm`` and ``seqzoo
zoo export``: licence, citation, authors, tags, species, assembly, class descriptions, the positive class,
dataset source. They go into the card as given (zoo.card.about_section); a licence or citation left out is
recorded as not stated and said so on stderr at publishing, never filled with a default."""

from __future__ import annotations

import argparse
import sys

from seqzoo.zoo.options import pairs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model card (what you state about the model)")
    group.add_argument("--licence", "--license", dest="licence", metavar="TEXT",
                       help="the model's licence (an SPDX id such as CC-BY-4.0, or text); not stated when left out")
    group.add_argument("--citation", metavar="TEXT", help="how to cite the model and its data")
    group.add_argument("--author", dest="authors", action="append", default=[], metavar="NAME", help="repeat")
    group.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG", help="repeat")
    group.add_argument("--species", metavar="NAME", help="e.g. 'Homo sapiens'")
    group.add_argument("--assembly", metavar="NAME", help="genome assembly of the coordinates, e.g. hg19")
    group.add_argument("--class-description", dest="class_descriptions", action="append", default=[],
                       metavar="CLASS=TEXT", help="what a class (or task) means; repeat")
    group.add_argument("--positive-class", metavar="CLASS",
                       help="the class scores, attributions and tracks are about when none is named (default: "
                            "inferred only where unambiguous, e.g. bound vs unbound; else the user must name one)")
    group.add_argument("--dataset-source", metavar="TEXT", help="where the training data come from (URL, paper)")


def about_from_args(args: argparse.Namespace) -> dict:
    """The stated fields as a plain dict (zoo.card.about_section's input); a malformed
    ``--class-description`` is refused here, before any training."""
    about = {"license": args.licence, "citation": args.citation, "authors": args.authors, "tags": args.tags,
             "species": args.species, "assembly": args.assembly,
             "class_descriptions": pairs(args.class_descriptions, "--class-description", "TEXT"),
             "positive_class": args.positive_class}
    if args.dataset_source:
        about["dataset"] = {"source": args.dataset_source}
    return about


def warn_unstated(about: dict, command: str) -> None:
    """Say on stderr, once, that the card will record the licence or citation as not stated."""
    missing = [flag for flag, key in (("--licence", "license"), ("--citation", "citation")) if not about.get(key)]
    if missing:
        print(f"seqzoo {command}: no {' or '.join(missing)} given: the card says it is not stated", file=sys.stderr)
