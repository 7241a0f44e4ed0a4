"""The region-type question (issue 14): does a multimodal model use its region track?

    .venv/bin/python benchmarks/regions_bench.py [--work .bench/regions] [--n 10000] [--seeds 1,2,3] [--reuse]

``seqzoo simulate --regions --signal`` writes 150-nt sequences with a FOXO1 site (HOCOMOCO) planted
at a random position in every positive and in half the negatives, and a 250-position region track
(5'UTR / CDS / 3'UTR / intron segments) in which a positive's site sits in a 3'UTR and a planted
negative's anywhere else; the same track as a numeric signal in a bigWig (signal.bw: each region
type's mean plus exponential noise, 3'UTR highest, 2% of positions without data) at coordinates
the FASTA headers carry (half the records on the minus strand). A sequence-only model can find the
site but not tell those apart (AUROC 0.75 at best); the region track settles it. For each seed,
the same defaults train ``--track region=region.fa`` (letters), ``--track signal=signal.bw
--track-length signal=250`` (numbers) and sequence only, on the same split; each track model's
integrated gradients (from its track baseline: 0.25 for letters, 0 for numbers) on the test
positives say where the track attribution goes: its share on 3'UTR positions, against the share
of those positions. Goal: multimodal AUROC >= 0.95 and >= 0.15 above sequence only, for letters and
numbers. Writes BENCHMARKS.md "regions".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record
from runs import seqzoo

REPO = Path(__file__).resolve().parent.parent
MOTIF = REPO / "zoo" / "resources" / "motifs" / "HOCOMOCO_v11_FOXO1.meme"


def train(data: Path, work: Path, name: str, seed: int, tracks: list[str]) -> dict:
    """Train and publish one model (a run directory left by an interrupted publish is published as it is)."""
    run = work / "runs" / name
    if (run / "card.json").exists():
        card = json.loads((run / "card.json").read_text())
        if not (work / "zoo" / name).exists():
            seqzoo("zoo", "export", str(run), "--name", name, "--zoo", str(work / "zoo"))
        path = str(max((work / "zoo" / name).iterdir(), key=lambda v: int(v.name)))
        metrics, seconds = card["metrics"], card["training"]["seconds"]
    else:
        summary, seconds = seqzoo("train", "--name", name, "--class", f"unbound={data / 'negative.fa'}", "--class",
                                  f"bound={data / 'positive.fa'}", *tracks, "--seed", str(seed), "--out", str(run),
                                  "--zoo", str(work / "zoo"), "--force", "--quiet", "--json", "--threads", "2")
        metrics, path = summary["metrics"], summary["path"]
    return {"auroc": metrics["test"]["auroc"]["bound"], "ap": metrics["test"]["ap"]["bound"], "seconds": seconds,
            "path": path}


def region_attribution(path: str, run: Path, letters_run: Path, limit: int = 300) -> dict:
    """Share of a track model's attribution at the 3'UTR positions of the test positives (which
    positions are 3'UTR: the letters model's codes of the same records, the same split)."""
    from seqzoo.serving.engine import Engine
    from seqzoo.zoo.inputs import alphabet_from_dict

    engine = Engine.load(path, device="cpu", threads=2)
    with np.load(run / "data.npz") as data:
        codes, labels = data["codes"], data["labels"]
    with np.load(letters_run / "data.npz") as data:
        region_codes = data["codes"]
    letters = alphabet_from_dict(json.loads((letters_run / "card.json").read_text())["input"]["alphabet"])
    if not np.array_equal(codes[:, :150], region_codes[:, :150]):
        raise RuntimeError(f"{run} and {letters_run} hold different records: their splits differ")
    rows = np.flatnonzero(labels[:, -1] > 0.5)[:limit]
    onehot = engine.alphabet.one_hot(codes[rows])
    attributions = engine.integrated_gradients(onehot, engine.selector(len(rows)))
    r0, r1, c0, c1 = engine.alphabet.slices[1]
    track = attributions[:, r0:r1, c0:c1]
    held = onehot[:, r0:r1, c0:c1] if c1 - c0 > 1 else np.ones_like(track)  # a numeric track: one column
    at_held = (track * held).sum(axis=2)  # [N, L_track]: the attribution at what each position holds
    region = letters.split(region_codes[rows])["region"]
    is_utr = region == letters.tracks[0].alphabet.letters.index("3")
    positive = np.clip(at_held, 0, None)
    per_letter = {letter: float(at_held[region == j].sum() / len(rows))
                  for j, letter in enumerate(letters.tracks[0].alphabet.letters)}
    return {"sequences": len(rows), "utr_share": float(positive[is_utr].sum() / positive.sum()),
            "utr_positions": float(is_utr.mean()), "per_letter": per_letter}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work", default=str(REPO / ".bench" / "regions"))
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--reuse", action="store_true", help="keep the results of runs already done")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    data = work / "data"
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if args.reuse and saved.exists() else {}
    load = [os.getloadavg()[0]]
    if not (data / "signal.bw").exists():  # the same records with or without --signal (seed 0)
        seqzoo("simulate", "--motif", str(MOTIF), "--n", str(args.n), "--length", "150", "--regions", "250",
               "--signal", "--seed", "0", "--out", str(data), "--json")
    kinds = (("multimodal", ["--track", f"region={data / 'region.fa'}"]), ("sequence", []),
             ("numeric", ["--track", f"signal={data / 'signal.bw'}", "--track-length", "signal=250"]),
             ("numeric-patient", ["--track", f"signal={data / 'signal.bw'}", "--track-length", "signal=250",
                                  "--patience", "25"]))
    for seed in (int(s) for s in args.seeds.split(",")):
        for kind, tracks in kinds:
            key = f"{kind}-{seed}"
            if key not in results:
                results[key] = train(data, work, f"regions-{kind}-{seed}", seed, tracks)
            if "best_epoch" not in results[key]:
                training = json.loads((work / "runs" / f"regions-{kind}-{seed}" / "card.json").read_text())["training"]
                results[key].update(best_epoch=training["best_epoch"], epochs=training["epochs"])
            if kind != "sequence" and "attribution" not in results[key]:
                results[key]["attribution"] = region_attribution(results[key]["path"],
                                                                 work / "runs" / f"regions-{kind}-{seed}",
                                                                 work / "runs" / f"regions-multimodal-{seed}")
            saved.write_text(json.dumps(results, indent=1))
            print(key, round(results[key]["auroc"], 4), file=sys.stderr, flush=True)
    load.append(os.getloadavg()[0])
    print(body := render(results, args, load))
    record("regions", "Multimodal inputs: the region-type simulation (issue 14)",
           f".venv/bin/python benchmarks/regions_bench.py --n {args.n} --seeds {args.seeds}", body)
    return 0


def render(results: dict, args, load: list[float]) -> str:
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [("| seed | model | test AUROC | AP | seconds | best epoch / epochs | gain over sequence only | track "
             "attribution on 3'UTR positions (share of 3'UTR positions) |"), "|---|---|---|---|---|---|---|---|"]
    names = {"multimodal": "+ region letters", "numeric": "+ signal numbers (bigWig)",
             "numeric-patient": "+ signal numbers, --patience 25", "sequence": "sequence only"}
    for seed in seeds:
        base = results[f"sequence-{seed}"]["auroc"]
        for kind, label in names.items():
            r = results.get(f"{kind}-{seed}")
            if r is None:
                continue
            a = r.get("attribution")
            rows.append(f"| {seed} | {label} | {r['auroc']:.3f} | {r['ap']:.3f} | {r['seconds']:.0f} | "
                        f"{r.get('best_epoch', '-')} / {r.get('epochs', '-')} | {r['auroc'] - base:+.3f} | "
                        + (f"{a['utr_share']:.1%} ({a['utr_positions']:.1%}) |" if a else "- |"))
    mean = {kind: float(np.mean([results[f"{kind}-{s}"]["auroc"] for s in seeds])) for kind in names
            if all(f"{kind}-{s}" in results for s in seeds)}
    so = mean["sequence"]
    met = {kind: "met" if mean[kind] >= 0.95 and mean[kind] - so >= 0.15 else "NOT met"
           for kind in ("multimodal", "numeric")}
    per_letter = {kind: results[f"{kind}-{seeds[0]}"]["attribution"]["per_letter"] for kind in ("multimodal", "numeric")}
    return (f"{args.n:,} simulated sequences (half positive), 150 nt, region track 250 positions (`seqzoo simulate "
            f"--regions --signal`, FOXO1 site at a random position; positive only when the site sits in a 3'UTR), as "
            f"letters (region.fa) and as a numeric bigWig signal read at each record's coordinates (signal.bw; mean "
            f"per region type 5'UTR 1, CDS 2, 3'UTR 4, intron 0, plus exponential noise of mean 1; 2% of positions "
            f"without data; half the records on the minus strand). Defaults of `seqzoo train` for every model, the "
            f"same stratified split per seed (test 20%). Attribution: integrated gradients of P(bound) through the "
            f"published model's graphs (baseline 0.25 for letters, 0 for numbers) on up to 300 test positives; the "
            f"share of the track's positive attribution at 3'UTR positions, against the share of those positions. "
            f"1-minute load average {load[0]:.1f} before, {load[1]:.1f} after; runs kept from earlier (--reuse) keep "
            f"their seconds.\n\n" + "\n".join(rows)
            + f"\n\nMean test AUROC: region letters {mean['multimodal']:.3f}, signal numbers {mean['numeric']:.3f}"
            + (f" ({mean['numeric-patient']:.3f} with --patience 25)" if "numeric-patient" in mean else "")
            + f", sequence only {so:.3f}; goal (>= 0.95 and >= +0.15): letters {met['multimodal']}, numbers "
            f"{met['numeric']}. Track attribution per region type (seed {seeds[0]}, summed over positions, mean per "
            f"positive): letters " + ", ".join(f"{k} {v:+.3f}" for k, v in per_letter["multimodal"].items())
            + "; numbers " + ", ".join(f"{k} {v:+.3f}" for k, v in per_letter["numeric"].items()) + ".")

if __name__ == "__main__":
    sys.exit(main())
