"""Genome annotation correctness on planted sites: do `seqzoo annotate` peaks find FOXO1 sites?

    .venv/bin/python benchmarks/planted_bench.py [--work .bench/planted] [--sites 200] [--reuse]

1. A FOXO1 model: `seqzoo simulate` (HOCOMOCO v11 FOXO1 PWM, 20,000 x 100 nt, the motif at a
   random position, forward strand) and `seqzoo train` (1 conv x 16 kernels of 14, DNA), exported
   with its track graph.
2. A 1 Mb uniform random genome with ``--sites`` sites sampled from the same PWM, centres 5 kb
   apart (jittered by up to 500 bp), every other one on the minus strand (reverse complement).
3. `seqzoo annotate --strand both --stride 1 --peaks` at thresholds 0.5 and 0.9: a site is
   recovered when a peak on its strand has its summit within 10 bp of the site's centre; a peak
   is a planted site when such a site lies within 10 bp of its summit.
4. 1,000 random positions of the tracks against the engine's score of the same window.
5. The ceiling of any scorer: the generating PWM itself (log-odds against uniform), scanned over
   the genome on both strands, at the score that keeps 95% of the planted sites: how many other
   positions score as high (each would be a peak), hence the best precision at 95% recall.

Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from record import record

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
FOXO1 = REPO / "zoo" / "resources" / "motifs" / "HOCOMOCO_v11_FOXO1.meme"
MODEL = ["--alphabet", "dna", "--conv-num", "1", "--kernel-num", "16", "--kernel-len", "14", "--epochs", "30",
         "--patience", "5", "--threads", "2"]


def seqzoo(*args: str) -> str:
    result = subprocess.run([PY, "-m", "seqzoo", *args], capture_output=True, text=True, cwd=REPO, check=False)
    if result.returncode:
        raise RuntimeError(f"seqzoo {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def model(work: Path, reuse: bool) -> Path:
    zoo = work / "zoo"
    if reuse and (zoo / "foxo1").is_dir():
        return zoo
    sim, run = work / "sim", work / "run"
    seqzoo("simulate", "--motif", str(FOXO1), "--n", "20000", "--length", "100", "--seed", "0", "--random-position",
           "--out", str(sim))
    seqzoo("train", "--name", "foxo1", "--class", f"negative={sim / 'negative.fa'}",
           "--class", f"positive={sim / 'positive.fa'}", "--out", str(run), "--force", "--quiet", "--no-publish",
           *MODEL)
    seqzoo("zoo", "export", str(run), "--zoo", str(zoo), "--name", "foxo1")
    return zoo


def genome(work: Path, n_sites: int, seed: int = 1) -> tuple[Path, list[tuple[int, str]]]:
    from seqzoo.training.simulate import pick_motifs, sample_site
    from seqzoo.zoo.alphabets import reverse_complement

    rng = np.random.default_rng(seed)
    letters, (motif,) = pick_motifs(FOXO1)
    bases = np.array(list("ACGT"))
    sequence = bases[rng.integers(0, 4, 1_000_000)]
    sites = []
    for i in range(n_sites):
        centre = 2500 + 5000 * i + int(rng.integers(-500, 501))
        site = "".join(np.array(list(letters))[sample_site(motif.pwm, rng)])
        strand = "+" if i % 2 == 0 else "-"
        if strand == "-":
            site = reverse_complement(site)
        start = centre - len(site) // 2
        sequence[start:start + len(site)] = list(site)
        sites.append((centre, strand))
    path = work / "planted.fa"
    text = "".join(sequence)
    path.write_text(">planted 1 Mb uniform random, FOXO1 sites\n" + "\n".join(text[i:i + 80]
                                                                            for i in range(0, len(text), 80)) + "\n")
    return path, sites


def evaluate(peaks: Path, sites: list[tuple[int, str]], within: int = 10) -> dict:
    rows = [line.split("\t") for line in peaks.read_text().splitlines()]
    summits = [(int(r[1]) + int(r[9]), r[5]) for r in rows]
    by_strand = {s: np.array(sorted(p for p, t in summits if t == s)) for s in "+-"}
    site_by_strand = {s: np.array(sorted(c for c, t in sites if t == s)) for s in "+-"}

    def near(points: np.ndarray, x: int) -> bool:
        if not len(points):
            return False
        i = np.searchsorted(points, x)
        return any(abs(int(points[j]) - x) <= within for j in (i - 1, i) if 0 <= j < len(points))

    recovered = sum(near(by_strand[s], c) for c, s in sites)
    true_peaks = sum(near(site_by_strand[s], p) for p, s in summits)
    return {"peaks": len(rows), "recovered": recovered, "sites": len(sites), "recall": recovered / len(sites),
            "planted_peaks": true_peaks, "precision": true_peaks / len(rows) if rows else float("nan")}


def oracle(fasta: Path, sites: list[tuple[int, str]], within: int = 10) -> dict:
    """The generating PWM as the scorer: planted sites' best scores (within ``within`` bp of the
    centre, on their strand), the threshold keeping 95% of them, and the other positions above it."""
    from seqzoo.training.simulate import pick_motifs

    _, (motif,) = pick_motifs(FOXO1)
    odds = np.log2(np.clip(np.asarray(motif.pwm, dtype=float), 1e-4, 1.0) / 0.25)  # [W, ACGT]
    width = len(odds)
    text = "".join(fasta.read_text().splitlines()[1:])
    codes = np.frombuffer(text.encode(), dtype=np.uint8)
    codes = np.select([codes == ord(c) for c in "ACGT"], range(4), 0)
    n = len(codes) - width + 1
    scores = {"+": sum(odds[j][codes[j:j + n]] for j in range(width)),
              "-": sum(odds[::-1, ::-1][j][codes[j:j + n]] for j in range(width))}  # reverse complement
    best = np.array([scores[strand][c - width // 2 - within:c - width // 2 + within + 1].max() for c, strand in sites])
    threshold = float(np.quantile(best, 0.05))
    others = 0
    for strand in "+-":
        away = np.ones(n, dtype=bool)
        for c, t in sites:
            if t == strand:
                away[max(0, c - width - within):c + within + 1] = False
        others += int((scores[strand][away] >= threshold).sum())
    kept = int((best >= threshold).sum())
    return {"threshold": threshold, "kept": kept, "others": others, "precision": kept / (kept + others)}


def spot_check(zoo: Path, fasta: Path, tracks: Path, n: int = 1000) -> float:
    """Largest difference between the tracks at n random positions and the engine's window score."""
    import pyBigWig
    from seqzoo.serving.engine import Engine
    from seqzoo.zoo.alphabets import reverse_complement
    from seqzoo.zoo.io.genome import Genome
    from seqzoo.zoo.registry import open_zoo

    engine = Engine.load(open_zoo(zoo).resolve("foxo1"), device="cpu")
    g = Genome(fasta)
    rng = np.random.default_rng(7)
    worst = 0.0
    for strand, name in (("+", "plus"), ("-", "minus")):
        positions = rng.integers(0, g.lengths["planted"], n // 2)
        windows = [g.fetch("planted", int(p) - engine.length // 2, int(p) - engine.length // 2 + engine.length)
                   for p in positions]
        if strand == "-":
            windows = [reverse_complement(w) for w in windows]
        want = engine.predict(engine.encode(windows))[:, -1]
        bw = pyBigWig.open(str(tracks / f"positive.{name}.bw"))
        got = np.array([bw.values("planted", int(p), int(p) + 1)[0] for p in positions])
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work", default=str(REPO / ".bench" / "planted"))
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep a model trained by an earlier run")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    load = [os.getloadavg()[0]]
    t = time.perf_counter()
    zoo = model(work, args.reuse)
    train_seconds = time.perf_counter() - t
    card = json.loads(next((zoo / "foxo1").glob("*/card.json")).read_text())
    fasta, sites = genome(work, args.sites)
    results = {}
    for threshold in (0.5, 0.9):
        out, peaks = work / f"tracks-{threshold}", work / f"peaks-{threshold}.narrowPeak"
        shutil.rmtree(out, ignore_errors=True)
        summary = json.loads(seqzoo("annotate", "--model", "foxo1", "--zoo", str(zoo), "--genome", str(fasta),
                                    "--strand", "both", "--local", "-o", str(out), "--peaks", str(peaks),
                                    "--threshold", str(threshold), "--no-progress", "--json").strip().splitlines()[-1])
        results[threshold] = {**evaluate(peaks, sites), "seconds": summary["seconds"],
                              "shared": summary["shared_pass"]}
    worst = spot_check(zoo, fasta, work / "tracks-0.5")
    ceiling = oracle(fasta, sites)
    load.append(os.getloadavg()[0])
    auroc = card["metrics"]["test"]["auroc"]
    auroc = auroc.get("positive", auroc) if isinstance(auroc, dict) else auroc
    rows = [f"| {th} | {r['peaks']:,} | {r['recovered']} / {r['sites']} ({r['recall']:.1%}) | {r['planted_peaks']} "
            f"({r['precision']:.1%}) | {r['seconds']:.1f} |" for th, r in results.items()]
    body = f"""Model: `seqzoo simulate` (HOCOMOCO v11 FOXO1, 20,000 x 100 nt, random position, forward strand) and
`seqzoo train {' '.join(MODEL)}` (test AUROC {auroc}; {train_seconds:.0f} s for simulate, train and export),
exported with its track graph (`parity.track` {card['parity'].get('track', float('nan')):.1e}). Genome: 1 Mb uniform
random with {args.sites} sampled FOXO1 sites 5 kb apart (half on the minus strand). `seqzoo annotate --strand both
--stride 1 --peaks` at two thresholds; recovered = a peak on the site's strand with its summit within 10 bp of
the site's centre; a planted peak = a site of its strand within 10 bp of its summit. At 1,000 random positions
the tracks equal the engine's score of the same window to {worst:.1e}. 1-minute load average {load[0]:.1f}
before, {load[1]:.1f} after.

| threshold | peaks | sites recovered | peaks that are planted sites | annotate s (2 x 1 Mb) |
|---|---|---|---|---|
""" + "\n".join(rows) + f"""

The ceiling of any scorer on this design: the generating PWM itself, scanned over both strands, keeps
{ceiling['kept']} of the {args.sites} sites at log-odds >= {ceiling['threshold']:.2f} bits, and
{ceiling['others']:,} other positions of the random genome score as high, so at 95% recall no peak caller can
exceed {ceiling['precision']:.1%} precision: sites sampled from a PWM include weak ones that random sequence
matches by chance. The issue's goal (95% recall at 90% precision) is out of reach of any scorer here; a
stronger test would plant only strong sites (a log-odds floor) or score against the PWM's own ceiling.
"""
    record("annotate-planted", "Genome annotation: planted FOXO1 sites found by annotate peaks (issue 13)",
           ".venv/bin/python benchmarks/planted_bench.py", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
