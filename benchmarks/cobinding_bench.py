"""Co-binding as a track input: does knowing where the other iONMF experiments bind close the gap to
iDeep's published values? (issue 14)

    .venv/bin/python benchmarks/cobinding_bench.py [--experiments 15_PARCLIP_IGF2BP123,23_PARCLIP_PUM2]
                                                   [--work .bench/cobinding] [--seed 1]

iDeep (the anchors PUM2 0.984, QKI 0.956, IGF2BP123 0.954 retrained by Avsec et al. 2018) reads five
inputs, one of them the CLIP signal of the other experiments at the site ("co-binding"). Here, for
experiment E, every record of E's training and test files gets a 101-letter track: ``B`` where a
class:1 site of another experiment's *training* file covers the position on the same strand, ``U``
elsewhere (reversed for minus-strand records, like the sequence). ``seqzoo train`` with its
defaults plus ``--track cobinding=FILE`` on E's own files (seed 1, 2 threads), beside the same
without the track. The comparison says how much of the anchors is sequence and how much is the
other experiments' sites; it is not a sequence-only model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ionmf_bench import ANCHORS  # the iDeep values the issue names
from record import record
from runs import seqzoo

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "datasets" / "clip-ionmf"


def coordinates(header: str) -> tuple[str, str, int, int]:
    chrom, strand, start, end = header.split(";")[0].split(",")
    return chrom, strand, int(start), int(end)


def other_sites(experiment: str) -> dict:
    """(chrom, strand) -> sorted starts and ends of every other experiment's training sites."""
    from seqzoo.zoo.io.fasta import read_fasta

    spans = defaultdict(list)
    for path in sorted(DATA.glob("*.training.fa.gz")):
        if path.name.startswith(experiment + "."):
            continue
        for r in read_fasta(path, structures=False):
            if "class:1" in r.header:
                chrom, strand, start, end = coordinates(r.header)
                spans[chrom, strand].append((start, end))
    return {k: np.array(sorted(v)) for k, v in spans.items()}


def track_file(experiment: str, folder: Path) -> Path:
    """One FASTA of every record of E's training and test files: B/U per position."""
    from seqzoo.zoo.io.fasta import read_fasta

    out = folder / f"{experiment}.cobinding.fa"
    if out.exists():
        return out
    sites = other_sites(experiment)
    lines = []
    for split in ("training", "test"):
        for r in read_fasta(DATA / f"{experiment}.{split}.fa.gz", structures=False):
            chrom, strand, start, _ = coordinates(r.header)
            covered = np.zeros(len(r.sequence), dtype=bool)
            spans = sites.get((chrom, strand))
            if spans is not None:
                lo = np.searchsorted(spans[:, 0], start - 1000)
                hi = np.searchsorted(spans[:, 0], start + len(r.sequence))
                for s, e in spans[lo:hi]:
                    a, b = max(s, start) - start, min(e + 1, start + len(r.sequence)) - start
                    if a < b:
                        covered[a:b] = True
            if strand == "-":
                covered = covered[::-1]
            lines.append(f">{r.header}\n{''.join('B' if c else 'U' for c in covered)}\n")
    out.write_text("".join(lines))
    return out


def train(work: Path, experiment: str, track: Path | None, seed: int) -> dict:
    train_file, test_file = DATA / f"{experiment}.training.fa.gz", DATA / f"{experiment}.test.fa.gz"
    extra = ["--track", f"cobinding={track}", "--track-alphabet", "cobinding=BU"] if track else []
    summary, seconds = seqzoo("train", "--name", "x", "--class", f"unbound={train_file}", "--class",
                              f"bound={train_file}", "--test-class", f"unbound={test_file}", "--test-class",
                              f"bound={test_file}", "--class-match", "unbound=class:0", "--class-match",
                              "bound=class:1", *extra, "--seed", str(seed), "--out",
                              str(work / "runs" / f"{experiment}-{'cobinding' if track else 'sequence'}"),
                              "--no-publish", "--force", "--quiet", "--json", "--threads", "2")
    test = summary["metrics"]["test"]
    return {"auroc": test["auroc"]["bound"], "ap": test["ap"]["bound"], "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--experiments", default="15_PARCLIP_IGF2BP123,23_PARCLIP_PUM2")
    parser.add_argument("--work", default=str(REPO / ".bench" / "cobinding"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    load = [os.getloadavg()[0]]
    rows, covered = [], {}
    for experiment in args.experiments.split(","):
        track = track_file(experiment, work)
        text = track.read_text().splitlines()[1::2]
        covered[experiment] = float(np.mean([("B" in t) for t in text]))
        for kind, path in (("sequence", None), ("cobinding", track)):
            key = f"{experiment}|{kind}|{args.seed}"
            if key not in results:
                results[key] = train(work, experiment, path, args.seed)
                saved.write_text(json.dumps(results, indent=1))
        s, c = results[f"{experiment}|sequence|{args.seed}"], results[f"{experiment}|cobinding|{args.seed}"]
        rows.append(f"| {experiment} | {s['auroc']:.4f} / {s['ap']:.4f} | {c['auroc']:.4f} / {c['ap']:.4f} | "
                    f"{ANCHORS.get(experiment, '')} | {covered[experiment]:.2f} | {s['seconds']:.0f} / {c['seconds']:.0f} |")
    load.append(os.getloadavg()[0])
    body = (f"Each experiment's own iONMF training and test files, `seqzoo train` defaults, seed {args.seed}, 2 "
            f"threads; `+ co-binding` adds `--track cobinding=FILE` (B where another experiment's training site "
            f"covers the position, same strand). 1-minute load average {load[0]:.1f} before, {load[1]:.1f} after.\n\n"
            "| experiment | sequence: test AUROC / AP | + co-binding: AUROC / AP | iDeep anchor | records with any "
            "co-bound position | seconds |\n|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(body)
    record("cobinding", "Co-binding of the other iONMF experiments as a track (issue 14)",
           f".venv/bin/python benchmarks/cobinding_bench.py --experiments {args.experiments} --seed {args.seed}", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
