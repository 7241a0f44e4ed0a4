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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from seqzoo.zoo.alphabets import ProductAlphabet
from seqzoo.zoo.card import positive_class
from seqzoo.zoo.errors import InputError, NotFoundError
from seqzoo.zoo.inputs import alphabet_from_dict
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


def explained_classes(task: str, classes: list[str], positive: str | None = None) -> list[int]:
    """Classes that get attribution, optimisation and k-mers: a binary task's positive class
    (zoo.card.positive_class; pysster's sets list ``bound`` first), every class otherwise or when
    a binary task has none."""
    return [classes.index(positive)] if task == "binary" and positive in classes else list(range(len(classes)))


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
    if "positive" not in options:  # as the run's card states or implies it (zoo.card.positive_class)
        card = json.loads((run_dir / "card.json").read_text()) if (run_dir / "card.json").is_file() else {}
        options["positive"] = positive_class({**card, "task": config["task"], "classes": list(config["classes"])})
    with torch.inference_mode(False):
        return interpret_model(model, config, codes, labels, scores, out_dir, database, **options)


@dataclass
class _Bench:
    """What every interpretation step shares: the alphabet's parts, the pictures folder, the motif
    database, and the clock that attributes time to each step (``summary["timings"]``)."""

    alphabet: object
    classes: list
    pictures: Path
    database: str | os.PathLike | None
    timings: dict = field(default_factory=dict)
    mark: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.product = isinstance(self.alphabet, ProductAlphabet)
        self.packed = hasattr(self.alphabet, "tracks")  # a multimodal model's packed inputs (zoo.inputs)
        self.seq_alpha = self.alphabet.sequence if self.product or self.packed else self.alphabet
        self.letters = self.seq_alpha.letters
        self.struct_letters = self.alphabet.structure.letters if self.product else None

    def sequence_part(self, x: np.ndarray) -> np.ndarray:
        """The sequence's block [N, L_seq, A_seq] of a packed one-hot (x itself for one input)."""
        if not self.packed:
            return x
        r0, r1, c0, c1 = self.alphabet.slices[0]
        return x[:, r0:r1, c0:c1]

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self.mark, 3)
        self.mark = now

    def seq_pwm(self, pwm: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """A kernel's PWM split into its sequence and structure parts (structure None for plain alphabets)."""
        from seqzoo.training.kernel_motifs import split_product

        return split_product(pwm, self.seq_alpha.size, self.alphabet.structure.size) if self.product else (pwm, None)

    def matches_of(self, pwms: list[np.ndarray]) -> list:
        from seqzoo.training.motif_match import match_motifs

        if not pwms:
            return []
        try:
            return match_motifs(pwms, self.letters, self.database, alphabet_name=self.seq_alpha.name)
        except NotFoundError as exc:  # no database for this alphabet (protein): say so, do not fail
            log.warning("motif matching skipped: %s", exc)
            return [None] * len(pwms)

    def logo(self, name: str, panels: list) -> str:
        from seqzoo.zoo.logos import save_pwm_logos

        return save_pwm_logos(self.pictures / name, panels).name


def interpret_model(model, config: dict, codes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                    out_dir: str | os.PathLike, database: str | os.PathLike | None = None, top_kernels: int = 12,
                    max_sequences: int = 4000, ig_sequences: int = 300, ig_steps: int = 32,
                    optimise_steps: int = 200, optimise_starts: int = 4, seed: int = 0,
                    positive: str | None = None) -> dict:
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
    positive : a binary task's positive class (explained alone; None: every class)
    """
    import torch
    from seqzoo.training import cooccurrence

    started = time.perf_counter()
    out_dir = Path(out_dir)
    (out_dir / FOLDER).mkdir(parents=True, exist_ok=True)
    bench = _Bench(alphabet_from_dict(config["alphabet"]), list(config["classes"]), out_dir / FOLDER, database)
    codes = np.asarray(codes, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    if codes.ndim != 2 or labels.shape != (len(codes), len(bench.classes)) or scores.shape != labels.shape:
        raise InputError(f"codes {codes.shape}, labels {labels.shape}, scores {scores.shape} do not fit "
                         f"{len(bench.classes)} classes")
    if len(codes) == 0:
        raise InputError("the test split is empty: nothing to interpret")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(codes)) if len(codes) <= max_sequences else \
        np.sort(rng.choice(len(codes), max_sequences, replace=False))
    onehot, sub_labels = bench.alphabet.one_hot(codes[rows]), labels[rows]

    length = bench.alphabet.length if bench.packed else codes.shape[1]
    kernels = _kernel_motifs(bench, model, bench.sequence_part(onehot), sub_labels, length, top_kernels)
    values = kernels["values"]
    heatmap = None  # 2. co-occurrence
    if values.shape[1] >= 2 and len(values) >= 2:
        clustering = cooccurrence.cluster_activations(values, max_sequences=1500, seed=seed)
        heatmap = cooccurrence.plot_cooccurrence(bench.pictures / "cooccurrence.png", clustering, sub_labels,
                                                 bench.classes, [f"k{k}" for k in range(values.shape[1])]).name
    bench.lap("cooccurrence")
    per_class = {"consensus": [], "optimised": [], "kmers": [], "examples": [], "entries": []}
    for c in explained_classes(config["task"], bench.classes, positive):
        for key, items in _explain_class(bench, model, c, codes, labels, scores, rng, kernels["width"],
                                         ig_sequences, ig_steps, optimise_steps, optimise_starts, seed).items():
            per_class[key].extend(items)
    bench.lap("other")
    _write_motifs(bench, out_dir, kernels, per_class["consensus"] + per_class["optimised"])
    entries = kernels["entries"] + [{k: v for k, v in s.items() if k in _ENTRY_KEYS} for s in per_class["entries"]]
    summary = {
        "classes": bench.classes, "task": config["task"], "letters": bench.letters,
        "structure_letters": bench.struct_letters, "sequences": len(rows), "kernel_width": kernels["width"],
        "kernels": kernels["summary"], "cooccurrence": heatmap, "consensus": per_class["consensus"],
        "optimised": per_class["optimised"], "kmers": per_class["kmers"], "examples": per_class["examples"],
        "database": None if database is None and bench.seq_alpha.name not in ("dna", "rna") else
        str(database or ("jaspar2024" if bench.seq_alpha.name == "dna" else "attract")),
        "seconds": round(time.perf_counter() - started, 2), "timings": bench.timings,
    }
    _write_json(bench.pictures / SUMMARY_FILE, summary)
    return {"motifs": entries, "summary": summary}


# the card's fields of a motif entry (the summary's entries add pictures, matches and PWMs)
_ENTRY_KEYS = ("id", "kind", "class", "consensus", "importance", "sites", "match")


def _kernel_motifs(bench: _Bench, model, onehot: np.ndarray, labels: np.ndarray, length: int,
                   top_kernels: int) -> dict:
    """1. Kernel motifs, their importance, positional and class enrichment (pysster), with logos
    and enrichment plots of the ``top_kernels`` most important."""
    from seqzoo.training import enrichment, kernel_motifs

    values, starts, width = kernel_motifs.first_layer_activations(model, onehot)
    kms = kernel_motifs.kernel_motifs(onehot, values, starts, labels, width)
    order = sorted(range(len(kms)), key=lambda k: -kms[k].importance)
    split = [bench.seq_pwm(km.pwm) for km in kms]
    bench.lap("kernel_motifs")
    matches = bench.matches_of([split[k][0] for k in order])
    bench.lap("matching")
    hist = enrichment.positional_histograms(values, starts, labels, np.array([km.threshold for km in kms]),
                                            length, width)
    dists = enrichment.class_distributions(values, labels)
    entries, summary = [], []
    for rank, k in enumerate(order):
        km, (spwm, tpwm) = kms[k], split[k]
        peak = int(hist[k, km.top_class].argmax()) + 1 if hist[k, km.top_class].any() else None
        entry = {"id": f"kernel_{k}", "kind": "kernel", "kernel": k, "consensus": consensus(spwm, bench.letters),
                 "importance": round(km.importance, 6), "sites": km.n_sites,
                 "top_class": bench.classes[km.top_class], "position_peak": peak, "match": _best(matches[rank])}
        if tpwm is not None:
            entry["structure_consensus"] = consensus(tpwm, bench.struct_letters)
        entries.append(entry)
        item = {**entry, "class_means": [None if np.isnan(v) else round(float(v), 6) for v in km.class_means],
                "matches": matches[rank], "logo": None, "enrichment": None}
        if rank < top_kernels:
            panels = [(spwm, bench.letters, f"kernel {k} ({km.n_sites} sites)", False)]
            if tpwm is not None:
                panels.append((tpwm, bench.struct_letters, "structure", True))
            item["logo"] = bench.logo(f"kernel_{k}_logo.png", panels)
            item["enrichment"] = enrichment.plot_enrichment(
                bench.pictures / f"kernel_{k}_enrichment.png", hist[k], [d[:, k] for d in dists], bench.classes,
                f"kernel {k}: positions of max activation (above threshold) and max activation per class").name
        summary.append(item)
    bench.lap("kernel_plots")
    return {"values": values, "width": width, "kms": kms, "order": order, "split": split, "entries": entries,
            "summary": summary}


def _explain_class(bench: _Bench, model, c: int, codes, labels, scores, rng, width: int, ig_sequences: int,
                   ig_steps: int, optimise_steps: int, optimise_starts: int, seed: int) -> dict:
    """3. Attribution (IG) consensus motifs and examples, 4. the optimised input, 5. k-mers, for class ``c``."""
    from seqzoo.training import kmers, optimise

    name, letters = bench.classes[c], bench.letters
    out = {"consensus": [], "optimised": [], "kmers": [], "examples": []}
    positives = np.flatnonzero((labels[:, c] > 0.5) & (scores[:, c] > 0.5))
    chosen = positives[np.argsort(-scores[positives, c], kind="stable")]
    if len(chosen) > ig_sequences:
        chosen = np.sort(rng.choice(chosen, ig_sequences, replace=False))
    if len(chosen):
        out["consensus"], example = _attribution_motifs(bench, model, c, codes[chosen], scores[chosen, c], chosen,
                                                        width, ig_steps)
        out["examples"].append(example)
    bench.lap("attribution_plots")
    if bench.packed:  # the sequence that wins with the tracks at their baselines
        from seqzoo.training.models import SequenceView

        model, length, size = SequenceView(model, bench.alphabet), bench.alphabet.length, bench.seq_alpha.size
    else:
        length, size = codes.shape[1], bench.alphabet.size
    opt = optimise.optimise_class(model, c, length, size, width=max(width, 12) + 6,
                                  starts=optimise_starts, steps=optimise_steps, seed=seed)
    bench.lap("optimisation")
    opt_pwm, _ = bench.seq_pwm(opt.pwm)
    mm = bench.matches_of([opt_pwm])[0]
    mid = f"optimised_{name}"
    title = f"optimised input for {name} (P = {opt.probability:.3f})"
    logo = bench.logo(f"{mid}_logo.png", [(opt_pwm, letters, title, False)])
    out["optimised"].append({"id": mid, "kind": "optimised", "class": name, "consensus": consensus(opt_pwm, letters),
                             "importance": None, "match": _best(mm), "probability": opt.probability,
                             "start": opt.start + 1, "matches": mm, "logo": logo, "pwm": opt_pwm.round(5).tolist()})
    bench.lap("matching")
    class_rows = np.flatnonzero(labels[:, c] > 0.5)
    decoded = bench.alphabet.decode(codes[class_rows])
    sequences = decoded[0] if bench.product or bench.packed else decoded
    out["kmers"].append({"class": name, **kmers.top_bottom_kmers(sequences, scores[class_rows, c], letters)})
    out["entries"] = out["consensus"] + out["optimised"]
    return out


def _attribution_motifs(bench: _Bench, model, c: int, codes, class_scores, chosen, width: int,
                        ig_steps: int) -> tuple[list, dict]:
    """Integrated gradients of the chosen positives, their seqlets' consensus motifs, and the
    attribution maps of the three best-scored as an example picture."""
    from seqzoo.training import attribution, modisco

    name, letters, size = bench.classes[c], bench.letters, bench.seq_alpha.size
    x = bench.alphabet.one_hot(codes)
    bench.lap("other")
    baseline = bench.alphabet.baseline if bench.packed else None
    hypothetical = attribution.integrated_gradients(model, x, c, steps=ig_steps, hypothetical=True, baseline=baseline)
    tracks = []
    if bench.packed:  # DeepRiPe's region maps: where, and through which letter, each track matters
        from seqzoo.training.track_attribution import plot_track_maps, track_maps

        maps = track_maps((x - baseline) * hypothetical, x, bench.alphabet)
        image = plot_track_maps(bench.pictures / f"tracks_{name}.png", maps,
                                f"{name}: mean attribution of the track letters held ({len(x)} positives)").name
        tracks = [{"name": m["name"], "image": image, "per_letter": m["per_letter"]} for m in maps]
        x, hypothetical = bench.sequence_part(x), bench.sequence_part(hypothetical)
    attr = x * hypothetical
    bench.lap("integrated_gradients")
    motifs, method = [], "seqlets"
    if not bench.product and modisco.available(size):
        motifs, method = modisco.tfmodisco_motifs(x, hypothetical), "tfmodisco-lite"
        bench.lap("tfmodisco")
    if not motifs:  # no TF-MoDISco here (or no pattern found): seqzoo's own seqlet clustering
        seq_attr = attr.reshape(len(x), x.shape[1], size, -1).sum(axis=3) if bench.product else attr
        seq_x = x.reshape(len(x), x.shape[1], size, -1).sum(axis=3) if bench.product else x
        motifs, method = attribution.consensus_motifs(attribution.find_seqlets(
            seq_attr, seq_x, width=min(max(width, 10), x.shape[1]))), "seqlets"
        bench.lap("seqlets")
    matches = bench.matches_of([m.pwm for m in motifs])
    bench.lap("matching")
    found = []
    for i, (m, mm) in enumerate(zip(motifs, matches)):
        mid = f"consensus_{name}_{i}"
        logo = bench.logo(f"{mid}_logo.png", [(m.pwm, letters, f"{name}: {m.n_seqlets} seqlets", False)])
        found.append({"id": mid, "kind": "attribution", "class": name, "consensus": consensus(m.pwm, letters),
                      "importance": None, "sites": m.n_seqlets, "match": _best(mm), "fraction": round(m.fraction, 4),
                      "method": method,
                      "matches": mm, "logo": logo, "pwm": m.pwm.round(5).tolist()})
    top3 = np.argsort(-class_scores, kind="stable")[:3]
    image = attribution.plot_attribution_maps(
        bench.pictures / f"attribution_{name}.png", attr[top3], x[top3], letters,
        [f"test sequence {int(chosen[j])} (score {class_scores[j]:.3f})" for j in top3], bench.struct_letters).name
    return found, {"class": name, "image": image, "tracks": tracks}


def _write_motifs(bench: _Bench, out_dir: Path, kernels: dict, others: list[dict]) -> None:
    """motifs.meme: sequence motifs (kernels by importance, then consensus and optimised);
    structure kernel motifs in motifs_structure.meme."""
    kms, order, split = kernels["kms"], kernels["order"], kernels["split"]
    seq_motifs = [Motif(f"kernel_{k}", split[k][0], f"importance={kms[k].importance:.4f}", max(kms[k].n_sites, 1))
                  for k in order]
    seq_motifs += [Motif(s["id"], np.asarray(s["pwm"]), s["kind"], max(int(s.get("sites") or 1), 1)) for s in others]
    write_meme(out_dir / "motifs.meme", seq_motifs, bench.letters, strands="+ -" if bench.seq_alpha.name == "dna" else "+")
    if bench.product:
        write_meme(out_dir / "motifs_structure.meme",
                   [Motif(f"kernel_{k}", split[k][1], f"importance={kms[k].importance:.4f}", max(kms[k].n_sites, 1))
                    for k in order], bench.struct_letters, strands="+")
