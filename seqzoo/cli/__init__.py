"""The ``seqzoo`` command: one entry point, one module per subcommand, every parser in this package.

A subcommand module turns arguments into plain values or a settings dataclass and calls the
library (the operations' drivers are ``serving.ops``; ``where`` says ``--local/--server/--dask``
once for all of them); no operation logic lives here. Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int`` and keeps
heavy imports (torch, onnxruntime) inside ``run`` so that ``seqzoo --help`` and the serving
commands never import PyTorch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from seqzoo import __version__
from seqzoo.zoo.errors import SeqzooError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("seqzoo.cli.train", "train a CNN on sequences and publish it into the zoo"),
    "sites": ("seqzoo.cli.sites", "pool the binding sites of many tasks into one multitask table"),
    "lm": ("seqzoo.cli.lm", "train a genome language model (perplexity, llr variant scores) and publish it"),
    "simulate": ("seqzoo.cli.simulate", "simulate planted-motif sequences (FOXO1 exercise)"),
    "report": ("seqzoo.cli.report", "write the HTML interpretation report of a model version"),
    "zoo": ("seqzoo.cli.zoo", "list, show, verify, pull, push, index and export zoo models"),
    "serve": ("seqzoo.cli.serve", "serve zoo models over gRPC"),
    "score": ("seqzoo.cli.score", "score sequences through a server or in-process"),
    "variants": ("seqzoo.cli.variants", "score the effects of VCF variants"),
    "annotate": ("seqzoo.cli.annotate", "annotate a genome: probability tracks (bigWig) and peaks"),
    "attribute": ("seqzoo.cli.attribute", "explain sequences: integrated gradients for TF-MoDISco (.npz)"),
}
# actions of a command that need another wing's stack (zoo export/build: training), imported with it
EXTRA_ACTIONS: dict[str, dict[str, str]] = {"zoo": {"export": "seqzoo.cli.export",
                                                     "build": "seqzoo.cli.build"}}


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations: ``--ou`` is an error, never ``--out`` (a recipe's option that
    abbreviates one the build owns must not reach it). Subcommands' parsers are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="seqzoo",
        description="Train CNNs on biological sequences, publish them into a versioned ONNX model zoo, "
                    "and serve them over gRPC.")
    parser.add_argument("--version", action="version", version=f"seqzoo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # the command is not built yet in this checkout
                continue
            raise
        command = sub.add_parser(name, help=help_text, description=help_text)
        extra = {action: importlib.import_module(path) for action, path in EXTRA_ACTIONS.get(name, {}).items()}
        if extra:
            module.add_arguments(command, extra)
        else:
            module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    previous = _terminate_unwinds()
    try:
        return int(args.run(args) or 0)
    except SeqzooError as exc:
        print(f"seqzoo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"seqzoo {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_unwinds():
    """SIGTERM unwinds every command like an error (SystemExit 143), so each writer's ``with`` or
    ``abort`` removes its temporary file: outputs are complete or absent. ``serve`` replaces it with
    its drain. Returns the previous handler (None off the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


if __name__ == "__main__":
    raise SystemExit(main())
