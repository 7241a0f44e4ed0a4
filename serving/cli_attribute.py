"""``seqzoo attribute``: explain every sequence of a FASTA file, in the arrays TF-MoDISco reads.

    seqzoo attribute --model pum2 --local windows.fa -o attributions.npz
                     [--target CLASS] [--steps 50] [--modisco DIR] [--logos DIR --logo-count 10]
    seqzoo attribute --model pum2 --server HOST:PORT windows.fa -o attributions.npz

For each record, integrated gradients from the all-zero baseline (the engine's rule and steps)
as three arrays of shape [N, A, L] (letters before positions, TF-MoDISco's layout):

- ``onehot``: the sequence one-hot (all zero at N and other unknown letters);
- ``hypothetical``: what each letter would contribute were it the one present (the gradient
  averaged along IG's path, at every letter);
- ``contributions``: ``hypothetical * onehot``, the integrated gradients of the observed letters
  (they sum, per sequence, to the target probability minus its value at the baseline, up to the
  rule's error).

and ``probs`` [N, C], ``names`` [N], ``classes``, ``columns`` (the A letters) and ``meta`` (a JSON
string: model, digest, target, method, steps). ``--modisco DIR`` also writes ``DIR/ohe.npz`` and
``DIR/shap.npz`` (``arr_0`` each), so ``modisco motifs -s DIR/ohe.npz -a DIR/shap.npz`` runs as is.
Records are read as a stream and the arrays are written block by block (bounded memory); every
output appears only when complete.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import deque
from pathlib import Path

import numpy as np
from seqzoo.zoo.card import default_class
from seqzoo.zoo.errors import InputError, SeqzooError

LOGO_LETTERS_PER_INCH = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", metavar="HOST:PORT", help="explain through a seqzoo server")
    where.add_argument("--local", action="store_true", help="explain in this process with the same engine")
    parser.add_argument("--model", required=True, help="model ref: name, name:3 or name@sha256:...")
    parser.add_argument("input", help="FASTA file (.fa, .fasta, optionally .gz)")
    parser.add_argument("-o", "--output", required=True, help="output .npz")
    parser.add_argument("--target", help="class to explain (default: the card's positive class; required for a model without one)")
    parser.add_argument("--steps", type=int, default=0,
                        help="integrated-gradient steps (midpoint rule; 0 = the engine's default, 50)")
    parser.add_argument("--modisco", metavar="DIR", help="also write DIR/ohe.npz and DIR/shap.npz for modisco-lite")
    parser.add_argument("--logos", metavar="DIR", help="draw the first --logo-count sequences' maps as PNG logos")
    parser.add_argument("--logo-count", type=int, default=10, help="sequences drawn with --logos (default 10)")
    parser.add_argument("--batch", type=int, default=64, help="sequences per attribution call (default 64)")
    parser.add_argument("--convert-tu", action="store_true", help="read T as U for RNA models (U as T for DNA)")
    parser.add_argument("--zoo", help="zoo folder for --local (default $SEQZOO_ZOO, else the user data folder)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="--local device")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads for --local")
    parser.add_argument("--token-file", help="file holding the server's bearer token")
    parser.add_argument("--tls-ca", help="PEM certificate to trust (connect with TLS)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="deadline of the scoring stream, seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check(args) -> None:
    if args.batch < 1:
        raise InputError(f"--batch must be at least 1, got {args.batch}")
    if not 0 <= args.steps <= 1000:
        raise InputError(f"--steps must be 0..1000 (0 = the default), got {args.steps}")
    if args.logo_count < 1:
        raise InputError(f"--logo-count must be at least 1, got {args.logo_count}")
    if not args.output.endswith(".npz"):
        raise InputError(f"-o {args.output}: the output is a NumPy archive, name it .npz")
    for flag, folder in (("--modisco", args.modisco), ("--logos", args.logos)):
        if folder and Path(folder).exists() and not Path(folder).is_dir():
            raise InputError(f"{flag} {folder}: exists and is not a folder")
        if folder:  # made before any work, so a folder that cannot be is said at once
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"{flag} {folder}: cannot create the folder ({exc.strerror})") from None


def _explained(reader, scorer, args):
    """(batch, onehot [n, L, A], hypothetical [n, L, A], probs [n, C]) per batch of records, in
    input order: probabilities on one scoring stream, maps one attribution call per batch."""
    from seqzoo.serving.scoring import batches, check_lengths, locate

    pending: deque = deque()
    length: list[int] = []

    def feed():
        for batch in batches(reader, args.batch):
            check_lengths(batch, scorer.length, scorer.ref)
            if not length:
                length.append(len(batch[0].sequence))
            elif len(batch[0].sequence) != length[0]:  # a model of any length: one length per file
                raise InputError(f"is {len(batch[0].sequence)} long but the records before it are {length[0]} "
                                 f"(the arrays hold one length)", **batch[0].where())
            pending.append(batch)
            yield batch

    for probs in scorer.predict_batches(feed()):
        batch = pending.popleft()
        sequences = [r.sequence for r in batch]
        try:
            codes = scorer.alphabet.encode(sequences, args.convert_tu)
            hypothetical = scorer.attribute(sequences, "hypothetical", args.target, args.steps, args.convert_tu)
        except SeqzooError as exc:
            raise locate(exc, batch) from None
        yield batch, scorer.alphabet.one_hot(codes), np.asarray(hypothetical, dtype=np.float32), probs


def _draw(folder: Path, drawn: list, columns: str, target: str) -> None:
    """One PNG per sequence: its contributions (observed letters) above its hypothetical map."""
    import matplotlib.pyplot as plt
    from seqzoo.zoo.logos import draw_weights, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    for index, name, onehot, hypothetical in drawn:
        fig, axes = plt.subplots(2, 1, figsize=(max(4.0, onehot.shape[0] / LOGO_LETTERS_PER_INCH), 3.2),
                                 sharex=True)
        draw_weights(axes[0], hypothetical * onehot, columns, f"{name}: contributions to {target}")
        draw_weights(axes[1], hypothetical, columns, "hypothetical contributions")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
        save_figure(fig, folder / f"{index:06d}_{safe}.png")


def run(args) -> int:
    from seqzoo.serving.ig_rule import IG_STEPS
    from seqzoo.serving.scorers import open_scorer
    from seqzoo.zoo.alphabets import ProductAlphabet
    from seqzoo.zoo.io.fasta import FastaReader
    from seqzoo.zoo.io.npz import NpzWriter
    from tqdm import tqdm

    _check(args)
    scorer = open_scorer(args.model, local=args.local, zoo=args.zoo, device=args.device, threads=args.threads,
                         server=args.server, token_file=args.token_file, tls_ca=args.tls_ca,
                         convert_tu=args.convert_tu, timeout=args.timeout)
    structure = isinstance(scorer.alphabet, ProductAlphabet)
    if structure:
        scorer.close()
        raise InputError(f"{scorer.ref} reads sequence and structure; attribute explains sequence models "
                         f"(use Attribute on the server for structure models)")
    try:
        target = args.target or default_class(scorer.card, scorer.ref, "--target")
    except InputError:
        scorer.close()
        raise
    if target not in scorer.classes:
        scorer.close()
        raise InputError(f"--target {target}: not a class of {scorer.ref} ({', '.join(scorer.classes)})")
    names, drawn, modisco, out = [], [], [], None
    try:
        out = NpzWriter(args.output)
        if args.modisco:
            Path(args.modisco).mkdir(parents=True, exist_ok=True)
            modisco = [NpzWriter(Path(args.modisco) / name) for name in ("ohe.npz", "shap.npz")]
        with FastaReader(args.input, structures=False) as reader, \
                tqdm(total=reader.size, unit="B", unit_scale=True, desc="attribute", file=sys.stderr,
                     disable=args.no_progress) as bar:
            for batch, onehot, hypothetical, probs in _explained(reader, scorer, args):
                ohe, hyp = onehot.transpose(0, 2, 1), hypothetical.transpose(0, 2, 1)  # [n, A, L]
                out.append("onehot", ohe)
                out.append("hypothetical", hyp)
                out.append("contributions", hyp * ohe)
                out.append("probs", probs.astype(np.float32))
                for writer, block in zip(modisco, (ohe, hyp)):
                    writer.append("arr_0", block)
                for k, record in enumerate(batch):
                    if args.logos and len(drawn) < args.logo_count:
                        drawn.append((len(names), record.name, onehot[k], hypothetical[k]))
                    names.append(record.name)
                bar.update(reader.position - bar.n)
        if not names:
            raise InputError(f"{args.input}: no FASTA records")
        meta = {"model": scorer.ref, "digest": scorer.digest, "target": target, "method": "integrated_gradients",
                "baseline": "all-zero", "rule": "midpoint", "steps": args.steps or IG_STEPS,
                "layout": "[N, A, L]", "input": str(args.input)}
        whole = {"names": np.array(names), "classes": np.array(scorer.classes), "columns": np.array(list(scorer.columns)),
                 "meta": np.array(json.dumps(meta))}
        if args.logos:
            _draw(Path(args.logos), drawn, scorer.columns, target)
        for writer in modisco:
            writer.commit()
        out.commit(whole)
    except BaseException:
        for writer in (out, *modisco):
            if writer is not None:
                writer.abort()
        raise
    finally:
        scorer.close()
    print(f"explained {len(names)} sequences with {scorer.ref} ({target}) -> {args.output}"
          + (f"; modisco inputs -> {args.modisco}" if args.modisco else "")
          + (f"; {len(drawn)} logos -> {args.logos}" if args.logos else ""), file=sys.stderr)
    return 0
