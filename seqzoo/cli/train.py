"""``seqzoo train``: read labelled sequences, train a CNN, evaluate it, write a run directory.

Steps (each a function below): read the inputs and the test set -> fix the length, fold the
structures, encode -> split off validation (and test) and check for leaks -> train (or grid
search) -> evaluate on validation and test, plots, optional k-mer baseline -> write the run
directory under a temporary name and rename it at the end (a failed run leaves nothing) ->
(publishing into a zoo is a separate final step).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from seqzoo.cli.about import about_from_args, warn_unstated
from seqzoo.cli.about import add_arguments as add_about_arguments
from seqzoo.cli.tracks import add_track_arguments, tracks_from_args
from seqzoo.zoo.errors import ConflictError, InputError
from seqzoo.zoo.options import pairs
from seqzoo.zoo.refs import validate_name

HYPERPARAMETER_FLAGS = {
    "conv_num": int, "kernel_num": int, "kernel_len": int, "pool_size": int, "pool_stride": int,
    "dropout_input": float, "dropout_conv": float, "dropout_dense": float, "dense_num": int, "neuron_num": int,
    "rnn": str, "rnn_units": int, "bidirectional": str, "head": str, "learning_rate": float, "batch_size": int,
    "epochs": int, "patience": int, "ensemble": int,
}
HYPERPARAMETER_HELP = {
    "ensemble": "train this many networks, one after another (seeds SEED, SEED+1, ...), that answer with their mean "
                "probability; one model, that many times the training time",
}


def _class_pair(text: str) -> tuple[str, str]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not LABEL=PATH")
    return label, path


def _chroms(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no chromosome")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``seqzoo train``."""
    data = parser.add_argument_group("input")
    data.add_argument("--name", required=True, help="model name (run folder and zoo name)")
    data.add_argument("--class", dest="classes", action="append", type=_class_pair, default=[],
                      metavar="LABEL=PATH", help="one FASTA (plain or gz) per class; repeat per class")
    data.add_argument("--test-class", dest="test_classes", action="append", type=_class_pair, default=[],
                      metavar="LABEL=PATH", help="a held-out test FASTA per class (default: split off)")
    data.add_argument("--class-match", dest="class_matches", action="append", default=[], metavar="LABEL=TEXT",
                      help="only the records of LABEL's files (train and test) whose header contains TEXT: one "
                           "labelled FASTA read as several classes (iONMF: bound=class:1, unbound=class:0)")
    data.add_argument("--fasta", help="one multi-label FASTA whose headers are class indices (>0,2)")
    data.add_argument("--test-fasta", help="its held-out test file")
    data.add_argument("--class-names", help="comma-separated names of the --fasta class indices")
    data.add_argument("--table", help="CSV / TSV / parquet with a sequence column and label columns")
    data.add_argument("--test-table", help="held-out test table with the same columns")
    data.add_argument("--sequence-column", default="sequence")
    data.add_argument("--label-columns", help="one column of class names, or several 0/1 columns (multilabel)")
    data.add_argument("--structure-column", help="a table column of given structures")
    data.add_argument("--alphabet", default="auto", help="dna, rna, protein, or the letters (default: from data)")
    data.add_argument("--unknown", choices=("zero", "uniform"), default="zero",
                      help="one-hot row of N / unknown letters (default: all zero)")
    data.add_argument("--length", type=int, help="fixed input length (default: the longest sequence); "
                      "shorter sequences are centred and padded with N, longer ones cropped around the centre")
    data.add_argument("--structure", nargs="?", const="annotated", choices=("annotated", "dot-bracket"),
                      help="add RNA secondary structure (ViennaRNA; default form: annotated F/T/S/H/I/M)")
    data.add_argument("--fold-processes", type=int, help="processes for folding (default: all cores)")
    add_track_arguments(data)
    data.add_argument("--val-fraction", type=float, default=0.1, help="validation share of train (stratified)")
    data.add_argument("--test-fraction", type=float, default=0.2, help="test share when no test set is given")
    data.add_argument("--test-chroms", metavar="CHR,CHR", type=_chroms,
                      help="hold out these chromosomes as the test set (records need coordinates: FASTA headers "
                           "such as chr1,+,100,200 or chr1:100-200(+), or a table column 'chrom')")
    data.add_argument("--val-chroms", metavar="CHR,CHR", type=_chroms,
                      help="hold out these chromosomes of the training records for validation "
                           "(default: a stratified --val-fraction)")
    data.add_argument("--drop-leaks", action="store_true",
                      help="drop train/val sequences that also occur in test, and all-N sequences")
    model = parser.add_argument_group("model (defaults win on the PUM2/QKI benchmarks)")
    model.add_argument("--config", help="YAML / JSON file of hyperparameters (flags override it)")
    for name, kind in HYPERPARAMETER_FLAGS.items():
        model.add_argument(f"--{name.replace('_', '-')}", dest=f"hp_{name}", type=kind, metavar=name.upper(),
                           help=HYPERPARAMETER_HELP.get(name))
    model.add_argument("--grid", nargs="+", metavar="NAME=V1,V2",
                       help="grid search: lists of values (or a YAML/JSON file of lists); best model kept")
    model.add_argument("--rank-by", choices=("auroc", "ap"), default="auroc", help="grid ranking metric")
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    run.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    run.add_argument("--out", help="run directory (default: runs/NAME)")
    run.add_argument("--force", action="store_true", help="replace an existing run directory")
    run.add_argument("--baseline", action="store_true", help="also train the k-mer logistic regression")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line")
    run.add_argument("--zoo", metavar="DIR", help="zoo to publish into (default $SEQZOO_ZOO, else the user data folder)")
    run.add_argument("--no-publish", action="store_true", help="write the run directory only")
    run.add_argument("--motif-database", metavar="NAME|MEME",
                     help="match the learned motifs against jaspar2024, attract or a MEME file (default: JASPAR for "
                          "DNA, ATtRACT for RNA; CLIP sites in DNA letters: attract)")
    add_about_arguments(parser)


@dataclass
class Prepared:
    """Encoded splits and everything the card says about the data."""

    alphabet: object
    sequence_alphabet: object
    classes: list[str]
    task: str
    length: int
    structure: str | None
    codes: dict = field(default_factory=dict)  # split -> uint8 [N, L]
    seq_codes: dict = field(default_factory=dict)  # split -> uint8 [N, L] sequence-only (baseline)
    labels: dict = field(default_factory=dict)  # split -> float32 [N, C]
    files: list = field(default_factory=list)
    split: dict = field(default_factory=dict)
    leakage: dict = field(default_factory=dict)
    fold_seconds: float = 0.0


def read_inputs(args) -> tuple:
    """(train set, test set or None, FASTA records for error lines) from the input options."""
    from seqzoo.training import data

    given = [bool(args.classes), bool(args.fasta), bool(args.table)]
    if sum(given) != 1:
        raise InputError("give exactly one input: --class LABEL=PATH (repeat), --fasta PATH or --table PATH")
    if args.classes:
        matches = pairs(args.class_matches, "--class-match", "TEXT")
        train, where = data.read_class_files(args.classes, matches)
        test, test_where = (data.read_class_files(args.test_classes, matches) if args.test_classes else (None, []))
        if test is not None and test.classes != train.classes:
            if sorted(test.classes) != sorted(train.classes):
                raise InputError(f"--test-class labels {test.classes} differ from --class labels {train.classes}")
            order = [test.classes.index(c) for c in train.classes]
            test.labels, test.classes = test.labels[:, order], list(train.classes)
    elif args.fasta:
        names = args.class_names.split(",") if args.class_names else None
        train, where = data.read_multilabel_fasta(args.fasta, names)
        test, test_where = (data.read_multilabel_fasta(args.test_fasta, train.classes) if args.test_fasta
                            else (None, []))
    else:
        if not args.label_columns:
            raise InputError("--table needs --label-columns A[,B,...]")
        columns = [c.strip() for c in args.label_columns.split(",") if c.strip()]
        tracks = dict(t.split("=", 1) for t in args.track_column if "=" in t)
        train = data.read_table(args.table, args.sequence_column, columns, args.structure_column, tracks)
        where, test_where = [], []
        test = (data.read_table(args.test_table, args.sequence_column, columns, args.structure_column, tracks)
                if args.test_table else None)
        if test is not None and test.classes != train.classes:
            raise InputError(f"{args.test_table}: classes {test.classes} differ from the training table's "
                             f"{train.classes}")
    if args.class_matches and not args.classes:
        raise InputError("--class-match applies to --class LABEL=PATH inputs")
    if args.test_classes and not args.classes or args.test_fasta and not args.fasta or \
            args.test_table and not args.table:
        raise InputError("the test set must come in the same form as the training input")
    return train, test, where, test_where


def _check_characters(dataset, where, alphabet) -> None:
    from seqzoo.training import data

    if where:
        for path in dict.fromkeys(p for p, _ in where):
            idx = [i for i, (p, _) in enumerate(where) if p == path]
            data.check_characters([dataset.sequences[i] for i in idx], [], alphabet,
                                  records=[where[i][1] for i in idx], path=path)
    else:
        data.check_characters(dataset.sequences, dataset.origins, alphabet)


def prepare(args, quiet: bool) -> Prepared:
    """Read, check, fold, fix the length, encode, split, and check for leaks."""
    import numpy as np

    from seqzoo.training import data
    from seqzoo.training.splits import split_sets, take
    from seqzoo.zoo.alphabets import ProductAlphabet, get_alphabet, structure_alphabet

    train, test, where, test_where = read_inputs(args)
    everything = train.sequences + (test.sequences if test is not None else [])
    alphabet = (data.infer_alphabet(everything, args.unknown) if args.alphabet == "auto"
                else get_alphabet(args.alphabet, args.unknown))
    _check_characters(train, where, alphabet)
    if test is not None:
        _check_characters(test, test_where, alphabet)
    given = [train.structures is not None] + ([test.structures is not None] if test is not None else [])
    if any(given) and not all(given):
        raise InputError("mixed input: the training records carry structures but the test records do not "
                         "(or the other way round)")
    form = args.structure
    if given[0] and form is None and "structure" not in args.track:
        raise InputError(f"{train.origins[0]}: the records carry structure lines; add --structure "
                         "(annotated or dot-bracket) to use them")
    length = args.length or data.choose_length(everything)
    if length < 1:
        raise InputError(f"--length {length} must be positive")
    sets = {"train": train, "test": test}
    start = time.perf_counter()
    structures = data.set_structures(sets, form, args.fold_processes, quiet) if form else {}
    pads = ("F", "T") if form == "annotated" else (".", ".")
    inputs, track_values = tracks_from_args(args, sets, {"train": where, "test": test_where}, alphabet, length, quiet)
    fold_seconds = time.perf_counter() - start
    product = ProductAlphabet(alphabet, structure_alphabet(form)) if form else None
    codes, seq_codes, labels = {}, {}, {}
    for name, ds in sets.items():
        if ds is None:
            continue
        seqs = data.centre(ds.sequences, length, "N")
        seq_codes[name] = alphabet.encode(seqs)
        if form:
            codes[name] = product.encode(seqs, data.centre(structures[name], length, *pads))
        elif inputs is not None:
            codes[name] = inputs.encode(seqs, track_values[name])
        else:
            codes[name] = seq_codes[name]
        labels[name] = ds.labels
    all_seqs, split = split_sets(train, test, length, codes, seq_codes, labels, test_chroms=args.test_chroms,
                                 val_chroms=args.val_chroms, test_fraction=args.test_fraction,
                                 val_fraction=args.val_fraction, seed=args.seed)
    report = data.leakage(all_seqs["train"], all_seqs["val"], all_seqs["test"], alphabet)
    report["dropped"] = {"train": 0, "val": 0, "test": 0}
    if args.drop_leaks:
        for name, others in (("train", [all_seqs["test"]]), ("val", [all_seqs["test"]]), ("test", [])):
            keep = data.leak_mask(all_seqs[name], others, alphabet)
            report["dropped"][name] = int((~keep).sum())
            take(codes, seq_codes, labels, all_seqs, name, name, np.flatnonzero(keep))
    for name in ("train", "val", "test"):
        present = labels[name].sum(axis=0)
        if len(labels[name]) == 0:
            raise InputError(f"the {name} split is empty: give more sequences")
        if name != "test" and train.task != "multilabel" and (present == 0).any():
            missing = train.classes[int(np.flatnonzero(present == 0)[0])]
            raise InputError(f"class {missing!r} has no sequences in the {name} split: give more sequences")
    return Prepared(product or inputs or alphabet, alphabet, train.classes, train.task, length, form, codes, seq_codes,
                    labels, train.files + (test.files if test is not None else []), split, report, fold_seconds)


def hyperparameters_from(args, task: str | None = None) -> dict:
    """Defaults (the ``task``'s, models.TASK_DEFAULTS), updated by --config, updated by the flags."""
    from seqzoo.training.grid import load_mapping
    from seqzoo.training.models import hyperparameters

    overrides = {}
    if args.config:
        overrides.update({k.replace("-", "_"): v for k, v in load_mapping(args.config).items()})
    for name in HYPERPARAMETER_FLAGS:
        value = getattr(args, f"hp_{name}")
        if value is not None:
            overrides[name] = value
    return hyperparameters(overrides, task)


def train_models(args, prep: Prepared, params: dict, workdir: Path) -> tuple:
    """Train one model, or every grid combination keeping the best; returns (result, params, grid)."""
    from seqzoo.training import grid as grid_search
    from seqzoo.training.metrics import compute_metrics, headline
    from seqzoo.training.models import model_for
    from seqzoo.training.train import fit, predict, seed_everything

    table = prep.alphabet.table

    def train_one(p: dict):
        seed_everything(args.seed)
        model = model_for(p, prep.alphabet, prep.length, len(prep.classes), prep.task)
        result = fit(model, prep.codes["train"], prep.labels["train"], prep.codes["val"], prep.labels["val"],
                     table, prep.classes, seed=args.seed, device=args.device, quiet=args.quiet)
        scores = predict(model, prep.codes["val"], table, device=result.device)
        val = compute_metrics(prep.labels["val"], scores, prep.classes, prep.task)
        return result, val

    if not args.grid:
        result, _ = train_one(params)
        return result, result.model.params, None
    grid = grid_search.parse_grid(args.grid)
    kept: dict = {}

    def grid_one(p: dict) -> dict:
        result, val = train_one(p)
        row = {"val_auroc": headline(val, prep.classes, prep.task, "auroc"),
               "val_ap": headline(val, prep.classes, prep.task, "ap"),
               "best_epoch": result.best_epoch, "seconds": result.seconds}
        key = "val_" + args.rank_by
        if not kept or row[key] > kept["row"][key]:
            kept.update(result=result, row=row, params=p)
        if result.interrupted:
            raise KeyboardInterrupt
        return row

    try:
        ranked, _ = grid_search.search(params, grid, grid_one, key="val_" + args.rank_by)
    except KeyboardInterrupt:
        if not kept:
            raise
        ranked = [{**kept["row"], "params": kept["params"]}]
        kept["result"].interrupted = True
    grid_search.write_table(workdir / "grid.tsv", ranked, list(grid), "val_" + args.rank_by)
    return kept["result"], kept["result"].model.params, {"parameters": grid, "rank_by": args.rank_by, "trained": len(ranked),
                                             "best": {k: v for k, v in kept["row"].items()}}


def evaluate(args, prep: Prepared, result, workdir: Path) -> tuple[dict, dict | None, dict]:
    """Metrics on val and test, plots, data.npz, and the baseline; returns (metrics, baseline, scores)."""
    import numpy as np

    from seqzoo.training.metrics import compute_metrics
    from seqzoo.training.plots import plot_history, plot_pr, plot_roc
    from seqzoo.training.train import predict

    table = prep.alphabet.table
    scores = {s: predict(result.model, prep.codes[s], table, device=result.device) for s in ("val", "test")}
    metrics = {s: compute_metrics(prep.labels[s], scores[s], prep.classes, prep.task) for s in ("val", "test")}
    plot_roc(prep.labels["test"], scores["test"], prep.classes, workdir / "roc.png", f"{args.name}: test ROC")
    plot_pr(prep.labels["test"], scores["test"], prep.classes, workdir / "pr.png", f"{args.name}: test PR")
    if result.history:
        plot_history(result.history, workdir / "history.png", result.best_epoch)
    np.savez_compressed(workdir / "data.npz", codes=prep.codes["test"], labels=prep.labels["test"].astype(np.float32),
                        scores=scores["test"].astype(np.float32))
    baseline = None
    if args.baseline:
        from seqzoo.training.baseline import KmerBaseline

        start = time.perf_counter()
        model = KmerBaseline(prep.sequence_alphabet.size, prep.task, args.seed).fit(prep.seq_codes["train"],
                                                                                 prep.labels["train"])
        baseline = {"model": f"logistic regression on k-mer frequencies, k = 1..{model.kmax}",
                    "val": compute_metrics(prep.labels["val"], model.predict_proba(prep.seq_codes["val"]),
                                           prep.classes, prep.task),
                    "test": compute_metrics(prep.labels["test"], model.predict_proba(prep.seq_codes["test"]),
                                            prep.classes, prep.task),
                    "seconds": round(time.perf_counter() - start, 2)}
    return metrics, baseline, scores


def _rounded(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def write_run(args, prep: Prepared, result, params: dict, grid: dict | None, metrics: dict,
              baseline: dict | None, seconds: float, workdir: Path) -> None:
    """weights.pt, config.json and card.json into the (temporary) run directory."""
    import torch

    from seqzoo.training.provenance import provenance
    from seqzoo.zoo.card import input_section

    torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, workdir / "weights.pt")
    config = {"model": params, "alphabet": prep.alphabet.to_dict(), "length": prep.length, "task": prep.task,
              "classes": prep.classes, "structure": prep.structure}
    counts = {s: {c: int(n) for c, n in zip(prep.classes, prep.labels[s].sum(axis=0))}
              for s in ("train", "val", "test")}
    card = {
        "schema_version": 1,
        "task": prep.task,
        "classes": prep.classes,
        "input": input_section(prep.alphabet, prep.length, prep.structure, bool(result.model.length_dynamic)),
        "output": {"activation": result.model.output_activation, "name": "probs"},
        "training": {"files": prep.files, "counts": counts, "split": prep.split, "seed": args.seed,
                     "leakage": prep.leakage, "seconds": round(seconds, 2),
                     "fold_seconds": round(prep.fold_seconds, 2), "train_seconds": round(result.seconds, 2),
                     "device": result.device, "epochs": len(result.history), "best_epoch": result.best_epoch,
                     "interrupted": result.interrupted, "grid": grid},
        "hyperparameters": params,
        "metrics": {s: _rounded(metrics[s]) for s in ("val", "test")},
        "baseline": _rounded(baseline),
        "provenance": provenance(),
    }
    for name, payload in (("config.json", config), ("card.json", card)):
        (workdir / name).write_text(json.dumps(payload, indent=2) + "\n")
    (workdir / "history.json").write_text(json.dumps(_rounded(result.history), indent=1) + "\n")


def _temporary_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def _commit_dir(tmp: Path, out: Path, force: bool) -> None:
    """Move the finished run into place; an old run is replaced only with --force."""
    if out.exists():
        if not force:
            raise ConflictError(f"{out} exists (use --force to replace it)")
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def summary(args, out: Path, seconds: float, metrics: dict) -> dict:
    """The --json object (version null and path = the run directory until the run is published)."""
    return {"name": args.name, "version": None, "path": str(out), "seconds": round(seconds, 2),
            "metrics": {s: _rounded({k: metrics[s][k] for k in ("accuracy", "auroc", "ap", "precision", "recall",
                                                                  "f1", "weighted")}) for s in ("val", "test")}}


def run(args) -> int:
    """Train and write the run directory; with --json print the summary as the last stdout line."""
    import torch

    start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out or Path("runs") / args.name)
    if out.exists() and not args.force:
        raise ConflictError(f"{out} exists (use --force to replace it, or --out DIR)")
    if not args.no_publish:
        validate_name(args.name)  # before training: the zoo would refuse it at the end
        about = about_from_args(args)
    hyperparameters_from(args)  # a bad flag or --config is refused before the data are read
    prep = prepare(args, args.quiet)
    params = hyperparameters_from(args, prep.task)
    workdir = _temporary_dir(out)
    try:
        result, params, grid = train_models(args, prep, params, workdir)
        metrics, baseline, _ = evaluate(args, prep, result, workdir)
        seconds = time.perf_counter() - start
        write_run(args, prep, result, params, grid, metrics, baseline, seconds, workdir)
        _commit_dir(workdir, out, args.force)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    info = summary(args, out, seconds, metrics)
    if not args.no_publish:  # the final step: export, interpret, card, publish (fills version and path)
        from seqzoo.training.publish import publish_run
        from seqzoo.zoo.registry import open_zoo

        warn_unstated(about, "train")
        mv = publish_run(out, open_zoo(args.zoo), args.name, database=args.motif_database, about=about)
        info.update(version=mv.version, digest=mv.digest, path=str(mv.path), run=str(out))
    _print_summary(args, info, prep, metrics, baseline, result)
    return 0


def _print_summary(args, info: dict, prep: Prepared, metrics: dict, baseline: dict | None, result) -> None:
    from seqzoo.training.metrics import headline

    if not args.json:
        test = metrics["test"]
        print(f"{args.name}: {prep.task}, {len(prep.classes)} classes, length {prep.length}, "
              f"{sum(len(v) for v in prep.labels.values())} sequences; run in {info['path']} "
              f"({info['seconds']:.1f} s{', interrupted' if result.interrupted else ''})")
        print(f"  test accuracy {test['accuracy']:.4f}, AUROC {headline(test, prep.classes, prep.task):.4f}, "
              f"AP {headline(test, prep.classes, prep.task, 'ap'):.4f}")
        if baseline:
            b = baseline["test"]
            print(f"  k-mer baseline: accuracy {b['accuracy']:.4f}, "
                  f"AUROC {headline(b, prep.classes, prep.task):.4f}, AP {headline(b, prep.classes, prep.task, 'ap'):.4f}")
    else:
        sys.stdout.flush()
        print(json.dumps(info))
