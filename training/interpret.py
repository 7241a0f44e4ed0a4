"""Interpret a trained run: every explanation of issue 6, written next to each other.

``interpret_run(run_dir, out_dir)`` loads the model and its test split (data.npz) and writes into
``out_dir``:

- ``motifs.meme`` (sequence motifs: kernel motifs by importance, attribution consensus motifs,
  optimised class PWMs) and, for structure models, ``motifs_structure.meme``;
- ``interpretation/*.png``: kernel logos, enrichment, the clustered co-occurrence heatmap,
  consensus and optimised logos, example attribution maps;
- ``interpretation/interpretation.json``: the numbers behind the pictures (what the report reads).

It returns ``{"motifs": [...card entries...], "summary": {...}}``; the card's ``motifs`` are the
kernel motifs sorted by importance, followed by the attribution consensus and optimised motifs
(``kind`` says which). Work is bounded for a CPU: at most ``max_sequences`` test sequences for
kernel statistics and ``ig_sequences`` positives for attribution.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
from seqzoo.zoo.alphabets import ProductAlphabet, alphabet_from_dict
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.io.atomic import write_text
from seqzoo.zoo.motifs_io import Motif, consensus, write_meme

log = logging.getLogger(__name__)

FOLDER = "interpretation"
SUMMARY_FILE = "interpretation.json"
MATCH_Q = 0.05  # a database hit is reported as the motif's match below this q-value


def _write_json(path: Path, payload: dict) -> None:
    write_text(path, json.dumps(payload, indent=1) + "\n")


def _best(matches: list[dict] | None) -> dict | None:
    """The card's match entry: the best hit when it is significant (q < 0.05), else None."""
    if not matches:
        return None
    m = matches[0]
    return {"database": m["database"], "id": m["id"], "name": m["name"], "q_value": m["q_value"]} \
        if m["q_value"] < MATCH_Q else None


def explained_classes(task: str, classes: list[str]) -> list[int]:
    """Classes that get attribution, optimisation and k-mers: the last class of a binary task
    (the positive one, scored by ``scores[:, -1]``), every class otherwise."""
    return [len(classes) - 1] if task == "binary" else list(range(len(classes)))


def interpret_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, database: str | os.PathLike | None = None,
                  **options) -> dict:
    """Run every interpretation on a training run directory (see the module docstring).

    Parameters
    ----------
    run_dir : a run directory (config.json, weights.pt, data.npz)
    out_dir : where the files go (created)
    database : shipped database name, MEME path, or None (JASPAR 2024 for DNA, ATtRACT for RNA)
    **options : passed to :func:`interpret_model`

    Returns
    -------
    dict with ``motifs`` (card entries) and ``summary``.
    """
    import torch
    from seqzoo.training.models import load_run

    run_dir = Path(run_dir)
    data_path = run_dir / "data.npz"
    if not data_path.is_file():
        raise NotFoundError(f"{run_dir}: no data.npz (the encoded test split) to interpret")
    model, config = load_run(run_dir)
    with np.load(data_path) as data:
        missing = [k for k in ("codes", "labels", "scores") if k not in data]
        if missing:
            raise InputError(f"{data_path}: missing arrays {', '.join(missing)}")
        codes, labels, scores = (np.asarray(data[k]) for k in ("codes", "labels", "scores"))
    with torch.inference_mode(False):
        return interpret_model(model, config, codes, labels, scores, out_dir, database, **options)


def interpret_model(model, config: dict, codes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                    out_dir: str | os.PathLike, database: str | os.PathLike | None = None, top_kernels: int = 12,
                    max_sequences: int = 4000, ig_sequences: int = 300, ig_steps: int = 32,
                    optimise_steps: int = 200, optimise_starts: int = 4, seed: int = 0) -> dict:
    """Interpret a model on encoded test data (the work of :func:`interpret_run`).

    Parameters
    ----------
    model : SequenceCNN-like torch module (``first_conv``, ``forward``, ``probabilities``), eval mode
    config : the run's config.json (alphabet, length, task, classes)
    codes : np.ndarray, shape=(N, L), uint8
    labels : np.ndarray, shape=(N, C), 0/1
    scores : np.ndarray, shape=(N, C), the model's test probabilities
    out_dir : destination folder
    database : motif database (see :func:`seqzoo.training.motif_match.database_path`)
    top_kernels : kernels drawn individually in the report (all are in motifs.meme and the card)
    max_sequences, ig_sequences, ig_steps, optimise_steps, optimise_starts, seed : work limits and the seed
    """
    import torch
    from seqzoo.training import attribution, cooccurrence, enrichment, kernel_motifs, kmers, optimise
    from seqzoo.training.logos import save_pwm_logos
    from seqzoo.training.motif_match import match_motifs

    started = time.perf_counter()
    out_dir = Path(out_dir)
    pictures = out_dir / FOLDER
    pictures.mkdir(parents=True, exist_ok=True)
    alphabet = alphabet_from_dict(config["alphabet"])
    classes = list(config["classes"])
    task = config["task"]
    codes = np.asarray(codes, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    if codes.ndim != 2 or labels.shape != (len(codes), len(classes)) or scores.shape != labels.shape:
        raise InputError(f"codes {codes.shape}, labels {labels.shape}, scores {scores.shape} do not fit "
                         f"{len(classes)} classes")
    if len(codes) == 0:
        raise InputError("the test split is empty: nothing to interpret")
    product = isinstance(alphabet, ProductAlphabet)
    seq_alpha = alphabet.sequence if product else alphabet
    letters = seq_alpha.letters
    struct_letters = alphabet.structure.letters if product else None
    torch.manual_seed(seed)

    rng = np.random.default_rng(seed)
    rows = np.arange(len(codes)) if len(codes) <= max_sequences else \
        np.sort(rng.choice(len(codes), max_sequences, replace=False))
    onehot = alphabet.one_hot(codes[rows])
    sub_labels = labels[rows]

    def seq_pwm(pwm: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if product:
            return kernel_motifs.split_product(pwm, seq_alpha.size, alphabet.structure.size)
        return pwm, None

    def matches_of(pwms: list[np.ndarray]) -> list[list[dict]] | list[None]:
        if not pwms:
            return []
        try:
            return match_motifs(pwms, letters, database, alphabet_name=seq_alpha.name)
        except NotFoundError as exc:  # no database for this alphabet (protein): say so, do not fail
            log.warning("motif matching skipped: %s", exc)
            return [None] * len(pwms)

    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[name] = round(timings.get(name, 0.0) + now - mark, 3)
        mark = now

    # 1. kernel motifs and importance (pysster)
    values, starts, width = kernel_motifs.first_layer_activations(model, onehot)
    kms = kernel_motifs.kernel_motifs(onehot, values, starts, sub_labels, width)
    order = sorted(range(len(kms)), key=lambda k: -kms[k].importance)
    split = [seq_pwm(km.pwm) for km in kms]
    lap("kernel_motifs")
    kernel_matches = matches_of([split[k][0] for k in order])
    lap("matching")
    hist = enrichment.positional_histograms(values, starts, sub_labels, np.array([km.threshold for km in kms]),
                                            codes.shape[1], width)
    dists = enrichment.class_distributions(values, sub_labels)
    entries, kernels_summary = [], []
    for rank, k in enumerate(order):
        km, (spwm, tpwm) = kms[k], split[k]
        peak = int(hist[k, km.top_class].argmax()) + 1 if hist[k, km.top_class].any() else None
        entry = {"id": f"kernel_{k}", "kind": "kernel", "kernel": k, "consensus": consensus(spwm, letters),
                 "importance": round(km.importance, 6), "sites": km.n_sites, "top_class": classes[km.top_class],
                 "position_peak": peak, "match": _best(kernel_matches[rank])}
        if tpwm is not None:
            entry["structure_consensus"] = consensus(tpwm, struct_letters)
        entries.append(entry)
        item = {**entry, "class_means": [None if np.isnan(v) else round(float(v), 6) for v in km.class_means],
                "matches": kernel_matches[rank], "logo": None, "enrichment": None}
        if rank < top_kernels:
            panels = [(spwm, letters, f"kernel {k} ({km.n_sites} sites)", False)]
            if tpwm is not None:
                panels.append((tpwm, struct_letters, "structure", True))
            item["logo"] = save_pwm_logos(pictures / f"kernel_{k}_logo.png", panels).name
            item["enrichment"] = enrichment.plot_enrichment(
                pictures / f"kernel_{k}_enrichment.png", hist[k], [d[:, k] for d in dists], classes,
                f"kernel {k}: positions of max activation (above threshold) and max activation per class").name
        kernels_summary.append(item)
    lap("kernel_plots")

    # 2. co-occurrence
    heatmap = None
    if values.shape[1] >= 2 and len(values) >= 2:
        clustering = cooccurrence.cluster_activations(values, max_sequences=1500, seed=seed)
        heatmap = cooccurrence.plot_cooccurrence(pictures / "cooccurrence.png", clustering, sub_labels, classes,
                                                 [f"k{k}" for k in range(values.shape[1])]).name
    lap("cooccurrence")

    # 3. attribution (IG) consensus and examples, 4. optimisation, 5. k-mers: per explained class
    sequences_all = alphabet.decode(codes)[0] if product else alphabet.decode(codes)
    seqlet_width = max(width, 10)
    consensus_summary, optimised_summary, kmer_summary, examples = [], [], [], []
    for c in explained_classes(task, classes):
        positives = np.flatnonzero((labels[:, c] > 0.5) & (scores[:, c] > 0.5))
        chosen = positives[np.argsort(-scores[positives, c], kind="stable")]
        if len(chosen) > ig_sequences:
            chosen = np.sort(rng.choice(chosen, ig_sequences, replace=False))
        if len(chosen):
            x = alphabet.one_hot(codes[chosen])
            lap("other")
            attr = attribution.integrated_gradients(model, x, c, steps=ig_steps)
            lap("integrated_gradients")
            seq_attr = attr.reshape(len(x), x.shape[1], seq_alpha.size, -1).sum(axis=3) if product else attr
            seq_x = x.reshape(len(x), x.shape[1], seq_alpha.size, -1).sum(axis=3) if product else x
            seqlets = attribution.find_seqlets(seq_attr, seq_x, width=min(seqlet_width, x.shape[1]))
            motifs = attribution.consensus_motifs(seqlets)
            lap("seqlets")
            motif_matches = matches_of([m.pwm for m in motifs])
            lap("matching")
            for i, (m, mm) in enumerate(zip(motifs, motif_matches)):
                mid = f"consensus_{classes[c]}_{i}"
                logo = save_pwm_logos(pictures / f"{mid}_logo.png",
                                      [(m.pwm, letters, f"{classes[c]}: {m.n_seqlets} seqlets", False)]).name
                entry = {"id": mid, "kind": "attribution", "class": classes[c], "consensus": consensus(m.pwm, letters),
                         "importance": None, "sites": m.n_seqlets, "match": _best(mm)}
                entries.append(entry)
                consensus_summary.append({**entry, "fraction": round(m.fraction, 4), "matches": mm, "logo": logo,
                                          "pwm": m.pwm.round(5).tolist()})
            top3 = np.argsort(-scores[chosen, c], kind="stable")[:3]
            examples.append({"class": classes[c], "image": attribution.plot_attribution_maps(
                pictures / f"attribution_{classes[c]}.png", attr[top3], x[top3], letters,
                [f"test sequence {int(chosen[j])} (score {scores[chosen[j], c]:.3f})" for j in top3],
                struct_letters).name})
        lap("attribution_plots")
        opt = optimise.optimise_class(model, c, codes.shape[1], alphabet.size, width=max(width, 12) + 6,
                                      starts=optimise_starts, steps=optimise_steps, seed=seed)
        lap("optimisation")
        opt_pwm, _ = seq_pwm(opt.pwm)
        mm = matches_of([opt_pwm])[0]
        mid = f"optimised_{classes[c]}"
        logo = save_pwm_logos(pictures / f"{mid}_logo.png",
                              [(opt_pwm, letters, f"optimised input for {classes[c]} (P = {opt.probability:.3f})",
                                False)]).name
        entry = {"id": mid, "kind": "optimised", "class": classes[c], "consensus": consensus(opt_pwm, letters),
                 "importance": None, "match": _best(mm)}
        entries.append(entry)
        optimised_summary.append({**entry, "probability": opt.probability, "start": opt.start + 1, "matches": mm,
                                  "logo": logo, "pwm": opt_pwm.round(5).tolist()})
        lap("matching")
        class_rows = np.flatnonzero(labels[:, c] > 0.5)
        kmer_summary.append({"class": classes[c], **kmers.top_bottom_kmers(
            [sequences_all[i] for i in class_rows], scores[class_rows, c], letters)})

    lap("other")
    # motifs.meme: sequence motifs; structure motifs in their own file
    seq_motifs = [Motif(f"kernel_{k}", split[k][0], f"importance={kms[k].importance:.4f}", max(kms[k].n_sites, 1))
                  for k in order]
    seq_motifs += [Motif(s["id"], np.asarray(s["pwm"]), s["kind"], max(int(s.get("sites") or 1), 1))
                   for s in consensus_summary + optimised_summary]
    strands = "+ -" if seq_alpha.name == "dna" else "+"
    write_meme(out_dir / "motifs.meme", seq_motifs, letters, strands=strands)
    if product:
        write_meme(out_dir / "motifs_structure.meme",
                   [Motif(f"kernel_{k}", split[k][1], f"importance={kms[k].importance:.4f}", max(kms[k].n_sites, 1))
                    for k in order], struct_letters, strands="+")

    summary = {
        "classes": classes, "task": task, "letters": letters, "structure_letters": struct_letters,
        "sequences": len(rows), "kernel_width": width, "kernels": kernels_summary,
        "cooccurrence": heatmap, "consensus": consensus_summary, "optimised": optimised_summary,
        "kmers": kmer_summary, "examples": examples,
        "database": None if database is None and seq_alpha.name not in ("dna", "rna") else
        str(database or ("jaspar2024" if seq_alpha.name == "dna" else "attract")),
        "seconds": round(time.perf_counter() - started, 2), "timings": timings,
    }
    _write_json(pictures / SUMMARY_FILE, summary)
    return {"motifs": entries, "summary": summary}
