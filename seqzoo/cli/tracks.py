"""The track options of ``seqzoo train`` (a multimodal model's inputs after the sequence):
``--track NAME=FILE`` (letters FASTA, bigWig, or ``structure``), ``--track-column``,
``--track-length``, ``--track-alphabet``, ``--track-baseline``; training.tracks reads them."""

from __future__ import annotations

import argparse

from seqzoo.zoo.errors import InputError


def add_track_arguments(group: argparse._ArgumentGroup) -> None:
    """The track options, into ``seqzoo train``'s input group."""
    group.add_argument("--track", action="append", default=[], metavar="NAME=FILE",
                       help="a track input with its own branch: a FASTA of per-position letters with the sequences' "
                            "record names, fixed length (e.g. region type); a bigWig (.bw) read at the records' "
                            "coordinates (numeric); 'structure' folds (ViennaRNA); repeat")
    group.add_argument("--track-column", action="append", default=[], metavar="NAME=COLUMN",
                       help="a table column of track letters")
    group.add_argument("--track-length", action="append", default=[], metavar="NAME=N",
                       help="a bigWig track's window, centred as the sequence (default: the sequence's length)")
    group.add_argument("--track-alphabet", action="append", default=[], metavar="NAME=LETTERS",
                       help="a track's letters, in one-hot order (default: the letters the training records use)")
    group.add_argument("--track-baseline", action="append", default=[], metavar="NAME=VALUE",
                       help="integrated-gradients baseline of a track's one-hot columns (default: 1/letters; "
                            "numeric: 0, the median)")


def tracks_from_args(args, sets: dict, records: dict, alphabet, length: int, quiet: bool) -> tuple:
    """(Inputs, split -> track letters or numbers) of the --track options, or (None, {}) without tracks."""
    from seqzoo.training import data, tracks

    options = tracks.parse_tracks(args.track, args.track_column, args.track_alphabet, args.track_baseline,
                                  args.track_length)
    if not options:
        return None, {}
    if args.structure:
        raise InputError("--structure makes the sequence x structure alphabet; with tracks, give the structure as "
                         "its own input (--track structure)")

    def fold() -> dict:
        return {name: data.centre(s, length, "F", "T")
                for name, s in data.set_structures(sets, "annotated", args.fold_processes, quiet).items()}

    return tracks.track_inputs(options, sets, records, alphabet, length, fold)
