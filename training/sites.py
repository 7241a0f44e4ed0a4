"""Pool the binding sites of many tasks into one multitask table (DeepRiPe's training data).

Every task contributes sites: the records of a FASTA whose headers carry coordinates
(``zoo/io/coords.py``), its ``class:1`` records when the headers carry iONMF labels (the
``class:0`` records then join the background), or the intervals of a BED file cut from a genome.
Sites of any tasks on the same strand whose centres fall in one bin (``centre // bin``) become
one row labelled 1 for every task that binds there, so a task's negatives include the other
tasks' sites. Background records (bound by no task) become rows labelled 0 everywhere, once per
bin, and only where no task binds.

A row keeps the coordinates and sequence of the first site (or background record) that reached
its bin, in the order the tasks were given; rows are sorted by chromosome (natural order),
start and strand.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from seqzoo.zoo.alphabets import reverse_complement
from seqzoo.zoo.errors import InputError, SeqzooError
from seqzoo.zoo.io.coords import FORMS, Coordinates, ionmf_label, parse_coordinates

COLUMNS = ("chrom", "start", "end", "strand", "sequence")
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class _Row:
    where: Coordinates
    sequence: str
    tasks: set[int] = field(default_factory=set)


@dataclass
class Pool:
    """Sites of named tasks and background records, binned by (chrom, strand, centre // bin)."""

    tasks: list[str]
    bin: int = 50
    rows: dict = field(default_factory=dict)  # key -> _Row (bound)
    background: dict = field(default_factory=dict)  # key -> _Row (bound by no task)
    sites: Counter = field(default_factory=Counter)  # task -> sites read
    inputs: list = field(default_factory=list)

    def key(self, where: Coordinates) -> tuple:
        return where.chrom, where.strand, where.centre // self.bin

    def add_site(self, task: int, where: Coordinates, sequence: str) -> None:
        row = self.rows.setdefault(self.key(where), _Row(where, sequence))
        row.tasks.add(task)
        self.sites[self.tasks[task]] += 1

    def add_background(self, where: Coordinates, sequence: str) -> None:
        self.background.setdefault(self.key(where), _Row(where, sequence))

    def table(self) -> tuple[dict, dict]:
        """(columns: name -> list or array, summary) of the pooled rows."""
        kept = [row for key, row in self.background.items() if key not in self.rows]
        rows = sorted([*self.rows.values(), *kept], key=lambda r: (_natural(r.where.chrom), r.where.start,
                                                                    r.where.strand))
        columns = {"chrom": [r.where.chrom for r in rows], "start": np.array([r.where.start for r in rows]),
                   "end": np.array([r.where.end for r in rows]), "strand": [r.where.strand for r in rows],
                   "sequence": [r.sequence for r in rows]}
        for k, name in enumerate(self.tasks):
            columns[name] = np.array([int(k in r.tasks) for r in rows], dtype=np.int64)
        shared = Counter(len(r.tasks) for r in self.rows.values())
        summary = {"bin": self.bin, "rows": len(rows), "bound_rows": len(self.rows), "background_rows": len(kept),
                   "background_in_bound_bins": len(self.background) - len(kept),
                   "rows_bound_by_several_tasks": sum(n for k, n in shared.items() if k > 1),
                   "tasks": {name: {"sites": int(self.sites[name]), "rows": int(columns[name].sum())}
                             for name in self.tasks},
                   "tasks_per_bound_row": {str(k): n for k, n in sorted(shared.items())},
                   "inputs": self.inputs}
        return columns, summary


def _natural(chrom: str) -> tuple:
    """chr1 < chr2 < chr10 < chrX: numbers by value, then names."""
    name = chrom.removeprefix("chr")
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def check_task_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise InputError(f"--task {twice}: the task is given twice")
    for name in names:
        if not NAME.match(name) or name in COLUMNS:
            raise InputError(f"--task {name}: a task name is letters, digits, '_', '.', '-' and not one of "
                             f"{', '.join(COLUMNS)}")


def _fasta(pool: Pool, path: Path, task: int | None, keep_background: bool) -> None:
    """A FASTA's records into the pool: sites of ``task`` (class:1 or unlabelled), background
    (class:0, or every record of a --background file when ``task`` is None)."""
    from seqzoo.zoo.io.fasta import FastaReader

    counts = Counter()
    with FastaReader(path, structures=False) as reader:
        for record in reader:
            try:
                where = parse_coordinates(record.header, len(record.sequence))
                label = ionmf_label(record.header)
            except InputError as exc:
                raise exc.at(file=str(path), line=record.line, record=record.name) from None
            if where is None:
                raise InputError(f"{path}:{record.line}: record {record.name}: no coordinates in the header "
                                 f"(expected {FORMS})")
            if task is not None and label != 0:
                pool.add_site(task, where, record.sequence.upper())
                counts["sites"] += 1
            elif keep_background:
                pool.add_background(where, record.sequence.upper())
                counts["background"] += 1
            else:
                counts["background_dropped"] += 1
    pool.inputs.append({"path": str(path), "task": pool.tasks[task] if task is not None else None, **counts})


def _bed(pool: Pool, path: Path, task: int | None, genome, length: int) -> None:
    """A BED file's intervals, cut from the genome as ``length`` bases centred on each interval
    (the window's coordinates; past a contig's end they run outside it and the bases are N)."""
    from seqzoo.zoo.io.bed import read_bed

    n = 0
    for record in read_bed(path):
        try:
            chrom = genome.require(record.chrom)
        except SeqzooError as exc:
            raise exc.at(file=str(path), line=record.line) from None
        centre = (record.start + record.end) // 2
        start = centre - length // 2
        strand = "-" if record.strand == "-" else "+"
        sequence = genome.fetch(chrom, start, start + length)
        if strand == "-":
            sequence = reverse_complement(sequence)
        where = Coordinates(chrom, start, start + length, strand)
        if task is None:
            pool.add_background(where, sequence)
        else:
            pool.add_site(task, where, sequence)
        n += 1
    pool.inputs.append({"path": str(path), "task": pool.tasks[task] if task is not None else None,
                        "sites" if task is not None else "background": n})


def pool_sites(tasks: list[tuple[str, str | os.PathLike]], backgrounds: list[str | os.PathLike] = (),
               bin_size: int = 50, genome=None, length: int | None = None,
               keep_background: bool = True) -> tuple[dict, dict]:
    """Pool the sites of ``tasks`` ((name, FASTA or BED path) pairs) and ``backgrounds``.

    Returns
    -------
    (columns, summary)
        ``chrom, start, end, strand, sequence`` and one 0/1 column per task; counts per task,
        overlaps, inputs.
    """
    names = [name for name, _ in tasks]
    check_task_names(names)
    if not tasks:
        raise InputError("no tasks: give --task NAME=FILE (one per task)")
    if bin_size < 1:
        raise InputError(f"--bin must be at least 1, got {bin_size}")
    pool = Pool(names, bin_size)
    for index, path in [*enumerate(path for _, path in tasks), *((None, p) for p in backgrounds)]:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.name.lower().removesuffix(".gz").endswith(".bed"):
            if genome is None or length is None:
                raise InputError(f"{path}: a BED file needs --genome FASTA and --length L to cut its sequences")
            _bed(pool, path, index, genome, length)
        else:
            _fasta(pool, path, index, keep_background or index is None)
    columns, summary = pool.table()
    empty = [name for name, s in summary["tasks"].items() if s["sites"] == 0]
    if empty:
        raise InputError(f"--task {empty[0]}: no sites (its file has only class:0 records)")
    return columns, summary
