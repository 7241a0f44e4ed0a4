"""Track inputs at training time (``seqzoo train --track``): read every record's track letters
or numbers, choose each track's alphabet (or numeric scale) and baseline, and pack them with the
sequence (zoo.inputs.Inputs).

A track is a string of per-position letters of its own fixed length, centred on the same site as
the sequence (DeepRiPe's region type: 250 positions of 5'UTR / CDS / 3'UTR / intron around a
150-nt sequence). It comes from a FASTA whose records carry the sequences' names (``--track
NAME=FILE``), from a table column (``--track-column NAME=COLUMN``), or, for ``--track
structure``, from the sequences' own structure lines or ViennaRNA (pysster's annotated form as
its own input, instead of the sequence x structure product alphabet of ``--structure``).

A numeric track (``--track NAME=FILE.bw``) is a bigWig's signal read at each record's coordinates
(FASTA headers, or a table's chrom/start/end/strand columns) over a window centred as the
sequence is (``--track-length NAME=N``, default the sequence's length), cut into the levels of a
zoo.numeric.Levels scale fitted on the training values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from seqzoo.zoo.alphabets import get_alphabet, structure_alphabet
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.inputs import STRUCTURE, Inputs, TrackInput
from seqzoo.zoo.io.bigwig import Signal, is_bigwig
from seqzoo.zoo.io.coords import FORMS
from seqzoo.zoo.io.fasta import read_by_name, read_fasta
from seqzoo.zoo.numeric import NAME as NUMERIC
from seqzoo.zoo.numeric import Levels
from seqzoo.zoo.options import pairs


@dataclass
class TrackOption:
    """One ``--track`` as given: where its letters come from, and optional alphabet and baseline."""

    name: str
    path: Path | None = None
    column: str | None = None
    letters: str | None = None
    baseline: float | None = None
    length: int | None = None

    @property
    def folded(self) -> bool:
        return self.name == STRUCTURE and self.path is None and self.column is None

    @property
    def numeric(self) -> bool:
        return self.path is not None and is_bigwig(self.path)


MAX_TRACK_LENGTH = 1_000_000  # positions a numeric track's window may span (Borzoi reads 524 kb)
SIGNAL_BYTES = 8  # float64 per position while a record's window is read


def available_memory() -> int:
    """Bytes of memory the system could give now (MemAvailable; the physical size where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def parse_tracks(tracks: Sequence[str], columns: Sequence[str], alphabets: Sequence[str],
                 baselines: Sequence[str], lengths: Sequence[str] = ()) -> list[TrackOption]:
    """The track options, checked: ``--track NAME=FILE`` or ``--track structure``,
    ``--track-column NAME=COLUMN``, ``--track-alphabet NAME=LETTERS``, ``--track-baseline NAME=VALUE``,
    ``--track-length NAME=N`` (numeric tracks)."""
    options: dict[str, TrackOption] = {}
    for value in tracks or ():
        if value.strip() == STRUCTURE:
            options.setdefault(STRUCTURE, TrackOption(STRUCTURE))
            continue
        for name, path in pairs([value], "--track", "FILE").items():
            if name in options:
                raise InputError(f"--track {name!r} is given twice")
            if not Path(path).is_file():
                raise InputError(f"--track {name}={path}: no such file")
            options[name] = TrackOption(name, path=Path(path))
    for name, column in pairs(columns, "--track-column", "COLUMN").items():
        if name in options:
            raise InputError(f"--track-column {name!r}: the track is already given by --track")
        options[name] = TrackOption(name, column=column)
    for flag, given in (("--track-alphabet", pairs(alphabets, "--track-alphabet", "LETTERS")),
                        ("--track-baseline", pairs(baselines, "--track-baseline")),
                        ("--track-length", pairs(lengths, "--track-length", "N"))):
        for name, value in given.items():
            if name not in options:
                raise InputError(f"{flag} {name}: no such track (tracks: {', '.join(options) or 'none'})")
            if flag == "--track-alphabet":
                if options[name].numeric:
                    raise InputError(f"--track-alphabet {name}: a numeric (bigWig) track has no letters")
                options[name].letters = value
            elif flag == "--track-baseline":
                try:
                    options[name].baseline = float(value)
                except ValueError:
                    raise InputError(f"--track-baseline {name}={value!r} is not a number") from None
            else:
                if not options[name].numeric:
                    raise InputError(f"--track-length {name}: only a numeric (bigWig) track's length is chosen; "
                                     "a letters track has the length of its strings")
                if not value.isdigit() or int(value) < 1:
                    raise InputError(f"--track-length {name}={value!r} must be a positive whole number")
                if int(value) > MAX_TRACK_LENGTH:
                    raise InputError(f"--track-length {name}={value}: at most {MAX_TRACK_LENGTH:,} positions a record "
                                     "(longer windows than any sequence model reads)")
                options[name].length = int(value)
    if STRUCTURE in options and options[STRUCTURE].letters:
        raise InputError("--track-alphabet structure: the structure track's letters are pysster's F T S H I M")
    return list(options.values())


def read_signal(option: TrackOption, dataset, length: int) -> tuple[list, list[str]]:
    """(numbers, origins) of a bigWig track for every record of ``dataset``: float64 [T] windows
    (T = ``--track-length`` or the sequence ``length``) centred on each record's coordinates."""
    where = dataset.coordinates or [None] * len(dataset)
    missing = next((i for i, c in enumerate(where) if c is None), None)
    if missing is not None:
        origin = dataset.origins[missing] if dataset.origins else f"record {missing}"
        raise InputError(f"{origin}: no coordinates for the numeric track {option.name!r} ({option.path}): give "
                         f"FASTA headers such as {FORMS}, or table columns chrom, start, end (and strand)")
    size = option.length or length
    need, free = len(where) * size * SIGNAL_BYTES, available_memory()
    if need > free // 2:  # refused before any allocation: the windows, their levels and codes all follow
        raise InputError(f"--track-length {option.name}={size}: {len(where):,} records x {size:,} positions need "
                         f"{need / 2**30:.3g} GiB for the track alone, over half of this machine's free "
                         f"{free / 2**30:.3g} GiB; choose a shorter --track-length")
    with Signal(option.path) as signal:
        if not any(signal.has(c.chrom) for c in where):
            raise InputError(f"{option.path}: none of the records' chromosomes is in this bigWig (the first record's "
                             f"is {where[0].chrom!r}; {signal.names.hint()})")
        values = [signal.around(c, size) for c in where]
    return values, list(dataset.origins)


def read_track(option: TrackOption, dataset, records: list | None, length: int) -> tuple[list, list[str]]:
    """(letters, origins) of one track for every record of ``dataset``, in record order (numbers
    for a bigWig track, ``length`` being the sequence's).

    ``records`` are the (path, FastaRecord) pairs of the dataset's FASTA records (None for a table).
    A track FASTA is matched by record name; where the sequences' names repeat (multilabel headers
    such as ``0,2``), by position, and then each header must equal its sequence's.
    """
    if option.numeric:
        return read_signal(option, dataset, length)
    if option.column is not None:
        if option.name not in dataset.tracks:
            raise InputError(f"--track-column {option.name}={option.column}: only a --table input has columns")
        return dataset.tracks[option.name], list(dataset.origins)
    if not records:
        raise InputError(f"--track {option.name}={option.path}: a table's tracks come from its columns "
                         "(--track-column NAME=COLUMN)")
    names = [r.name for _, r in records]
    if len(set(names)) == len(names):
        by_name = read_by_name(option.path)
        missing = next((i for i, n in enumerate(names) if n not in by_name), None)
        if missing is not None:
            path, record = records[missing]
            raise InputError(f"{option.path}: no record {names[missing]!r} (the sequence of {path}:{record.line})")
        chosen = [by_name[n] for n in names]
    else:
        found = read_fasta(option.path, structures=False)
        if len(found) != len(records):
            raise InputError(f"{option.path}: {len(found)} records but {len(records)} sequences (the sequences' "
                             "names repeat, so the track must list the same records in the same order)")
        for (path, record), r in zip(records, found):
            if r.header != record.header:
                raise InputError(f"{option.path}:{r.line}: header {r.header!r} differs from {path}:{record.line} "
                                 f"({record.header!r})")
        chosen = found
    return [r.sequence for r in chosen], [f"{option.path}:{r.line}" for r in chosen]


def track_inputs(options: list[TrackOption], sets: dict, records: dict, sequence_alphabet, length: int,
                 fold: Callable[[], dict]) -> tuple[Inputs, dict]:
    """The packed inputs and every set's track letters.

    Parameters
    ----------
    options : parsed ``--track`` options
    sets : split name -> LabelledSet (``train``, and ``test`` or None)
    records : split name -> (path, FastaRecord) pairs or an empty list (tables)
    sequence_alphabet : Alphabet
    length : the sequence's fixed length
    fold : returns split name -> annotated structures centred on ``length`` (called for ``--track structure``)

    Returns
    -------
    (Inputs, {split name: {track name: strings}})
    """
    from seqzoo.training.data import check_characters

    values = {name: {} for name, ds in sets.items() if ds is not None}
    tracks = []
    folded = fold() if any(o.folded for o in options) else {}
    for option in options:
        origins = {}
        for name, ds in sets.items():
            if ds is None:
                continue
            if option.folded:
                values[name][option.name], origins[name] = folded[name], list(ds.origins)
            else:
                values[name][option.name], origins[name] = read_track(option, ds, records.get(name), length)
        first = values["train"][option.name]
        size = len(first[0])
        for name in values:
            for value, origin in zip(values[name][option.name], origins[name]):
                if len(value) != size:
                    raise InputError(f"{origin}: the {option.name!r} track is {len(value)} long; the first record's "
                                     f"is {size} (a track has one fixed length)")
        if option.numeric:
            alphabet = Levels.fit(first, what=f"{option.name!r} track ({option.path})")
        elif option.folded:
            alphabet = structure_alphabet("annotated")
        elif option.letters:
            alphabet = get_alphabet(option.letters)
        else:  # the letters the training records use, in sorted order (the card names them)
            seen = sorted(set("".join(first).upper()) - {"N"})
            if not seen:
                raise InputError(f"the {option.name!r} track has no letters other than N")
            alphabet = get_alphabet("".join(seen))
        if not option.numeric:
            for name in values:
                check_characters(values[name][option.name], origins[name], alphabet)
        default = 0.0 if option.numeric else 1.0 / alphabet.size  # numeric: the median, as missing data reads
        baseline = default if option.baseline is None else option.baseline
        source = NUMERIC if option.numeric else STRUCTURE if option.folded else "letters"
        tracks.append(TrackInput(option.name, alphabet, size, baseline, source))
    return Inputs(sequence_alphabet, length, tuple(tracks)), values
