"""The splits of a training run: a given test set, chromosomes held out, or stratified random
splits, and the validation split of what is left (``seqzoo train``'s ``--test-*``, ``--test-chroms``,
``--val-chroms``, ``--test-fraction``, ``--val-fraction``).
"""

from __future__ import annotations

from seqzoo.training.data import centre, chromosome_split, stratified_split
from seqzoo.zoo.errors import InputError


def take(codes, seq_codes, labels, seqs, source, target, index) -> None:
    """Move rows ``index`` of split ``source`` into split ``target`` of every store (codes, sequence
    codes, labels) and of the centred sequences ``seqs``."""
    for store in (codes, seq_codes, labels):
        store[target] = store[source][index]
    seqs[target] = [seqs[source][i] for i in index]


def split_sets(train, test, length: int, codes: dict, seq_codes: dict, labels: dict, *, test_chroms: list[str] | None,
               val_chroms: list[str] | None, test_fraction: float, val_fraction: float, seed: int) -> tuple[dict, dict]:
    """The splits, in place in ``codes``, ``seq_codes`` and ``labels``: test given, held out by
    chromosome or split off (stratified); validation by chromosome or split off the rest
    (stratified). Returns the centred sequences of each split and the card's ``split``."""
    all_seqs = {"train": centre(train.sequences, length, "N")}
    split = {"method": "stratified by label pattern, seeded", "val_fraction": val_fraction,
             "length": length, "length_policy": "centre, pad with N or crop"}
    rest_set = train
    if test_chroms:
        if test is not None:
            raise InputError("--test-chroms holds chromosomes out of the training input; do not also give a test set")
        rest, held = chromosome_split(train, test_chroms, "--test-chroms")
        take(codes, seq_codes, labels, all_seqs, "train", "test", held)
        take(codes, seq_codes, labels, all_seqs, "train", "train", rest)
        rest_set = train.subset(rest)
        split.update(test="chromosomes held out", test_chroms=test_chroms)
    elif test is None:
        rest, held = stratified_split(train.labels, test_fraction, seed)
        take(codes, seq_codes, labels, all_seqs, "train", "test", held)
        take(codes, seq_codes, labels, all_seqs, "train", "train", rest)
        rest_set = train.subset(rest)
        split.update(test="split off", test_fraction=test_fraction)
    else:
        all_seqs["test"] = centre(test.sequences, length, "N")
        split.update(test="given")
    if val_chroms:
        overlap = sorted(set(val_chroms) & set(test_chroms or []))
        if overlap:
            raise InputError(f"--val-chroms {','.join(overlap)}: also in --test-chroms")
        rest, held = chromosome_split(rest_set, val_chroms, "--val-chroms")
        split.update(method="chromosome hold-out", val_chroms=val_chroms, val_fraction=None)
    else:
        rest, held = stratified_split(labels["train"], val_fraction, seed + 1)
    if test_chroms and not val_chroms:
        split["method"] = "chromosome hold-out (test), stratified by label pattern, seeded (validation)"
    take(codes, seq_codes, labels, all_seqs, "train", "val", held)
    take(codes, seq_codes, labels, all_seqs, "train", "train", rest)
    return all_seqs, split
