"""Genome language models (issue 15): perplexity at the limits, on S. aureus beside the Markov
chains, and scoring speed.

    .venv/bin/python benchmarks/lm_bench.py [--work .bench/lm] [--only random,repeat,saureus,speed]
                                            [--archs gru,lstm,cnn] [--time-limit 540] [--reuse]

1. ``random``: a uniform random genome of 2 Mb (the limit is 4); ``repeat``: a 37-nt unit repeated
   to 200 kb (the limit is 1). Both with the defaults of ``seqzoo lm`` (GRU, 2 layers, 128 units,
   context 100), stopped by ``--time-limit``.
2. ``saureus``: datasets/genome (S. aureus NCTC 8325), the last 10% of the genome held out, one
   model per architecture, each within ``--time-limit`` seconds of training (2 cores), beside the
   best Markov chain (k = 0..10, chosen on validation) on exactly the same positions.
3. ``speed``: the published S. aureus model: windows/s of the engine in process (the reference),
   bases/s of perplexity scoring through ``seqzoo score --local`` and variants/s of ``seqzoo
   variants --local --scores llr`` on the bundled VCF, each as a ratio of the engine's rate.

Every model is its own ``seqzoo lm`` process. Results go to WORK/results.json as they come;
BENCHMARKS.md gets the section "lm".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ceiling import rate
from record import record
from runs import seqzoo

REPO = Path(__file__).resolve().parent.parent
GENOME = REPO / "datasets" / "genome" / "NCTC8325.fasta.gz"
VCF = REPO / "datasets" / "genome" / "variant.vcf.gz"


def lm(work: Path, name: str, genome: Path, time_limit: float, *extra: str) -> dict:
    summary, wall = seqzoo("lm", "--name", name, "--genome", str(genome), "--time-limit", str(time_limit),
                           "--epochs", "50", "--threads", "2", "--quiet", "--json", "--out", str(work / "runs" / name),
                           "--zoo", str(work / "zoo"), *extra)
    metrics = json.loads((work / "runs" / name / "metrics.json").read_text())
    return {**summary, "wall": wall, "train_seconds": metrics["seconds"], "epochs": metrics["epochs_run"],
            "best_epoch": metrics["best_epoch"]}


def synthetic(work: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {"random": work / "random.fa", "repeat": work / "repeat.fa"}
    if not paths["random"].exists():
        paths["random"].write_text(">random\n" + "".join(rng.choice(list("ACGT"), 2_000_000)) + "\n")
        unit = "".join(rng.choice(list("ACGT"), 37))
        paths["repeat"].write_text(">repeat\n" + unit * (200_000 // 37) + "\n")
    return paths


def speed(work: Path, model: str) -> dict:
    from seqzoo.serving.engine import Engine
    from seqzoo.zoo.registry import open_zoo

    engine = Engine.load(open_zoo(str(work / "zoo")).resolve(model), device="cpu", threads=2)
    codes = np.random.default_rng(0).integers(0, 4, size=(4096, engine.length)).astype(np.uint8)
    windows_per_s = rate(lambda: engine.predict(codes), len(codes), 5.0)
    fasta = work / "windows.fa"
    text = engine.alphabet.decode(np.random.default_rng(1).integers(0, 4, size=(20_000, engine.length)))
    fasta.write_text("".join(f">w{i}\n{s}\n" for i, s in enumerate(text)))
    _, score_wall = seqzoo("score", "--local", "--zoo", str(work / "zoo"), "--model", model, str(fasta), "-o",
                           str(work / "scores.tsv"), "--no-progress", "--threads", "2")
    _, variant_wall = seqzoo("variants", "--local", "--zoo", str(work / "zoo"), "--model", model, "--vcf", str(VCF),
                             "--genome", str(GENOME), "--scores", "llr", "-o", str(work / "llr.tsv"), "--quiet",
                             "--threads", "2")
    return {"engine_windows_per_s": windows_per_s, "context": engine.length,
            "score_bases_per_s": 20_000 * engine.length / score_wall, "score_windows_per_s": 20_000 / score_wall,
            "variants": 109, "variants_per_s": 109 / variant_wall, "score_wall": score_wall,
            "variant_wall": variant_wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work", default=str(REPO / ".bench" / "lm"))
    parser.add_argument("--only", default="random,repeat,saureus,speed")
    parser.add_argument("--archs", default="gru,lstm,cnn")
    parser.add_argument("--time-limit", type=float, default=540.0, help="training seconds per model")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    results = json.loads(saved.read_text()) if args.reuse and saved.exists() else {}
    only = args.only.split(",")
    load = [os.getloadavg()[0]]

    def keep(key: str, value: dict) -> None:
        results[key] = value
        saved.write_text(json.dumps(results, indent=1))
        print(key, json.dumps(value)[:300], file=sys.stderr, flush=True)

    genomes = synthetic(work)
    for kind in ("random", "repeat"):
        if kind in only and kind not in results:
            keep(kind, lm(work, f"{kind}-lm", genomes[kind], args.time_limit))
    if "saureus" in only:
        for arch in args.archs.split(","):
            if f"saureus-{arch}" not in results:
                keep(f"saureus-{arch}", lm(work, f"saureus-{arch}", GENOME, args.time_limit, "--arch", arch))
    if "speed" in only:
        best = min((k for k in results if k.startswith("saureus-")), key=lambda k: results[k]["perplexity"]["test"])
        keep("speed", {**speed(work, results[best]["name"]), "model": results[best]["name"]})
    load.append(os.getloadavg()[0])
    print(body := render(results, args, load))
    record("lm", "Genome language models (issue 15)",
           f".venv/bin/python benchmarks/lm_bench.py --archs {args.archs} --time-limit {args.time_limit:g}", body)
    return 0


def render(results: dict, args, load: list[float]) -> str:
    setup = (f"Each model one `seqzoo lm` process on 2 threads, training stopped after the epoch that passes "
             f"{args.time_limit:g} s (`--time-limit`), defaults otherwise (GRU 2 x 128, context 100, Adam 2e-3, "
             f"patience 3). Perplexity = exp(mean -ln p) over held-out positions of both strands, each scored with at "
             f"least 50 bases of context; the Markov chains are scored on the same positions. 1-minute load average "
             f"{load[0]:.1f} before, {load[1]:.1f} after (results kept from earlier runs with --reuse may have "
             f"trained beside other work).")
    lines = [setup, "", "| genome | model | test perplexity | val | Markov (order): test | epochs (best) | training s |",
             "|---|---|---|---|---|---|---|"]
    for key in ("random", "repeat", *sorted(k for k in results if k.startswith("saureus-"))):
        r = results.get(key)
        if not r:
            continue
        genome = {"random": "uniform random, 2 Mb", "repeat": "37-nt unit repeated, 200 kb"}.get(key, "S. aureus NCTC 8325")
        m = r["markov"]
        lines.append(f"| {genome} | {key.split('-')[-1] if key.startswith('saureus') else 'gru'} | "
                     f"{r['perplexity']['test']:.4f} | {r['perplexity']['val']:.4f} | {m['perplexity']['test']:.4f} "
                     f"({m['order']}) | {r['epochs']} ({r['best_epoch']}) | {r['train_seconds']:.0f} |")
    sa = {k: v for k, v in results.items() if k.startswith("saureus-")}
    if sa:
        best = min(sa, key=lambda k: sa[k]["perplexity"]["test"])
        b, markov = sa[best]["perplexity"]["test"], sa[best]["markov"]["perplexity"]["test"]
        lines += ["", (f"S. aureus: the best architecture is **{best.split('-')[-1]}** at test perplexity {b:.4f}, "
                       f"{markov - b:.4f} below the best Markov chain ({markov:.4f}); goal (0.05 below, within 10 "
                       f"minutes of training) {'met' if markov - b >= 0.05 else 'NOT met'}.")]
    if "random" in results:
        ok = abs(results["random"]["perplexity"]["test"] - 4) <= 0.02
        lines.append(f"Uniform random genome: {results['random']['perplexity']['test']:.4f} (goal 4.00 +/- 0.02: "
                     f"{'met' if ok else 'NOT met'}).")
    if "repeat" in results:
        ok = results["repeat"]["perplexity"]["test"] <= 1.02
        lines.append(f"Repeating genome: {results['repeat']['perplexity']['test']:.4f} (goal <= 1.02: "
                     f"{'met' if ok else 'NOT met'}).")
    s = results.get("speed")
    if s:
        ref = s["engine_windows_per_s"]
        lines += ["", (f"Scoring speed of `{s['model']}` (context {s['context']}): the engine in process scores "
                      f"{ref:,.0f} windows/s ({ref * s['context']:,.0f} bases/s; the reference). `seqzoo score "
                      f"--local` on 20,000 windows: {s['score_bases_per_s']:,.0f} bases/s "
                      f"({s['score_windows_per_s'] / ref:.2f}x the engine's windows/s, start-up and writing "
                      f"included); `seqzoo variants --local --scores llr` on the 109 bundled variants: "
                      f"{s['variants_per_s']:.1f} variants/s ({s['variant_wall']:.1f} s in all, process start-up "
                      f"included; {s['variants_per_s'] * 2 / ref:.3f}x the engine's windows/s counting two windows "
                      "a variant).")]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
