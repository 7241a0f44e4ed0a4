"""``seqzoo report REF``: write the HTML interpretation report of a model version or a training run.

REF is a zoo reference (``pum2``, ``pum2:3``, ``pum2@sha256:...``), a version folder, or a run
directory written by ``seqzoo train``. A published version already carries its interpretation,
so its report is re-rendered from the version folder; a run directory is interpreted first (into
``RUN_DIR/interpretation`` unless ``--work DIR`` is given).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="REF", help="zoo reference (name, name:N, name@sha256:...) or a folder")
    parser.add_argument("--zoo", help="zoo root (default $SEQZOO_ZOO, else the user data folder)")
    parser.add_argument("-o", "--output", metavar="FILE", help="HTML file to write (default: report.html in the "
                        "run folder, or NAME-vN.report.html here for a zoo version)")
    parser.add_argument("--database", help="motif database for a run: jaspar2024, attract, or a MEME file")
    parser.add_argument("--work", metavar="DIR", help="where a run's interpretation is written (default: the run)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last stdout line")


def run(args) -> int:
    from seqzoo.training.report import load_summary, write_report
    from seqzoo.zoo.card import read_card
    from seqzoo.zoo.errors import InputError

    start = time.perf_counter()
    folder = Path(args.ref)
    if folder.is_dir() and (folder / "weights.pt").is_file():
        # a training run: interpret it, then render
        import torch

        from seqzoo.training.interpret import interpret_run

        torch.set_num_threads(max(1, torch.get_num_threads()))
        work = Path(args.work) if args.work else folder
        interpret_run(folder, work, database=args.database)
        card = read_card(folder, validate=False)
        card.setdefault("name", folder.name)
        folders = [work, folder]
        output = Path(args.output) if args.output else work / "report.html"
    else:
        if folder.is_dir() and (folder / "card.json").is_file():
            card = read_card(folder, validate=False)
        elif folder.is_dir():
            raise InputError(f"{folder}: neither a training run (weights.pt) nor a model version (card.json)")
        else:
            from seqzoo.zoo.registry import open_zoo

            version = open_zoo(args.zoo).resolve(args.ref)
            folder, card = Path(version.path), dict(version.card)
        if args.database:
            raise InputError("--database applies to training runs; a published version keeps the matches made "
                             "when it was published")
        folders = [folder]
        output = Path(args.output) if args.output else Path(f"{card.get('name', 'model')}-v{card.get('version', 0)}"
                                                            ".report.html")
        work = folder
    summary = load_summary(work)
    path = write_report(output, card, summary, folders)
    seconds = time.perf_counter() - start
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s")
    if args.json:
        print(json.dumps({"report": str(path), "seconds": round(seconds, 2), "interpreted": summary is not None}))
    return 0
