"""Explaining every sequence of a FASTA file, in the arrays TF-MoDISco reads.

    attribute(AttributeSettings("windows.fa", "attributions.npz"), executor)

For each record, three arrays of shape [N, A, L] (letters before positions, TF-MoDISco's layout):

- ``onehot``: the sequence one-hot (all zero at N and other unknown letters);
- ``hypothetical``: what each letter would contribute were it the one present: for ``ig`` the
  gradient averaged along integrated gradients' path from the all-zero baseline (the engine's
  rule and steps), for ``saliency`` the input gradient, for ``ism`` each substitution's change of
  the target probability (0 at the letter present);
- ``contributions``: the observed letters' share: ``hypothetical * onehot`` (for ``ig`` the
  integrated gradients, which sum per sequence to the target probability minus its value at the
  baseline, up to the rule's error); for ``ism`` minus the mean change of the letter's
  substitutions, at the letter present (how much the prediction relies on it).

and ``probs`` [N, C], ``names`` [N], ``classes``, ``columns`` (the A letters) and ``meta`` (a JSON
string: model, digest, target, method, steps). ``modisco`` also writes ``DIR/ohe.npz`` and
``DIR/shap.npz`` (``arr_0`` each), so ``modisco motifs -s DIR/ohe.npz -a DIR/shap.npz`` runs as is.
Records are read as a stream, explained one :class:`AttributeBatch` task per batch wherever the
executor runs it, and the arrays are written block by block (bounded memory); every output
appears only when complete.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from seqzoo.serving.ops import ATTRIBUTE_METHODS as METHODS
from seqzoo.zoo.errors import InputError, SeqzooError

METHOD_NAMES = {"ig": "integrated_gradients", "saliency": "saliency", "ism": "in_silico_mutagenesis"}
LOGO_LETTERS_PER_INCH = 10


@dataclass(frozen=True)
class AttributeSettings:
    """What ``seqzoo attribute`` is asked."""

    input: str
    output: str
    method: str = "ig"
    target: str | None = None
    steps: int = 0
    modisco: str | None = None
    logos: str | None = None
    logo_count: int = 10
    batch: int = 64
    convert_tu: bool = False

    def check(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"--method {self.method}: not one of {', '.join(METHODS)}")
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        if not 0 <= self.steps <= 1000:
            raise InputError(f"--steps must be 0..1000 (0 = the default), got {self.steps}")
        if self.logo_count < 1:
            raise InputError(f"--logo-count must be at least 1, got {self.logo_count}")
        if not str(self.output).endswith(".npz"):
            raise InputError(f"-o {self.output}: the output is a NumPy archive, name it .npz")
        for flag, folder in (("--modisco", self.modisco), ("--logos", self.logos)):
            if folder and Path(folder).exists() and not Path(folder).is_dir():
                raise InputError(f"{flag} {folder}: exists and is not a folder")
            if folder:  # made before any work, so a folder that cannot be is said at once
                try:
                    Path(folder).mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise InputError(f"{flag} {folder}: cannot create the folder ({exc.strerror})") from None


@dataclass(frozen=True)
class AttributeBatch:
    """Task: one batch of records -> onehot, hypothetical and contributions [n, L, A], probs [n, C]."""

    settings: AttributeSettings
    target: str

    def __call__(self, context, item) -> dict:
        from seqzoo.serving.ops.executors import task_costs
        from seqzoo.serving.scoring import locate

        index, batch = item
        started, cpu = time.perf_counter(), time.process_time()
        s, scorer = self.settings, context.scorer.converting(self.settings.convert_tu)
        sequences = [r.sequence for r in batch]
        try:
            (probs,) = scorer.predict_batches([batch])  # the one batch's answer (its stream run out)
            onehot = scorer.alphabet.one_hot(scorer.alphabet.encode(sequences, s.convert_tu))
            method = "hypothetical" if s.method == "ig" else s.method
            maps = np.asarray(scorer.attribute(sequences, method, self.target, s.steps, s.convert_tu), np.float32)
        except SeqzooError as exc:
            raise locate(exc, batch) from None
        if s.method == "ism":
            from seqzoo.serving.ism import reliance

            contributions = reliance(maps, onehot)
        else:
            contributions = maps * onehot
        return {"index": index, "names": [r.name for r in batch], "onehot": onehot, "hypothetical": maps,
                "contributions": contributions.astype(np.float32), "probs": np.asarray(probs, np.float32),
                "rows": len(batch), **task_costs(started, cpu)}


def explained_batches(reader, scorer, size: int):
    """(index, batch) of the records, one length per file (the arrays hold one length)."""
    from seqzoo.serving.scoring import batches, check_lengths

    length: list[int] = []
    for index, batch in enumerate(batches(reader, size)):
        check_lengths(batch, scorer.length, scorer.ref)
        if not length:
            length.append(len(batch[0].sequence))
        elif len(batch[0].sequence) != length[0]:
            raise InputError(f"is {len(batch[0].sequence)} long but the records before it are {length[0]} "
                             f"(the arrays hold one length)", **batch[0].where())
        yield index, batch


def check_model(scorer, target: str | None) -> str:
    """The class explained (default: the card's positive class); a structure model is refused."""
    from seqzoo.zoo.alphabets import ProductAlphabet
    from seqzoo.zoo.card import default_class

    if isinstance(scorer.alphabet, ProductAlphabet):
        raise InputError(f"{scorer.ref} reads sequence and structure; attribute explains sequence models "
                         f"(use Attribute on the server for structure models)")
    target = target or default_class(scorer.card, scorer.ref, "--target")
    if target not in scorer.classes:
        raise InputError(f"--target {target}: not a class of {scorer.ref} ({', '.join(scorer.classes)})")
    return target


def attribute(settings: AttributeSettings, executor, progress: Callable[[int], None] | None = None) -> dict:
    """Explain every record of ``settings.input`` with the executor's model into ``settings.output``.

    Returns
    -------
    dict
        ``model``, ``digest``, ``target``, ``method``, ``sequences``, ``output``, ``logos``.
    """
    from seqzoo.serving.ig_rule import IG_STEPS
    from seqzoo.zoo.io.fasta import FastaReader
    from seqzoo.zoo.io.npz import NpzWriter

    settings.check()
    scorer = executor.scorer
    target = check_model(scorer, settings.target)
    names, drawn, modisco, out = [], [], [], None
    try:
        out = NpzWriter(settings.output)
        if settings.modisco:
            modisco = [NpzWriter(Path(settings.modisco) / name) for name in ("ohe.npz", "shap.npz")]
        with FastaReader(settings.input, structures=False) as reader:
            for result in executor.map(AttributeBatch(settings, target),
                                       explained_batches(reader, scorer, settings.batch)):
                onehot, hypothetical = result["onehot"], result["hypothetical"]
                ohe, hyp = onehot.transpose(0, 2, 1), hypothetical.transpose(0, 2, 1)  # [n, A, L]
                out.append("onehot", ohe)
                out.append("hypothetical", hyp)
                out.append("contributions", result["contributions"].transpose(0, 2, 1))
                out.append("probs", result["probs"])
                for writer, block in zip(modisco, (ohe, hyp)):
                    writer.append("arr_0", block)
                for k, name in enumerate(result["names"]):
                    if settings.logos and len(drawn) < settings.logo_count:
                        drawn.append((len(names), name, result["contributions"][k], hypothetical[k]))
                    names.append(name)
                if progress is not None:
                    progress(len(names))
        if not names:
            raise InputError(f"{settings.input}: no FASTA records")
        meta = {"model": scorer.ref, "digest": scorer.digest, "target": target,
                "method": METHOD_NAMES[settings.method], "layout": "[N, A, L]", "input": str(settings.input)}
        if settings.method == "ig":
            meta.update(baseline="all-zero", rule="midpoint", steps=settings.steps or IG_STEPS)
        whole = {"names": np.array(names), "classes": np.array(scorer.classes),
                 "columns": np.array(list(scorer.columns)), "meta": np.array(json.dumps(meta))}
        if settings.logos:
            draw(Path(settings.logos), drawn, scorer.columns, target)
        for writer in modisco:
            writer.commit()
        out.commit(whole)
    except BaseException:
        for writer in (out, *modisco):
            if writer is not None:
                writer.abort()
        raise
    return {"model": scorer.ref, "digest": scorer.digest, "target": target, "method": settings.method,
            "sequences": len(names), "output": str(settings.output), "logos": len(drawn) if settings.logos else None}


def draw(folder: Path, drawn: list, columns: str, target: str) -> None:
    """One PNG per sequence: its contributions (observed letters) above its hypothetical map."""
    import matplotlib.pyplot as plt
    from seqzoo.zoo.logos import draw_weights, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    for index, name, contributions, hypothetical in drawn:
        fig, axes = plt.subplots(2, 1, figsize=(max(4.0, contributions.shape[0] / LOGO_LETTERS_PER_INCH), 3.2),
                                 sharex=True)
        draw_weights(axes[0], contributions, columns, f"{name}: contributions to {target}")
        draw_weights(axes[1], hypothetical, columns, "hypothetical contributions")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
        save_figure(fig, folder / f"{index:06d}_{safe}.png")


@dataclass(frozen=True)
class AttributeSequences:
    """Task: the maps float32 [n, L, A] of a list of sequences (``method``: ig, hypothetical,
    saliency or ism; ``tracks``: a multimodal model's inputs, name -> one value per sequence)."""

    method: str = "ig"
    target: str | int | None = None
    steps: int = 0
    convert_tu: bool = False

    def __call__(self, context, item) -> np.ndarray:
        sequences, tracks = item
        return np.asarray(context.scorer.attribute(sequences, self.method, self.target, self.steps,
                                                   convert_tu=self.convert_tu, tracks=tracks), dtype=np.float32)
